//! A small harness around the `dag` binary: a temp dir with its own state store, a
//! fluent way to run commands, and helpers to look at processes.

pub mod browser;
pub mod containers;
pub mod http;
pub mod nats;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub fn dag_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dag"))
}

/// A temp directory with a state store, where DAG files are written and `dag` runs.
pub struct Env {
    pub dir: tempfile::TempDir,
}

/// The result of one `dag` invocation.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn code(&self, want: i32) -> &Run {
        assert_eq!(
            self.code, want,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file under the temp dir and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// A `dag` command in the temp dir, with its own state store and no colour.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(dag_bin());
        c.args(args);
        self.isolate(&mut c);
        c
    }

    /// A `bash -e -o pipefail` script in the temp dir, as a user would type it: `dag`
    /// on the `PATH` is the binary under test, with the same state store and settings
    /// as [`Env::cmd`]. Each command is echoed on stderr (`-x`), so a failure names it.
    pub fn sh(&self, script: &str) -> Command {
        let bin = self.path().join(".bin");
        if !bin.join("dag").exists() {
            std::fs::create_dir_all(&bin).unwrap();
            std::os::unix::fs::symlink(dag_bin(), bin.join("dag")).unwrap();
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![bin];
        paths.extend(std::env::split_paths(&path));
        let mut c = Command::new("bash");
        c.args(["-e", "-o", "pipefail", "-x", "-c", script])
            .env("PATH", std::env::join_paths(paths).unwrap());
        self.isolate(&mut c);
        c
    }

    /// Runs `c` in the temp dir, with its own state store and no colour, untouched by
    /// the settings of the machine running the tests.
    fn isolate(&self, c: &mut Command) {
        c.current_dir(self.path())
            .env("DAG_HOME", self.path().join("state"))
            .env("NO_COLOR", "1")
            .env_remove("CI")
            .stdin(Stdio::null());
        // Settings of the machine running the tests must not leak in.
        for var in [
            "DAG_CONFIG",
            "DAG_EXECUTOR",
            "DAG_PARALLEL",
            "DAG_STATE",
            "NATS_CREDS",
            "DAG_NATS_INBOX_PREFIX",
            "DAG_NATS_REPLICAS",
            "DAG_DOCKER_IMAGE",
            "DAG_DOCKER_NETWORK",
            "DAG_DOCKER_MEMORY_MB",
            "DAG_DOCKER_CPU_QUOTA",
            "DAG_DOCKER_VOLUMES",
            "DAG_UI_TOKEN",
        ] {
            c.env_remove(var);
        }
    }

    /// Runs `dag ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd(args).output().expect("run dag").into()
    }

    /// Starts `dag ARGS` with piped output.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dag")
    }

    /// The problems `dag validate` reports for `text`, written as `bad.yaml`
    /// (which must be refused: exit 2).
    pub fn refused(&self, text: &str) -> String {
        self.write("bad.yaml", text);
        let run = self.run(&["validate", "bad.yaml"]);
        run.code(2);
        run.stderr
    }

    /// `dag run FILE --output json` plus extra args; returns the run and its JSON.
    pub fn run_json(&self, file: &str, extra: &[&str]) -> (Run, serde_json::Value) {
        let mut args = vec!["run", file, "--output", "json"];
        args.extend_from_slice(extra);
        let r = self.run(&args);
        let j = r.json();
        (r, j)
    }
}

/// The state of task `id` in a run's JSON document.
#[track_caller]
pub fn task_state(doc: &serde_json::Value, id: &str) -> String {
    task(doc, id)["state"].as_str().unwrap().to_string()
}

/// The task `id` of a run's JSON document.
#[track_caller]
pub fn task<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no task {id} in {doc}"))
}

/// Pids of live processes whose command line contains `needle`.
pub fn pids_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true);
        if cmdline.contains(needle) && !zombie && pid != std::process::id() {
            out.push(pid);
        }
    }
    out
}

/// Waits until `check` holds, up to `limit`.
pub fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    check()
}

/// A unique marker for command lines, so tests can find their own processes.
pub fn marker(tag: &str) -> String {
    format!("{tag}{}x{}", std::process::id(), fastrand_u32())
}

fn fastrand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish() as u32
}

/// Whether `python3 -c "import IMPORTS"` works (the Python packages some tests drive
/// are there). In CI they must be: a missing package is a failure there, naming
/// `packages`, not a skip.
pub fn python_has(imports: &str, packages: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {imports}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "CI needs the Python {packages} (scripts/test.sh installs them)"
    );
    ok
}

/// Sends a signal to a process.
pub fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Whether this test process may run `unshare FLAGS true` (root, with util-linux).
/// In CI it must: a missing capability is a failure there, not a skip.
pub fn can_unshare(flags: &[&str]) -> bool {
    let ok = Command::new("unshare")
        .args(flags)
        .arg("true")
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "this test needs `unshare {}` (util-linux, as root), and CI is set",
            flags.join(" ")
        );
        eprintln!(
            "skipped: `unshare {}` is not possible here",
            flags.join(" ")
        );
    }
    ok
}

/// Runs `cmd` to completion (stdout and stderr to files, so a chatty child never
/// blocks) and returns its result and its peak resident memory in KiB, taken from
/// the kernel's accounting of that one child (`wait4`).
pub fn run_measuring_rss(mut cmd: Command) -> (Run, u64) {
    use nix::libc;
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    cmd.stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    // Reaped below by `wait4`, which `Child::wait` cannot replace: it gives no usage.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: plain out-parameters for wait4; `usage` is fully written by the kernel
    // on success.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let run = Run {
        code,
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    };
    (run, usage.ru_maxrss as u64)
}

/// Waits for `child` up to `limit`, reading its piped output meanwhile (so a chatty
/// child never blocks on a full pipe); a child still running then is killed, and the
/// test fails saying it hung (a hang must fail the test, not wedge the suite).
#[track_caller]
pub fn finish_within(mut child: Child, limit: Duration, what: &str) -> Run {
    use std::io::Read;
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let start = Instant::now();
    let mut status = None;
    while start.elapsed() < limit {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{what} still running after {limit:?}\n--- stderr\n{}",
            stderr.join().unwrap()
        );
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Makes a named pipe at `path`.
#[track_caller]
pub fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(made, "mkfifo {}", path.display());
}
