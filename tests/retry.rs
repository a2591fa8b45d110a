//! `dag retry`: driving an earlier run again under the same run id.

use std::time::Duration;

use crate::common::{Env, kill, marker, pids_with, task, task_state, wait_for};

const DAG: &str = r#"
name: retry
tasks:
  a: { command: 'echo a >> ran.txt; echo "v=41" >> "$DAG_OUTPUT"' }
  b: { command: 'echo b >> ran.txt; test -e fixed', depends_on: a }
  c: { command: 'echo "c ${{ tasks.a.outputs.v }}" >> ran.txt', depends_on: b }
  d: { command: 'echo d >> ran.txt' }
"#;

fn ran(env: &Env) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(env.path().join("ran.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn retry_runs_only_what_did_not_succeed_and_keeps_outputs() {
    let env = Env::new();
    env.write("r.yaml", DAG);
    let (run, first) = env.run_json("r.yaml", &[]);
    run.code(1);
    let id = first["run_id"].as_str().unwrap().to_string();
    assert_eq!(task_state(&first, "c"), "upstream_failed");
    env.write("fixed", "");
    let retried = env.run(&["retry", &id, "--output", "json"]);
    retried.code(0);
    let doc = retried.json();
    assert_eq!(doc["run_id"], id, "same run id");
    assert_eq!(
        task(&doc, "a")["attempts"],
        1,
        "a succeeded before: not run again"
    );
    assert_eq!(task(&doc, "b")["attempts"], 2, "a new attempt");
    assert_eq!(task(&doc, "c")["state"], "success");
    assert_eq!(
        ran(&env),
        ["a", "b", "b", "c 41", "d"],
        "c used a's output from the first run"
    );
    // The stored run agrees, and has nothing left to retry.
    assert_eq!(env.run(&["status", &id, "--output", "json"]).json(), doc);
    let again = env.run(&["retry", &id]);
    again.code(2);
    assert!(
        again.stderr.contains("nothing to retry"),
        "{}",
        again.stderr
    );
    // --task re-runs a task and its downstream, even after success.
    let one = env.run(&["retry", &id, "--task", "b", "--output", "json"]);
    one.code(0);
    assert_eq!(task(&one.json(), "b")["attempts"], 3);
    assert_eq!(task(&one.json(), "d")["attempts"], 1);
    assert_eq!(ran(&env), ["a", "b", "b", "b", "c 41", "c 41", "d"]);
    let bad = env.run(&["retry", &id, "--task", "zz"]);
    bad.code(2);
}

#[test]
fn a_sigkilled_run_resumes_with_retry() {
    let env = Env::new();
    let m = marker("resume");
    env.write(
        "k.yaml",
        format!(
            "name: resume\ntasks:\n  first: {{ command: 'echo first >> ran.txt' }}\n  hang: {{ command: 'test -e go || exec -a {m} sleep 300; echo hang >> ran.txt', depends_on: first }}\n  last: {{ command: 'echo last >> ran.txt', depends_on: hang }}\n"
        ),
    );
    let child = env.spawn(&["run", "k.yaml", "--output", "quiet"]);
    assert!(wait_for(Duration::from_secs(10), || !pids_with(&m).is_empty()));
    kill(child.id(), "KILL");
    let _ = child.wait_with_output();
    for pid in pids_with(&m) {
        kill(pid, "KILL");
    }
    // Simulate a write cut short by the crash.
    let id = env.run(&["runs", "--output", "json"]).json()[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let events = env.path().join("state/runs").join(&id).join("events.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"event\":\"task_st").unwrap();
    env.write("go", "");
    let retried = env.run(&["retry", &id, "--output", "json"]);
    retried.code(0);
    let doc = retried.json();
    assert_eq!(task(&doc, "first")["attempts"], 1);
    assert_eq!(
        task(&doc, "hang")["attempts"],
        2,
        "the cut attempt stays in the history"
    );
    assert_eq!(ran(&env), ["first", "hang", "last"]);
}

#[test]
fn a_run_being_driven_cannot_be_retried() {
    let env = Env::new();
    let m = marker("driven");
    env.write(
        "l.yaml",
        format!("name: driven\ntasks:\n  slow: {{ command: 'exec -a {m} sleep 300' }}\n"),
    );
    let child = env.spawn(&["run", "l.yaml", "--output", "quiet"]);
    assert!(wait_for(Duration::from_secs(10), || !pids_with(&m).is_empty()));
    let id = env.run(&["runs", "--output", "json"]).json()[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = env.run(&["retry", &id]);
    r.code(2);
    assert!(
        r.stderr.contains("is being driven by another dag process"),
        "{}",
        r.stderr
    );
    kill(child.id(), "INT");
    let _ = child.wait_with_output();
}
