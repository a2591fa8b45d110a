//! Child processes in their own process group, stopped as a whole: SIGTERM to the
//! group, a grace period, then SIGKILL. A guard kills the group if the owner goes
//! away without waiting, so no task process outlives its attempt.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Owns a process group; kills it with SIGKILL when dropped unless disarmed.
pub struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    /// Guards the group led by `pid` (the child was spawned with `process_group(0)`).
    pub fn new(pid: u32) -> GroupGuard {
        GroupGuard {
            pgid: i32::try_from(pid).ok().map(Pid::from_raw),
        }
    }

    /// Sends `signal` to every process of the group; a group that is already gone
    /// is not an error.
    pub fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(pgid, signal);
        }
    }

    /// Kills whatever is left of the group and stops guarding it.
    pub fn kill_rest(mut self) {
        self.signal(Signal::SIGKILL);
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// Describes how a process ended: its exit code, or the signal that killed it (as
/// the shell's `128 + n`).
pub fn describe_exit(status: std::process::ExitStatus) -> (i32, String) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, format!("exit code {code}")),
        (None, Some(sig)) => {
            let name = Signal::try_from(sig)
                .map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_string());
            (128 + sig, format!("killed by {name}"))
        }
        (None, None) => (-1, "ended without an exit code".to_string()),
    }
}
