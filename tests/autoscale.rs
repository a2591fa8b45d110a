//! What operators and autoscalers watch: a worker's Prometheus metrics, `dag
//! queues`, and `dag worker --exit-when-idle` for scale to zero.

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

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET http://ADDR/metrics`: the status line and the body.
fn scrape(addr: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The samples of a scrape, as Prometheus' own Python client parses them:
/// `name{label=value,...}` (labels sorted) to value.
fn parsed(body: &str) -> std::collections::BTreeMap<String, f64> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the text: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn a_workers_metrics_add_up_to_what_it_ran_and_show_unserved_queues() {
    if !crate::common::python_has("prometheus_client", "package prometheus_client") {
        return;
    }
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let addr = format!("127.0.0.1:{}", free_port());
    let _w = env.worker(
        &nats,
        "metered",
        &["--workers", "3", "--metrics-addr", &addr],
    );
    env.write(
        "mix.yaml",
        "name: mix\ntasks:\n  a: { command: 'true' }\n  b: { command: 'true' }\n  c: { command: 'sleep 0.2' }\n  d: { type: fn, command: noop }\n  bad: { command: 'exit 3' }\n",
    );
    let (code, doc, stderr) = env.run_distributed(&nats, "mix.yaml", &[]);
    assert_eq!(code, 1, "{doc}\n{stderr}");
    // A run whose task waits in a queue no worker serves.
    env.write(
        "stuck.yaml",
        "name: stuck\ntasks:\n  lone: { command: 'true', queue: nobody }\n",
    );
    let mut stuck = env.spawn_distributed(&nats, "stuck.yaml", &[]);
    let mut m = Default::default();
    let unserved = "dag_queue_unserved_tasks{docker=false,queue=nobody}";
    let seen = crate::common::wait_for(Duration::from_secs(20), || {
        let (status, body) = scrape(&addr);
        assert!(status.contains("200"), "{status}");
        m = parsed(&body);
        m.get(unserved) == Some(&1.0)
    });
    let _ = stuck.kill();
    let _ = stuck.wait();
    assert!(seen, "{m:#?}");
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no {k} in {m:#?}"));
    assert_eq!(
        get("dag_worker_tasks_started_total{queue=default,type=bash}"),
        4.0
    );
    assert_eq!(
        get("dag_worker_tasks_started_total{queue=default,type=fn}"),
        1.0
    );
    assert_eq!(
        get("dag_worker_tasks_finished_total{queue=default,state=success,type=bash}"),
        3.0
    );
    assert_eq!(
        get("dag_worker_tasks_finished_total{queue=default,state=failed,type=bash}"),
        1.0
    );
    assert_eq!(
        get("dag_worker_tasks_finished_total{queue=default,state=success,type=fn}"),
        1.0
    );
    assert_eq!(
        get("dag_worker_task_duration_seconds_count{queue=default,type=bash}"),
        4.0
    );
    assert_eq!(
        get("dag_worker_queue_wait_seconds_count{queue=default,type=bash}"),
        4.0
    );
    // `c` slept 0.2 s: at least one bash attempt is above the 0.1 s bucket.
    assert!(get("dag_worker_task_duration_seconds_bucket{le=0.1,queue=default,type=bash}") <= 3.0);
    assert_eq!(get("dag_worker_running_tasks{}"), 0.0);
    assert_eq!(get("dag_worker_free_slots{}"), 3.0);
    assert_eq!(
        get("dag_queue_live_workers{docker=false,queue=default}"),
        1.0
    );
    assert_eq!(
        get("dag_queue_live_workers{docker=false,queue=nobody}"),
        0.0
    );
    assert_eq!(
        get("dag_queue_unserved_tasks{docker=false,queue=default}"),
        0.0
    );
    // `dag queues` says the same.
    let r = env.run(&["queues", "--nats", &nats.url(), "--output", "json"]);
    r.code(0);
    let q = r.json();
    let nobody = q["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["queue"] == "nobody")
        .unwrap_or_else(|| panic!("{q}"));
    assert_eq!(nobody["workers"], 0, "{q}");
}

#[test]
fn a_metrics_address_in_use_stops_the_worker_with_exit_3() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let r = env.run(&["worker", "--nats", &nats.url(), "--metrics-addr", &addr]);
    r.code(3);
    assert!(
        r.stderr
            .contains(&format!("cannot serve metrics on {addr}")),
        "{}",
        r.stderr
    );
}

#[test]
fn a_workers_metrics_count_its_reconnects_to_nats() {
    if !crate::common::python_has("prometheus_client", "package prometheus_client") {
        return;
    }
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let addr = format!("127.0.0.1:{}", free_port());
    let _w = env.worker(&nats, "rejoiner", &["--metrics-addr", &addr]);
    let reconnects = "dag_nats_reconnects_total{}";
    assert_eq!(parsed(&scrape(&addr).1).get(reconnects), Some(&0.0));
    nats.restart();
    let mut m = Default::default();
    let counted = crate::common::wait_for(Duration::from_secs(30), || {
        m = parsed(&scrape(&addr).1);
        m.get(reconnects).is_some_and(|n| *n >= 1.0)
    });
    assert!(counted, "{m:#?}");
}

#[test]
fn a_metrics_address_that_is_no_address_is_a_usage_error() {
    let env = Env::new();
    for addr in ["garbage", "127.0.0.1", "127.0.0.1:99999", ":9090", ""] {
        let r = env.run(&[
            "worker",
            "--nats",
            "nats://127.0.0.1:1",
            "--metrics-addr",
            addr,
        ]);
        r.code(2);
        assert!(
            r.stderr.contains(&format!("--metrics-addr `{addr}`")),
            "{addr}: {}",
            r.stderr
        );
    }
}

#[test]
fn a_worker_serving_metrics_on_port_0_says_where() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let _w = env.worker(&nats, "anyport", &["--metrics-addr", "127.0.0.1:0"]);
    let log = std::fs::read_to_string(env.path().join("worker-anyport.log")).unwrap();
    let url = log
        .split_once("metrics at http://")
        .and_then(|(_, rest)| rest.split_once("/metrics"))
        .map(|(addr, _)| addr.to_string())
        .unwrap_or_else(|| panic!("no metrics address in {log}"));
    assert!(!url.ends_with(":0"), "{log}");
    let (status, body) = scrape(&url);
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("dag_worker_free_slots"), "{body}");
}

