//! The language of issue 14 — skips decided by a task, conditions, fan-out, run
//! timeouts — run end to end in the sequential and local executors, and in the
//! distributed one against a real nats-server.

use crate::common::nats::NatsServer;
use crate::common::{Env, task, task_state};

/// Runs `file` with each executor (distributed when a nats-server is at hand) and
/// hands `check` the exit code and JSON document of each.
fn in_every_executor(env: &Env, file: &str, check: impl Fn(&str, i32, &serde_json::Value)) {
    for executor in ["sequential", "local"] {
        let (run, doc) = env.run_json(file, &["--executor", executor]);
        check(executor, run.code, &doc);
    }
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let _w = env.worker(&nats, "lang", &["--workers", "2"]);
    let (code, doc, stderr) = env.run_distributed(&nats, file, &[]);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["worker"] == "lang"),
        "no task ran on the worker: {doc}"
    );
    check("distributed", code, &doc);
}

#[test]
fn a_skip_exit_code_ends_the_task_skipped_and_skips_propagate() {
    let env = Env::new();
    env.write(
        "s.yaml",
        "name: skips\ntasks:\n  check: { command: 'echo nothing new; exit 99', skip_exit_code: [3, 99], retries: 2, retry_delay: 10ms }\n  build: { command: 'true', depends_on: check }\n  report: { command: 'true', depends_on: check, trigger_rule: none_failed }\n  nothing: { type: fn, command: skip no files today }\n  broken: { command: 'exit 4', skip_exit_code: 3 }\n  slow: { command: 'sleep 5', timeout: 300ms, skip_exit_code: 143, retries: 1, retry_delay: 10ms }\n",
    );
    in_every_executor(&env, "s.yaml", |executor, code, doc| {
        // `broken` fails: 4 is not one of its skip codes.
        assert_eq!(code, 1, "{executor}: {doc}");
        let check = task(doc, "check");
        assert_eq!(check["state"], "skipped", "{executor}: {doc}");
        assert_eq!(check["attempts"], 1, "{executor}: a skip is not retried");
        assert_eq!(check["exit_code"], 99, "{executor}");
        assert_eq!(
            check["error"], "exit code 99 (listed in skip_exit_code)",
            "{executor}"
        );
        assert_eq!(task_state(doc, "build"), "skipped", "{executor}");
        assert_eq!(task_state(doc, "report"), "success", "{executor}");
        assert_eq!(task_state(doc, "nothing"), "skipped", "{executor}");
        assert_eq!(
            task(doc, "nothing")["error"],
            "no files today",
            "{executor}"
        );
        assert_eq!(task_state(doc, "broken"), "failed", "{executor}");
        // A timeout is no exit: it fails (and is retried) whatever the skip codes.
        assert_eq!(task_state(doc, "slow"), "failed", "{executor}");
        assert_eq!(task(doc, "slow")["attempts"], 2, "{executor}");
    });
}

#[test]
fn skip_exit_codes_out_of_range_are_refused_where_they_are_written() {
    let env = Env::new();
    insta::assert_snapshot!(env.refused(
        "name: bad\ntimeout: 0s\ntasks:\n  a: { command: 'true', skip_exit_code: 0 }\n  b: { command: 'true', skip_exit_code: [1, 256] }\n  c: { type: http, url: 'http://127.0.0.1:1/', skip_exit_code: 200 }\n  d: { type: fn, command: noop, skip_exit_code: 1 }\n  e: { command: 'true', skip_exit_code: many }\n"
    ));
}

#[test]
fn a_run_timeout_stops_the_run_and_fails_it_saying_why() {
    let env = Env::new();
    let m = crate::common::marker("runtimeout");
    env.write(
        "t.yaml",
        format!(
            "name: bounded\ntimeout: 2s\ntasks:\n  quick: {{ command: 'true' }}\n  slow: {{ command: 'exec -a {m} sleep 60', depends_on: quick }}\n  after: {{ command: 'true', depends_on: slow }}\n"
        ),
    );
    in_every_executor(&env, "t.yaml", |executor, code, doc| {
        assert_eq!(code, 1, "{executor}: {doc}");
        assert_eq!(doc["state"], "failed", "{executor}");
        assert_eq!(
            doc["reason"], "the run's timeout of 2s passed",
            "{executor}"
        );
        assert_eq!(task_state(doc, "quick"), "success", "{executor}");
        assert_eq!(task_state(doc, "slow"), "cancelled", "{executor}: {doc}");
        assert_eq!(
            task(doc, "slow")["error"],
            "stopped: the run's timeout of 2s passed",
            "{executor}"
        );
        assert_eq!(task_state(doc, "after"), "cancelled", "{executor}");
        assert!(
            doc["duration_ms"].as_u64().unwrap() < 20_000,
            "{executor}: the run outlived its timeout: {doc}"
        );
        assert!(
            crate::common::pids_with(&m).is_empty(),
            "{executor}: the stopped task still runs"
        );
    });
    // The table's summary says why, too.
    let status = env.run(&["status"]);
    status.code(1);
    assert!(
        status
            .stdout
            .contains("failed (the run's timeout of 2s passed)"),
        "{}",
        status.stdout
    );
}

#[test]
fn with_outcome_leaves_a_handled_failure_leaves_the_run_successful() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dags");
    let env = Env::new();
    let work = env.path().join("work");
    // The distributed executor too, on one server and worker for all four runs.
    let nats = NatsServer::start();
    let _w = nats
        .as_ref()
        .map(|nats| env.worker(nats, "leaves", &["--workers", "4"]));
    for (example, leaves_code) in [("cleanup", 0), ("alert", 1)] {
        let want = if leaves_code == 0 {
            "success"
        } else {
            "failed"
        };
        let text = std::fs::read_to_string(root.join(format!("{example}.yaml"))).unwrap();
        // As written: any failure fails the run.
        env.write(&format!("{example}.yaml"), &text);
        // With `outcome: leaves`, only the leaves decide.
        env.write(
            &format!("{example}-leaves.yaml"),
            text.replacen("\nname: ", "\noutcome: leaves\nname: ", 1),
        );
        let param = format!("work={}", work.display());
        let params: &[&str] = if text.contains("params.work") {
            &["--param", &param]
        } else {
            &[]
        };
        for executor in ["sequential", "local"] {
            let mut args = vec!["--executor", executor];
            args.extend_from_slice(params);
            let (run, _) = env.run_json(&format!("{example}.yaml"), &args);
            run.code(1);
            let (run, doc) = env.run_json(&format!("{example}-leaves.yaml"), &args);
            run.code(leaves_code);
            assert_eq!(doc["state"], want, "{example} ({executor}): {doc}");
        }
        let Some(nats) = &nats else { continue };
        let (code, doc, stderr) = env.run_distributed(nats, &format!("{example}.yaml"), params);
        assert_eq!(code, 1, "{example} (distributed): {doc}\n{stderr}");
        assert_eq!(doc["state"], "failed", "{example} (distributed)");
        let (code, doc, stderr) =
            env.run_distributed(nats, &format!("{example}-leaves.yaml"), params);
        assert_eq!(
            code, leaves_code,
            "{example} (distributed): {doc}\n{stderr}"
        );
        assert_eq!(doc["state"], want, "{example} (distributed): {doc}");
        assert!(
            doc["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["attempts"] == 0 || t["worker"] == "leaves"),
            "{example}: a task did not run on the worker: {doc}"
        );
    }
    // The cleanup's failed step still shows failed: only the run's outcome differs.
    let (_, doc) = env.run_json(
        "cleanup-leaves.yaml",
        &["--param", &format!("work={}", work.display())],
    );
    assert_eq!(task_state(&doc, "work"), "failed");
    assert_eq!(task_state(&doc, "cleanup"), "success");
    // In the alert, `all_clear` (none_failed) is a leaf and ends upstream_failed.
    let (_, doc) = env.run_json("alert-leaves.yaml", &[]);
    assert_eq!(task_state(&doc, "all_clear"), "upstream_failed");
}

