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

/// Open files one running task costs `dag`: the output pipe, the log file, the
/// process handle, and one spare.
pub const FILES_PER_TASK: u64 = 4;

/// Open files kept for `dag` itself: the standard streams, state files, sockets, and
/// the pipes made while a task is being started.
const FILES_RESERVED: u64 = 64;

/// The most the soft limit on open files is raised to: enough for thousands of tasks
/// at once, without handing tasks an absurd limit (some programs close every
/// possible descriptor at startup).
const FILES_WANTED: u64 = 65_536;

/// Raises the soft limit on open files towards the hard limit (as far as
/// `FILES_WANTED`), as many servers do, and returns the soft limit now in force. A
/// `ulimit -n` of 1,024 (a common default) would otherwise fail tasks at a few
/// hundred at once with "too many open files", a fault of the host, not theirs.
pub fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let wanted = hard.min(FILES_WANTED);
    if soft < wanted && setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_ok() {
        return Some(wanted);
    }
    Some(soft)
}

/// How many tasks can run at once within a limit of `files` open files.
pub fn tasks_within(files: u64) -> usize {
    usize::try_from((files.saturating_sub(FILES_RESERVED) / FILES_PER_TASK).max(1))
        .unwrap_or(usize::MAX)
}

/// A small process forked from `dag run` and `dag worker` at startup that kills what
/// their tasks started once `dag` itself is gone, whether it exited or died without
/// cleaning up (SIGKILL, the OOM killer, a crash).
///
/// `dag` tells it each group it starts (`+pgid`) and each group it has killed
/// (`-pgid`), as 4-byte records on a pipe whose only write end `dag` holds (it is
/// close-on-exec, so tasks never inherit it). When that pipe reaches end-of-file,
/// `dag` is gone, and the reaper:
///
/// 1. sends SIGKILL to every group it still knows;
/// 2. sends SIGKILL to every process whose environment holds its random token. Task
///    processes get `SCOPE_VAR` (the tokens of every enclosing `dag`, joined with
///    `:`), so this finds what left its group (`setsid`, a daemon) and a group
///    started in the microseconds between `fork` and `tell`. It scans until two
///    passes in a row find nothing;
/// 3. removes the private temp directories of `dag` (`private_temp_dir`);
/// 4. if `dag` started containers, execs `dag __reap-containers TOKEN PID`, which
///    removes every container labelled `dag.reaper.TOKEN` (containers carry one such
///    label for each enclosing `dag`), then those directories again: Docker makes a
///    bind mount's missing source when it starts a container, so a start request
///    still in flight when `dag` died brings back the staging mount point and the
///    output file (as directories) it mounts.
///
/// It runs in a session of its own, so that when `dag` is itself a task of another
/// `dag`, the outer one's kill of that task's group leaves the inner reaper to do its
/// work. It ignores SIGINT, SIGTERM and SIGHUP; it leaves when `dag` does. When the
/// outer `dag` dies as well, the outer reaper kills every process of the inner run
/// (their environment holds both tokens), the inner reaper included, so the inner
/// run's containers may then be left.
///
/// The reaper allocates nothing after the fork: its pid bitmap, its buffers and the
/// arguments of the exec are made before. So forking from a process that already has
/// threads is safe. A process that clears its environment (`env -i`) and leaves its
/// group is not found.
pub mod reaper {
    use super::*;
    use nix::libc;
    use std::ffi::CString;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// The environment variable task processes get: the reaper tokens of every `dag`
    /// they run under, joined with `:`.
    pub const SCOPE_VAR: &str = "DAG_REAPER";
    /// The prefix of the labels on every container a task starts: one label
    /// `dag.reaper.TOKEN` for the token of each `dag` the task runs under.
    pub const SCOPE_LABEL: &str = "dag.reaper";
    /// The hidden command the reaper execs to remove containers: `dag
    /// __reap-containers TOKEN PID` (then the private temp directories of `dag` PID
    /// again, see [`remove_private_dirs_of`]).
    pub const REAP_CONTAINERS: &str = "__reap-containers";

