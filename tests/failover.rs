//! Issue 17, parts 1 to 3: detached runs and `dag wait`, scheduler failover (a
//! killed or stalled driver's run taken over by another scheduler, its running
//! attempts adopted), and fencing (a stale driver writes nothing; a cut-off
//! worker's late result is counted as a duplicate execution).

use std::process::{Child, Stdio};
use std::time::Duration;

use crate::common::nats::{FAST, NatsServer};
use crate::common::{Env, kill, task, wait_for};

/// The lease of these tests: short, so that a takeover comes within seconds.
const LEASE: (&str, &str) = ("DAG_NATS_LEASE", "3s");

/// A `dag scheduler` process, killed when dropped; its stderr goes to a log.
pub(crate) struct Scheduler {
    pub(crate) child: Child,
    log: std::path::PathBuf,
}

impl Scheduler {
    pub(crate) fn start(env: &Env, nats: &NatsServer, name: &str) -> Scheduler {
        let log = env.path().join(format!("scheduler-{name}.log"));
        let child = env
            .cmd(&["scheduler", "--nats", &nats.url()])
            .envs(FAST.iter().copied())
            .env(LEASE.0, LEASE.1)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start dag scheduler");
        let s = Scheduler { child, log };
        assert!(
            wait_for(Duration::from_secs(15), || s
                .said("driving distributed runs")),
            "scheduler {name} did not start: {}",
            s.text()
        );
        s
    }

