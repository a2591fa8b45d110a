//! Reading runs back: `dag status`, `dag runs`, `dag logs`, and what a SIGKILLed
//! `dag run` leaves behind.

use std::time::Duration;

use crate::common::{Env, kill, marker, pids_with, wait_for};

#[test]
fn status_runs_and_logs() {
    let env = Env::new();
    env.write(
        "h.yaml",
        "name: hist\ntasks:\n  a: { command: 'echo out-a; echo err-a >&2' }\n  b: { command: 'echo out-b; exit 2', depends_on: a, retries: 1, retry_delay: 1ms }\n",
    );
    let first = env.run_json("h.yaml", &[]).1;
    env.write(
        "other.yaml",
        "name: other\ntasks:\n  x: { type: fn, command: noop }\n",
    );
    let second = env.run_json("other.yaml", &[]).1;
    let id1 = first["run_id"].as_str().unwrap();

    // Latest run by default.
    let s = env.run(&["status"]);
    s.code(0);
    assert!(
        s.stdout.contains(second["run_id"].as_str().unwrap()),
        "{}",
        s.stdout
    );
    let s = env.run(&["status", id1]);
    s.code(1);
    assert!(s.stdout.contains("│ b"), "{}", s.stdout);

    let runs = env.run(&["runs", "--output", "json"]);
    let list = runs.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["run_id"], second["run_id"], "newest first");
    let only = env
        .run(&["runs", "--dag", "hist", "--output", "json"])
        .json();
    assert_eq!(only.as_array().unwrap().len(), 1);
    let table = env.run(&["runs", "--limit", "1"]);
    assert!(
        table.stdout.contains("other") && !table.stdout.contains("hist"),
        "{}",
        table.stdout
    );

    let logs = env.run(&["logs", id1, "a"]);
    logs.code(0);
    assert_eq!(logs.stdout, "out-a\nerr-a\n");
    let logs = env.run(&["logs", id1, "b", "--attempt", "2"]);
    assert_eq!(logs.stdout, "── b (attempt 2) ──\nout-b\n");
    let all = env.run(&["logs", id1]);
    assert!(
        all.stdout
            .contains("── a (attempt 1) ──\nout-a\nerr-a\n── b (attempt 1) ──\nout-b\n"),
        "{}",
        all.stdout
    );
    let bad = env.run(&["logs", id1, "c"]);
    bad.code(2);
    let missing = env.run(&["status", "no-such-run"]);
    missing.code(2);
    assert!(
        missing.stderr.contains("no run `no-such-run`"),
        "{}",
        missing.stderr
    );
}

#[test]
fn history_commands_on_an_empty_store_explain() {
    let env = Env::new();
    let r = env.run(&["status"]);
    r.code(2);
    assert!(r.stderr.contains("no runs in"), "{}", r.stderr);
}

#[test]
fn a_sigkilled_run_leaves_readable_state_and_no_task_processes() {
    let env = Env::new();
    let m = marker("killed");
    let g = marker("grandchild");
    let d = marker("detached");
    env.write(
        "k.yaml",
        format!(
            "name: k\ntasks:\n  done: {{ command: 'echo finished' }}\n  hang: {{ command: 'exec -a {m} sleep 300', depends_on: done }}\n  deep: {{ command: '(exec -a {g} sleep 300) & wait', depends_on: done }}\n  away: {{ command: 'setsid -f bash -c \"exec -a {d} sleep 300\"; sleep 300', depends_on: done }}\n"
        ),
    );
    let child = env.spawn(&["run", "k.yaml", "--output", "quiet", "--parallel", "4"]);
    let all = [m.as_str(), g.as_str(), d.as_str()];
    assert!(wait_for(Duration::from_secs(10), || {
        all.iter().all(|p| !pids_with(p).is_empty())
    }));
    kill(child.id(), "KILL");
    let _ = child.wait_with_output();
    // The reaper forked at startup kills the task groups dag left behind, the
    // grandchild of a task included, and the process a task moved to a session of
    // its own.
    let gone = wait_for(Duration::from_secs(10), || {
        all.iter().all(|p| pids_with(p).is_empty())
    });
    for pid in all.iter().flat_map(|p| pids_with(p)) {
        kill(pid, "KILL");
    }
    assert!(gone, "a task process outlived the SIGKILLed dag run");
    // Interrupted: exit 130, as `dag run` exits when stopped.
    let status = env.run(&["status", "--output", "json"]);
    status.code(130);
    let doc = status.json();
    assert_eq!(doc["state"], "running");
    assert_eq!(crate::common::task_state(&doc, "done"), "success");
    assert_eq!(crate::common::task_state(&doc, "hang"), "running");
    let table = env.run(&["status"]);
    assert!(
        table
            .stdout
            .contains("interrupted: the dag process that drove this run"),
        "{}",
        table.stdout
    );
    // `--watch` stops at once and says so too.
    let watched = env.run(&["status", "--watch"]);
    watched.code(130);
    assert!(
        watched
            .stdout
            .contains("interrupted: the dag process that drove this run"),
        "{}",
        watched.stdout
    );
    let logs = env.run(&["logs", doc["run_id"].as_str().unwrap(), "done"]);
    assert_eq!(logs.stdout, "finished\n");
}

