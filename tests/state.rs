//! The two state stores behave alike: the same tests run against the file store and
//! the NATS KV store. Plus what only the NATS store has: compare-and-swap writes,
//! leases, and records other programs can read.

use std::time::Duration;

use crate::common::nats::NatsServer;
use crate::common::{Env, can_unshare, kill, marker, pids_with, task, task_state, wait_for};

/// `dag ARGS --state KIND [--nats URL]`.
fn with_state<'a>(args: &[&'a str], state: &'a [&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend_from_slice(state);
    all
}

fn store_behaviour(state: &[&str]) {
    let env = Env::new();
    env.write(
        "s.yaml",
        "name: stores\ntasks:\n  a: { command: 'echo out-a; echo \"k=v\" >> \"$DAG_OUTPUT\"' }\n  b: { command: 'echo out-b; test -e fixed', depends_on: a }\n  c: { command: 'true', depends_on: b }\n",
    );
    let first = env.run(&with_state(&["run", "s.yaml", "--output", "json"], state));
    first.code(1);
    let doc = first.json();
    let id = doc["run_id"].as_str().unwrap().to_string();
    // status: the same document as the run printed.
    let status = env.run(&with_state(&["status", &id, "--output", "json"], state));
    status.code(1);
    assert_eq!(status.json(), doc);
    // The latest run by default; listed by runs, with filters.
    let latest = env.run(&with_state(&["status", "--output", "json"], state));
    assert_eq!(latest.json()["run_id"], id);
    let runs = env.run(&with_state(
        &[
            "runs", "--status", "failed", "--dag", "stores", "--output", "json",
        ],
        state,
    ));
    assert!(
        runs.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["run_id"] == id.as_str()),
        "{}",
        runs.stdout
    );
    // logs, per task and attempt.
    let logs = env.run(&with_state(&["logs", &id, "b"], state));
    assert_eq!(logs.stdout, "out-b\n");
    // retry runs what failed, keeping a's output and attempts.
    env.write("fixed", "");
    let retried = env.run(&with_state(&["retry", &id, "--output", "json"], state));
    retried.code(0);
    let again = retried.json();
    assert_eq!(task(&again, "a")["attempts"], 1);
    assert_eq!(task(&again, "a")["outputs"]["k"], "v");
    assert_eq!(task(&again, "b")["attempts"], 2);
    assert_eq!(task_state(&again, "c"), "success");
    let logs = env.run(&with_state(&["logs", &id, "b", "--attempt", "2"], state));
    assert_eq!(logs.stdout, "── b (attempt 2) ──\nout-b\n");
    // prune.
    let pruned = env.run(&with_state(&["runs", "prune", "--older-than", "0s"], state));
    pruned.code(0);
    assert!(pruned.stdout.contains(&id), "{}", pruned.stdout);
    let gone = env.run(&with_state(&["status", &id], state));
    gone.code(2);
}

#[test]
fn the_file_store_behaves() {
    store_behaviour(&["--state", "file"]);
}

#[test]
fn the_nats_store_behaves_the_same() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let url = nats.url();
    store_behaviour(&["--state", "nats", "--nats", &url]);
}

#[test]
fn racing_cas_writers_lose_nothing() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let total = rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let kv = js
            .create_key_value(async_nats::jetstream::kv::Config {
                bucket: "race".into(),
                history: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut writers = Vec::new();
        for _ in 0..8 {
            let kv = kv.clone();
            writers.push(tokio::spawn(async move {
                for _ in 0..25 {
                    dag::backends::nats::kv_store::update::<u64, _>(&kv, "counter", |n| {
                        Ok(n.unwrap_or(0) + 1)
                    })
                    .await
                    .unwrap();
                }
            }));
        }
        for w in writers {
            w.await.unwrap();
        }
        dag::backends::nats::kv_store::read::<u64>(&kv, "counter")
            .await
            .unwrap()
            .unwrap()
            .0
    });
    assert_eq!(total, 200, "an update was lost");
}

