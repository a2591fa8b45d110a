//! The `bash` task runner: `bash -c COMMAND` in its own process group, output
//! straight into the attempt's log file.
//!
//! stdout and stderr share one pipe that dag drains concurrently in fixed-size chunks
//! into the attempt's log file, so a chatty task never blocks and its output is never
//! held in memory; the log file is created only when output arrives (creating a
//! file per attempt costs more than running `true`). With `-v` the copied output is
//! also handed on line by line.
//!
//! A command with no shell syntax at all (`true`, `./build.sh --release`) is started
//! directly, without a shell, as make does: the result is the same and it saves the
//! cost of starting bash for every task.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::outputs::{self, OutputDir};
use super::process::{GroupGuard, describe_exit, reaper};
use crate::engine::runner::{BoxFuture, LineSink, Outcome, TaskContext, TaskLog, TaskRunner};
use crate::engine::spec::TaskKind;

/// Runs `bash` tasks.
#[derive(Clone, Debug)]
pub struct BashRunner {
    shell: String,
    /// Programs found on `PATH`, so that starting `true` a thousand times searches
    /// `PATH` once rather than trying every directory on each start.
    resolved: Arc<Mutex<HashMap<String, Option<PathBuf>>>>,
    /// Where tasks write `$DAG_OUTPUT`.
    outputs: OutputDir,
}

impl Default for BashRunner {
    fn default() -> Self {
        BashRunner {
            shell: "bash".to_string(),
            resolved: Arc::default(),
            outputs: OutputDir::default(),
        }
    }
}

impl BashRunner {
    /// A runner using `bash` from `PATH`.
    pub fn new() -> BashRunner {
        BashRunner::default()
    }
}

impl TaskRunner for BashRunner {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Outcome> {
        let runner = self.clone();
        Box::pin(async move { run_bash(&runner, ctx).await })
    }
}

impl BashRunner {
    /// Where `program` is on this process's `PATH` (cached). Names with a `/` and
    /// tasks that set their own `PATH` are left to the OS.
    fn locate(&self, program: &str, env: &[(String, String)]) -> Option<PathBuf> {
        if program.contains('/') || env.iter().any(|(k, _)| k == "PATH") {
            return None;
        }
        let mut cache = self.resolved.lock().ok()?;
        cache
            .entry(program.to_string())
            .or_insert_with(|| {
                let path = std::env::var_os("PATH")?;
                std::env::split_paths(&path)
                    .filter(|dir| dir.is_absolute())
                    .map(|dir| dir.join(program))
                    .find(|p| is_executable(p))
            })
            .clone()
    }
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Bash builtins and keywords: a command starting with one of these always goes
/// through bash, since its meaning there differs from any program of that name.
const SHELL_WORDS: &[&str] = &[
    ":",
    ".",
    "[",
    "[[",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "case",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "coproc",
    "declare",
    "dirs",
    "disown",
    "do",
    "done",
    "echo",
    "elif",
    "else",
    "enable",
    "esac",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "fc",
    "fg",
    "fi",
    "for",
    "function",
    "getopts",
    "hash",
    "help",
    "history",
    "if",
    "in",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "select",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "then",
    "time",
    "times",
    "trap",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "until",
    "wait",
    "while",
];

/// The words of `command` when it can run without a shell: only plain words made of
/// characters that no shell treats specially, and not a shell builtin or keyword.
pub fn direct_argv(command: &str) -> Option<Vec<&str>> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=,+@%".contains(c);
    if !command.chars().all(|c| plain(c) || c == ' ') {
        return None;
    }
    let words: Vec<&str> = command.split(' ').filter(|w| !w.is_empty()).collect();
    let first = *words.first()?;
    if first.contains('=') || SHELL_WORDS.contains(&first) {
        return None;
    }
    Some(words)
}

