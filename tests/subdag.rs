//! Sub-DAGs (`type: dag`): a child run per task, its outputs, failure, cancel and
//! retry reaching it, validation across files, fan-out over a sub-DAG, and the
//! distributed executor.

use std::time::Duration;

use crate::common::nats::NatsServer;
use crate::common::{Env, kill, marker, pids_with, task, task_state, wait_for};

/// `leaf.yaml`: `work` counts its executions in `runs/leaf-PARAM` and fails
/// while the file `fail-PARAM` exists (once, taking it away, for `once-PARAM`);
/// its output is its param doubled.
const LEAF: &str = r#"name: leaf
params: { n: "1" }
outputs:
  doubled: "${{ tasks.work.outputs.doubled }}"
tasks:
  first: { command: 'mkdir -p runs; echo x >> runs/first-${{ params.n }}' }
  work:
    command: |
      echo x >> runs/leaf-${{ params.n }}
      if [ -e fail-${{ params.n }} ]; then echo "leaf ${{ params.n }} fails"; exit 3; fi
      if [ -e once-${{ params.n }} ]; then rm once-${{ params.n }}; exit 4; fi
      echo "doubled=$(( ${{ params.n }} * 2 ))" >> "$DAG_OUTPUT"
    depends_on: first
"#;

/// `sub/mid.yaml`: calls `leaf.yaml` (one directory up, as it is relative to
/// the calling file) and adds one.
const MID: &str = r#"name: mid
params: { n: "1" }
outputs:
  result: "${{ tasks.plus.outputs.result }}"
tasks:
  inner: { type: dag, file: ../leaf.yaml, params: { n: "${{ params.n }}" } }
  plus:
    command: echo "result=$(( ${{ tasks.inner.outputs.doubled }} + 1 ))" >> "$DAG_OUTPUT"
    depends_on: inner
"#;

const TOP: &str = r#"name: top
tasks:
  start: { command: 'echo n=5 >> "$DAG_OUTPUT"' }
  call:
    type: dag
    file: sub/mid.yaml
    params: { n: "${{ tasks.start.outputs.n }}" }
    depends_on: start
  end:
    command: echo "got ${{ tasks.call.outputs.result }}"
    depends_on: call
"#;

fn nested(env: &Env) {
    env.write("leaf.yaml", LEAF);
    env.write("sub/mid.yaml", MID);
    env.write("top.yaml", TOP);
}

fn count(env: &Env, name: &str) -> usize {
    std::fs::read_to_string(env.path().join("runs").join(name))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// `dag status RUN --output json` (whose exit code is the run's).
fn status(env: &Env, run: &str) -> serde_json::Value {
    env.run(&["status", run, "--output", "json"]).json()
}

#[test]
fn nested_sub_dags_run_as_linked_child_runs_and_pass_their_outputs_up() {
    let env = Env::new();
    nested(&env);
    env.run(&["validate", "top.yaml"]).code(0);
    let (r, doc) = env.run_json("top.yaml", &[]);
    r.code(0);
    assert_eq!(task(&doc, "call")["outputs"]["result"], "11", "{doc}");
    assert_eq!(task_state(&doc, "end"), "success");
    let top = doc["run_id"].as_str().unwrap().to_string();
    let mid_id = format!("{top}-call");
    let leaf_id = format!("{mid_id}-inner");
    let mid = status(&env, &mid_id);
    assert_eq!(mid["state"], "success");
    assert_eq!(mid["dag"], "mid");
    assert_eq!(task(&mid, "inner")["outputs"]["doubled"], "10", "{mid}");
    let leaf = status(&env, &leaf_id);
    assert_eq!(leaf["dag"], "leaf");
    assert_eq!(leaf["params"]["n"], "5", "{leaf}");
    // Linked both ways, in the records.
    let record = |id: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(env.path().join("state/runs").join(id).join("run.json"))
            .unwrap();
        serde_json::from_str(&text).unwrap()
    };
    assert_eq!(record(&top)["children"][0]["run"], mid_id.as_str());
    assert_eq!(record(&top)["children"][0]["task"], "call");
    assert_eq!(record(&mid_id)["parent"]["run"], top.as_str());
    assert_eq!(record(&leaf_id)["parent"]["run"], mid_id.as_str());
    assert_eq!(record(&leaf_id)["parent"]["task"], "inner");
    // The dag task's log tells the child run's story.
    let log = env.run(&["logs", &top, "call"]);
    log.code(0);
    assert!(
        log.stdout
            .contains(&format!("started sub-DAG run {mid_id}")),
        "{}",
        log.stdout
    );
    assert!(log.stdout.contains("plus success"), "{}", log.stdout);
}

