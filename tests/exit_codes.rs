//! Exit codes and messages at the edges: what does not exist is a usage error (2)
//! that says so, an unusable store or report is named before anything runs, and a
//! run's own outcome is never masked by what comes after it.

use std::time::Duration;

use crate::common::{Env, kill, marker, pids_with, wait_for};

const ONE_TASK: &str = "name: one\ntasks:\n  t: { command: echo hi }\n";

#[test]
fn logs_of_an_attempt_or_task_that_does_not_exist_is_exit_2() {
    let env = Env::new();
    env.write("one.yaml", ONE_TASK);
    let run = env.run_json("one.yaml", &[]).1;
    let id = run["run_id"].as_str().unwrap();
    let r = env.run(&["logs", id, "t", "--attempt", "5"]);
    r.code(2);
    assert!(
        r.stderr.contains("has no attempt 5 (it made 1)"),
        "{}",
        r.stderr
    );
    let r = env.run(&["logs", id, "nope"]);
    r.code(2);
    assert!(r.stderr.contains("has no task `nope`"), "{}", r.stderr);
    // `retry --task` names the nearest task, as `logs` and `--only` do.
    let r = env.run(&["retry", id, "--task", "tt"]);
    r.code(2);
    assert!(
        r.stderr
            .contains(&format!("--task: run {id} has no task `tt`"))
            && r.stderr.contains("did you mean `t`?"),
        "{}",
        r.stderr
    );
    // The attempt that exists still shows.
    let r = env.run(&["logs", id, "t", "--attempt", "1"]);
    r.code(0);
    assert_eq!(r.stdout, "hi\n");
}

#[test]
fn cancel_of_an_unknown_run_says_so_with_exit_2() {
    let env = Env::new();
    // Nothing listens on this port: the unknown run must not turn into a NATS error.
    let nowhere = "nats://127.0.0.1:9";
    let r = env.run(&["cancel", "NOPE", "--state", "file", "--nats", nowhere]);
    r.code(2);
    assert!(r.stderr.contains("no run `NOPE`"), "{}", r.stderr);
    // A run not in the store could be a distributed one driven elsewhere; when
    // NATS cannot be asked, the message says both.
    let r = env.run(&["cancel", "NOPE", "--nats", nowhere]);
    r.code(2);
    assert!(
        r.stderr.contains("no run `NOPE` in the state store"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("which cannot be reached"), "{}", r.stderr);
    // With a store holding runs, the same.
    env.write("one.yaml", ONE_TASK);
    env.run(&["run", "one.yaml", "-q"]).code(0);
    let r = env.run(&["cancel", "NOPE", "--state", "file", "--nats", nowhere]);
    r.code(2);
    assert!(r.stderr.contains("no run `NOPE`"), "{}", r.stderr);
}

#[test]
fn the_report_path_is_checked_before_the_run_and_never_masks_its_outcome() {
    let env = Env::new();
    env.write("one.yaml", ONE_TASK);
    env.write(
        "fails.yaml",
        "name: fails\ntasks:\n  t: { command: 'exit 3' }\n",
    );
    let m = marker("report");
    env.write(
        "marks.yaml",
        format!("name: marks\ntasks:\n  t: {{ command: 'touch {m}' }}\n"),
    );
    // A directory, or a missing parent: exit 2 before anything runs.
    std::fs::create_dir(env.path().join("adir")).unwrap();
    for bad in ["adir", "missing/dir/r.xml"] {
        let r = env.run(&["run", "marks.yaml", "--report", bad]);
        r.code(2);
        assert!(r.stderr.contains("cannot write the report"), "{}", r.stderr);
        assert!(!env.path().join(&m).exists(), "the run started anyway");
    }
    // No run was recorded.
    let runs = env.run(&["runs", "--output", "json"]);
    assert!(
        runs.code != 0 || runs.json() == serde_json::json!([]),
        "{}",
        runs.stdout
    );
    // A named pipe nobody reads is refused, not waited on.
    let fifo = env.path().join("pipe.xml");
    crate::common::mkfifo(&fifo);
    let r = env.run(&["run", "marks.yaml", "--report", "pipe.xml"]);
    r.code(2);
    // A report that cannot be written after the run (a full device): the failed
    // run still exits 1; a successful one exits 3, saying why.
    let r = env.run(&["run", "fails.yaml", "--report", "/dev/full"]);
    r.code(1);
    assert!(
        r.stderr.contains("cannot write the report /dev/full"),
        "{}",
        r.stderr
    );
    let r = env.run(&["run", "one.yaml", "--report", "/dev/full"]);
    r.code(3);
    assert!(
        r.stderr.contains("cannot write the report /dev/full"),
        "{}",
        r.stderr
    );
    // A good path gets the report, replacing what was there.
    env.write("r.xml", "x".repeat(100_000));
    env.run(&["run", "one.yaml", "--report", "r.xml"]).code(0);
    let xml = std::fs::read_to_string(env.path().join("r.xml")).unwrap();
    assert!(xml.starts_with("<?xml") && xml.trim_end().ends_with("</testsuites>"));
}

#[test]
fn status_of_a_cancelled_run_exits_130() {
    let env = Env::new();
    let m = marker("cancelled");
    env.write(
        "long.yaml",
        format!("name: long\ntasks:\n  t: {{ command: 'exec -a {m} sleep 300' }}\n"),
    );
    let child = env.spawn(&["run", "long.yaml", "-q"]);
    assert!(wait_for(Duration::from_secs(10), || !pids_with(&m).is_empty()));
    kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let r = env.run(&["status"]);
    r.code(130);
    assert!(r.stdout.contains("cancelled"), "{}", r.stdout);
    env.run(&["status", "--output", "json"]).code(130);
}

#[test]
fn a_nul_byte_in_an_output_fails_the_task_that_would_use_it_naming_the_output() {
    let env = Env::new();
    env.write(
        "nul.yaml",
        "name: nul\ntasks:\n  a: { command: 'printf \"k=a\\0b\\n\" >> \"$DAG_OUTPUT\"' }\n  b: { command: 'echo \"${{ tasks.a.outputs.k }}\"', depends_on: a }\n",
    );
    let (r, doc) = env.run_json("nul.yaml", &[]);
    r.code(1);
    let b = crate::common::task(&doc, "b");
    assert_eq!(b["state"], "failed");
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .contains("output `k` of task `a` contains a NUL character"),
        "{b}"
    );
}