#[test]
fn a_lease_stops_double_driving_and_a_dead_scheduler_s_run_is_resumed_elsewhere() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let url = nats.url();
    let _w = env.worker(&nats, "steady", &["--workers", "2"]);
    let m = marker("lease");
    env.write(
        "l.yaml",
        format!("name: leased\ntasks:\n  first: {{ command: 'echo first' }}\n  slow: {{ command: 'test -e go || exec -a {m} sleep 300', depends_on: first }}\n  last: {{ command: 'echo last', depends_on: slow }}\n"),
    );
    let lease = [("DAG_NATS_LEASE", "3s")];
    let mut scheduler = env
        .cmd(&[
            "run",
            "l.yaml",
            "--executor",
            "distributed",
            "--nats",
            &url,
            "--output",
            "quiet",
        ])
        .envs(crate::common::nats::FAST.iter().copied())
        .envs(lease)
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || !pids_with(&m).is_empty()),
        "the slow task never started"
    );
    let id = env
        .run(&[
            "runs", "--state", "nats", "--nats", &url, "--output", "json",
        ])
        .json()[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Driven: no second driver.
    let refused = env
        .cmd(&["retry", &id, "--state", "nats", "--nats", &url])
        .envs(lease)
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is being driven by another dag process")
    );
    // The scheduler dies; its lease lapses; the run shows as driven by nobody
    // (a distributed run: waiting for a `dag scheduler`, none of which runs here).
    kill(scheduler.id(), "KILL");
    let _ = scheduler.wait();
    for pid in pids_with(&m) {
        kill(pid, "KILL");
    }
    assert!(
        wait_for(Duration::from_secs(15), || {
            env.run(&["status", &id, "--state", "nats", "--nats", &url])
                .stdout
                .contains("no process drives this run now")
        }),
        "the run never showed as driven by nobody"
    );
    // Another process resumes it.
    env.write("go", "");
    let resumed: crate::common::Run = env
        .cmd(&[
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
        ])
        .envs(crate::common::nats::FAST.iter().copied())
        .envs(lease)
        .output()
        .unwrap()
        .into();
    resumed.code(0);
    let doc = resumed.json();
    assert_eq!(task(&doc, "first")["attempts"], 1, "first is not run again");
    assert_eq!(task_state(&doc, "last"), "success");
    let logs = env.run(&["logs", &id, "last", "--state", "nats", "--nats", &url]);
    assert_eq!(logs.stdout, "last\n");
    // The result consumer the killed process made went with the run's end.
    let consumers: Vec<String> = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use futures_util::StreamExt;
            let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
            let results = js.get_stream("DAG_RESULTS").await.unwrap();
            results
                .consumer_names()
                .filter_map(|n| async move { n.ok() })
                .collect()
                .await
        });
    assert!(
        !consumers.contains(&format!("results-{id}")),
        "{consumers:?}"
    );
}

#[test]
fn records_are_plain_json_for_other_programs() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    if !crate::common::python_has("nats", "package nats-py") {
        return;
    }
    let env = Env::new();
    let url = nats.url();
    env.write(
        "j.yaml",
        "name: json\ntasks:\n  hello: { command: 'echo \"greeting=hi\" >> \"$DAG_OUTPUT\"' }\n",
    );
    let run = env.run(&[
        "run", "j.yaml", "--state", "nats", "--nats", &url, "--output", "json",
    ]);
    run.code(0);
    let id = run.json()["run_id"].as_str().unwrap().to_string();
    let script = format!(
        r#"
import asyncio, json, nats
async def main():
    nc = await nats.connect("{url}")
    kv = await nc.jetstream().key_value("dag_runs")
    run = json.loads((await kv.get("{id}.run")).value)
    task = json.loads((await kv.get("{id}.t.hello")).value)
    print(run["dag"], run["state"], run["task_ids"], task["state"], task["outputs"]["greeting"], len(task["attempts"]))
    await nc.close()
asyncio.run(main())
"#
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "json success ['hello'] success hi 1"
    );
}

#[test]
fn a_full_disk_mid_run_stops_the_run_kills_its_tasks_and_keeps_state_readable() {
    if !can_unshare(&["--mount"]) {
        return;
    }
    let env = Env::new();
    let store = env.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let m = marker("fullhang");
    // `fill` fills the 1 MiB state filesystem; the events that follow cannot be
    // written, while `long` runs and 200 tasks wait.
    let mut dag = format!(
        "name: full\ntasks:\n  fill: {{ command: 'sleep 0.5; head -c 10M /dev/zero > {}/filler 2>/dev/null; true' }}\n  long: {{ command: '[ -e retrying ] || exec -a {m} sleep 300' }}\n",
        store.display()
    );
    for i in 0..200 {
        dag.push_str(&format!(
            "  a{i}: {{ command: 'true', depends_on: fill }}\n"
        ));
    }
    env.write("full.yaml", dag);
    let bin = crate::common::dag_bin();
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs {store} || exit 99\n\
         {bin} run full.yaml --parallel 4 --output quiet 2> stderr; echo $? > rc\n\
         rm -f {store}/filler\n\
         {bin} status --output json > status.json\n\
         touch retrying\n\
         {bin} retry $(ls {store}/runs) --output quiet > /dev/null 2>&1; echo $? > retry_rc\n\
         {bin} status --output json > retried.json\n",
        store = store.display(),
        bin = bin.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .current_dir(env.path())
        .env("DAG_HOME", &store)
        .env("NO_COLOR", "1")
        .env_remove("CI")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |f: &str| std::fs::read_to_string(env.path().join(f)).unwrap();
    let stderr = read("stderr");
    assert_eq!(read("rc").trim(), "3", "{stderr}");
    assert!(
        stderr.contains("No space left on device") && stderr.contains("state store"),
        "{stderr}"
    );
    assert!(pids_with(&m).is_empty(), "a task outlived the stopped run");
    let doc: serde_json::Value = serde_json::from_str(&read("status.json")).unwrap();
    // What was committed before the disk filled is there; nothing after it ran.
    assert_eq!(task_state(&doc, "long"), "running", "{doc}");
    let ran = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "success")
        .count();
    assert!(
        ran < 200,
        "scheduling went on after the write failure: {doc}"
    );
    // With room again, `dag retry` finishes the run.
    assert_eq!(read("retry_rc").trim(), "0");
    let doc: serde_json::Value = serde_json::from_str(&read("retried.json")).unwrap();
    assert_eq!(doc["state"], "success", "{doc}");
}