#[test]
fn a_failure_inside_fails_the_dag_task_and_retry_resumes_the_child_runs() {
    failure_and_retry(&Env::new(), &[]);
}

#[test]
fn a_failure_inside_a_distributed_sub_dag_and_its_retry() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let _w = env.worker(&nats, "retrier", &["--workers", "4"]);
    let url = nats.url();
    failure_and_retry(
        &env,
        &[
            "--executor",
            "distributed",
            "--nats",
            &url,
            "--state",
            "file",
        ],
    );
}

/// A task two levels down fails: the failure goes up, and `dag retry` (with
/// `how`: executor options) resumes each child run where it stopped.
fn failure_and_retry(env: &Env, how: &[&str]) {
    nested(env);
    env.write("fail-5", "");
    let (r, doc) = env.run_json("top.yaml", how);
    r.code(1);
    let top = doc["run_id"].as_str().unwrap().to_string();
    assert_eq!(task_state(&doc, "call"), "failed");
    assert_eq!(task_state(&doc, "end"), "upstream_failed");
    let error = task(&doc, "call")["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("sub-DAG run {top}-call failed")) && error.contains("inner"),
        "{error}"
    );
    assert_eq!(count(env, "first-5"), 1);
    assert_eq!(count(env, "leaf-5"), 1);

    // Fixed, and retried from the top: each child run is resumed where it
    // stopped (its run id kept; `first`, which succeeded, does not run again).
    std::fs::remove_file(env.path().join("fail-5")).unwrap();
    let retry = |extra: &[&str]| -> crate::common::Run {
        let mut args = vec!["retry", top.as_str(), "--output", "json"];
        args.extend_from_slice(extra);
        args.extend_from_slice(how);
        let out = env
            .cmd(&args)
            .envs(crate::common::nats::FAST.iter().copied())
            .output();
        out.unwrap().into()
    };
    let r = retry(&[]);
    r.code(0);
    let doc = r.json();
    assert_eq!(task(&doc, "call")["outputs"]["result"], "11", "{doc}");
    assert_eq!(
        count(env, "first-5"),
        1,
        "a task that had succeeded ran again"
    );
    assert_eq!(count(env, "leaf-5"), 2);
    let leaf = status(env, &format!("{top}-call-inner"));
    assert_eq!(task(&leaf, "work")["attempts"], 2, "{leaf}");
    assert_eq!(task(&leaf, "first")["attempts"], 1, "{leaf}");

    // Run again on purpose: the whole sub-DAG runs again, in the same child run.
    retry(&["--task", "call"]).code(0);
    assert_eq!(count(env, "first-5"), 2);
    assert_eq!(count(env, "leaf-5"), 3);
}

#[test]
fn a_retried_dag_task_resumes_its_child_run() {
    let env = Env::new();
    env.write("leaf.yaml", LEAF);
    env.write(
        "p.yaml",
        "name: p\ntasks:\n  call: { type: dag, file: leaf.yaml, params: { n: '7' }, retries: 1, retry_delay: 0s }\n",
    );
    env.write("once-7", "");
    let (r, doc) = env.run_json("p.yaml", &[]);
    r.code(0);
    assert_eq!(task(&doc, "call")["attempts"], 2, "{doc}");
    assert_eq!(task(&doc, "call")["outputs"]["doubled"], "14", "{doc}");
    // The second attempt resumed the child run: `first` ran once in all.
    assert_eq!(count(&env, "first-7"), 1);
    assert_eq!(count(&env, "leaf-7"), 2);
}