#[test]
fn a_malformed_nats_url_is_a_usage_error_with_no_password_shown() {
    let env = Env::new();
    env.write("one.yaml", ONE_TASK);
    for (url, shown) in [
        ("", "a server URL is empty"),
        ("nats://127.0.0.1:4222,", "a server URL is empty"),
        ("nats://", "`nats://`: no host"),
        ("tls://", "`tls://`: no host"),
    ] {
        let r = env.run(&["workers", "--nats", url]);
        r.code(2);
        assert!(r.stderr.contains(shown), "{url:?}: {}", r.stderr);
    }
    let url = "nats://alice:s3cret@127.0.0.1:4222,garbage://x";
    for args in [
        vec![
            "run",
            "one.yaml",
            "--executor",
            "distributed",
            "--nats",
            url,
        ],
        vec!["workers", "--nats", url],
        vec!["status", "--state", "nats", "--nats", url],
        vec!["worker", "--nats", url],
    ] {
        let r = env.run(&args);
        r.code(2);
        assert!(
            r.stderr.contains("invalid NATS URL `garbage://x`"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("s3cret"), "{}", r.stderr);
    }
    // The same from the environment.
    let r: crate::common::Run = env
        .cmd(&["workers"])
        .env("NATS_URL", "bad://host")
        .output()
        .unwrap()
        .into();
    r.code(2);
}

#[test]
fn a_state_dir_that_is_a_file_is_named() {
    let env = Env::new();
    env.write("one.yaml", ONE_TASK);
    env.write("afile", "");
    for args in [
        vec!["status", "--state-dir", "afile"],
        vec!["runs", "--state-dir", "afile"],
        vec!["logs", "X", "--state-dir", "afile"],
        vec!["run", "one.yaml", "--state-dir", "afile"],
    ] {
        let r = env.run(&args);
        r.code(3);
        assert!(r.stderr.contains("afile"), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("no runs"), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn run_ids_that_no_store_could_hold_are_unknown_runs() {
    let env = Env::new();
    env.write("one.yaml", ONE_TASK);
    env.run(&["run", "one.yaml", "-q"]).code(0);
    let long = "a".repeat(300);
    for id in ["a..b", "*", ">", "a b", ".a", "ünï", long.as_str()] {
        for args in [vec!["status", id], vec!["logs", id], vec!["retry", id]] {
            let r = env.run(&args);
            r.code(2);
            assert!(r.stderr.contains("no run"), "{args:?}: {}", r.stderr);
        }
    }
    // The NATS store: such an id is no key, and no request is made for it.
    let Some(nats) = crate::nats::server() else {
        return;
    };
    let url = nats.url();
    for id in ["a..b", "*", ">", "a b", ".a", "ünï", long.as_str()] {
        for cmd in ["status", "logs", "retry"] {
            let r = env.run(&[cmd, id, "--state", "nats", "--nats", &url]);
            r.code(2);
            assert!(r.stderr.contains("no run"), "{cmd} {id:?}: {}", r.stderr);
        }
    }
}