/// Issue 13, item 6 (the same class elsewhere): a FIFO in place of a log or a run
/// record made `dag logs` and `dag status` block in `open` forever. They are refused
/// by name.
#[test]
fn a_fifo_in_place_of_a_log_or_a_record_is_refused_not_waited_on() {
    let env = Env::new();
    env.write("s.yaml", "name: s\ntasks:\n  a: {command: 'echo hi'}\n");
    let (run, doc) = env.run_json("s.yaml", &[]);
    run.code(0);
    let id = doc["run_id"].as_str().unwrap().to_string();
    let dir = env.path().join("state/runs").join(&id);
    let mkfifo = |p: &std::path::Path| {
        std::fs::remove_file(p).unwrap();
        crate::common::mkfifo(p);
    };
    mkfifo(&dir.join("logs/a.1.log"));
    let child = env.spawn(&["logs", &id, "a"]);
    let run = crate::common::finish_within(child, Duration::from_secs(20), "dag logs");
    run.code(3);
    assert!(run.stderr.contains("a.1.log"), "{}", run.stderr);
    assert!(
        run.stderr.contains("is a FIFO, not a regular file"),
        "{}",
        run.stderr
    );
    mkfifo(&dir.join("run.json"));
    let child = env.spawn(&["status", &id]);
    let run = crate::common::finish_within(child, Duration::from_secs(20), "dag status");
    run.code(3);
    assert!(run.stderr.contains("run.json"), "{}", run.stderr);
    assert!(
        run.stderr.contains("is a FIFO, not a regular file"),
        "{}",
        run.stderr
    );
}