async fn run_bash(runner: &BashRunner, ctx: TaskContext) -> Outcome {
    let TaskKind::Bash { command } = &ctx.task().kind else {
        return Outcome::failed(None, "not a bash task");
    };
    let output_file = match runner
        .outputs
        .file(&ctx.run_id, &ctx.task().id, ctx.attempt)
    {
        Ok(p) => p,
        Err(e) => return Outcome::failed(None, e),
    };
    let direct = direct_argv(command);
    // Spawned and owned under the gate, so a PID-1 zombie sweep never takes the
    // task's own process from tokio.
    let (mut child, reader, group) = {
        let _gate = super::process::orphans::spawning();
        let spawned = match spawn(runner, command, direct.as_deref(), &ctx, &output_file) {
            // A file without a `#!` line is a script to bash, not an executable to
            // the kernel: run it as `bash -c` would.
            Err(e) if direct.is_some() && e.raw_os_error() == Some(nix::libc::ENOEXEC) => {
                spawn(runner, command, None, &ctx, &output_file)
            }
            other => other,
        };
        let (child, reader) = match spawned {
            Ok(c) => c,
            Err(e) => {
                let (code, message) = spawn_error(command, &ctx, &e);
                ctx.log.line(&format!("dag: {message}"));
                return Outcome::failed(Some(code), message);
            }
        };
        let Some(pid) = child.id() else {
            return Outcome::failed(None, "the task process vanished before it could be watched");
        };
        (child, reader, GroupGuard::new(pid))
    };
    let output = match tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into()) {
        Ok(rx) => {
            let lines = ctx
                .lines
                .clone()
                .map(|sink| (ctx.task().id.to_string(), sink));
            tokio::spawn(copy_output(rx, ctx.log.clone(), lines))
        }
        Err(e) => return Outcome::failed(None, format!("cannot read the task output: {e}")),
    };

    let stop = &ctx.stop;
    let timeout = tokio::time::sleep(ctx.timeout);
    tokio::pin!(timeout);
    let mut stopped: Option<String> = None;
    let mut cancelled = false;
    let status = tokio::select! {
        s = child.wait() => Some(s),
        _ = &mut timeout => {
            stopped = Some(format!("timed out after {}", humantime::format_duration(ctx.timeout)));
            None
        }
        _ = stop.graceful.cancelled() => {
            cancelled = true;
            stopped = Some("cancelled".to_string());
            None
        }
        _ = stop.hard.cancelled() => {
            cancelled = true;
            stopped = Some("killed".to_string());
            None
        }
    };
    let status = match status {
        Some(s) => s,
        None => terminate(&mut child, &group, ctx.grace, stop).await,
    };
    // Whatever the leader left behind (`sleep 1000 &`) ends with it.
    group.kill_rest();
    // The output ends when the last writer is gone; only a process that escaped the
    // group could hold it open, and it is not waited for.
    let copied = match tokio::time::timeout(Duration::from_secs(2), output).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) | Err(_) => Ok(()),
    };
    let status = match status {
        Ok(s) => s,
        Err(e) => return Outcome::failed(None, format!("cannot wait for the task process: {e}")),
    };
    let (code, how) = describe_exit(status);
    if let Err(e) = copied {
        return Outcome::failed(
            Some(code),
            format!(
                "cannot write the task log {}: {e}",
                ctx.log.path().display()
            ),
        );
    }
    let outputs = outputs::take(&output_file, ctx.output_cap).await;
    match stopped {
        Some(reason) if cancelled => Outcome {
            exit_code: Some(code),
            ..Outcome::cancelled(reason)
        },
        // The task did not end by itself: no exit code (as for docker and http
        // timeouts), so a `skip_exit_code` of 143 never turns a timeout into a skip.
        Some(reason) => Outcome::failed(None, reason),
        None if status.success() => match outputs {
            Ok(outputs) => Outcome::success(Some(0)).with_outputs(outputs),
            Err(e) => {
                ctx.log.line(&format!("dag: {e}"));
                Outcome::failed(Some(0), e)
            }
        },
        None => Outcome::failed(Some(code), how),
    }
}

/// Starts the task's process: `argv` directly when given, else `bash -c COMMAND`;
/// stdout and stderr share one pipe, so their lines interleave as the task wrote them.
/// Returns the child and the pipe's read end.
fn spawn(
    runner: &BashRunner,
    command: &str,
    argv: Option<&[&str]>,
    ctx: &TaskContext,
    output_file: &std::path::Path,
) -> std::io::Result<(tokio::process::Child, std::io::PipeReader)> {
    let mut cmd = match argv {
        Some(argv) => {
            let mut c = match runner.locate(argv[0], &ctx.env) {
                Some(path) => {
                    let mut c = Command::new(path);
                    c.arg0(argv[0]);
                    c
                }
                None => Command::new(argv[0]),
            };
            c.args(&argv[1..]);
            c
        }
        None => {
            let mut c = Command::new(&runner.shell);
            c.arg("-c").arg(command);
            c
        }
    };
    cmd.envs(ctx.env.iter().map(|(k, v)| (k, v)))
        .envs(crate::engine::gpu::env(&ctx.gpus))
        .env("DAG_OUTPUT", output_file)
        .stdin(Stdio::null())
        .process_group(0);
    if let Some(scope) = reaper::scope() {
        cmd.env(reaper::SCOPE_VAR, scope);
    }
    if let Some(dir) = &ctx.workdir {
        cmd.current_dir(dir);
    }
    let (reader, writer) = std::io::pipe()?;
    cmd.stdout(writer.try_clone()?).stderr(writer);
    let child = cmd.spawn();
    // The parent's copies of the pipe's write end go with `cmd`, or the log would
    // never see the end of the output.
    drop(cmd);
    Ok((child?, reader))
}