#[test]
fn a_scrape_is_answered_while_connections_that_send_nothing_are_open() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let addr = format!("127.0.0.1:{}", free_port());
    let _w = env.worker(&nats, "loris", &["--metrics-addr", &addr]);
    // Twice as many as the server serves at once: each waits for its request
    // until the server gives up on it.
    let idle: Vec<_> = (0..32)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let (status, body) = scrape(&addr);
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("dag_worker_free_slots"), "{body}");
    drop(idle);
}

#[test]
fn a_distributed_runs_metrics_count_the_attempts_it_hands_out() {
    if !crate::common::python_has("prometheus_client", "package prometheus_client") {
        return;
    }
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    // `hold` runs until the test has scraped; `flaky` fails once, then succeeds.
    env.write(
        "m.yaml",
        "name: m\ntasks:\n  first: { type: fn, command: noop }\n  flaky: { command: 'test -e once || { touch once; exit 1; }', retries: 1, retry_delay: 10ms }\n  hold: { command: 'while [ ! -e go ]; do sleep 0.05; done', depends_on: [first, flaky] }\n",
    );
    let _w = env.worker(&nats, "counted", &["--workers", "2"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = env.spawn_distributed(&nats, "m.yaml", &["--metrics-addr", &addr]);
    // Scraped while `hold` runs: the others ended.
    let mut samples = Default::default();
    let ready = crate::common::wait_for(Duration::from_secs(20), || {
        if std::net::TcpStream::connect(&addr).is_err() {
            return false;
        }
        let (_, body) = scrape(&addr);
        samples = parsed(&body);
        samples
            .get("dag_scheduler_running_tasks{}")
            .is_some_and(|n| *n == 1.0)
            && samples.contains_key(
                "dag_scheduler_tasks_finished_total{queue=default,state=success,type=bash}",
            )
    });
    std::fs::write(env.path().join("go"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        ready,
        "{samples:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
    let get = |k: &str| samples.get(k).copied().unwrap_or_default();
    assert_eq!(
        get("dag_scheduler_tasks_started_total{queue=default,type=fn}"),
        1.0,
        "{samples:?}"
    );
    // flaky twice, hold once.
    assert_eq!(
        get("dag_scheduler_tasks_started_total{queue=default,type=bash}"),
        3.0,
        "{samples:?}"
    );
    assert_eq!(
        get("dag_scheduler_tasks_retried_total{queue=default,type=bash}"),
        1.0,
        "{samples:?}"
    );
    assert_eq!(
        get("dag_scheduler_tasks_finished_total{queue=default,state=failed,type=bash}"),
        1.0,
        "{samples:?}"
    );
    assert_eq!(
        get("dag_scheduler_tasks_finished_total{queue=default,state=success,type=bash}"),
        1.0,
        "{samples:?}"
    );
    assert_eq!(
        get("dag_scheduler_task_duration_seconds_count{queue=default,type=bash}"),
        2.0,
        "{samples:?}"
    );
    // Every attempt was placed on the worker once.
    assert_eq!(
        get("dag_scheduler_queue_wait_seconds_count{queue=default,type=bash}"),
        3.0,
        "{samples:?}"
    );
    // The deployment's queues are read at the scrape too.
    assert!(
        samples.contains_key("dag_queue_live_workers{docker=false,queue=default}"),
        "{samples:?}"
    );
}
