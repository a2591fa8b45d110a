//! What autoscalers need from workers: `dag worker --exit-when-idle` for scale
//! to zero.

use std::time::{Duration, Instant};

use crate::common::nats::NatsServer;
use crate::common::{Env, task};

#[test]
fn a_worker_exits_when_idle_but_not_while_its_tasks_run() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    // Each task runs longer than the idle time: a worker busy with them stays.
    env.write(
        "burst.yaml",
        "name: burst\ntasks:\n  a: { command: 'sleep 3.5' }\n  b: { command: 'sleep 3.5', depends_on: a }\n",
    );
    let mut w = env.worker(
        &nats,
        "idler",
        &["--workers", "2", "--exit-when-idle", "3s"],
    );
    let (code, doc, stderr) = env.run_distributed(&nats, "burst.yaml", &[]);
    assert_eq!(code, 0, "{doc}\n{stderr}");
    assert_eq!(task(&doc, "b")["worker"], "idler", "{doc}");
    let ended = Instant::now();
    // Idle from now: it drains and exits 0 about 3 s later.
    let status = loop {
        if let Some(status) = w.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            ended.elapsed() < Duration::from_secs(15),
            "the idle worker did not exit"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0));
    let waited = ended.elapsed();
    assert!(
        waited >= Duration::from_millis(2500),
        "exited after {waited:?}"
    );
    let log = std::fs::read_to_string(env.path().join("worker-idler.log")).unwrap();
    assert!(
        log.contains("no task for 3s (--exit-when-idle): shutting down"),
        "{log}"
    );
}

#[test]
fn a_worker_refuses_to_run_dag_tasks() {
    let env = Env::new();
    let r = env.run(&[
        "worker",
        "--nats",
        "nats://127.0.0.1:1",
        "--allow-types",
        "bash,dag",
    ]);
    r.code(2);
    assert!(
        r.stderr.contains("dag tasks never run on workers"),
        "{}",
        r.stderr
    );
}