    /// The record that says `dag` has started containers.
    const CONTAINERS: i32 = i32::MIN;

    /// The largest pid Linux can hand out on 64-bit (`PID_MAX_LIMIT`).
    const PID_LIMIT: usize = 1 << 22;

    struct Reaper {
        pipe: Mutex<std::io::PipeWriter>,
        scope: String,
        token: String,
        containers_told: AtomicBool,
    }

    static REAPER: OnceLock<Reaper> = OnceLock::new();

    /// Everything the reaper uses after the fork, allocated before it.
    struct Prepared {
        table: Vec<u64>,
        token: Vec<u8>,
        dents: Vec<u8>,
        environ: Vec<u8>,
        exe: CString,
        args: [CString; 4],
        /// The temp directory, and the part of the name of each private directory
        /// made by [`private_temp_dir`] that ties it to this reaper.
        tmp: CString,
        dir_marker: Vec<u8>,
        inner_dents: Vec<u8>,
    }

    /// The part of a private temp directory's name that ties it to the reaper with
    /// `token` of the `dag` `pid`: `-PID-TOKEN-`.
    fn dir_marker(pid: u32, token: &str) -> String {
        format!("-{pid}-{token}-")
    }

    /// Creates a private (0700) directory `dag-KIND-PID-TOKEN-RANDOM` in the temp
    /// directory: the reaper removes it (and what is in it, one level deep) when this
    /// `dag` is gone, even if it was SIGKILLed and could not remove it itself.
    pub fn private_temp_dir(kind: &str) -> std::io::Result<std::path::PathBuf> {
        let marker = match REAPER.get() {
            Some(r) => dir_marker(std::process::id(), &r.token),
            None => format!("-{}-", std::process::id()),
        };
        let path =
            std::env::temp_dir().join(format!("dag-{kind}{marker}{:08x}", fastrand::u32(..)));
        let mut builder = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path)?;
        Ok(path)
    }

    /// Forks the reaper. Once per process; a later call does nothing. A failure is
    /// returned for the caller to report: tasks still run, without this guard.
    pub fn start() -> std::io::Result<()> {
        if REAPER.get().is_some() {
            return Ok(());
        }
        let token = new_token();
        let scope = match std::env::var(SCOPE_VAR) {
            Ok(outer) if !outer.is_empty() => format!("{outer}:{token}"),
            _ => token.clone(),
        };
        let (reader, writer) = std::io::pipe()?;
        let cstring = |s: &str| CString::new(s).expect("no NUL in a fixed string");
        let mut prepared = Prepared {
            table: vec![0u64; PID_LIMIT / 64],
            token: token.clone().into_bytes(),
            dents: vec![0u8; 64 * 1024],
            environ: vec![0u8; 64 * 1024],
            exe: cstring("/proc/self/exe"),
            args: [
                cstring("dag"),
                cstring(REAP_CONTAINERS),
                cstring(&token),
                cstring(&std::process::id().to_string()),
            ],
            tmp: CString::new(std::env::temp_dir().into_os_string().into_encoded_bytes())
                .unwrap_or_else(|_| cstring("/tmp")),
            dir_marker: dir_marker(std::process::id(), &token).into_bytes(),
            inner_dents: vec![0u8; TREE_DEPTH * TREE_DENTS],
        };
        // SAFETY: the child only makes async-signal-safe calls (read, open, getdents,
        // kill, sigaction, close, nanosleep, execv, _exit) and writes into memory
        // allocated before the fork.
        match unsafe { nix::unistd::fork() }.map_err(std::io::Error::from)? {
            nix::unistd::ForkResult::Child => {
                drop(writer);
                watch(reader, &mut prepared)
            }
            nix::unistd::ForkResult::Parent { .. } => {
                drop(reader);
                let _ = REAPER.set(Reaper {
                    pipe: Mutex::new(writer),
                    scope,
                    token,
                    containers_told: AtomicBool::new(false),
                });
                Ok(())
            }
        }
    }

    /// The value of [`SCOPE_VAR`] for task processes, once the reaper runs.
    pub fn scope() -> Option<&'static str> {
        REAPER.get().map(|r| r.scope.as_str())
    }

    /// The labels for a container, once the reaper runs: `dag.reaper.TOKEN` for
    /// this `dag` and every enclosing one, so any of their reapers removes it. Call
    /// [`containers_started`] before creating one.
    pub fn labels() -> Vec<String> {
        scope()
            .map(|scope| {
                scope
                    .split(':')
                    .map(|token| format!("{SCOPE_LABEL}.{token}"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Tells the reaper that containers may exist, so it removes them when `dag`
    /// is gone.
    pub fn containers_started() {
        if let Some(reaper) = REAPER.get()
            && !reaper.containers_told.swap(true, Ordering::Relaxed)
        {
            tell(CONTAINERS);
        }
    }

    /// Sends one record: `+pgid` to guard a group, `-pgid` to let it go.
    pub(super) fn tell(record: i32) {
        if let Some(reaper) = REAPER.get() {
            let mut pipe = reaper.pipe.lock().unwrap_or_else(|e| e.into_inner());
            let _ = pipe.write_all(&record.to_ne_bytes());
        }
    }

    /// A random token, unique to this reaper.
    fn new_token() -> String {
        format!("{:016x}", fastrand::u64(..))
    }

    /// The reaper's whole life: read records until end-of-file, then kill.
    fn watch(mut reader: std::io::PipeReader, prepared: &mut Prepared) -> ! {
        use std::io::Read;
        // A session of its own: when `dag` is itself a task of another `dag`, the
        // outer one kills the task's process group, and this reaper must outlive
        // that to clean up after the inner run.
        // SAFETY: setsid is async-signal-safe.
        unsafe { libc::setsid() };
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
            unsafe { libc::close(fd) };
        }
        let table = &mut prepared.table;
        let mut containers = false;
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
                if value == CONTAINERS {
                    containers = true;
                    continue;
                }
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
        // A process may fork between a pass and its kill, and one in the middle of
        // exec shows no environment for a moment: scan until two passes in a row
        // find nothing (a killed process no longer shows its environment).
        let mut quiet = 0;
        for _ in 0..20 {
            if kill_scope(&prepared.token, &mut prepared.dents, &mut prepared.environ) == 0 {
                quiet += 1;
                if quiet == 2 {
                    break;
                }
            } else {
                quiet = 0;
            }
            let pause = libc::timespec {
                tv_sec: 0,
                tv_nsec: 5_000_000,
            };
            // SAFETY: nanosleep with a valid timespec and no remainder pointer.
            unsafe { libc::nanosleep(&pause, std::ptr::null_mut()) };
        }
        remove_private_dirs(
            &prepared.tmp,
            &prepared.dir_marker,
            &mut prepared.dents,
            &mut prepared.inner_dents,
        );
        if containers {
            let argv = [
                prepared.args[0].as_ptr(),
                prepared.args[1].as_ptr(),
                prepared.args[2].as_ptr(),
                prepared.args[3].as_ptr(),
                std::ptr::null(),
            ];
            // SAFETY: NUL-terminated strings and a null-terminated array, all made
            // before the fork; execv only returns on failure.
            unsafe { libc::execv(prepared.exe.as_ptr(), argv.as_ptr()) };
        }
        // SAFETY: leaves without running the parent's destructors or atexit hooks.
        unsafe { libc::_exit(0) }
    }

    /// Sends SIGKILL to every process (but this one) whose environment holds
    /// `token`; returns how many. Uses only system calls and the given buffers.
    fn kill_scope(token: &[u8], dents: &mut [u8], environ: &mut [u8]) -> usize {
        // SAFETY: plain system calls on a NUL-terminated path and owned buffers.
        let me = unsafe { libc::getpid() };
        let dir = unsafe {
            libc::open(
                c"/proc".as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if dir < 0 {
            return 0;
        }
        let mut killed = 0;
        loop {
            // SAFETY: getdents64 writes at most `dents.len()` bytes into `dents`.
            let n = unsafe {
                libc::syscall(libc::SYS_getdents64, dir, dents.as_mut_ptr(), dents.len())
            };
            if n <= 0 {
                break;
            }
            let mut at = 0;
            while at + 19 < n as usize {
                // struct linux_dirent64: inode (8), offset (8), record length (2),
                // type (1), then the NUL-terminated name.
                let reclen = u16::from_ne_bytes([dents[at + 16], dents[at + 17]]) as usize;
                if reclen < 20 {
                    break;
                }
                let name = &dents[at + 19..(at + reclen).min(n as usize)];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                at += reclen;
                let Some(pid) = parse_pid(name) else {
                    continue;
                };
                // SAFETY: kill has no memory effects.
                if pid != me
                    && environ_holds(name, token, environ)
                    && unsafe { libc::kill(pid, libc::SIGKILL) } == 0
                {
                    killed += 1;
                }
            }
        }
        // SAFETY: closes the descriptor opened above.
        unsafe { libc::close(dir) };
        killed
    }

    /// Calls `each` with the name (NUL-terminated, as in `dents`) of every entry of
    /// the open directory `dir` but `.` and `..`; returns how many there were. Only
    /// system calls and the given buffer.
    fn for_each_entry(dir: i32, dents: &mut [u8], mut each: impl FnMut(&[u8])) -> usize {
        let mut count = 0;
        loop {
            // SAFETY: getdents64 writes at most `dents.len()` bytes into `dents`.
            let n = unsafe {
                libc::syscall(libc::SYS_getdents64, dir, dents.as_mut_ptr(), dents.len())
            };
            if n <= 0 {
                return count;
            }
            let mut at = 0;
            while at + 19 < n as usize {
                let reclen = u16::from_ne_bytes([dents[at + 16], dents[at + 17]]) as usize;
                if reclen < 20 {
                    return count;
                }
                let name = &dents[at + 19..(at + reclen).min(n as usize)];
                let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                at += reclen;
                if end == name.len() || matches!(&name[..end], b"." | b"..") {
                    continue;
                }
                count += 1;
                each(&name[..=end]);
            }
        }
    }

    /// How deep [`empty_tree`] descends: a task's directory nested deeper than this
    /// below a private temp directory is left behind (and that directory with it).
    /// Each level has its own listing buffer of [`TREE_DENTS`] bytes, all allocated
    /// before the fork.
    pub(super) const TREE_DEPTH: usize = 64;

    /// The listing buffer of one level of [`empty_tree`].
    const TREE_DENTS: usize = 4096;

    /// Removes everything inside the open directory `dir`, descending into
    /// directories (never through a symbolic link: `O_NOFOLLOW`, never into
    /// another mount) up to [`TREE_DEPTH`] levels; mounts directly inside `dir`
    /// (a killed worker's staging mounts) are detached first. No allocation (it runs in the forked reaper): `dents`
    /// holds one listing buffer per remaining level, and the recursion is bounded.
    fn empty_tree(dir: i32, dents: &mut [u8], depth: usize) {
        if depth >= TREE_DEPTH || dents.len() < TREE_DENTS {
            return;
        }
        let (mine, deeper) = dents.split_at_mut(TREE_DENTS);
        // Removing entries while listing may skip some: list again until a pass
        // finds nothing (or a few passes have gone by).
        for _ in 0..4 {
            let left = for_each_entry(dir, mine, |entry| {
                if depth == 0 {
                    // A pinned volume's staging mount of a worker that was killed:
                    // detached first, so that only its empty mount point is left.
                    detach(dir, entry);
                }
                // SAFETY: `entry` is NUL-terminated; the descriptor opened here is
                // closed before the next entry.
                unsafe {
                    if libc::unlinkat(dir, entry.as_ptr().cast(), 0) == 0 {
                        return;
                    }
                    let child = open_subdir(dir, entry.as_ptr().cast());
                    if child >= 0 {
                        empty_tree(child, deeper, depth + 1);
                        libc::close(child);
                    }
                    libc::unlinkat(dir, entry.as_ptr().cast(), libc::AT_REMOVEDIR);
                }
            });
            // SAFETY: rewinds the directory for the next listing.
            unsafe { libc::lseek(dir, 0, libc::SEEK_SET) };
            if left == 0 {
                break;
            }
        }
    }

    /// Lazily unmounts what is mounted at `entry` (NUL-terminated) of the open
    /// directory `dir`, never following a symbolic link there; nothing when it is
    /// no mount point or this process may not unmount. The path goes through
    /// `/proc/self/fd`, built on the stack: no allocation.
    fn detach(dir: i32, entry: &[u8]) {
        let mut path = [0u8; 320];
        let mut len = 0;
        let mut digits = [0u8; 10];
        let mut n = dir.unsigned_abs();
        let mut d = digits.len();
        loop {
            d -= 1;
            digits[d] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for part in [b"/proc/self/fd/".as_slice(), &digits[d..], b"/", entry] {
            if len + part.len() > path.len() {
                return;
            }
            path[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        if entry.last() != Some(&0) {
            return;
        }
        // SAFETY: `path` is NUL-terminated (its last part is `entry`).
        unsafe {
            libc::umount2(
                path.as_ptr().cast(),
                libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW,
            )
        };
    }

    /// `openat2`'s `struct open_how` (libc's cannot be built outside libc).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }

    /// Opens the directory `name` under `dir` to empty it, never following a
    /// symbolic link and never crossing into another mount: a worker's pinned
    /// volumes are bind mounts of the operator's directories inside its private
    /// temp directory, and descending into one would delete the operator's data.
    /// -1 when it cannot (also where the kernel has no `openat2`, before 5.6: then
    /// nothing below is removed).
    ///
    /// # Safety
    /// `name` must be NUL-terminated.
    unsafe fn open_subdir(dir: i32, name: *const libc::c_char) -> i32 {
        let how = OpenHow {
            flags: (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64,
            mode: 0,
            resolve: libc::RESOLVE_NO_XDEV
                | libc::RESOLVE_NO_SYMLINKS
                | libc::RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: a raw openat2 with a struct on the stack and its size; no memory
        // is allocated.
        unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                name,
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            ) as i32
        }
    }

    /// What `dag __reap-containers TOKEN PID` does once the containers are gone:
    /// removes the private temp directories of the `dag` PID (whose reaper had
    /// `token`) again, as the reaper did before it exec'd. Docker makes a bind mount's
    /// missing source (a directory) when it starts a container: a start request still
    /// in flight when `dag` died lands after the reaper's removal and brings back the
    /// staging mount point of a pinned volume and the output file it mounts. The
    /// containers are gone now, so nothing brings them back again.
    pub fn remove_private_dirs_of(pid: u32, token: &str) {
        let Ok(tmp) = CString::new(std::env::temp_dir().into_os_string().into_encoded_bytes())
        else {
            return;
        };
        remove_private_dirs(
            &tmp,
            dir_marker(pid, token).as_bytes(),
            &mut vec![0u8; 64 * 1024],
            &mut vec![0u8; TREE_DEPTH * TREE_DENTS],
        );
    }

    /// Removes the private temp directories ([`private_temp_dir`]) in `tmp` whose
    /// names hold `marker`: the whole tree of each (down to [`TREE_DEPTH`] levels),
    /// then the directory. No allocation (it runs in the forked reaper): `dents` lists
    /// `tmp`, `inner` is [`empty_tree`]'s.
    fn remove_private_dirs(
        tmp: &std::ffi::CStr,
        marker: &[u8],
        dents: &mut [u8],
        inner: &mut [u8],
    ) {
        // SAFETY: a NUL-terminated path.
        let tmp = unsafe {
            libc::open(
                tmp.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if tmp < 0 {
            return;
        }
        // Removing entries while listing may skip some: list again until a pass
        // finds none of ours (or a few passes have gone by).
        for _ in 0..4 {
            let mut found = 0;
            for_each_entry(tmp, dents, |name| {
                let ours =
                    name.starts_with(b"dag-") && name.windows(marker.len()).any(|w| w == marker);
                if !ours {
                    return;
                }
                found += 1;
                // SAFETY: `name` is NUL-terminated; O_NOFOLLOW keeps a symbolic link
                // swapped in for the directory from being followed.
                let dir = unsafe { open_subdir(tmp, name.as_ptr().cast()) };
                if dir >= 0 {
                    empty_tree(dir, inner, 0);
                    // SAFETY: closes the descriptor opened above.
                    unsafe { libc::close(dir) };
                }
                // SAFETY: `name` is NUL-terminated.
                unsafe { libc::unlinkat(tmp, name.as_ptr().cast(), libc::AT_REMOVEDIR) };
            });
            // SAFETY: rewinds the directory for the next listing.
            unsafe { libc::lseek(tmp, 0, libc::SEEK_SET) };
            if found == 0 {
                break;
            }
        }
        // SAFETY: closes the descriptor opened above.
        unsafe { libc::close(tmp) };
    }

    /// A `/proc` entry name as a pid.
    fn parse_pid(name: &[u8]) -> Option<i32> {
        if name.is_empty() || name.len() > 9 || !name.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            name.iter()
                .fold(0i32, |pid, &d| pid * 10 + i32::from(d - b'0')),
        )
    }

    /// Whether `/proc/PID/environ` holds `token`; reads it through `buf`.
    fn environ_holds(pid: &[u8], token: &[u8], buf: &mut [u8]) -> bool {
        let mut path = [0u8; 32];
        let mut len = 0;
        for part in [b"/proc/".as_slice(), pid, b"/environ\0"] {
            if len + part.len() > path.len() {
                return false;
            }
            path[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        // SAFETY: `path` is NUL-terminated.
        let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return false;
        }
        let keep = token.len().saturating_sub(1);
        let mut have = 0;
        let mut found = false;
        loop {
            // SAFETY: reads at most the free part of `buf`.
            let n = unsafe { libc::read(fd, buf[have..].as_mut_ptr().cast(), buf.len() - have) };
            if n <= 0 {
                break;
            }
            have += n as usize;
            if buf[..have].windows(token.len()).any(|w| w == token) {
                found = true;
                break;
            }
            // Keep the tail, in case the token straddles two reads.
            let tail = have.min(keep);
            buf.copy_within(have - tail..have, 0);
            have = tail;
        }
        // SAFETY: closes the descriptor opened above.
        unsafe { libc::close(fd) };
        found
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn tasks_within_keeps_a_reserve_and_allows_at_least_one() {
            assert_eq!(super::super::tasks_within(64), 1);
            assert_eq!(super::super::tasks_within(0), 1);
            assert_eq!(super::super::tasks_within(1024), 240);
        }

        #[test]
        fn finds_a_token_in_a_process_environment_across_reads() {
            let token = b"0123456789abcdef";
            let mut child = std::process::Command::new("sleep")
                .arg("30")
                .env("DAG_TEST_PAD", "x".repeat(70_000))
                .env(SCOPE_VAR, "0123456789abcdef")
                .spawn()
                .unwrap();
            let pid = child.id().to_string();
            // A buffer smaller than the environment: the token is found across reads.
            // Right after exec the kernel may not show the new environment yet.
            let mut buf = vec![0u8; 1000];
            let start = std::time::Instant::now();
            while !environ_holds(pid.as_bytes(), token, &mut buf) {
                assert!(
                    start.elapsed() < std::time::Duration::from_secs(5),
                    "the token never showed in /proc/{pid}/environ"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            assert!(!environ_holds(
                pid.as_bytes(),
                b"fedcba9876543210",
                &mut buf
            ));
            let mut dents = vec![0u8; 4096];
            assert_eq!(kill_scope(token, &mut dents, &mut buf), 1);
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(child.wait().unwrap().signal(), Some(9));
            assert_eq!(parse_pid(b"4194303"), Some(4_194_303));
            assert_eq!(parse_pid(b"self"), None);
        }
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
/// take those. Spawning a task holds `spawning` (shared) until its pid is owned
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