#[test]
fn ctrl_c_reaches_the_tasks_of_a_sub_dag() {
    let env = Env::new();
    let tag = marker("subdag-cancel");
    env.write(
        "child.yaml",
        format!("name: child\ntasks:\n  long: {{ command: 'exec -a {tag} sleep 60' }}\n"),
    );
    env.write(
        "p.yaml",
        "name: p\ntasks:\n  call: { type: dag, file: child.yaml }\n  after: { command: 'true', depends_on: call }\n",
    );
    let child = env.spawn(&["run", "p.yaml", "--output", "json"]);
    assert!(
        wait_for(Duration::from_secs(20), || !pids_with(&tag).is_empty()),
        "the sub-DAG's task never started"
    );
    kill(child.id(), "INT");
    let out = crate::common::finish_within(child, Duration::from_secs(20), "dag run");
    assert_eq!(out.code, 130, "{}\n{}", out.stdout, out.stderr);
    let doc = out.json();
    assert_eq!(task_state(&doc, "call"), "cancelled", "{doc}");
    assert!(
        wait_for(Duration::from_secs(10), || pids_with(&tag).is_empty()),
        "the sub-DAG's task outlived the run"
    );
    let run = doc["run_id"].as_str().unwrap();
    let inner = status(&env, &format!("{run}-call"));
    assert_eq!(inner["state"], "cancelled", "{inner}");
    assert_eq!(task_state(&inner, "long"), "cancelled");
}