#[test]
fn a_process_a_task_detaches_ends_with_the_run() {
    let env = Env::new();
    let d = marker("daemon");
    env.write(
        "d.yaml",
        format!(
            "name: d\ntasks:\n  start: {{ command: 'setsid -f bash -c \"exec -a {d} sleep 300\"; until pgrep -f ^{d} >/dev/null; do sleep 0.05; done' }}\n  check: {{ command: 'pgrep -f ^{d}', depends_on: start }}\n"
        ),
    );
    // The detached process lives while the run does (the second task finds it; the
    // first waits until it has left the task's group, which dies with the task) ...
    env.run(&["run", "d.yaml", "--output", "quiet"]).code(0);
    // ... and the reaper ends it once dag has exited.
    let gone = wait_for(Duration::from_secs(10), || pids_with(&d).is_empty());
    for pid in pids_with(&d) {
        kill(pid, "KILL");
    }
    assert!(gone, "a process a task detached outlived dag");
}

#[test]
fn a_killed_inner_dag_s_reaper_ends_the_inner_run_s_tasks() {
    // A task that is itself `dag run`, whose whole process group is SIGKILLed (as
    // the outer dag does at a task's end or after a timeout's grace period): the
    // inner dag dies at once, and the inner reaper (in a session of its own) must
    // still end the inner run's tasks, which sit in groups of their own. The outer
    // run checks this while it is still running.
    let env = Env::new();
    let m = marker("inner");
    let dag = crate::common::dag_bin();
    env.write(
        "inner.yaml",
        format!("name: inner\ntasks:\n  hang: {{ command: 'exec -a {m} sleep 300' }}\n"),
    );
    env.write(
        "outer.yaml",
        format!(
            "name: outer\ntasks:\n  nest: {{ command: '{} run inner.yaml --output quiet & sleep 1; kill -9 0' }}\n  check: {{ command: 'sleep 1; ! pgrep -f ^{m}', depends_on: nest, trigger_rule: all_done }}\n",
            dag.display()
        ),
    );
    let started = env.spawn(&["run", "outer.yaml", "--output", "json"]);
    assert!(
        wait_for(Duration::from_secs(10), || !pids_with(&m).is_empty()),
        "the inner task never started"
    );
    let out = started.wait_with_output().unwrap();
    for pid in pids_with(&m) {
        kill(pid, "KILL");
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(crate::common::task_state(&doc, "nest"), "failed");
    assert_eq!(
        crate::common::task_state(&doc, "check"),
        "success",
        "an inner task outlived its killed dag: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn logs_follow_streams_until_the_run_ends() {
    let env = Env::new();
    env.write(
        "f.yaml",
        "name: follow\ntasks:\n  talk: { command: 'for i in 1 2 3; do echo line $i; sleep 0.3; done' }\n  more: { command: 'echo after', depends_on: talk }\n",
    );
    let child = env.spawn(&["run", "f.yaml", "--output", "quiet"]);
    let mut id = String::new();
    assert!(wait_for(Duration::from_secs(10), || {
        let runs = env.run(&["runs", "--output", "json"]);
        match runs.code {
            0 => match runs.json()[0]["run_id"].as_str() {
                Some(r) => {
                    id = r.to_string();
                    true
                }
                None => false,
            },
            _ => false,
        }
    }));
    let follow = env.run(&["logs", &id, "--follow"]);
    follow.code(0);
    assert_eq!(
        follow.stdout,
        "talk | line 1\ntalk | line 2\ntalk | line 3\nmore | after\n"
    );
    assert!(child.wait_with_output().unwrap().status.success());
}

#[test]
fn runs_filter_by_status_and_prune() {
    let env = Env::new();
    env.write("ok.yaml", "name: ok\ntasks:\n  a: { command: 'true' }\n");
    env.write("bad.yaml", "name: bad\ntasks:\n  a: { command: 'false' }\n");
    let ok = env.run_json("ok.yaml", &[]).1;
    let bad = env.run_json("bad.yaml", &[]).1;
    let failed = env
        .run(&["runs", "--status", "failed", "--output", "json"])
        .json();
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["run_id"], bad["run_id"]);
    // --since: a duration back, a date, a time.
    let count = |since: &str| {
        env.run(&["runs", "--since", since, "--output", "json"])
            .json()
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(count("1h"), 2);
    assert_eq!(count("2000-01-01"), 2);
    assert_eq!(count("2999-01-01T00:00:00Z"), 0);
    let wrong = env.run(&["runs", "--since", "yesterday"]);
    wrong.code(2);
    assert!(
        wrong.stderr.contains("is neither a duration"),
        "{}",
        wrong.stderr
    );
    // The table: ids as short as tells them apart, times relative.
    let table = env.run(&["runs"]).stdout;
    let short = &bad["run_id"].as_str().unwrap()[..15];
    assert!(table.contains(short) && table.contains(" s ago"), "{table}");
    let dry = env.run(&["runs", "prune", "--older-than", "0s", "--dry-run"]);
    dry.code(0);
    assert!(
        dry.stdout.starts_with("would delete 2 runs"),
        "{}",
        dry.stdout
    );
    let keep = env.run(&["runs", "prune", "--older-than", "30d"]);
    assert!(keep.stdout.starts_with("deleted 0 runs"), "{}", keep.stdout);
    let pruned = env.run(&["runs", "prune", "--older-than", "0s"]);
    pruned.code(0);
    assert!(
        pruned.stdout.contains(ok["run_id"].as_str().unwrap()),
        "{}",
        pruned.stdout
    );
    let left = env.run(&["runs", "--output", "json"]).json();
    assert!(left.as_array().unwrap().is_empty(), "{left}");
}

#[test]
fn a_corrupt_run_is_reported_and_skipped() {
    let env = Env::new();
    env.write("ok.yaml", "name: ok\ntasks:\n  a: { command: 'true' }\n");
    let first = env.run_json("ok.yaml", &[]).1;
    let second = env.run_json("ok.yaml", &[]).1;
    let id = first["run_id"].as_str().unwrap();
    let record = env.path().join("state/runs").join(id).join("run.json");
    std::fs::write(&record, "{\"version\": 1, \"run_id\": tru").unwrap();
    let runs = env.run(&["runs", "--output", "json"]);
    runs.code(0);
    assert_eq!(runs.json().as_array().unwrap().len(), 1);
    assert_eq!(runs.json()[0]["run_id"], second["run_id"]);
    assert!(
        runs.stderr.contains(&format!("warning: skipping run {id}")),
        "{}",
        runs.stderr
    );
    assert!(
        runs.stderr.contains("run.json is corrupt"),
        "{}",
        runs.stderr
    );
    let status = env.run(&["status", id]);
    status.code(3);
    assert!(
        status.stderr.contains(&record.display().to_string()),
        "{}",
        status.stderr
    );
}

#[test]
fn status_watch_follows_a_run_to_its_end() {
    let env = Env::new();
    env.write("w.yaml", "name: watch\ntasks:\n  a: { command: 'sleep 0.5' }\n  b: { command: 'sleep 0.5', depends_on: a }\n");
    let child = env.spawn(&["run", "w.yaml", "--output", "quiet"]);
    // The store exists before the run is in it: wait for the run itself.
    assert!(wait_for(Duration::from_secs(10), || {
        let runs = env.run(&["runs", "--output", "json"]);
        runs.code == 0 && runs.stdout.contains("\"run_id\"")
    }));
    let watch = env.run(&["status", "--watch"]);
    watch.code(0);
    let summaries: Vec<&str> = watch
        .stdout
        .lines()
        .filter(|l| l.starts_with("run "))
        .collect();
    assert!(summaries.len() >= 2, "{}", watch.stdout);
    // Off a terminal each view is appended, not drawn over the one before.
    assert!(!watch.stdout.contains('\x1b'), "{:?}", watch.stdout);
    assert!(
        summaries.last().unwrap().contains(" success: 2 success"),
        "{}",
        watch.stdout
    );
    let _ = child.wait_with_output();
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let env = Env::new();
    env.write(
        "p.yaml",
        "name: pipe\ntasks:\n  a: { command: 'seq 1 200000' }\n",
    );
    let id = env.run_json("p.yaml", &[]).1["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // `dag logs RUN | head -1`: the reader goes away after the first line.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' logs {id} a | head -1",
            crate::common::dag_bin().display()
        ))
        .env("DAG_HOME", env.path().join("state"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The entries of `dir` whose names start with `prefix`.
pub fn entries_with(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Issue 13, item 15: the `$DAG_OUTPUT` directory of a SIGKILLed `dag run` stayed in
/// the temp directory for ever; its reaper removes it.
#[test]
fn a_sigkilled_run_leaves_no_temp_dir() {
    let env = Env::new();
    let tmp = env.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let m = marker("outputs");
    env.write(
        "o.yaml",
        format!(
            "name: o\ntasks:\n  w: {{ command: 'echo a=1 >> \"$DAG_OUTPUT\"; exec -a {m} sleep 300' }}\n"
        ),
    );
    let child = env
        .cmd(&["run", "o.yaml", "--output", "quiet"])
        .env("TMPDIR", &tmp)
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || !pids_with(&m).is_empty()));
    let dirs = entries_with(&tmp, "dag-outputs-");
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    kill(child.id(), "KILL");
    let _ = child.wait_with_output();
    let gone = wait_for(Duration::from_secs(10), || {
        entries_with(&tmp, "dag-").is_empty()
    });
    for pid in pids_with(&m) {
        kill(pid, "KILL");
    }
    assert!(gone, "left behind: {:?}", entries_with(&tmp, ""));
}

/// Attack pass on issue 13: the reaper removed one level inside its private temp
/// directories, so a task that made `$DAG_OUTPUT/sub/deeper` left the directory
/// behind after a SIGKILL. It removes the tree now, never through a link.
#[test]
fn a_sigkilled_run_leaves_no_nested_temp_dir_and_follows_no_link() {
    let env = Env::new();
    let tmp = env.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let outside = env.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), "x").unwrap();
    let m = marker("nested");
    env.write(
        "o.yaml",
        format!(
            "name: o\ntasks:\n  w: {{ command: 'mkdir -p \"$DAG_OUTPUT/sub/deeper/deepest\" && touch \"$DAG_OUTPUT/sub/deeper/f\" && ln -s {} \"$DAG_OUTPUT/sub/link\" && exec -a {m} sleep 300' }}\n",
            outside.display()
        ),
    );
    let child = env
        .cmd(&["run", "o.yaml", "--output", "quiet"])
        .env("TMPDIR", &tmp)
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || !pids_with(&m).is_empty()));
    kill(child.id(), "KILL");
    let _ = child.wait_with_output();
    let gone = wait_for(Duration::from_secs(10), || {
        entries_with(&tmp, "dag-").is_empty()
    });
    for pid in pids_with(&m) {
        kill(pid, "KILL");
    }
    assert!(gone, "left behind: {:?}", entries_with(&tmp, ""));
    assert!(outside.join("keep").exists(), "a link was followed");
}

