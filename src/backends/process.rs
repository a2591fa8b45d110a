//! Child processes in their own process group, stopped as a whole: SIGTERM to the
//! group, a grace period, then SIGKILL. A guard kills the group if the owner goes
//! away without waiting, so no task process outlives its attempt; the [`reaper`]
//! does the same when the owner itself is killed (SIGKILL, OOM killer).

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::{SigHandler, Signal, killpg, signal};
use nix::unistd::Pid;

/// Owns a process group; kills it with SIGKILL when dropped unless disarmed.
pub struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    /// Guards the group led by `pid` (the child was spawned with `process_group(0)`).
    pub fn new(pid: u32) -> GroupGuard {
        let pgid = i32::try_from(pid).ok().map(Pid::from_raw);
        if let Some(pgid) = pgid {
            reaper::tell(pgid.as_raw());
            orphans::own(pgid.as_raw());
        }
        GroupGuard { pgid }
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
        self.release();
    }

    fn release(&mut self) {
        self.signal(Signal::SIGKILL);
        if let Some(pgid) = self.pgid.take() {
            reaper::tell(-pgid.as_raw());
            orphans::disown(pgid.as_raw());
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.release();
    }
}

/// A small process forked from `dag run` and `dag worker` at startup that kills the
/// task process groups still alive when `dag` itself dies without cleaning up
/// (SIGKILL, the OOM killer, a crash).
///
/// `dag` tells it each group it starts (`+pgid`) and each group it has killed
/// (`-pgid`), as 4-byte records on a pipe whose only write end `dag` holds (it is
/// close-on-exec, so tasks never inherit it). When that pipe reaches end-of-file,
/// `dag` is gone: the reaper sends SIGKILL to every group it still knows and exits.
/// It ignores SIGINT, SIGTERM and SIGHUP, which a terminal or a supervisor sends to
/// the whole process group; it leaves when `dag` does.
///
/// The reaper allocates nothing after the fork (its table is a bitmap over every
/// possible pid, allocated before), so forking from a process that already has
/// threads is safe. A group started in the few microseconds between `fork` and
/// [`tell`] is not covered.
pub mod reaper {
    use super::*;

    static PIPE: OnceLock<Mutex<std::io::PipeWriter>> = OnceLock::new();

    /// The largest pid Linux can hand out on 64-bit (`PID_MAX_LIMIT`).
    const PID_LIMIT: usize = 1 << 22;

    /// Forks the reaper. Once per process; a later call does nothing. A failure is
    /// returned for the caller to report: tasks still run, without this guard.
    pub fn start() -> std::io::Result<()> {
        if PIPE.get().is_some() {
            return Ok(());
        }
        let (reader, writer) = std::io::pipe()?;
        let mut table = vec![0u64; PID_LIMIT / 64];
        // SAFETY: the child only calls async-signal-safe functions (read, kill,
        // sigaction, close, _exit) and writes into memory allocated before the fork.
        match unsafe { nix::unistd::fork() }.map_err(std::io::Error::from)? {
            nix::unistd::ForkResult::Child => {
                drop(writer);
                watch(reader, &mut table)
            }
            nix::unistd::ForkResult::Parent { .. } => {
                drop(reader);
                let _ = PIPE.set(Mutex::new(writer));
                Ok(())
            }
        }
    }

    /// Sends one record: `+pgid` to guard a group, `-pgid` to let it go.
    pub(super) fn tell(record: i32) {
        if let Some(pipe) = PIPE.get() {
            let mut pipe = pipe.lock().unwrap_or_else(|e| e.into_inner());
            let _ = pipe.write_all(&record.to_ne_bytes());
        }
    }

    /// The reaper's whole life: read records until end-of-file, then kill.
    fn watch(mut reader: std::io::PipeReader, table: &mut [u64]) -> ! {
        use std::io::Read;
        for sig in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGPIPE,
        ] {
            // SAFETY: installs SIG_IGN, no handler code.
            let _ = unsafe { signal(sig, SigHandler::SigIgn) };
        }
        for fd in 0..3 {
            // SAFETY: the reaper never uses the standard streams; closing them lets
            // a reader of dag's output see its end when dag ends.
            unsafe { nix::libc::close(fd) };
        }
        let mut buf = [0u8; 4096];
        let mut have = 0;
        loop {
            match reader.read(&mut buf[have..]) {
                Ok(0) => break,
                Ok(n) => have += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
            let whole = have - have % 4;
            for record in buf[..whole].chunks_exact(4) {
                let value = i32::from_ne_bytes([record[0], record[1], record[2], record[3]]);
                let pid = value.unsigned_abs() as usize;
                if pid == 0 || pid >= PID_LIMIT {
                    continue;
                }
                if value > 0 {
                    table[pid / 64] |= 1 << (pid % 64);
                } else {
                    table[pid / 64] &= !(1 << (pid % 64));
                }
            }
            buf.copy_within(whole..have, 0);
            have -= whole;
        }
        for (i, word) in table.iter().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let _ = killpg(Pid::from_raw((i * 64 + bit) as i32), Signal::SIGKILL);
            }
        }
        // SAFETY: leaves without running the parent's destructors or atexit hooks.
        unsafe { nix::libc::_exit(0) }
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

