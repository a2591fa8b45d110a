//! Ctrl-C and SIGTERM: running tasks are stopped and recorded `cancelled`, nothing is
//! left behind, and the exit code names the signal.

use std::time::Duration;

use crate::common::{Env, can_unshare, kill, marker, pids_with, task_state, wait_for};

fn long_dag(env: &Env, m: &str, trap: bool) {
    let body = if trap {
        // Ignores SIGTERM: only SIGKILL (second Ctrl-C, or the grace period) stops it.
        format!("trap '' TERM; exec -a {m} bash -c \"trap '' TERM; sleep 300 & wait\"")
    } else {
        format!("exec -a {m} sleep 300")
    };
    env.write(
        "long.yaml",
        format!(
            "name: long\ntasks:\n  slow1: {{ command: \"{}\" }}\n  slow2: {{ command: \"sleep 300 & wait\" }}\n  after: {{ command: 'true', depends_on: [slow1] }}\n",
            body.replace('"', "\\\"")
        ),
    );
}

/// Waits for the task's process named `m`: the one `exec -a` made, which exists
/// only once the command before it (its `trap`) has run. (The shell that runs the
/// task's command has `m` in its command line too, before it set the trap.)
fn wait_running(env: &Env, m: &str) {
    let named = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).next() == Some(m.as_bytes()))
        })
    };
    assert!(
        wait_for(Duration::from_secs(10), || named()
            && !pids_with(m).is_empty()),
        "task never started"
    );
    let _ = env;
}

#[test]
fn first_sigint_cancels_running_tasks_and_exits_130() {
    let env = Env::new();
    let m = marker("sigint");
    long_dag(&env, &m, false);
    let child = env.spawn(&["run", "long.yaml", "--output", "json"]);
    wait_running(&env, &m);
    kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It says what it does about the signal.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "dag: stopping: cancelling running tasks (they get SIGTERM, then SIGKILL after the grace period; press Ctrl-C again to kill them now)"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["state"], "cancelled");
    assert_eq!(task_state(&doc, "slow1"), "cancelled");
    assert_eq!(task_state(&doc, "slow2"), "cancelled");
    assert_eq!(task_state(&doc, "after"), "cancelled");
    assert!(pids_with(&m).is_empty(), "a task process survived Ctrl-C");
    // The stored run says the same.
    let status = env.run(&["status", "--output", "json"]);
    assert_eq!(status.json()["state"], "cancelled");
}

#[test]
fn sigterm_exits_143() {
    let env = Env::new();
    let m = marker("sigterm");
    long_dag(&env, &m, false);
    let child = env.spawn(&["run", "long.yaml", "--output", "quiet"]);
    wait_running(&env, &m);
    kill(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    assert!(pids_with(&m).is_empty());
}

#[test]
fn second_sigint_kills_tasks_that_ignore_sigterm() {
    let env = Env::new();
    let m = marker("stubborn");
    long_dag(&env, &m, true);
    let child = env.spawn(&["run", "long.yaml", "--output", "json"]);
    wait_running(&env, &m);
    let pid = child.id();
    kill(pid, "INT");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !pids_with(&m).is_empty(),
        "the task should still ignore SIGTERM during the grace period"
    );
    kill(pid, "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(task_state(&doc, "slow1"), "cancelled");
    assert!(
        wait_for(Duration::from_secs(2), || pids_with(&m).is_empty()),
        "killed task survived"
    );
}

/// Regression: a closed stderr (`dag run ... 2>&1 | head -1`) made the first
/// progress message panic the signal handler, so Ctrl-C was ignored.
#[test]
fn signals_work_when_stderr_is_closed() {
    let env = Env::new();
    let m = marker("closed");
    long_dag(&env, &m, false);
    let mut child = env
        .cmd(&["run", "long.yaml", "--output", "quiet"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    wait_running(&env, &m);
    kill(child.id(), "INT");
    let mut code = None;
    assert!(
        wait_for(Duration::from_secs(10), || {
            code = child.try_wait().unwrap().and_then(|s| s.code());
            code.is_some()
        }),
        "dag ignored SIGINT"
    );
    assert_eq!(code, Some(130));
    assert!(pids_with(&m).is_empty());
}

/// Regression: a retry delay too large for the clock panicked the local executor.
#[test]
fn an_absurd_retry_delay_waits_instead_of_panicking() {
    let env = Env::new();
    env.write(
        "r.yaml",
        "name: r\ntasks:\n  a: { command: 'exit 1', retries: 1, retry_delay: 500000000000y, max_retry_delay: 500000000000y }\n",
    );
    let child = env.spawn(&["run", "r.yaml", "--output", "json"]);
    std::thread::sleep(Duration::from_millis(800));
    kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(task_state(&doc, "a"), "cancelled");
}

/// A DAG whose first task leaves five exited orphans behind, and one that writes
/// its parent after it was orphaned into `adopted` (beside dag's pid in `dag`); the
/// second task, later, counts the zombies whose parent is dag into `zombies`.
fn littering_dag(env: &Env) -> std::path::PathBuf {
    let count = env.path().join("zombies");
    env.write(
        "z.yaml",
        format!(
            "name: z\ntasks:\n  litter: {{ command: 'echo $PPID > dag; for i in 1 2 3 4 5; do (true &); done; (sh -c \"sleep 0.3; read -r pid comm state ppid rest < /proc/\\$\\$/stat; echo \\$ppid > adopted\" &); sleep 0.8' }}\n  \
             look:\n    depends_on: litter\n    command: |\n      sleep 2.5\n      n=0\n      for f in /proc/[0-9]*/stat; do\n        set -- $(cut -d')' -f2 < $f 2>/dev/null)\n        [ \"$1\" = Z ] && [ \"$2\" = $PPID ] && n=$((n+1))\n      done\n      echo $n > {}\n",
            count.display()
        ),
    );
    count
}

#[test]
fn as_pid_1_dag_reaps_the_zombies_tasks_leave_behind() {
    if !can_unshare(&["--pid", "--fork", "--mount-proc"]) {
        return;
    }
    let env = Env::new();
    let count = littering_dag(&env);
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc"])
        .arg(crate::common::dag_bin())
        .args(["run", "z.yaml", "--output", "quiet"])
        .current_dir(env.path())
        .env("DAG_HOME", env.path().join("state"))
        .env_remove("CI")
        .stdin(std::process::Stdio::null());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let zombies = std::fs::read_to_string(&count).unwrap();
    assert_eq!(zombies.trim(), "0", "zombies left under dag as PID 1");
    assert_adopted(&env);
}

/// The orphan of the littering DAG was re-parented to dag, not to init (its
/// parent read from /proc once its own parent is gone: `$PPID` is fixed when a
/// shell starts, which may be before then).
fn assert_adopted(env: &Env) {
    let read = |f: &str| std::fs::read_to_string(env.path().join(f)).unwrap();
    assert_eq!(
        read("adopted"),
        read("dag"),
        "the orphan was not dag's child"
    );
}

#[test]
fn dag_reap_orphans_makes_dag_a_subreaper_that_reaps() {
    let env = Env::new();
    let count = littering_dag(&env);
    let out = env
        .cmd(&["run", "z.yaml", "--output", "quiet"])
        .env("DAG_REAP_ORPHANS", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let zombies = std::fs::read_to_string(&count).unwrap();
    assert_eq!(zombies.trim(), "0", "zombies left under a subreaper dag");
    assert_adopted(&env);
}