#[test]
fn when_conditions_skip_tasks_on_params_env_and_outputs() {
    let env = Env::new();
    env.write(
        "w.yaml",
        r#"name: conditions
params: { target: prod, replicas: "3" }
env: { REGION: eu }
tasks:
  count:
    command: echo "files=12" >> "$DAG_OUTPUT"
  deploy:
    command: "true"
    when: params.target == 'prod' && params.replicas >= 2
  canary:
    command: "true"
    when: ${{ params.target in ['dev', "staging"] }}
  after_canary:
    command: "true"
    depends_on: canary
  many:
    command: "true"
    depends_on: count
    when: tasks.count.outputs.files > 9 && env.REGION == 'eu'
  few:
    command: "true"
    depends_on: count
    when: "!(tasks.count.outputs.files > 9)"
  missing:
    command: "true"
    depends_on: count
    when: tasks.count.outputs.size > 1
"#,
    );
    in_every_executor(&env, "w.yaml", |executor, code, doc| {
        assert_eq!(code, 1, "{executor}: `missing` fails: {doc}");
        assert_eq!(task_state(doc, "deploy"), "success", "{executor}");
        assert_eq!(task_state(doc, "canary"), "skipped", "{executor}");
        assert_eq!(
            task(doc, "canary")["error"],
            "when: `${{ params.target in ['dev', \"staging\"] }}` is false",
            "{executor}"
        );
        assert_eq!(task(doc, "canary")["attempts"], 0, "{executor}");
        // Skips propagate by the trigger rules.
        assert_eq!(task_state(doc, "after_canary"), "skipped", "{executor}");
        assert_eq!(task_state(doc, "many"), "success", "{executor}");
        assert_eq!(task_state(doc, "few"), "skipped", "{executor}");
        assert_eq!(task_state(doc, "missing"), "failed", "{executor}");
        assert_eq!(
            task(doc, "missing")["error"],
            "when: task `count` published no output `size`",
            "{executor}"
        );
    });
}

#[test]
fn bad_conditions_are_refused_where_they_are_written() {
    let env = Env::new();
    insta::assert_snapshot!(env.refused(
        "name: bad\nparams: { target: prod }\ntasks:\n  a: { command: 'true', when: params.target = 'prod' }\n  b: { command: 'true', when: params.traget == 'prod' }\n  c: { command: 'true', when: tasks.d.outputs.k == 1 }\n  d: { command: 'true', when: tasks.nope.output }\n  e: { command: 'true', when: \"(params.target == 'prod'\" }\n"
    ));
}

#[test]
fn a_task_whose_rule_fires_early_still_waits_for_the_outputs_it_reads() {
    let env = Env::new();
    env.write(
        "e.yaml",
        "name: early\ntasks:\n  slow: { command: 'sleep 1; echo v=slow >> \"$DAG_OUTPUT\"' }\n  fast: { command: 'true' }\n  first: { type: fn, command: 'echo ${{ tasks.slow.outputs.v }}', depends_on: [slow, fast], trigger_rule: one_success }\n  gated: { command: 'true', depends_on: [slow, fast], trigger_rule: one_success, when: tasks.slow.outputs.v == 'slow' }\n",
    );
    in_every_executor(&env, "e.yaml", |executor, code, doc| {
        assert_eq!(code, 0, "{executor}: {doc}");
        assert_eq!(
            task(doc, "first")["outputs"]["output"],
            "slow",
            "{executor}"
        );
        assert_eq!(task_state(doc, "gated"), "success", "{executor}");
    });
}