/// Zombie reaping for a `dag` that is PID 1 (a container without `--init`): the
/// processes a task leaves behind are re-parented to it, and nobody else would wait
/// for them when they exit.
///
/// tokio waits for each task's main process by its pid, so the reaper must never
/// take those. Spawning a task holds [`spawning`] (shared) until its pid is owned
/// through [`GroupGuard::new`]; a sweep holds it exclusively, so every child dag is
/// still going to wait for is known while it looks. A sweep runs every second and
/// waits only for zombies whose parent is dag and that dag does not own. A `dag`
/// that does not sweep skips the gate and the bookkeeping.
pub mod orphans {
    use std::collections::BTreeSet;
    use std::sync::RwLock;
    use std::sync::atomic::{AtomicBool, Ordering};

    use nix::sys::wait::{WaitPidFlag, waitpid};
    use nix::unistd::Pid;

    use super::Mutex;

    static SWEEPING: AtomicBool = AtomicBool::new(false);
    static GATE: RwLock<()> = RwLock::new(());
    static OWN: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

    /// Held while a task process is spawned and until its pid is owned.
    pub fn spawning() -> Option<std::sync::RwLockReadGuard<'static, ()>> {
        sweeping().then(|| GATE.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Marks `pid` as a child that dag itself waits for.
    pub fn own(pid: i32) {
        if sweeping() {
            OWN.lock().unwrap_or_else(|e| e.into_inner()).insert(pid);
        }
    }

    /// Stops owning `pid` (dag has waited for it, or given it up).
    pub fn disown(pid: i32) {
        if sweeping() {
            OWN.lock().unwrap_or_else(|e| e.into_inner()).remove(&pid);
        }
    }

    fn sweeping() -> bool {
        SWEEPING.load(Ordering::Acquire)
    }

    /// Starts the sweeper thread when this process is PID 1, or when
    /// `DAG_REAP_ORPHANS=1` asks for it: then dag first makes itself a child
    /// subreaper, so what its tasks leave behind becomes its own children. Called
    /// before any task starts.
    pub fn start_if_init() {
        let forced = std::env::var_os("DAG_REAP_ORPHANS").is_some_and(|v| v == "1");
        if nix::unistd::getpid().as_raw() != 1
            && (!forced || nix::sys::prctl::set_child_subreaper(true).is_err())
        {
            return;
        }
        SWEEPING.store(true, Ordering::Release);
        let _ = std::thread::Builder::new()
            .name("dag-orphans".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    sweep();
                }
            });
    }

    /// Waits for every zombie child of this process that it does not own.
    fn sweep() {
        let _gate = GATE.write().unwrap_or_else(|e| e.into_inner());
        let own = OWN.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let me = nix::unistd::getpid().as_raw();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if own.contains(&pid) {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if zombie_child_of(&stat, me) {
                let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
            }
        }
    }

    /// Whether a `/proc/PID/stat` line describes a zombie whose parent is `parent`.
    /// The command name (in parentheses) may itself hold spaces and parentheses, so
    /// the fields are read after the last `)`.
    fn zombie_child_of(stat: &str, parent: i32) -> bool {
        let mut rest = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace();
        let state = rest.next();
        let ppid = rest.next().and_then(|p| p.parse::<i32>().ok());
        state == Some("Z") && ppid == Some(parent)
    }

    #[cfg(test)]
    mod tests {
        use super::zombie_child_of;

        #[test]
        fn reads_state_and_parent_after_the_command_name() {
            assert!(zombie_child_of("42 (sleep) Z 1 42 42 0 -1", 1));
            assert!(zombie_child_of("42 (a) b) Z 1 42", 1));
            assert!(!zombie_child_of("42 (sleep) S 1 42", 1));
            assert!(!zombie_child_of("42 (sleep) Z 7 42", 1));
            assert!(!zombie_child_of("garbage", 1));
        }
    }
}