/// Issue 13, item 12: a full disk while writing a task's log was that task's failure
/// (spending its retries) while the run went on and ended `failed`. It stops the run
/// as any failed store write does: exit 3 naming the file, running tasks killed, the
/// run left interrupted (the task still `running`), and no `run.json.tmp` behind.
#[test]
fn a_full_disk_while_writing_a_task_log_stops_the_run_like_a_store_failure() {
    if !can_unshare(&["--mount"]) {
        return;
    }
    let env = Env::new();
    let store = env.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let m = marker("logfull");
    // `loud` writes 4 MiB of output into a 1 MiB state filesystem, while `long` runs.
    let dag = format!(
        "name: loud\ntasks:\n  long: {{ command: 'exec -a {m} sleep 300' }}\n  loud: {{ command: \"sleep 0.3; head -c 4000000 /dev/zero | tr '\\\\0' x; sleep 300\", retries: 3 }}\n  after: {{ command: 'true', depends_on: loud }}\n"
    );
    env.write("loud.yaml", dag);
    let bin = crate::common::dag_bin();
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs {store} || exit 99\n\
         timeout 60 {bin} run loud.yaml --parallel 4 --output quiet 2> stderr; echo $? > rc\n\
         find {store} -name '*.tmp' > tmp_files\n\
         rm -f {store}/runs/*/logs/*\n\
         {bin} status --output json > status.json; echo $? > status_rc\n",
        store = store.display(),
        bin = bin.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .current_dir(env.path())
        .env("DAG_HOME", &store)
        .env("NO_COLOR", "1")
        .env_remove("CI")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |f: &str| std::fs::read_to_string(env.path().join(f)).unwrap();
    let stderr = read("stderr");
    assert_eq!(read("rc").trim(), "3", "{stderr}");
    assert!(
        stderr.contains("No space left on device") && stderr.contains("loud.1.log"),
        "{stderr}"
    );
    assert!(pids_with(&m).is_empty(), "a task outlived the stopped run");
    assert_eq!(read("tmp_files"), "", "temporary files left behind");
    let doc: serde_json::Value = serde_json::from_str(&read("status.json")).unwrap();
    assert_eq!(doc["state"], "running", "{doc}");
    // Interrupted: no process drives it any more.
    assert_eq!(read("status_rc").trim(), "130");
    assert_eq!(task_state(&doc, "loud"), "running", "{doc}");
    assert_eq!(task(&doc, "loud")["attempts"], 1, "{doc}");
    assert_eq!(task_state(&doc, "long"), "running", "{doc}");
}

/// Attack pass on issue 13: a task planted a FIFO or a symbolic link at
/// `run.json.tmp`, or a symbolic link at its next attempt's log. The store opened
/// the FIFO blocking (the run hung) and wrote through the links into files
/// elsewhere. Now the leftover is unlinked and a fresh file created for the record,
/// a log that is a link stops the run as a store fault (exit 3 naming it), and
/// `dag logs` refuses it.
#[test]
fn a_fifo_or_symlink_planted_in_the_run_directory_is_never_opened_or_followed() {
    let env = Env::new();
    let victim = env.write("victim.txt", "untouched");
    env.write(
        "fifo.yaml",
        "name: f\ntasks:\n  a:\n    command: mkfifo \"$DAG_HOME/runs/$DAG_RUN_ID/run.json.tmp\"\n  b:\n    depends_on: [a]\n    command: 'true'\n",
    );
    let child = env.spawn(&["run", "fifo.yaml", "--output", "json"]);
    let run = crate::common::finish_within(child, Duration::from_secs(30), "dag run");
    run.code(0);
    env.write(
        "sym.yaml",
        format!(
            "name: s\ntasks:\n  a:\n    retries: 1\n    retry_delay: 0s\n    command: |\n      D=\"$DAG_HOME/runs/$DAG_RUN_ID\"\n      ln -sf {v} \"$D/run.json.tmp\"\n      ln -sf {v} \"$D/logs/a.2.log\"\n      [ \"$DAG_ATTEMPT\" = 1 ] && exit 1\n      echo second\n",
            v = victim.display()
        ),
    );
    let child = env.spawn(&["run", "sym.yaml", "--output", "json"]);
    let run = crate::common::finish_within(child, Duration::from_secs(30), "dag run");
    run.code(3);
    assert!(run.stderr.contains("a.2.log"), "{}", run.stderr);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    let id = std::fs::read_dir(env.path().join("state/runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .max()
        .unwrap();
    let run = env.run(&["logs", &id, "a", "--attempt", "2"]);
    run.code(3);
    assert!(run.stderr.contains("a.2.log"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("is a symbolic link, not a regular file"),
        "{}",
        run.stderr
    );
}

/// Attack pass on issue 13: a sparse 8 GiB `events.jsonl` (one endless line of
/// zeros) made `dag status` and `dag runs` abort on allocation failure, and
/// `run.json` was read whole, however big. Both are read with a cap now: exit 3
/// naming the file, and `dag runs` skips that run with a warning.
#[test]
fn a_huge_event_log_or_record_is_refused_as_corrupt_within_bounded_memory() {
    let env = Env::new();
    env.write("s.yaml", "name: s\ntasks:\n  a: {command: 'echo hi'}\n");
    let (run, doc) = env.run_json("s.yaml", &[]);
    run.code(0);
    let id = doc["run_id"].as_str().unwrap().to_string();
    let dir = env.path().join("state/runs").join(&id);
    let grow = |name: &str| {
        // Sparse: takes no disk.
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(name))
            .unwrap();
        f.set_len(8 << 30).unwrap();
    };
    let limited = |args: &str| {
        let mut c = std::process::Command::new("bash");
        c.arg("-c")
            .arg(format!("ulimit -v 2000000; exec \"$DAG\" {args}"))
            .current_dir(env.path())
            .env("DAG", crate::common::dag_bin())
            .env("DAG_HOME", env.path().join("state"))
            .env("NO_COLOR", "1");
        crate::common::Run::from(c.output().unwrap())
    };
    grow("events.jsonl");
    let run = limited(&format!("status {id}"));
    run.code(3);
    assert!(run.stderr.contains("events.jsonl"), "{}", run.stderr);
    assert!(run.stderr.contains("corrupt"), "{}", run.stderr);
    let run = limited("runs");
    run.code(0);
    assert!(
        run.stderr.contains(&format!("warning: skipping run {id}")),
        "{}",
        run.stderr
    );
    grow("run.json");
    let run = limited(&format!("status {id}"));
    run.code(3);
    assert!(run.stderr.contains("run.json"), "{}", run.stderr);
    assert!(run.stderr.contains("corrupt"), "{}", run.stderr);
}