#[test]
fn a_ctrl_c_before_the_run_timeout_cancels_the_run_and_fail_fast_keeps_the_reason() {
    let env = Env::new();
    // The task takes 2 s to stop after SIGTERM: the timeout passes meanwhile.
    env.write(
        "c.yaml",
        "name: stubborn\ntimeout: 1s\ntasks:\n  slow: { command: \"trap 'sleep 2; exit 1' TERM; sleep 30 & wait\" }\n",
    );
    let child = env
        .cmd(&["run", "c.yaml", "--output", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    crate::common::kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["state"], "cancelled", "{doc}");
    assert!(doc.get("reason").is_none(), "{doc}");
    env.run(&["status"]).code(130);
    // With --fail-fast, a failure halts the run; the timeout then stops the task
    // still running, and the run says so.
    env.write(
        "f.yaml",
        "name: ff\ntimeout: 1s\ntasks:\n  bad: { command: 'exit 1' }\n  slow: { command: 'sleep 30' }\n",
    );
    let (run, doc) = env.run_json("f.yaml", &["--fail-fast"]);
    run.code(1);
    assert_eq!(doc["reason"], "the run's timeout of 1s passed", "{doc}");
    assert_eq!(task_state(&doc, "slow"), "cancelled");
}

#[test]
fn for_each_and_matrix_fan_out_with_instances_as_tasks_and_fan_in_as_arrays() {
    let env = Env::new();
    env.write(
        "f.yaml",
        r#"name: fanout
params: { suffix: done }
tasks:
  convert:
    for_each: [a.csv, b.csv, { name: c.csv, rows: 3 }]
    max_parallel: 1
    command: |
      start=$(date +%s%N); sleep 0.4
      echo "out=${{ item }}-${{ params.suffix }}" >> "$DAG_OUTPUT"
      echo "span=$start-$(date +%s%N)" >> "$DAG_OUTPUT"
  rows:
    for_each: [{ name: x, rows: 3 }, { name: y, rows: 5 }]
    command: echo "n=${{ item.rows }}" >> "$DAG_OUTPUT"
    when: item.rows > 4
  build:
    matrix:
      region: [eu, us]
      size: [s, m]
      exclude: [{ region: us, size: m }]
      include: [{ region: eu, size: s, flag: on }, { region: ap, size: l }]
    command: echo "r=${{ matrix.region }}-${{ matrix.size }}-${{ matrix.flag }}" >> "$DAG_OUTPUT"
  report:
    type: fn
    command: echo ${{ tasks.convert.outputs.out }} ${{ tasks.build.outputs.r }} ${{ tasks.rows.outputs.n }}
    depends_on: [convert, build, rows]
    trigger_rule: none_failed
  none:
    for_each: []
    command: echo never
  after_none:
    command: "true"
    depends_on: none
"#,
    );
    in_every_executor(&env, "f.yaml", |executor, code, doc| {
        assert_eq!(code, 0, "{executor}: {doc}");
        let ids: Vec<&str> = doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "convert.0",
                "convert.1",
                "convert.2",
                "rows.0",
                "rows.1",
                "build.eu.s",
                "build.eu.m",
                "build.us.s",
                "build.ap.l",
                "report",
                "none",
                "after_none"
            ],
            "{executor}"
        );
        assert_eq!(task(doc, "convert.1")["outputs"]["out"], "b.csv-done");
        assert_eq!(task_state(doc, "rows.0"), "skipped", "{executor}");
        assert_eq!(task(doc, "build.eu.s")["outputs"]["r"], "eu-s-on");
        assert_eq!(task(doc, "build.ap.l")["outputs"]["r"], "ap-l-");
        // Outputs of a mapped task are a JSON array in instance order (null where
        // an instance published nothing).
        let report = task(doc, "report")["outputs"]["output"].as_str().unwrap();
        assert!(
            report.starts_with(r#"["a.csv-done","b.csv-done","#)
                && report.contains(r#" ["eu-s-on","eu-m-","us-s-","ap-l-"] [null,"5"]"#),
            "{executor}: {report}"
        );
        assert_eq!(task_state(doc, "none"), "skipped", "{executor}");
        assert_eq!(
            task(doc, "none")["error"],
            "no instances: its `for_each` or `matrix` is empty"
        );
        assert_eq!(task_state(doc, "after_none"), "skipped", "{executor}");
        // max_parallel: 1 — never two instances at once (the run allows two tasks).
        let spans: Vec<(u128, u128)> = (0..3)
            .map(|i| {
                let s = task(doc, &format!("convert.{i}"))["outputs"]["span"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let (a, b) = s.split_once('-').unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        for a in &spans {
            for b in &spans {
                let overlap = a != b && a.0 < b.1 && b.0 < a.1;
                assert!(!overlap, "{executor}: instances overlapped: {spans:?}");
            }
        }
    });
}

#[test]
fn a_retry_re_runs_only_the_failed_instances() {
    let env = Env::new();
    env.write(
        "r.yaml",
        "name: partly\ntasks:\n  each:\n    for_each: [1, 2, 3]\n    command: test ${{ item }} != 2 || test -e fixed\n  sum: { command: 'true', depends_on: each }\n",
    );
    let (run, doc) = env.run_json("r.yaml", &[]);
    run.code(1);
    assert_eq!(task_state(&doc, "each.1"), "failed");
    assert_eq!(task_state(&doc, "sum"), "upstream_failed");
    env.write("fixed", "");
    let id = doc["run_id"].as_str().unwrap();
    let retried = env.run(&["retry", id, "--output", "json"]);
    retried.code(0);
    let doc = retried.json();
    for (t, attempts) in [("each.0", 1), ("each.1", 2), ("each.2", 1), ("sum", 1)] {
        assert_eq!(task_state(&doc, t), "success", "{t}");
        assert_eq!(task(&doc, t)["attempts"], attempts, "{t}");
    }
    // One instance by its id, and the mapped task by its own.
    let logs = env.run(&["logs", id, "each.1"]);
    logs.code(0);
    env.run(&["run", "r.yaml", "--only", "each"]).code(0);
    let again = env.run(&["retry", id, "--task", "each", "--output", "json"]);
    again.code(0);
    let doc = again.json();
    for (t, attempts) in [("each.0", 2), ("each.1", 3), ("each.2", 2), ("sum", 2)] {
        assert_eq!(task(&doc, t)["attempts"], attempts, "{t}");
    }
}

/// An instance id picks that instance alone: `--only` runs it and what it needs,
/// `retry --task` runs it and what is downstream, and no other instance.
#[test]
fn only_and_retry_task_name_one_instance_and_run_it_alone() {
    let env = Env::new();
    env.write(
        "p.yaml",
        "name: pick\ntasks:\n  prep: { command: 'echo prep >> ran.txt' }\n  each:\n    for_each: [1, 2, 3]\n    depends_on: prep\n    command: echo ${{ item }} >> ran.txt\n  sum: { command: 'echo sum >> ran.txt', depends_on: each }\n",
    );
    let ran = || std::fs::read_to_string(env.path().join("ran.txt")).unwrap_or_default();
    let states = |doc: &serde_json::Value| -> Vec<(String, String, u64)> {
        doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_string(),
                    t["state"].as_str().unwrap().to_string(),
                    t["attempts"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let (run, doc) = env.run_json("p.yaml", &["--only", "each.1"]);
    run.code(0);
    assert_eq!(
        states(&doc),
        [
            ("prep".into(), "success".into(), 1),
            ("each.1".into(), "success".into(), 1)
        ],
        "{doc}"
    );
    assert_eq!(ran(), "prep\n2\n");
    let (run, doc) = env.run_json("p.yaml", &[]);
    run.code(0);
    let id = doc["run_id"].as_str().unwrap();
    std::fs::remove_file(env.path().join("ran.txt")).unwrap();
    let retried = env.run(&["retry", id, "--task", "each.1", "--output", "json"]);
    retried.code(0);
    let doc = retried.json();
    assert_eq!(
        states(&doc),
        [
            ("prep".into(), "success".into(), 1),
            ("each.0".into(), "success".into(), 1),
            ("each.1".into(), "success".into(), 2),
            ("each.2".into(), "success".into(), 1),
            ("sum".into(), "success".into(), 2)
        ],
        "{doc}"
    );
    assert_eq!(
        ran(),
        "2\nsum\n",
        "a task other than each.1 and sum ran again"
    );
}

#[test]
fn bad_fan_outs_are_refused_where_they_are_written() {
    let env = Env::new();
    insta::assert_snapshot!(env.refused(
        "name: bad\ntasks:\n  a: { command: 'echo ${{ item }}' }\n  b: { for_each: '${{ tasks.a.output }}', command: 'true' }\n  c: { matrix: { region: [eu], size: [] }, command: 'true' }\n  d: { matrix: { region: [eu] }, command: 'echo ${{ matrix.regoin }}' }\n  e: { for_each: [x], matrix: { r: [1] }, command: 'true' }\n  f: { for_each: [x], max_parallel: 0, command: 'true' }\n  g: { command: 'true', max_parallel: 2 }\n  h: { for_each: [{ k: 1 }], command: 'echo ${{ item.j }}' }\n  i: { for_each: [x, y], command: 'true' }\n  i.1: { command: 'true' }\n  j: { command: 'true', when: matrix.region == 'eu' }\n"
    ));
    // An instance id that a declared task has too.
    env.write(
        "clash.yaml",
        "name: clash\ntasks:\n  i: { for_each: [x, y], command: 'true' }\n  i.1: { command: 'true' }\n",
    );
    let run = env.run(&["validate", "clash.yaml"]);
    run.code(2);
    assert!(
        run.stderr
            .contains("task id `i.1` is also the id of an instance of `i`"),
        "{}",
        run.stderr
    );
}

#[test]
fn fan_outs_that_would_clash_inject_or_explode_are_refused() {
    let env = Env::new();
    let long = "x".repeat(98);
    for (text, want) in [
        (
            "name: c\ntasks:\n  a: { matrix: { x: [b], y: [c] }, command: 'true' }\n  a.b: { matrix: { z: [c] }, command: 'true' }\n".to_string(),
            "instances of `a` and `a.b` both have the id `a.b.c`",
        ),
        (
            format!("name: l\ntasks:\n  {long}: {{ for_each: [1,2,3,4,5,6,7,8,9,10,11], command: 'true' }}\n"),
            "is not a valid task id (at most 100 characters)",
        ),
        (
            "name: t\ntasks:\n  a: { matrix: { region: [eu, us], exclude: [{ regoin: us }] }, command: 'true' }\n".to_string(),
            "`exclude` names `regoin`, which is no axis of the matrix",
        ),
        (
            "name: e\ntasks:\n  a: { matrix: { region: [eu], exclude: [{}] }, command: 'true' }\n".to_string(),
            "an empty `exclude` entry would exclude everything",
        ),
        (
            "name: i\ntasks:\n  s: { command: 'echo tok=1 >> $DAG_OUTPUT' }\n  m: { for_each: [{ a: '$', b: '{{ tasks.s.outputs.tok }}' }], command: 'echo ${{ item.a }}${{ item.b }}' }\n".to_string(),
            "the values substituted here put together `${{`",
        ),
        (
            "name: p\nparams: { a: '$', b: '{{ tasks.s.output }}' }\ntasks:\n  s: { command: 'true' }\n  m: { command: 'echo ${{ params.a }}${{ params.b }}' }\n".to_string(),
            "the values substituted here put together `${{`",
        ),
        (
            "name: k\ntasks:\n  m: { for_each: [{ '${{ tasks.s.output }}': 1 }], command: 'echo ${{ item }}' }\n".to_string(),
            "an item may not hold `${{` or a NUL character",
        ),
        (
            "name: h\ntasks:\n  m: { matrix: { a: [0,1,2,3,4,5,6,7,8,9], b: [0,1,2,3,4,5,6,7,8,9], c: [0,1,2,3,4,5,6,7,8,9], d: [0,1,2,3,4,5,6,7,8,9], e: [0,1,2,3,4,5,6,7,8,9], f: [0,1,2,3,4,5,6,7,8,9], g: [0,1,2,3,4,5,6,7,8,9], h: [0,1,2,3,4,5,6,7,8,9] }, command: 'true' }\n".to_string(),
            "the matrix has too many combinations before `exclude`",
        ),
        (
            format!("name: d\ntasks:\n  m: {{ for_each: [{}1{}], command: 'true' }}\n", "[".repeat(40), "]".repeat(40)),
            "an item nests lists and maps deeper than 32 levels",
        ),
    ] {
        let stderr = env.refused(&text);
        assert!(stderr.contains(want), "{want}: {stderr}");
    }
    // A template with an empty list is valid: its stand-in never reads an item.
    env.write(
        "empty.yaml",
        "name: empty\ntasks:\n  m: { for_each: [], command: 'echo ${{ item.name }} ${{ item }}' }\n  g: { matrix: { region: [eu], exclude: [{ region: eu }] }, command: 'echo ${{ matrix.region }}' }\n",
    );
    let (run, doc) = env.run_json("empty.yaml", &[]);
    run.code(0);
    assert_eq!(task_state(&doc, "m"), "skipped");
    assert_eq!(task_state(&doc, "g"), "skipped");
}

/// Starts `dag run FILE`, SIGKILLs it once a process named `marker` runs (task
/// `hung`, which hangs until the file `go` exists) and the run's record says so,
/// kills that task, creates `go`, and retries the run: its JSON document.
fn killed_then_retried(env: &Env, file: &str, marker: &str, hung: &str) -> serde_json::Value {
    let child = env.spawn(&["run", file, "--output", "quiet"]);
    assert!(crate::common::wait_for(
        std::time::Duration::from_secs(15),
        || !crate::common::pids_with(marker).is_empty()
    ));
    let id = env.run(&["runs", "--output", "json"]).json()[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Its start is committed a moment after the process starts.
    assert!(crate::common::wait_for(
        std::time::Duration::from_secs(15),
        || {
            let status = env.run(&["status", &id, "--output", "json"]);
            serde_json::from_str::<serde_json::Value>(&status.stdout).is_ok_and(|doc| {
                doc["tasks"].as_array().is_some_and(|tasks| {
                    tasks
                        .iter()
                        .any(|t| t["id"] == hung && t["state"] == "running")
                })
            })
        }
    ));
    crate::common::kill(child.id(), "KILL");
    let _ = child.wait_with_output();
    for pid in crate::common::pids_with(marker) {
        crate::common::kill(pid, "KILL");
    }
    env.write("go", "");
    let retried = env.run(&["retry", &id, "--output", "json"]);
    retried.code(0);
    retried.json()
}

#[test]
fn a_sigkilled_run_with_a_half_finished_mapped_task_resumes_where_it_stopped() {
    let env = Env::new();
    let m = crate::common::marker("halfmapped");
    // One instance at a time; the third hangs until `go` exists.
    env.write(
        "h.yaml",
        format!(
            "name: half\ntasks:\n  each:\n    for_each: [1, 2, 3, 4]\n    max_parallel: 1\n    command: test ${{{{ item }}}} != 3 || test -e go || exec -a {m} sleep 300; echo ${{{{ item }}}} >> ran.txt\n  sum: {{ command: 'echo sum >> ran.txt', depends_on: each }}\n"
        ),
    );
    let doc = killed_then_retried(&env, "h.yaml", &m, "each.2");
    assert_eq!(task(&doc, "each.0")["attempts"], 1);
    assert_eq!(task(&doc, "each.1")["attempts"], 1);
    assert_eq!(task(&doc, "each.2")["attempts"], 2, "the cut attempt stays");
    assert_eq!(task_state(&doc, "sum"), "success");
    let ran = std::fs::read_to_string(env.path().join("ran.txt")).unwrap();
    assert_eq!(ran, "1\n2\n3\n4\nsum\n", "a finished instance ran again");
}

#[test]
fn a_for_each_read_from_an_output_expands_when_that_task_has_ended() {
    let env = Env::new();
    env.write(
        "d.yaml",
        r#"name: dynamic
tasks:
  list:
    command: |
      echo 'files=[{"name": "a", "n": 1}, {"name": "b", "n": 2}, {"name": "c", "n": 3}]' >> "$DAG_OUTPUT"
      echo 'none=[]' >> "$DAG_OUTPUT"
      echo 'bad={"a": 1}' >> "$DAG_OUTPUT"
      echo 'many=[1, 2, 3]' >> "$DAG_OUTPUT"
  convert:
    depends_on: list
    for_each: ${{ tasks.list.outputs.files }}
    max_parallel: 1
    when: item.n != '2'
    env: { NAME: "${{ item.name }}" }
    command: echo "out=$NAME.pdf" >> "$DAG_OUTPUT"
  again:
    depends_on: convert
    trigger_rule: none_failed
    for_each: ${{ tasks.convert.outputs.out }}
    command: test "${{ item }}" != "" && echo "x=${{ item }}!" >> "$DAG_OUTPUT"
  report:
    depends_on: [convert, again]
    trigger_rule: all_done
    command: echo 'out=${{ tasks.convert.outputs.out }} ${{ tasks.again.outputs.x }}' >> "$DAG_OUTPUT"
  empty:
    depends_on: list
    for_each: ${{ tasks.list.output }}
    command: 'true'
  after_empty: { depends_on: empty, command: 'true' }
  nolist:
    depends_on: list
    for_each: ${{ tasks.list.outputs.none }}
    command: 'true'
  notarray:
    depends_on: list
    for_each: ${{ tasks.list.outputs.bad }}
    command: 'true'
  after_bad: { depends_on: notarray, command: 'true' }
  toomany:
    depends_on: list
    for_each: ${{ tasks.list.outputs.many }}
    max_items: 2
    command: 'true'
"#,
    );
    in_every_executor(&env, "d.yaml", |executor, code, doc| {
        assert_eq!(code, 1, "{executor}: {doc}");
        assert_eq!(task_state(doc, "convert"), "success", "{executor}");
        for (t, want) in [
            ("convert.0", "success"),
            ("convert.1", "skipped"),
            ("convert.2", "success"),
            ("again.0", "success"),
            ("again.1", "failed"),
            ("again.2", "success"),
            ("report", "success"),
            ("nolist", "skipped"),
            ("notarray", "failed"),
            ("after_bad", "upstream_failed"),
            ("toomany", "failed"),
        ] {
            assert_eq!(task_state(doc, t), want, "{executor}: {t}: {doc}");
        }
        // `list` publishes no `output`: the mapped task fails, naming it.
        assert_eq!(task_state(doc, "empty"), "failed", "{executor}");
        let error = |t: &str| {
            task(doc, t)["error"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            error("empty").contains("published no output `output`"),
            "{executor}: {}",
            error("empty")
        );
        assert_eq!(
            task_state(doc, "after_empty"),
            "upstream_failed",
            "{executor}"
        );
        assert!(
            error("nolist").contains("list is empty"),
            "{}",
            error("nolist")
        );
        assert!(
            error("notarray").contains("a JSON object, not an array"),
            "{}",
            error("notarray")
        );
        assert!(
            error("toomany").contains("3 items, more than the 2 allowed"),
            "{}",
            error("toomany")
        );
        assert_eq!(
            task(doc, "report")["outputs"]["out"],
            r#"["a.pdf",null,"c.pdf"] ["a.pdf!",null,"c.pdf!"]"#,
            "{executor}: fan-in in item order"
        );
        // No instance of the refused lists exists.
        let ids: Vec<&str> = doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert!(
            !ids.iter()
                .any(|i| i.starts_with("notarray.") || i.starts_with("toomany.")),
            "{ids:?}"
        );
        assert_eq!(ids.len(), 10 + 3 + 3, "{executor}: {ids:?}");
    });
}

#[test]
fn a_retry_of_a_dynamic_fan_out_re_runs_failed_instances_and_reads_a_new_list() {
    let env = Env::new();
    env.write(
        "r.yaml",
        "name: partly\ntasks:\n  list: { command: 'cat list.txt >> $DAG_OUTPUT' }\n  each:\n    depends_on: list\n    for_each: ${{ tasks.list.outputs.items }}\n    command: test ${{ item }} != 2 || test -e fixed\n  sum: { command: 'echo n=${{ tasks.each.outputs.n }}', depends_on: each }\n",
    );
    env.write("list.txt", "items=[1, 2, 3]\n");
    let (run, doc) = env.run_json("r.yaml", &[]);
    run.code(1);
    assert_eq!(task_state(&doc, "each.1"), "failed");
    assert_eq!(task_state(&doc, "sum"), "upstream_failed");
    env.write("fixed", "");
    let id = doc["run_id"].as_str().unwrap().to_string();
    let retried = env.run(&["retry", &id, "--output", "json"]);
    retried.code(0);
    let doc = retried.json();
    for (t, attempts) in [
        ("list", 1),
        ("each", 1),
        ("each.0", 1),
        ("each.1", 2),
        ("each.2", 1),
        ("sum", 1),
    ] {
        assert_eq!(task_state(&doc, t), "success", "{t}");
        assert_eq!(task(&doc, t)["attempts"], attempts, "{t}");
    }
    env.run(&["logs", &id, "each.1"]).code(0);
    // The list is read again when its task runs again: a longer one adds instances.
    env.write("list.txt", "items=[1, 2, 3, 4]\n");
    let again = env.run(&["retry", &id, "--task", "list", "--output", "json"]);
    again.code(0);
    let doc = again.json();
    assert_eq!(task(&doc, "each.3")["attempts"], 1);
    assert_eq!(task(&doc, "each.0")["attempts"], 2);
    assert_eq!(doc["tasks"].as_array().unwrap().len(), 7);
    let status = env.run(&["status", &id, "--output", "json"]);
    status.code(0);
    assert_eq!(status.json()["tasks"].as_array().unwrap().len(), 7);
    // A shorter one is refused: the run keeps its instances.
    env.write("list.txt", "items=[1]\n");
    let shorter = env.run(&["retry", &id, "--task", "list", "--output", "json"]);
    shorter.code(1);
    let doc = shorter.json();
    assert_eq!(task_state(&doc, "each"), "failed");
    assert!(
        task(&doc, "each")["error"]
            .as_str()
            .unwrap()
            .contains("fewer than the 4 instances"),
        "{doc}"
    );
}

#[test]
fn a_dynamic_fan_out_kept_in_nats_resumes_from_the_kv_store() {
    let env = Env::new();
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let url = nats.url();
    let _w = env.worker(&nats, "kvdyn", &["--workers", "2"]);
    env.write(
        "k.yaml",
        "name: kvdyn\ntasks:\n  list: { command: 'echo items=[1,2,3] >> $DAG_OUTPUT' }\n  each:\n    depends_on: list\n    for_each: ${{ tasks.list.outputs.items }}\n    command: test ${{ item }} != 2 || test -e /tmp/never-there-dag-kvdyn\n  sum: { command: 'true', depends_on: each, trigger_rule: all_done }\n",
    );
    let (code, doc, stderr) = env.run_distributed(&nats, "k.yaml", &["--state", "nats"]);
    assert_eq!(code, 1, "{doc}\n{stderr}");
    assert_eq!(task_state(&doc, "each.1"), "failed", "{doc}");
    let id = doc["run_id"].as_str().unwrap().to_string();
    let status = env.run(&[
        "status", &id, "--state", "nats", "--nats", &url, "--output", "json",
    ]);
    status.code(1);
    let doc = status.json();
    let ids: Vec<&str> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["list", "each", "each.0", "each.1", "each.2", "sum"],
        "{doc}"
    );
    let retried = env.run(&[
        "retry",
        &id,
        "--state",
        "nats",
        "--nats",
        &url,
        "--executor",
        "distributed",
        "--output",
        "json",
    ]);
    retried.code(1);
    let doc = retried.json();
    assert_eq!(task(&doc, "each.1")["attempts"], 2, "{doc}");
    assert_eq!(task(&doc, "each.0")["attempts"], 1, "{doc}");
    assert_eq!(
        task(&doc, "sum")["attempts"],
        1,
        "all_done: it ran, and succeeded"
    );
}

#[test]
fn a_sigkilled_run_in_the_middle_of_a_dynamic_fan_out_resumes_where_it_stopped() {
    let env = Env::new();
    let m = crate::common::marker("halfdynamic");
    env.write(
        "h.yaml",
        format!(
            "name: half\ntasks:\n  list: {{ command: 'echo items=[1,2,3,4] >> $DAG_OUTPUT; echo list >> ran.txt' }}\n  each:\n    depends_on: list\n    for_each: ${{{{ tasks.list.outputs.items }}}}\n    max_parallel: 1\n    command: test ${{{{ item }}}} != 3 || test -e go || exec -a {m} sleep 300; echo ${{{{ item }}}} >> ran.txt\n  sum: {{ command: 'echo sum >> ran.txt', depends_on: each }}\n"
        ),
    );
    let doc = killed_then_retried(&env, "h.yaml", &m, "each.2");
    assert_eq!(task(&doc, "each")["attempts"], 1, "expanded once");
    assert_eq!(task(&doc, "each.0")["attempts"], 1);
    assert_eq!(task(&doc, "each.2")["attempts"], 2, "the cut attempt stays");
    assert_eq!(task_state(&doc, "sum"), "success");
    let ran = std::fs::read_to_string(env.path().join("ran.txt")).unwrap();
    assert_eq!(ran, "list\n1\n2\n3\n4\nsum\n", "a finished task ran again");
}

#[test]
fn bad_dynamic_fan_outs_are_refused_where_they_are_written() {
    let env = Env::new();
    insta::assert_snapshot!(env.refused(
        "name: bad\nparams: { files: '[1]' }\ntasks:\n  list: { command: 'true' }\n  a: { depends_on: list, for_each: '${{ params.files }}', command: 'true' }\n  b: { for_each: '${{ tasks.list.outputs.files }}', command: 'true' }\n  c: { depends_on: list, for_each: 'x ${{ tasks.list.output }}', command: 'true' }\n  d: { depends_on: list, for_each: '${{ tasks.list.output }}', description: 'for ${{ item }}', command: 'true' }\n  e: { depends_on: list, for_each: [1], max_items: 3, command: 'true' }\n  f: { depends_on: list, for_each: '${{ tasks.list.output }}', max_items: 0, command: 'true' }\n  g: { depends_on: list, for_each: '${{ tasks.list.output }}', matrix: { a: [1] }, command: 'true' }\n  h: { depends_on: list, for_each: '${{ tasks.list.output }}', command: 'echo ${{ matrix.a }}' }\n"
    ));
    // Ids of instances of a matrix, and ids too long once numbered.
    let long = "t".repeat(96);
    for (text, want) in [
        (
            "name: c\ntasks:\n  list: { command: 'true' }\n  x: { matrix: { a: ['1'], b: ['5'] }, command: 'true' }\n  x.1: { depends_on: list, for_each: '${{ tasks.list.output }}', command: 'true' }\n".to_string(),
            "the id `x.1.5` of an instance of `x` is also the id of an instance of `x.1`",
        ),
        (
            format!("name: l\ntasks:\n  list: {{ command: 'true' }}\n  {long}: {{ depends_on: list, for_each: '${{{{ tasks.list.output }}}}', command: 'true' }}\n"),
            "would not be a valid task id (at most 100 characters)",
        ),
    ] {
        let stderr = env.refused(&text);
        assert!(stderr.contains(want), "{want}: {stderr}");
    }
    // With `max_items: 10`, `t….9` fits.
    let fits = format!(
        "name: l\ntasks:\n  list: {{ command: 'true' }}\n  {long}: {{ depends_on: list, for_each: '${{{{ tasks.list.output }}}}', max_items: 10, command: 'true' }}\n"
    );
    env.write("fits.yaml", &fits);
    env.run(&["validate", "fits.yaml"]).code(0);
    // The ids its instances will have are taken.
    let stderr = env.refused(
        "name: clash\ntasks:\n  list: { command: 'true' }\n  i: { depends_on: list, for_each: '${{ tasks.list.output }}', command: 'true' }\n  i.0: { command: 'true' }\n",
    );
    assert!(
        stderr.contains("task id `i.0` is also the id of an instance of `i`"),
        "{stderr}"
    );
}

/// Linux starts no program with one argument over 128 KiB: a 1 MB item failed each
/// instance with "Argument list too long". Items are capped at 64 KiB as JSON.
#[test]
fn a_list_read_at_run_time_with_a_1_mb_item_fails_its_mapped_task_naming_the_item() {
    let env = Env::new();
    env.write(
        "mb.yaml",
        r#"name: mb
tasks:
  list:
    command: |
      printf 'mb=["small", "%s"]\n' "$(head -c 1000000 /dev/zero | tr '\0' x)" >> "$DAG_OUTPUT"
      printf 'fits=["%s"]\n' "$(head -c 65534 /dev/zero | tr '\0' y)" >> "$DAG_OUTPUT"
  big:
    depends_on: list
    for_each: ${{ tasks.list.outputs.mb }}
    command: echo ${{ item }}
  after_big: { depends_on: big, command: 'true' }
  fits:
    depends_on: list
    for_each: ${{ tasks.list.outputs.fits }}
    env: { ITEM: "${{ item }}" }
    command: x=${{ item }}; echo "n=${#x} env=${#ITEM}" >> "$DAG_OUTPUT"
"#,
    );
    in_every_executor(&env, "mb.yaml", |executor, code, doc| {
        assert_eq!(code, 1, "{executor}: {doc}");
        assert_eq!(task_state(doc, "big"), "failed", "{executor}");
        assert_eq!(
            task(doc, "big")["error"],
            "for_each: output `mb` of `list`: item 1 of the list takes 1000002 bytes as JSON, more than the 65536 (64 KiB) one item may take: pass large data in files, with items naming them",
            "{executor}"
        );
        assert_eq!(
            task_state(doc, "after_big"),
            "upstream_failed",
            "{executor}"
        );
        let ids: Vec<&str> = doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert!(!ids.iter().any(|i| i.starts_with("big.")), "{ids:?}");
        // An item at the cap starts its task, in the command and in an env value.
        assert_eq!(task_state(doc, "fits.0"), "success", "{executor}");
        assert_eq!(
            task(doc, "fits.0")["outputs"]["n"],
            "65534 env=65534",
            "{executor}"
        );
    });
}

/// The same cap for a list written in the file, refused where the item is.
#[test]
fn an_item_over_64_kib_in_the_file_is_refused_where_it_is_written() {
    let env = Env::new();
    let long = "x".repeat(70_000);
    let stderr = env.refused(
        &format!(
            "name: big\ntasks:\n  ok: {{ for_each: [a, b], command: 'true' }}\n  big:\n    for_each:\n      - small\n      - {long}\n      - {{ name: n, blob: {long} }}\n    command: echo ${{{{ item }}}}\n"
        ),
    );
    insta::assert_snapshot!(stderr);
}

#[test]
fn progress_counts_the_instances_of_a_large_mapped_task_together() {
    let env = Env::new();
    env.write(
        "g.yaml",
        "name: grouped\ntasks:\n  list: { command: 'echo \"items=[$(seq -s, 1 60)]\" >> $DAG_OUTPUT' }\n  each:\n    depends_on: list\n    for_each: ${{ tasks.list.outputs.items }}\n    command: test ${{ item }} != 7\n  small: { for_each: [a, b], command: 'true' }\n  big: { for_each: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25], type: fn, command: noop }\n",
    );
    let run = env.run(&["run", "g.yaml", "--executor", "sequential"]);
    run.code(1);
    let err = &run.stderr;
    // Small mapped tasks show each instance; large ones a count, and failures.
    assert!(err.contains("small.1 success"), "{err}");
    assert!(!err.contains("each.3 "), "{err}");
    assert!(!err.contains("big.3 "), "{err}");
    assert!(err.contains("each.6 failed"), "{err}");
    assert!(
        err.contains("each: 60 of 60 ended (59 success, 1 failed)"),
        "{err}"
    );
    assert!(err.contains("big: 25 of 25 ended (25 success)"), "{err}");
    assert!(err.lines().count() < 30, "{err}");
}

#[test]
fn lists_read_at_run_time_cannot_inject_expressions_and_keep_their_text() {
    let env = Env::new();
    env.write(
        "h.yaml",
        r#"name: hostile
tasks:
  secret: { command: "echo 'token=s3cr3t' >> $DAG_OUTPUT" }
  list:
    depends_on: secret
    command: |
      echo 'pair=[{"a": "$", "b": "{{ tasks.secret.outputs.token }}"}]' >> $DAG_OUTPUT
      echo 'one=["{{ tasks.secret.outputs.token }}"]' >> $DAG_OUTPUT
      echo 'nums=[1.10, 1e2, -0, 123456789012345678901234]' >> $DAG_OUTPUT
      printf 'keys=[{"\\u001b[31mred\\u202e": 1}]\n' >> $DAG_OUTPUT
  pair: { depends_on: list, for_each: '${{ tasks.list.outputs.pair }}', command: 'echo ${{ item.a }}${{ item.b }}' }
  one: { depends_on: list, for_each: '${{ tasks.list.outputs.one }}', env: { P: '$${{ item }}' }, command: 'echo "$P"' }
  nums: { depends_on: list, for_each: '${{ tasks.list.outputs.nums }}', command: 'echo "v=${{ item }}" >> $DAG_OUTPUT' }
  keys: { depends_on: list, for_each: '${{ tasks.list.outputs.keys }}', command: 'echo ${{ item.name }}' }
"#,
    );
    let (run, doc) = env.run_json("h.yaml", &["--executor", "sequential"]);
    run.code(1);
    for t in ["pair", "one"] {
        assert_eq!(task_state(&doc, t), "failed", "{t}: {doc}");
        assert!(
            task(&doc, t)["error"]
                .as_str()
                .unwrap()
                .contains("put together `${{`"),
            "{t}: {doc}"
        );
    }
    assert_eq!(
        task(&doc, "nums")["state"],
        "success",
        "numbers are items as written: {doc}"
    );
    let v: Vec<&str> = (0..4)
        .map(|i| {
            task(&doc, &format!("nums.{i}"))["outputs"]["v"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(v, ["1.10", "1e2", "-0", "123456789012345678901234"]);
    // Keys from an output are shown escaped, on the terminal and in the table.
    let error = task(&doc, "keys")["error"].as_str().unwrap().to_string();
    assert!(error.contains("has no key `name`"), "{error}");
    let table = env.run(&["status", doc["run_id"].as_str().unwrap()]);
    assert!(!table.stdout.contains('\u{1b}'), "{}", table.stdout);
    assert!(
        !run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{202e}'),
        "{}",
        run.stderr
    );
}

#[test]
fn a_guard_on_a_mapped_task_is_checked_before_its_list_and_retry_task_expands_again() {
    let env = Env::new();
    env.write(
        "g.yaml",
        "name: guard\ntasks:\n  list: { command: 'cat list.txt >> $DAG_OUTPUT' }\n  each:\n    depends_on: list\n    when: tasks.list.outputs.work == 'yes'\n    for_each: ${{ tasks.list.outputs.files }}\n    command: 'true'\n",
    );
    env.write("list.txt", "work=no\n");
    let (run, doc) = env.run_json("g.yaml", &[]);
    run.code(0);
    assert_eq!(task_state(&doc, "each"), "skipped", "{doc}");
    env.write("list.txt", "work=yes\nfiles=[1, 2]\n");
    let (run, doc) = env.run_json("g.yaml", &[]);
    run.code(0);
    assert_eq!(task_state(&doc, "each.1"), "success", "{doc}");
    // A shorter list fails the mapped task; `--task each` then runs it again.
    let id = doc["run_id"].as_str().unwrap().to_string();
    env.write("list.txt", "work=yes\nfiles=[1]\n");
    env.run(&["retry", &id, "--task", "list"]).code(1);
    let again = env.run(&["retry", &id, "--task", "each", "--output", "json"]);
    again.code(1);
    let doc = again.json();
    assert_eq!(task(&doc, "each")["attempts"], 3, "{doc}");
}

#[test]
fn a_damaged_record_of_a_dynamic_fan_out_is_refused_not_a_panic() {
    let env = Env::new();
    env.write(
        "d.yaml",
        "name: dmg\ntasks:\n  list: { command: 'echo items=[1,2] >> $DAG_OUTPUT' }\n  each:\n    depends_on: list\n    for_each: ${{ tasks.list.outputs.items }}\n    command: 'true'\n",
    );
    let (run, doc) = env.run_json("d.yaml", &[]);
    run.code(0);
    let id = doc["run_id"].as_str().unwrap().to_string();
    let path = env.path().join("state/runs").join(&id).join("run.json");
    let original = std::fs::read_to_string(&path).unwrap();
    let mut record: serde_json::Value = serde_json::from_str(&original).unwrap();
    for (change, want) in [
        ("huge", "instances"),
        ("sum", "instances, but it holds"),
        ("twice", "is in the run twice"),
    ] {
        let mut r = record.clone();
        let tasks = r["tasks"].as_array_mut().unwrap();
        match change {
            "huge" => tasks[1]["instances"] = serde_json::json!(u64::MAX),
            "sum" => tasks[0]["instances"] = serde_json::json!(3),
            _ => tasks[3]["id"] = serde_json::json!("each.0"),
        }
        std::fs::write(&path, serde_json::to_string(&r).unwrap()).unwrap();
        for cmd in [
            vec!["status", id.as_str()],
            vec!["retry", id.as_str(), "--task", "each"],
        ] {
            let out = env.run(&cmd);
            assert!(
                !out.stderr.contains("panicked") && !out.stderr.contains("bug in dag"),
                "{change} {cmd:?}: {}",
                out.stderr
            );
            // `status` shows a record with an instance twice as it is.
            if change != "twice" || cmd[0] == "retry" {
                assert_ne!(out.code, 0, "{change} {cmd:?}");
                assert!(
                    out.stderr.contains(want),
                    "{change} {cmd:?}: {}",
                    out.stderr
                );
            }
        }
    }
    record["tasks"][1]["instances"] = serde_json::json!(2);
    std::fs::write(&path, serde_json::to_string(&record).unwrap()).unwrap();
    env.run(&["status", &id]).code(0);
}

#[test]
fn fail_fast_stops_at_a_list_that_cannot_be_read_and_a_retried_group_counts_to_its_end() {
    let env = Env::new();
    env.write(
        "f.yaml",
        "name: ff\ntasks:\n  list: { command: 'echo items=notjson >> $DAG_OUTPUT' }\n  m: { depends_on: list, for_each: '${{ tasks.list.outputs.items }}', command: 'true' }\n  p: { depends_on: list, command: 'true' }\n",
    );
    for executor in ["sequential", "local"] {
        let (run, doc) = env.run_json("f.yaml", &["--executor", executor, "--fail-fast"]);
        run.code(1);
        assert_eq!(task_state(&doc, "m"), "failed", "{executor}");
        assert_eq!(task_state(&doc, "p"), "cancelled", "{executor}: {doc}");
    }
    // A large mapped task whose last instances failed: the retry's progress counts
    // the instances that succeeded before, and closes the group.
    env.write(
        "g.yaml",
        "name: grp\ntasks:\n  m:\n    for_each: [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24]\n    command: test ${{ item }} -lt 23 || test -e ok\n",
    );
    let (run, doc) = env.run_json("g.yaml", &[]);
    run.code(1);
    env.write("ok", "");
    let retried = env.run(&["retry", doc["run_id"].as_str().unwrap()]);
    retried.code(0);
    assert!(
        retried.stderr.contains("m: 25 of 25 ended (25 success)"),
        "{}",
        retried.stderr
    );
}

/// Issue 14, item 7: `run.json` keeps runs of like instances as blocks, and the
/// event log starts afresh once a run's record holds its events; a run read
/// back, retried and read back again is the same either way.
#[test]
fn like_instances_are_stored_as_blocks_and_read_back_whole() {
    let env = Env::new();
    env.write(
        "b.yaml",
        "name: blocks\ntasks:\n  each:\n    for_each: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]\n    when: item < 25\n    command: test ${{ item }} != 12 || test -e fixed\n  sum: { command: 'true', depends_on: each, trigger_rule: all_done }\n",
    );
    let (run, doc) = env.run_json("b.yaml", &["--parallel", "1"]);
    run.code(1);
    let id = doc["run_id"].as_str().unwrap().to_string();
    let dir = env.path().join("state/runs").join(&id);
    let stored = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    // The blocks of the stored record, and the record.
    let blocks = || {
        let record: serde_json::Value = serde_json::from_str(&stored("run.json")).unwrap();
        let blocks: Vec<serde_json::Value> = record["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t.get("group").is_some())
            .cloned()
            .collect();
        (blocks, record)
    };
    let (stored_blocks, record) = blocks();
    let blocks_now: Vec<_> = stored_blocks
        .iter()
        .map(|t| {
            (
                t["from"].as_u64().unwrap(),
                t["count"].as_u64().unwrap(),
                t["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        blocks_now,
        [(0, 12, "success"), (13, 12, "success")],
        "{record}"
    );
    assert_eq!(record["version"], 4);
    let seq = record["seq"].as_u64().unwrap();
    assert_eq!(stored("events.jsonl"), format!("{{\"folded\":{seq}}}\n"));
    // Every instance reads back as it ended, times and all.
    let status = env.run(&["status", &id, "--output", "json"]);
    status.code(1);
    assert_eq!(status.json(), doc);
    for (t, state) in [
        ("each.0", "success"),
        ("each.12", "failed"),
        ("each.24", "success"),
        ("each.25", "skipped"),
        ("each.29", "skipped"),
        ("sum", "success"),
    ] {
        assert_eq!(task_state(&doc, t), state, "{t}");
    }
    env.write("fixed", "");
    let retried = env.run(&["retry", &id, "--output", "json"]);
    retried.code(0);
    let doc = retried.json();
    assert_eq!(task(&doc, "each.12")["attempts"], 2);
    assert_eq!(task(&doc, "each.11")["attempts"], 1);
    let status = env.run(&["status", &id, "--output", "json"]);
    status.code(0);
    assert_eq!(status.json(), doc);
    let record: serde_json::Value = serde_json::from_str(&stored("run.json")).unwrap();
    assert_eq!(
        stored("events.jsonl"),
        format!("{{\"folded\":{}}}\n", record["seq"])
    );
    // Instances run again alike stay blocks (attack pass: each retry of a
    // million instances wrote them whole, and the ninth made a run.json too big
    // to read).
    env.run(&["retry", &id, "--task", "each"]).code(0);
    let (stored_blocks, record) = blocks();
    let retried: Vec<_> = stored_blocks
        .iter()
        .map(|t| {
            (
                t["from"].as_u64().unwrap(),
                t["attempts"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(retried, [(0, 2), (13, 2)], "{record}");
    let status = env.run(&["status", &id, "--output", "json"]);
    status.code(0);
    assert_eq!(task(&status.json(), "each.24")["attempts"], 2);
}

/// Issue 14, item 7: a list a `for_each` reads may be longer than the 1 MiB
/// output cap of other tasks (up to 32 MiB), in every executor; one over that
/// fails its task naming the cap, and a task no `for_each` reads keeps the 1 MiB
/// cap.
#[test]
fn a_list_output_may_pass_one_mib() {
    let env = Env::new();
    // 2,000 items of 1,006 characters: about 2 MB.
    let list = "|\n      pad=$(head -c 1000 /dev/zero | tr '\\0' x)\n      echo \"items=[$(seq -f \"\\\"$pad%g\\\"\" -s, 1000 2999)]\" >> \"$DAG_OUTPUT\"\n";
    env.write(
        "long.yaml",
        format!(
            "name: long\ntasks:\n  list:\n    command: {list}  each:\n    type: fn\n    command: noop\n    for_each: ${{{{ tasks.list.outputs.items }}}}\n    depends_on: list\n    max_items: 5000\n  unread:\n    command: {list}  huge:\n    command: |\n      head -c 34000000 /dev/zero | tr '\\0' 1 | sed 's/^/items=/' >> \"$DAG_OUTPUT\"\n  over:\n    type: fn\n    command: noop\n    for_each: ${{{{ tasks.huge.outputs.items }}}}\n    depends_on: huge\n"
        ),
    );
    in_every_executor(&env, "long.yaml", |executor, code, doc| {
        assert_eq!(code, 1, "{executor}: {doc}");
        assert_eq!(task_state(doc, "list"), "success", "{executor}");
        assert_eq!(task_state(doc, "each"), "success", "{executor}");
        let instances: Vec<_> = doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["id"].as_str().unwrap().starts_with("each."))
            .map(|t| t["state"].as_str().unwrap())
            .collect();
        assert_eq!(instances.len(), 2000, "{executor}");
        assert!(instances.iter().all(|s| *s == "success"), "{executor}");
        for (t, cap) in [
            ("unread", "(1 MiB) per task"),
            (
                "huge",
                "(32 MiB) for a task whose outputs a `for_each` reads",
            ),
        ] {
            assert_eq!(task_state(doc, t), "failed", "{executor}: {t}");
            let error = task(doc, t)["error"].as_str().unwrap();
            assert!(error.contains(cap), "{executor}: {t}: {error}");
        }
        assert_eq!(task_state(doc, "over"), "upstream_failed", "{executor}");
    });
    // Three lists of 25 MB: a bash task after all three is no task message over
    // 64 MiB (attack pass: every task message carried its upstream tasks'
    // outputs, which only fn tasks read whole).
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let _w = env.worker(&nats, "lists", &[]);
    let mut three = String::from("name: three\ntasks:\n");
    for l in ["l1", "l2", "l3"] {
        three.push_str(&format!(
            "  {l}:\n    command: printf 'items=[\"%s\"]\\n' \"$(head -c 25000000 /dev/zero | tr '\\0' x)\" >> \"$DAG_OUTPUT\"\n  m{l}:\n    type: fn\n    command: noop\n    depends_on: {l}\n    when: 'false'\n    for_each: ${{{{ tasks.{l}.outputs.items }}}}\n"
        ));
    }
    three.push_str("  report:\n    command: 'true'\n    depends_on: [l1, l2, l3]\n");
    env.write("three.yaml", three);
    let (code, doc, _) = env.run_distributed(&nats, "three.yaml", &[]);
    // (The document holds 75 MB of outputs: not shown.)
    let report = task(&doc, "report");
    assert_eq!(report["state"], "success", "{}", report["error"]);
    assert_eq!(code, 0);
}

#[test]
fn a_matrix_value_over_64_kib_is_refused_where_it_is_written() {
    let env = Env::new();
    let big = "x".repeat(70_000);
    env.write(
        "m.yaml",
        format!("name: m\ntasks:\n  t:\n    command: echo ${{{{ matrix.a }}}}\n    matrix:\n      a: [small, {big}]\n"),
    );
    let run = env.run(&["validate", "m.yaml"]);
    run.code(2);
    assert!(
        run.stderr
            .contains("a value of matrix axis `a` takes 70002 bytes as JSON")
            && run.stderr.contains("m.yaml:6:"),
        "{}",
        run.stderr
    );
}