/// SIGTERM to the group, then SIGKILL after the grace period (or at once when the
/// hard stop fires).
async fn terminate(
    child: &mut tokio::process::Child,
    group: &GroupGuard,
    grace: Duration,
    stop: &crate::engine::runner::StopSignal,
) -> std::io::Result<std::process::ExitStatus> {
    if stop.hard.is_cancelled() {
        group.signal(Signal::SIGKILL);
        return child.wait().await;
    }
    group.signal(Signal::SIGTERM);
    tokio::select! {
        s = child.wait() => return s,
        _ = tokio::time::sleep(grace) => {}
        _ = stop.hard.cancelled() => {}
    }
    group.signal(Signal::SIGKILL);
    child.wait().await
}

fn spawn_error(command: &str, ctx: &TaskContext, e: &std::io::Error) -> (i32, String) {
    let program = direct_argv(command).map_or("bash", |a| a[0]);
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            if let Some(dir) = ctx.workdir.as_ref().filter(|d| !d.is_dir()) {
                (127, format!("workdir {} does not exist", dir.display()))
            } else {
                (127, format!("{program}: command not found"))
            }
        }
        std::io::ErrorKind::PermissionDenied => (126, format!("{program}: permission denied")),
        _ => (126, format!("cannot start {program}: {e}")),
    }
}

/// Longest line handed to the live output consumer; the log keeps everything.
const MAX_LINE: usize = 8 * 1024;

/// Copies the task's output into its log in fixed-size chunks, never holding more
/// than one chunk and one line in memory, and hands complete lines to `lines` (`-v`).
async fn copy_output(
    mut from: tokio::net::unix::pipe::Receiver,
    log: TaskLog,
    lines: Option<(String, LineSink)>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut masker = log.masker();
    let mut line: Vec<u8> = Vec::new();
    let mut overlong = false;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let ready = masker.push(&buf[..n]);
        emit(&log, &ready, &lines, &mut line, &mut overlong)?;
    }
    let rest = masker.finish();
    emit(&log, &rest, &lines, &mut line, &mut overlong)?;
    if let Some((task, sink)) = &lines
        && !line.is_empty()
        && !overlong
    {
        sink(task, &String::from_utf8_lossy(&line));
    }
    Ok(())
}

/// Writes output (already masked) to the log and hands complete lines on.
pub(super) fn emit(
    log: &TaskLog,
    bytes: &[u8],
    lines: &Option<(String, LineSink)>,
    line: &mut Vec<u8>,
    overlong: &mut bool,
) -> std::io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    log.write(bytes)?;
    let Some((task, sink)) = lines else {
        return Ok(());
    };
    for &b in bytes {
        if b == b'\n' {
            if !*overlong {
                sink(task, &String::from_utf8_lossy(line));
            }
            line.clear();
            *overlong = false;
        } else if line.len() < MAX_LINE {
            line.push(b);
        } else if !*overlong {
            *overlong = true;
            sink(task, &format!("{} …", String::from_utf8_lossy(line)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::direct_argv;

    #[test]
    fn plain_commands_skip_the_shell() {
        assert_eq!(direct_argv("true"), Some(vec!["true"]));
        assert_eq!(
            direct_argv("./build.sh --out=dist  -j2"),
            Some(vec!["./build.sh", "--out=dist", "-j2"])
        );
    }

    #[test]
    fn shell_syntax_and_builtins_use_bash() {
        for c in [
            "echo hi",
            "cd /tmp",
            "a=1 true",
            "true && false",
            "ls *.rs",
            "echo $HOME",
            "cat 'x'",
            "sleep 1 &",
            "exit 3",
            "x | y",
            "",
            "ls ~",
            "printf '%s'",
            "foo\tbar",
        ] {
            assert_eq!(direct_argv(c), None, "{c}");
        }
    }
}