#[test]
fn a_run_is_named_by_latest_or_by_the_start_of_its_id() {
    let env = Env::new();
    env.write("a.yaml", "name: a\ntasks:\n  t:\n    command: echo first\n");
    env.write(
        "b.yaml",
        "name: b\ntasks:\n  t:\n    command: echo second; exit 3\n",
    );
    let (_, first) = env.run_json("a.yaml", &[]);
    let (_, second) = env.run_json("b.yaml", &[]);
    let (first, second) = (
        first["run_id"].as_str().unwrap().to_string(),
        second["run_id"].as_str().unwrap().to_string(),
    );
    // `latest` wherever a run id is taken.
    let status = env.run(&["status", "latest", "--output", "json"]);
    assert_eq!(status.json()["run_id"], second.as_str());
    let logs = env.run(&["logs", "latest", "t"]);
    assert_eq!(logs.stdout, "second\n");
    assert!(
        env.run(&["report", "latest"]).stdout.contains(&second),
        "report latest"
    );
    assert!(
        env.run(&["graph", "latest"]).stdout.contains(&second),
        "graph latest"
    );
    let graph = env.run(&["graph", "latest", "--format", "json"]).json();
    assert_eq!(graph["run_id"], second.as_str());
    assert_eq!(graph["state"], "failed");
    assert_eq!(
        graph["nodes"],
        serde_json::json!([{"name": "t", "mapped": false, "type": "bash", "state": "failed", "counts": {"failed": 1}}])
    );
    // The start of one id.
    let (shared, _) = first
        .char_indices()
        .zip(second.chars())
        .find(|((_, a), b)| a != b)
        .map(|((i, _), _)| first.split_at(i))
        .unwrap();
    let unique = &first[..shared.len() + 1];
    let logs = env.run(&["logs", unique, "t"]);
    assert_eq!(logs.stdout, "first\n", "{}", logs.stderr);
    // The start of two: exit 2, naming them, newest first.
    let both = env.run(&["status", shared]);
    both.code(2);
    assert!(
        both.stderr
            .contains(&format!("`{shared}` is the start of 2 runs' ids"))
            && both
                .stderr
                .contains(&format!("the newest: {second}, {first}")),
        "{}",
        both.stderr
    );
    // No run starts so: not found.
    env.run(&["status", "1999"]).code(2);
    // `dag retry` too.
    env.write("b.yaml", "name: b\ntasks:\n  t:\n    command: echo again\n");
    let retried = env.run(&["retry", &second[..shared.len() + 1], "--output", "quiet"]);
    retried.code(1);
}