#[test]
fn a_dag_task_maps_over_items_one_child_run_each() {
    let env = Env::new();
    env.write("leaf.yaml", LEAF);
    env.write(
        "p.yaml",
        r#"name: p
tasks:
  list: { command: 'echo "ns=[\"3\",\"4\"]" >> "$DAG_OUTPUT"' }
  each:
    type: dag
    file: leaf.yaml
    for_each: "${{ tasks.list.outputs.ns }}"
    params: { n: "${{ item }}" }
    depends_on: list
  fixed:
    type: dag
    file: leaf.yaml
    for_each: ["1", "2"]
    params: { n: "${{ item }}" }
  sum:
    command: echo "${{ tasks.each.outputs.doubled }} ${{ tasks.fixed.outputs.doubled }}"
    depends_on: [each, fixed]
"#,
    );
    let (r, doc) = env.run_json("p.yaml", &[]);
    r.code(0);
    let run = doc["run_id"].as_str().unwrap();
    for (instance, n) in [("each.0", 6), ("each.1", 8), ("fixed.0", 2), ("fixed.1", 4)] {
        assert_eq!(
            task(&doc, instance)["outputs"]["doubled"],
            n.to_string(),
            "{doc}"
        );
    }
    for n in 1..=4 {
        assert_eq!(count(&env, &format!("leaf-{n}")), 1);
    }
    let log = env.run(&["logs", run, "sum"]);
    assert!(log.stdout.contains("[6,8] [2,4]"), "{}", log.stdout);
    // One child run per instance, each its own.
    let ids: Vec<String> = (0..2)
        .map(|i| {
            let id = format!("each.{i}");
            let log = env.run(&["logs", run, &id]);
            log.stdout
                .lines()
                .find_map(|l| l.strip_prefix("dag: started sub-DAG run "))
                .unwrap_or_else(|| panic!("{}", log.stdout))
                .to_string()
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        assert_eq!(status(&env, id)["state"], "success");
    }
}

#[test]
fn sub_dag_problems_are_reported_in_their_own_files() {
    let env = Env::new();
    env.write(
        "sub/bad.yaml",
        "name: bad\nparams: { region: x }\ntasks:\n  a: { command: 'true', depends_on: nope }\n",
    );
    env.write(
        "p.yaml",
        "name: p\ntasks:\n  call: { type: dag, file: sub/bad.yaml, params: { regoin: eu } }\n",
    );
    let r = env.run(&["validate", "p.yaml"]);
    r.code(2);
    // The sub-DAG's own problem, at its line in its own file, and the caller's.
    assert!(r.stderr.contains("sub/bad.yaml:4:"), "{}", r.stderr);
    assert!(r.stderr.contains("p.yaml:3:"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the sub-DAG file sub/bad.yaml is invalid"),
        "{}",
        r.stderr
    );
    let r = env.run(&["validate", "p.yaml", "--format", "json"]);
    r.code(2);
    let doc = r.json();
    let files: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["p.yaml", "sub/bad.yaml"], "{doc}");

    // A param the sub-DAG does not declare, with the one it does.
    env.write(
        "sub/good.yaml",
        "name: good\nparams: { region: x }\ntasks:\n  a: { command: 'true' }\n",
    );
    insta::assert_snapshot!(env.refused(
        "name: p\ntasks:\n  call: { type: dag, file: sub/good.yaml, params: { regoin: eu } }\n"
    ));
    // Missing file; outputs in `file`; keys dag tasks do not take; no `file`.
    insta::assert_snapshot!(env.refused(
        "name: p\ntasks:\n  a: { type: dag, file: nowhere.yaml }\n  b: { command: 'echo f=x >> $DAG_OUTPUT' }\n  c: { type: dag, file: '${{ tasks.b.outputs.f }}', depends_on: b }\n  d: { type: dag, file: sub/good.yaml, env: { A: b }, command: x }\n  e: { type: dag }\n"
    ));
    // The file's `outputs` name its tasks.
    insta::assert_snapshot!(env.refused(
        "name: p\noutputs: { a: '${{ tasks.lod.outputs.rows }}' }\ntasks:\n  load: { command: 'true' }\n"
    ));
}

#[test]
fn files_calling_each_other_are_refused_naming_the_chain() {
    let env = Env::new();
    env.write(
        "a.yaml",
        "name: a\ntasks:\n  to_b: { type: dag, file: b.yaml }\n",
    );
    env.write(
        "b.yaml",
        "name: b\ntasks:\n  to_a: { type: dag, file: a.yaml }\n",
    );
    let r = env.run(&["validate", "a.yaml"]);
    r.code(2);
    assert!(
        r.stderr
            .contains("sub-DAG files call each other: a.yaml → b.yaml → a.yaml"),
        "{}",
        r.stderr
    );
    let r = env.run(&["run", "a.yaml"]);
    r.code(2);
    env.write(
        "self.yaml",
        "name: s\ntasks:\n  me: { type: dag, file: ./self.yaml }\n",
    );
    let r = env.run(&["validate", "self.yaml"]);
    r.code(2);
    assert!(r.stderr.contains("self.yaml → ./self.yaml"), "{}", r.stderr);
}

#[test]
fn a_distributed_run_sends_the_sub_dags_tasks_to_the_workers() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    nested(&env);
    let _w = env.worker(&nats, "subdags", &["--workers", "4"]);
    let (code, doc, stderr) = env.run_distributed(&nats, "top.yaml", &[]);
    assert_eq!(code, 0, "{doc}\n{stderr}");
    assert_eq!(task(&doc, "call")["outputs"]["result"], "11", "{doc}");
    let top = doc["run_id"].as_str().unwrap();
    let leaf = status(&env, &format!("{top}-call-inner"));
    assert_eq!(task(&leaf, "work")["worker"], "subdags", "{leaf}");
    assert_eq!(task(&doc, "start")["worker"], "subdags", "{doc}");
}