    pub(crate) fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn said(&self, what: &str) -> bool {
        self.text().contains(what)
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dag run FILE --executor distributed --detach`: the new run's id.
pub(crate) fn submit(env: &Env, nats: &NatsServer, file: &str) -> String {
    let out = env
        .cmd(&[
            "run",
            file,
            "--executor",
            "distributed",
            "--detach",
            "--nats",
            &nats.url(),
        ])
        .envs(FAST.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("dag wait"), "{stderr}");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !id.is_empty() && !id.contains(char::is_whitespace),
        "{id:?}"
    );
    id
}

/// `dag wait ID --output json`: its exit code and the run's document.
pub(crate) fn wait(env: &Env, nats: &NatsServer, id: &str) -> (i32, serde_json::Value, String) {
    let out = env
        .cmd(&["wait", id, "--nats", &nats.url(), "--output", "json"])
        .envs(FAST.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON ({e}): {stderr}"));
    (out.status.code().unwrap_or(-1), doc, stderr)
}

/// The run's document as `dag status --state nats` reads it now.
pub(crate) fn status(env: &Env, nats: &NatsServer, id: &str) -> serde_json::Value {
    let out = env
        .cmd(&[
            "status",
            id,
            "--state",
            "nats",
            "--nats",
            &nats.url(),
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// How many lines `path` has (each task execution appends one).
fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn a_detached_run_is_driven_by_a_scheduler_and_dag_wait_exits_with_its_code() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let _worker = env.worker(&nats, "w", &["--workers", "4"]);
    let _scheduler = Scheduler::start(&env, &nats, "a");
    env.write(
        "ok.yaml",
        "name: ok\ntasks:\n  a: {command: 'echo a'}\n  b: {command: 'echo b', depends_on: [a]}\n",
    );
    env.write(
        "bad.yaml",
        "name: bad\ntasks:\n  a: {command: 'exit 4'}\n  b: {command: 'echo b', depends_on: [a]}\n",
    );
    let ok = submit(&env, &nats, "ok.yaml");
    let (code, doc, stderr) = wait(&env, &nats, &ok);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["state"], "success", "{doc}");
    assert_eq!(task(&doc, "b")["worker"], "w");
    let bad = submit(&env, &nats, "bad.yaml");
    let (code, doc, _) = wait(&env, &nats, &bad);
    assert_eq!(code, 1);
    assert_eq!(task(&doc, "b")["state"], "upstream_failed");
    // The table form prints the result as `dag run` does.
    let out = env
        .cmd(&["wait", &ok, "--nats", &nats.url()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("run {ok} success")), "{stdout}");
    // --detach is for distributed runs kept in NATS only.
    let refused = env.run(&["run", "ok.yaml", "--detach"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("--detach needs --executor distributed")
    );
}

#[test]
fn a_killed_scheduler_s_run_is_taken_over_and_its_running_attempt_adopted() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let _worker = env.worker(&nats, "w", &["--workers", "4"]);
    let runs = env.path().join("runs");
    let runs = runs.display();
    env.write(
        "long.yaml",
        format!(
            "name: long\ntasks:\n  first: {{command: 'echo first >> {runs}'}}\n  long: {{command: 'echo long >> {runs}; sleep 6', depends_on: [first]}}\n  last: {{command: 'echo last >> {runs}', depends_on: [long]}}\n"
        ),
    );
    let mut a = Scheduler::start(&env, &nats, "a");
    let id = submit(&env, &nats, "long.yaml");
    assert!(
        wait_for(Duration::from_secs(20), || {
            let doc = status(&env, &nats, &id);
            doc["tasks"].is_array() && task(&doc, "long")["worker"] == "w"
        }),
        "`long` never started: {}",
        a.text()
    );
    let b = Scheduler::start(&env, &nats, "b");
    kill(a.child.id(), "KILL");
    let _ = a.child.wait();
    let (code, doc, stderr) = wait(&env, &nats, &id);
    assert_eq!(code, 0, "{stderr}\n{}", b.text());
    assert!(b.said(&format!("taking run {id}")), "{}", b.text());
    assert!(b.said("lapsed"), "{}", b.text());
    assert!(b.said(&format!("run {id} ended: success")), "{}", b.text());
    // The running attempt was adopted, not started again: one attempt, one
    // delivery, one execution of each task.
    let long = task(&doc, "long");
    assert_eq!(long["attempts"], 1, "{doc}");
    assert_eq!(long["deliveries"], 1, "{doc}");
    let text = std::fs::read_to_string(env.path().join("runs")).unwrap();
    assert_eq!(text, "first\nlong\nlast\n");
    assert_eq!(doc["duplicates"], 0);
}

#[test]
fn a_stalled_driver_whose_run_was_taken_over_writes_nothing_more() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let _worker = env.worker(&nats, "w", &["--workers", "4"]);
    let runs = env.path().join("runs");
    env.write(
        "stall.yaml",
        format!(
            "name: stall\ntasks:\n  long: {{command: 'echo long >> {0}; sleep 5'}}\n  next: {{command: 'echo next >> {0}', depends_on: [long]}}\n",
            runs.display()
        ),
    );
    let a = Scheduler::start(&env, &nats, "a");
    let id = submit(&env, &nats, "stall.yaml");
    assert!(
        wait_for(Duration::from_secs(20), || lines(&runs) == 1),
        "`long` never started: {}",
        a.text()
    );
    // Scheduler a stalls (as a machine cut off from the server would) past its
    // lease; b takes the run over and ends it.
    kill(a.child.id(), "STOP");
    let b = Scheduler::start(&env, &nats, "b");
    let (code, doc, stderr) = wait(&env, &nats, &id);
    kill(a.child.id(), "CONT");
    assert_eq!(code, 0, "{stderr}\n{}", b.text());
    assert_eq!(task(&doc, "long")["attempts"], 1, "{doc}");
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "long\nnext\n");
    // Woken, a learns it lost the run, and stops without writing.
    assert!(
        wait_for(Duration::from_secs(15), || a.said("taken over by another")),
        "{}",
        a.text()
    );
    std::thread::sleep(Duration::from_secs(2));
    let after = status(&env, &nats, &id);
    assert_eq!(after["state"], "success", "{after}");
    assert_eq!(
        after["tasks"], doc["tasks"],
        "a stale driver changed the run"
    );
    assert_eq!(lines(&runs), 2, "a stale driver ran a task again");
}

#[test]
fn a_cut_off_worker_s_late_result_is_fenced_and_counted() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let runs = env.path().join("runs");
    env.write(
        "dup.yaml",
        format!(
            "name: dup\ntasks:\n  dup: {{command: 'echo dup >> {0}; sleep 3'}}\n  keep: {{command: 'sleep 12', queue: other}}\n",
            runs.display()
        ),
    );
    let w1 = env.worker(&nats, "w1", &["--workers", "1"]);
    let run = env.spawn_distributed(&nats, "dup.yaml", &["--state", "nats"]);
    assert!(
        wait_for(Duration::from_secs(20), || lines(&runs) == 1),
        "`dup` never started"
    );
    // w1 is cut off (stopped: no heartbeat, no progress) while its task runs on;
    // the task is handed to w2 once its AckWait lapses.
    kill(w1.child.id(), "STOP");
    // w2 also serves the queue of `keep`, which keeps the run going until w1's
    // late result has come.
    let _w2 = env.worker(
        &nats,
        "w2",
        &["--workers", "2", "--queue", "default", "--queue", "other"],
    );
    assert!(
        wait_for(Duration::from_secs(20), || lines(&runs) == 2),
        "`dup` was not handed to w2"
    );
    // w1 comes back after its task process ended, and reports.
    std::thread::sleep(Duration::from_secs(4));
    kill(w1.child.id(), "CONT");
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dup = task(&doc, "dup");
    assert_eq!(dup["state"], "success");
    assert_eq!(dup["attempts"], 1, "{doc}");
    assert_eq!(dup["duplicates"], 1, "{doc}\n{stderr}");
    assert_eq!(doc["duplicates"], 1);
    assert!(stderr.contains("fenced a duplicate result"), "{stderr}");
    // Kept in the state, for `dag status` on any machine.
    let id = doc["run_id"].as_str().unwrap();
    assert_eq!(status(&env, &nats, id)["duplicates"], 1);
}

/// Issue 17: two schedulers racing for a run whose lease is free: exactly one
/// takes it (a compare-and-swap on the run's record), and the other is told the
/// run is driven, every time.
#[test]
fn of_two_processes_racing_for_a_free_lease_exactly_one_wins() {
    use dag::backends::nats::NatsOptions;
    use dag::backends::nats::kv_store::KvStore;
    use dag::engine::record::RunRecord;
    use dag::engine::store::{StateStore, StoreError};
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let options = NatsOptions {
        url: nats.url(),
        creds: None,
        ca: None,
        replicas: Default::default(),
    };
    let a = KvStore::open(&options, true).unwrap();
    let b = KvStore::open(&options, true).unwrap();
    assert_ne!(a.holder(), b.holder());
    let dag = dag::engine::validate::load_str(
        "race.yaml",
        "name: race\ntasks:\n  t: {command: 'true'}\n",
        &Default::default(),
    )
    .unwrap();
    for i in 0..20 {
        let record = RunRecord::new(
            format!("20261130T000000000Z-{i:04x}"),
            &dag,
            "race.yaml".into(),
        );
        a.create_run(&record).unwrap().release().unwrap();
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<Result<(), StoreError>> = std::thread::scope(|s| {
            let racers = [&a, &b].map(|store| {
                let (barrier, id) = (&barrier, &record.run_id);
                s.spawn(move || {
                    barrier.wait();
                    store.open_run(id).map(|_| ())
                })
            });
            racers.map(|r| r.join().unwrap()).into_iter().collect()
        });
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {i}: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::Locked(_)))),
            "round {i}: {results:?}"
        );
    }
}

/// A detached run submitted while no scheduler runs waits for one: `dag status`
/// says so (it is not "interrupted"), `dag status --watch` follows it until a
/// scheduler, started later, has driven it to its end.
#[test]
fn a_run_submitted_with_no_scheduler_waits_for_one() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let _worker = env.worker(&nats, "w", &["--workers", "2"]);
    env.write("ok.yaml", "name: ok\ntasks:\n  a: {command: 'echo a'}\n");
    let id = submit(&env, &nats, "ok.yaml");
    let url = nats.url();
    let status = env.run(&["status", &id, "--state", "nats", "--nats", &url]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status
            .stdout
            .contains("no process drives this run now: a `dag scheduler` takes it over"),
        "{}",
        status.stdout
    );
    assert!(!status.stdout.contains("interrupted"), "{}", status.stdout);
    let watch = env
        .cmd(&["status", &id, "--state", "nats", "--nats", &url, "--watch"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = env
        .cmd(&["logs", &id, "--state", "nats", "--nats", &url, "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let _scheduler = Scheduler::start(&env, &nats, "late");
    let out = watch.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(&format!("run {id} success")), "{stdout}");
    let out = logs.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout, "a | a\n");
}

/// SIGTERM hands a scheduler's runs over at once: it gives its leases up, and the
/// results it had not saved come again to the scheduler that takes over; every
/// task ends `success` and ran once.
#[test]
fn a_scheduler_stopped_with_sigterm_hands_its_run_over_losing_nothing() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let _w1 = env.worker(&nats, "w1", &["--workers", "8"]);
    let _w2 = env.worker(&nats, "w2", &["--workers", "8"]);
    let runs = env.path().join("runs");
    let mut yaml = String::from("name: handoff\ntasks:\n");
    for i in 0..120 {
        yaml.push_str(&format!(
            "  t{i}: {{command: 'echo t{i} >> {}; sleep 0.$((RANDOM % 4))'}}\n",
            runs.display()
        ));
    }
    env.write("handoff.yaml", yaml);
    let mut a = Scheduler::start(&env, &nats, "a");
    let id = submit(&env, &nats, "handoff.yaml");
    assert!(
        wait_for(Duration::from_secs(30), || lines(&runs) >= 20),
        "the run did not start: {}",
        a.text()
    );
    let b = Scheduler::start(&env, &nats, "b");
    kill(a.child.id(), "TERM");
    let stopped = a.child.wait().unwrap();
    assert_eq!(stopped.code(), Some(0), "{}", a.text());
    assert!(
        a.said("gave up 1 run for another scheduler"),
        "{}",
        a.text()
    );
    let (code, doc, stderr) = wait(&env, &nats, &id);
    assert_eq!(code, 0, "{stderr}\n{}", b.text());
    assert!(
        b.said(&format!("taking run {id}\n")),
        "no lapse waited for: {}",
        b.text()
    );
    let text = std::fs::read_to_string(&runs).unwrap();
    let mut ran: Vec<&str> = text.lines().collect();
    ran.sort();
    ran.dedup();
    assert_eq!(ran.len(), 120);
    assert_eq!(lines(&runs), 120, "a task ran twice");
    for t in doc["tasks"].as_array().unwrap() {
        assert_eq!(t["state"], "success", "{t}");
        assert_eq!(t["attempts"], 1, "{t}");
    }
}

/// `dag cancel` of a run a scheduler drives stops that run only (the scheduler
/// drives others); of a run no process drives (submitted while no scheduler
/// runs), it cancels it in its record, so that no scheduler runs it after.
#[test]
fn dag_cancel_stops_one_scheduled_run_or_cancels_one_waiting_for_a_scheduler() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let url = nats.url();
    let _worker = env.worker(&nats, "w", &["--workers", "4"]);
    let marks = env.path().join("ran");
    env.write(
        "slow.yaml",
        format!(
            "name: slow\ntasks:\n  s: {{command: 'echo ran >> {}; sleep 4'}}\n  after: {{command: 'true', depends_on: [s]}}\n",
            marks.display()
        ),
    );
    // Waiting for a scheduler: cancelled in its record.
    let waiting = submit(&env, &nats, "slow.yaml");
    let cancel = env.run(&["cancel", &waiting, "--nats", &url]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    assert!(
        cancel
            .stdout
            .contains("no process drove it: cancelled it in its record"),
        "{}",
        cancel.stdout
    );
    let scheduler = Scheduler::start(&env, &nats, "a");
    let (code, doc, _) = wait(&env, &nats, &waiting);
    assert_eq!(code, 130, "{doc}");
    assert_eq!(task(&doc, "s")["state"], "cancelled");
    assert_eq!(lines(&marks), 0, "a cancelled run ran");
    // Two runs driven by the same scheduler: one is cancelled, the other ends.
    let one = submit(&env, &nats, "slow.yaml");
    let two = submit(&env, &nats, "slow.yaml");
    assert!(wait_for(Duration::from_secs(20), || lines(&marks) == 2));
    let cancel = env.run(&["cancel", &one, "--nats", &url]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    assert!(!cancel.stdout.contains("SIGINT"), "{}", cancel.stdout);
    assert_eq!(wait(&env, &nats, &one).0, 130);
    assert_eq!(wait(&env, &nats, &two).0, 0, "{}", scheduler.text());
    assert!(scheduler.said(&format!("run {two} ended: success")));
    drop(scheduler);

    // A run whose driver died while its tasks waited in the queue (no worker
    // serves it yet): cancelled, its task messages are taken out of the
    // queue, so a worker that comes later runs none of them.
    let later = env.path().join("later");
    env.write(
        "queued.yaml",
        format!(
            "name: queued\ntasks:\n  a: {{command: 'echo a >> {0}', queue: later}}\n  b: {{command: 'echo b >> {0}', queue: later}}\n",
            later.display()
        ),
    );
    let mut a = Scheduler::start(&env, &nats, "a2");
    let stranded = submit(&env, &nats, "queued.yaml");
    // One of its tasks is in the queue (the queue's limit of messages in
    // flight, with no worker serving it, is one).
    assert!(
        wait_for(Duration::from_secs(20), || a
            .said("no live worker serves queue `later`")),
        "{}",
        a.text()
    );
    kill(a.child.id(), "KILL");
    let _ = a.child.wait();
    // Once its lease lapsed, nobody drives it.
    std::thread::sleep(Duration::from_secs(4));
    let cancel = env.run(&["cancel", &stranded, "--nats", &url]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    assert!(
        cancel
            .stdout
            .contains("no process drove it: cancelled it in its record")
            && cancel
                .stdout
                .contains("took its 1 task message out of the queue"),
        "{}",
        cancel.stdout
    );
    let _late = env.worker(&nats, "late", &["--queue", "later"]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lines(&later), 0, "a task of the cancelled run ran");
    let doc = status(&env, &nats, &stranded);
    assert_eq!(doc["state"], "cancelled", "{doc}");
}