#[test]
fn dag_cancel_of_a_scheduled_parent_stops_its_child_runs_tasks_on_the_workers() {
    use crate::failover::{Scheduler, status as nats_status, submit, wait};
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let _worker = env.worker(&nats, "w", &["--workers", "2"]);
    let tag = marker("subdag-nats-cancel");
    env.write(
        "child.yaml",
        format!("name: child\ntasks:\n  long: {{ command: 'exec -a {tag} sleep 60' }}\n"),
    );
    env.write(
        "p.yaml",
        "name: p\ntasks:\n  call: { type: dag, file: child.yaml }\n",
    );
    let s = Scheduler::start(&env, &nats, "s");
    let id = submit(&env, &nats, "p.yaml");
    assert!(
        wait_for(Duration::from_secs(30), || !pids_with(&tag).is_empty()),
        "the child's task never started: {}",
        s.text()
    );
    let cancel = env.run(&["cancel", &id, "--nats", &nats.url()]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    let (code, doc, stderr) = wait(&env, &nats, &id);
    assert_eq!(code, 130, "{stderr}\n{doc}");
    assert_eq!(task_state(&doc, "call"), "cancelled", "{doc}");
    assert!(
        wait_for(Duration::from_secs(15), || pids_with(&tag).is_empty()),
        "the child's task outlived the cancel"
    );
    let inner = nats_status(&env, &nats, &format!("{id}-call"));
    assert_eq!(inner["state"], "cancelled", "{inner}");
}

#[test]
fn a_dag_tasks_timeout_stops_its_child_run_and_a_false_when_makes_none() {
    let env = Env::new();
    let tag = marker("subdag-timeout");
    env.write(
        "child.yaml",
        format!("name: child\ntasks:\n  long: {{ command: 'exec -a {tag} sleep 60' }}\n"),
    );
    env.write(
        "p.yaml",
        "name: p\nparams: { go: 'no' }\ntasks:\n  call: { type: dag, file: child.yaml, timeout: 1s }\n  never: { type: dag, file: child.yaml, when: \"params.go == 'yes'\" }\n",
    );
    let (r, doc) = env.run_json("p.yaml", &[]);
    r.code(1);
    let error = task(&doc, "call")["error"].as_str().unwrap();
    assert!(error.starts_with("timed out after 1s"), "{error}");
    assert_eq!(task_state(&doc, "never"), "skipped");
    let run = doc["run_id"].as_str().unwrap();
    assert_eq!(status(&env, &format!("{run}-call"))["state"], "cancelled");
    // No child run for a task that did not run.
    let r = env.run(&["status", &format!("{run}-never")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        wait_for(Duration::from_secs(10), || pids_with(&tag).is_empty()),
        "the child's task outlived its timeout"
    );
}

#[test]
fn retry_runs_the_sub_dag_files_kept_with_the_run_from_any_directory() {
    let env = Env::new();
    nested(&env);
    env.write(
        "top.yaml",
        format!(
            "{TOP}  again:\n    type: dag\n    file: leaf.yaml\n    params: {{ n: '6' }}\n    depends_on: call\n"
        ),
    );
    env.write("fail-5", "");
    let (r, doc) = env.run_json("top.yaml", &[]);
    r.code(1);
    let top = doc["run_id"].as_str().unwrap().to_string();
    assert_eq!(task_state(&doc, "again"), "upstream_failed", "{doc}");
    // The files change or go (the leaf no longer takes `n`, the middle file is
    // gone), and the run is retried from another directory: it runs the files
    // it was validated with, a child run not started yet too.
    env.write(
        "leaf.yaml",
        "name: leaf\ntasks:\n  other: { command: 'exit 9' }\n",
    );
    std::fs::remove_file(env.path().join("sub/mid.yaml")).unwrap();
    let elsewhere = env.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let r: crate::common::Run = env
        .cmd(&["retry", &top, "--output", "json"])
        .current_dir(&elsewhere)
        .output()
        .unwrap()
        .into();
    r.code(0);
    let doc = r.json();
    assert_eq!(task(&doc, "call")["outputs"]["result"], "11", "{doc}");
    assert_eq!(task(&doc, "again")["outputs"]["doubled"], "12", "{doc}");
}

#[test]
fn a_task_id_with_a_dash_gets_a_child_run_of_its_own() {
    // Task `a-b`, and task `b` of the child run of task `a`: two child runs.
    let env = Env::new();
    env.write(
        "inner.yaml",
        "name: inner\noutputs: { who: '${{ tasks.w.outputs.who }}' }\ntasks:\n  w: { command: 'echo who=inner >> \"$DAG_OUTPUT\"' }\n",
    );
    env.write(
        "other.yaml",
        "name: other\noutputs: { who: '${{ tasks.w.outputs.who }}' }\ntasks:\n  w: { command: 'echo who=other >> \"$DAG_OUTPUT\"' }\n",
    );
    env.write(
        "mid.yaml",
        "name: mid\noutputs: { who: '${{ tasks.b.outputs.who }}' }\ntasks:\n  b: { type: dag, file: inner.yaml }\n",
    );
    env.write(
        "p.yaml",
        "name: p\ntasks:\n  a: { type: dag, file: mid.yaml }\n  a-b: { type: dag, file: other.yaml, depends_on: a }\n",
    );
    let (r, doc) = env.run_json("p.yaml", &[]);
    r.code(0);
    assert_eq!(task(&doc, "a")["outputs"]["who"], "inner", "{doc}");
    assert_eq!(task(&doc, "a-b")["outputs"]["who"], "other", "{doc}");
}

#[test]
fn a_long_task_id_leaves_room_for_the_sub_dags_below_it() {
    let env = Env::new();
    nested(&env);
    let long = "t".repeat(74);
    env.write(
        "p.yaml",
        format!(
            "name: p\ntasks:\n  {long}: {{ type: dag, file: sub/mid.yaml, params: {{ n: '2' }} }}\n"
        ),
    );
    let (r, doc) = env.run_json("p.yaml", &[]);
    r.code(0);
    assert_eq!(task(&doc, &long)["outputs"]["result"], "5", "{doc}");
}

#[test]
fn a_sub_dag_file_that_cannot_be_read_is_refused_saying_why() {
    let env = Env::new();
    std::fs::create_dir(env.path().join("dir.yaml")).unwrap();
    let stderr = env.refused("name: p\ntasks:\n  a: { type: dag, file: dir.yaml }\n");
    assert!(
        stderr.contains("cannot read the sub-DAG file dir.yaml: is a directory"),
        "{stderr}"
    );
}

#[test]
fn a_scheduler_takes_over_a_run_whose_sub_dag_is_in_flight() {
    use crate::failover::{Scheduler, status as kv_status, submit, wait};
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let _worker = env.worker(&nats, "w", &["--workers", "4"]);
    let runs = env.path().join("runs");
    let runs = runs.display();
    env.write(
        "sub/child.yaml",
        format!(
            "name: child\noutputs: {{ v: '${{{{ tasks.long.outputs.v }}}}' }}\ntasks:\n  first: {{ command: 'echo first >> {runs}' }}\n  long: {{ command: 'echo long >> {runs}; sleep 6; echo v=7 >> \"$DAG_OUTPUT\"', depends_on: first }}\n"
        ),
    );
    env.write(
        "p.yaml",
        format!(
            "name: p\ntasks:\n  call: {{ type: dag, file: sub/child.yaml }}\n  after: {{ command: 'echo after ${{{{ tasks.call.outputs.v }}}} >> {runs}', depends_on: call }}\n"
        ),
    );
    let mut a = Scheduler::start(&env, &nats, "a");
    let id = submit(&env, &nats, "p.yaml");
    // The sub-DAG file goes: the schedulers run the one kept with the run.
    std::fs::remove_dir_all(env.path().join("sub")).unwrap();
    let child = format!("{id}-call");
    assert!(
        wait_for(Duration::from_secs(30), || {
            let doc = kv_status(&env, &nats, &child);
            doc["tasks"].is_array() && task(&doc, "long")["worker"] == "w"
        }),
        "the sub-DAG's `long` never started: {}",
        a.text()
    );
    let b = Scheduler::start(&env, &nats, "b");
    kill(a.child.id(), "KILL");
    let _ = a.child.wait();
    let (code, doc, stderr) = wait(&env, &nats, &id);
    assert_eq!(code, 0, "{doc}\n{stderr}\n{}", b.text());
    assert_eq!(task(&doc, "call")["outputs"]["v"], "7", "{doc}");
    // Nothing ran twice: the sub-DAG's running attempt was adopted.
    let text = std::fs::read_to_string(env.path().join("runs")).unwrap();
    assert_eq!(text, "first\nlong\nafter 7\n", "{}", b.text());
    let inner = kv_status(&env, &nats, &child);
    assert_eq!(task(&inner, "long")["attempts"], 1, "{inner}");
}
