//! Distributed runs: `dag run --executor distributed` and `dag worker` processes over
//! a real nats-server on a loopback port.

use std::time::Duration;

use futures_util::StreamExt;

use crate::common::nats::NatsServer;
use crate::common::{Env, kill, marker, pids_with, task, task_state, wait_for};

pub fn server() -> Option<NatsServer> {
    NatsServer::start()
}

/// The workers that ran the tasks of a run.
fn workers_of(doc: &serde_json::Value) -> Vec<String> {
    let mut w: Vec<String> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["worker"].as_str().map(str::to_string))
        .collect();
    w.sort();
    w.dedup();
    w
}

#[test]
fn tasks_spread_over_two_workers_with_logs_and_outputs() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let _a = env.worker(&nats, "wa", &["--workers", "2"]);
    let _b = env.worker(&nats, "wb", &["--workers", "2"]);
    let mut yaml = String::from("name: spread\ntasks:\n");
    for i in 0..8 {
        yaml.push_str(&format!(
            "  t{i}: {{ command: 'sleep 0.4; echo out {i}; echo \"n={i}\" >> \"$DAG_OUTPUT\"' }}\n"
        ));
    }
    yaml.push_str(
        "  sum: { type: fn, command: 'echo ${{ tasks.t3.outputs.n }}', depends_on: [t3] }\n",
    );
    env.write("s.yaml", yaml);
    let (code, doc, stderr) = env.run_distributed(&nats, "s.yaml", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(workers_of(&doc), ["wa", "wb"], "{doc}");
    assert_eq!(task(&doc, "sum")["outputs"]["output"], "3");
    let id = doc["run_id"].as_str().unwrap();
    assert_eq!(env.run(&["logs", id, "t5"]).stdout, "out 5\n");
    assert!(stderr.contains("picked up by w"), "{stderr}");
}

#[test]
fn queues_route_tasks_to_the_workers_that_serve_them() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let _plain = env.worker(&nats, "plain", &[]);
    let _gpu = env.worker(&nats, "gpu-box", &["--queue", "gpu"]);
    env.write(
        "q.yaml",
        "name: queues\ntasks:\n  train: { command: 'true', queue: gpu }\n  prep: { command: 'true' }\n  report: { command: 'true', depends_on: [train, prep] }\n",
    );
    let (code, doc, stderr) = env.run_distributed(&nats, "q.yaml", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(task(&doc, "train")["worker"], "gpu-box");
    assert_eq!(task(&doc, "prep")["worker"], "plain");
    assert_eq!(task(&doc, "report")["worker"], "plain");
}

#[test]
fn docker_tasks_go_only_to_docker_workers() {
    let Some(nats) = server() else { return };
    let docker_up = std::process::Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !docker_up {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs a Docker daemon for this test"
        );
        return;
    }
    let image = std::process::Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/test-image.sh"
        ))
        .output()
        .unwrap();
    assert!(
        image.status.success(),
        "{}",
        String::from_utf8_lossy(&image.stderr)
    );
    let env = Env::new();
    let _plain = env.worker(&nats, "no-docker", &["--workers", "4"]);
    // The docker worker has a default image, for tasks that name none (the seed
    // system's executor-level image).
    let _docker = env.worker(
        &nats,
        "with-docker",
        &[
            "--docker",
            "--workers",
            "1",
            "--docker-image",
            "dag-test-busybox:latest",
        ],
    );
    env.write(
        "d.yaml",
        format!(
            "name: {}\ntasks:\n  box: {{ type: docker, image: dag-test-busybox:latest, pull: never, command: echo in a container }}\n  bare: {{ type: docker, pull: never, command: echo in the worker image }}\n  a: {{ command: 'true' }}\n  b: {{ command: 'true' }}\n",
            marker("dk-dist")
        ),
    );
    let (code, doc, stderr) = env.run_distributed(&nats, "d.yaml", &[]);
    assert_eq!(code, 0, "{stderr}");
    let run_id = doc["run_id"].as_str().unwrap();
    for (id, said) in [
        ("box", "in a container\n"),
        ("bare", "in the worker image\n"),
    ] {
        assert_eq!(task(&doc, id)["worker"], "with-docker");
        assert_eq!(env.run(&["logs", run_id, id]).stdout, said);
    }
}

/// Runs the one task `long` on a worker SIGKILLed `after` its task started (the
/// task hangs there), with a rescuer started just before the kill that runs
/// `then` for it once the task is redelivered. The run must succeed; its JSON.
fn run_losing_a_worker(
    nats: &NatsServer,
    env: &Env,
    then: &str,
    after: Duration,
) -> (serde_json::Value, String) {
    let m = marker("lost");
    let mut first = env.worker(nats, "doomed", &["--workers", "1"]);
    // The first delivery hangs (in a grandchild of the task); the second runs `then`.
    let seen = env.path().join("seen");
    env.write(
        "k.yaml",
        format!(
            "name: lost\ntasks:\n  long: {{ command: 'if [ -e {seen} ]; then {then}; else touch {seen}; bash -c \"exec -a {m} sleep 300\"; fi' }}\n",
            seen = seen.display()
        ),
    );
    let run = env.spawn_distributed(nats, "k.yaml", &[]);
    assert!(
        wait_for(Duration::from_secs(15), || !pids_with(&m).is_empty()),
        "the task never started"
    );
    std::thread::sleep(after);
    let _second = env.worker(nats, "rescuer", &["--workers", "1"]);
    kill(first.child.id(), "KILL");
    let _ = first.child.wait();
    // The killed worker's reaper takes its task processes with it.
    let gone = wait_for(Duration::from_secs(10), || pids_with(&m).is_empty());
    for pid in pids_with(&m) {
        kill(pid, "KILL");
    }
    assert!(gone, "the SIGKILLed worker's task process lived on");
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

#[test]
fn a_killed_worker_s_task_completes_on_another_without_spending_a_retry() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let (doc, stderr) = run_losing_a_worker(&nats, &env, "echo finished", Duration::ZERO);
    let t = task(&doc, "long");
    assert_eq!(
        t["attempts"], 1,
        "a lost worker must not spend a retry: {doc}"
    );
    assert_eq!(t["worker"], "rescuer");
    assert_eq!(t["deliveries"], 2);
    assert!(stderr.contains("picked up again by rescuer"), "{stderr}");
}

/// Issue 17, part 6: a task whose worker was SIGKILLed mid-task and which another
/// worker ran after the redelivery reports as its run time the rescuer's run
/// only; the lost worker's time and the wait for the redelivery are queued time.
#[test]
fn a_lost_worker_s_time_is_queued_time_not_run_time() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    // The lost worker runs the task for a while before it dies.
    let ran_before_the_kill = Duration::from_millis(1500);
    let (doc, _) = run_losing_a_worker(&nats, &env, "sleep 2; echo finished", ran_before_the_kill);
    let t = task(&doc, "long");
    assert_eq!(
        (&t["worker"], &t["deliveries"]),
        (&"rescuer".into(), &2.into())
    );
    let ms = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("not a number: {doc}"));
    let (total, queued, ran) = (ms(&t["duration_ms"]), ms(&t["queued_ms"]), ms(&t["run_ms"]));
    // One attempt: its wait and its run make its whole time.
    assert_eq!(queued + ran, total, "{doc}");
    let times = t["attempt_times"].as_array().unwrap();
    assert_eq!(times.len(), 1, "{doc}");
    assert_eq!(
        (ms(&times[0]["queued_ms"]), ms(&times[0]["run_ms"])),
        (queued, ran)
    );
    // The run is the rescuer's: at least its 2s sleep, and not the lost worker's
    // time, which (with the wait for the redelivery) is queued time.
    assert!(ran >= 2000, "{doc}");
    assert!(
        queued >= ran_before_the_kill.as_millis() as u64,
        "the lost worker's time is not queued time: {doc}"
    );
    assert!(ran < total, "{doc}");
    // The table of `dag status` shows the two apart.
    let run_id = doc["run_id"].as_str().unwrap();
    let table = env.run(&["status", run_id]).stdout;
    let header = table
        .lines()
        .find(|l| l.contains("task"))
        .unwrap_or_default();
    assert!(
        header.contains("duration") && header.contains("queued"),
        "{table}"
    );
}

#[test]
fn a_task_longer_than_ack_wait_runs_once() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let _w = env.worker_with_env(&nats, "patient", &[], &[("DAG_NATS_ACK_WAIT", "1s")]);
    let count = env.path().join("count.txt");
    env.write(
        "l.yaml",
        format!(
            "name: long\ntasks:\n  slow: {{ command: 'echo run >> {}; sleep 4' }}\n",
            count.display()
        ),
    );
    let (code, doc, stderr) = env.run_distributed(&nats, "l.yaml", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&count).unwrap(),
        "run\n",
        "the task ran more than once"
    );
    assert_eq!(task(&doc, "slow")["deliveries"], 1);
}

#[test]
fn sigterm_hands_unfinished_tasks_to_other_workers() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let m = marker("term");
    let mut leaving = env.worker(
        &nats,
        "leaving",
        &["--workers", "1", "--shutdown-timeout", "500ms"],
    );
    env.write(
        "t.yaml",
        format!("name: term\ntasks:\n  work: {{ command: 'exec -a {m} sleep 3' }}\n"),
    );
    let run = env.spawn_distributed(&nats, "t.yaml", &[]);
    assert!(
        wait_for(Duration::from_secs(15), || !pids_with(&m).is_empty()),
        "the task never started"
    );
    let _staying = env.worker(&nats, "staying", &["--workers", "1"]);
    kill(leaving.child.id(), "TERM");
    let status = leaving.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a worker on SIGTERM exits 0");
    let out = run.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(task(&doc, "work")["worker"], "staying");
    assert_eq!(task(&doc, "work")["attempts"], 1);
}

#[test]
fn a_restarted_nats_server_loses_nothing() {
    let Some(mut nats) = server() else { return };
    let env = Env::new();
    let _w = env.worker(&nats, "steady", &["--workers", "2"]);
    let mut yaml = String::from("name: restart\ntasks:\n");
    for i in 0..6 {
        let dep = if i > 0 {
            format!(", depends_on: t{}", i - 1)
        } else {
            String::new()
        };
        yaml.push_str(&format!(
            "  t{i}: {{ command: 'sleep 0.3; echo {i}'{dep} }}\n"
        ));
    }
    env.write("r.yaml", yaml);
    let run = env.spawn_distributed(&nats, "r.yaml", &[]);
    std::thread::sleep(Duration::from_millis(900));
    nats.kill();
    std::thread::sleep(Duration::from_millis(1500));
    nats.restart();
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The outage is reported in the progress output.
    assert!(
        stderr.contains("warning: lost the connection to NATS at nats://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("again"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for i in 0..6 {
        assert_eq!(task_state(&doc, &format!("t{i}")), "success", "{doc}");
    }
}

#[test]
fn too_many_deliveries_fail_the_task_with_the_reason() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let m = marker("maxdel");
    let limit = [("DAG_NATS_MAX_DELIVERIES", "1")];
    let mut first = env.worker_with_env(&nats, "first", &["--workers", "1"], &limit);
    env.write(
        "m.yaml",
        format!("name: maxdel\ntasks:\n  crashy: {{ command: 'exec -a {m} sleep 30' }}\n"),
    );
    let run = env.spawn_distributed(&nats, "m.yaml", &[]);
    assert!(wait_for(Duration::from_secs(15), || !pids_with(&m).is_empty()));
    let _second = env.worker_with_env(&nats, "second", &["--workers", "1"], &limit);
    kill(first.child.id(), "KILL");
    let _ = first.child.wait();
    for pid in pids_with(&m) {
        kill(pid, "KILL");
    }
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let err = task(&doc, "crashy")["error"].as_str().unwrap().to_string();
    assert!(err.contains("delivered 2 times without finishing"), "{err}");
}

#[test]
fn dag_workers_shows_a_killed_worker_dead_then_forgets_it() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let mut w = env.worker(
        &nats,
        "mortal",
        &["--workers", "3", "--queue", "q1", "--queue", "q2"],
    );
    let url = nats.url();
    let table = env.run(&["workers", "--nats", &url]);
    assert!(
        table.stdout.contains("mortal")
            && table.stdout.contains("q1,q2")
            && table.stdout.contains("0/3"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("alive"), "{}", table.stdout);
    kill(w.child.id(), "KILL");
    let _ = w.child.wait();
    let state = || {
        let doc = env
            .cmd(&["workers", "--nats", &url, "--output", "json"])
            .envs(crate::common::nats::FAST.iter().copied())
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&doc.stdout).unwrap();
        doc["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == "mortal")
            .map(|x| x["alive"].as_bool().unwrap())
    };
    assert!(
        wait_for(Duration::from_secs(10), || state() == Some(false)),
        "never shown dead"
    );
    assert!(
        wait_for(Duration::from_secs(15), || state().is_none()),
        "never forgotten"
    );
}

#[test]
fn dag_cancel_stops_the_run_and_its_tasks_on_workers() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let m = marker("cancel");
    let _w = env.worker(&nats, "busy", &["--workers", "2"]);
    env.write(
        "c.yaml",
        format!("name: cancel\ntasks:\n  long: {{ command: 'exec -a {m} sleep 60' }}\n  after: {{ command: 'true', depends_on: long }}\n"),
    );
    let run = env.spawn_distributed(&nats, "c.yaml", &[]);
    assert!(wait_for(Duration::from_secs(15), || !pids_with(&m).is_empty()));
    let runs = env.run(&["runs", "--output", "json"]).json();
    let id = runs[0]["run_id"].as_str().unwrap().to_string();
    // A store that does not know the run: the cancel goes over NATS only.
    let other = tempfile::tempdir().unwrap();
    let c = env.run(&[
        "cancel",
        &id,
        "--nats",
        &nats.url(),
        "--state-dir",
        other.path().to_str().unwrap(),
    ]);
    c.code(0);
    assert!(
        c.stdout
            .contains("told the dag process driving it over NATS"),
        "{}",
        c.stdout
    );
    // A run id that no store holds and no process drives is unknown (exit 2),
    // though the workers listen on every run's control subject.
    let unknown = env.run(&["cancel", "NOPE", "--nats", &nats.url()]);
    unknown.code(2);
    assert!(
        unknown
            .stderr
            .contains("no dag process driving it answered"),
        "{}",
        unknown.stderr
    );
    let out = run.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(task_state(&doc, "long"), "cancelled");
    assert_eq!(task_state(&doc, "after"), "cancelled");
    assert!(
        wait_for(Duration::from_secs(5), || pids_with(&m).is_empty()),
        "the task survived the cancel"
    );
}

#[test]
fn distributed_runs_reach_the_sequential_final_states() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let _a = env.worker(&nats, "r1", &["--workers", "3"]);
    let _b = env.worker(&nats, "r2", &["--workers", "3"]);
    // A fixed pseudo-random DAG: failures, retries, every trigger rule.
    let rules = [
        "all_success",
        "all_done",
        "all_failed",
        "one_success",
        "one_failed",
        "none_failed",
    ];
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut yaml = String::from("name: random\ndefaults: { retry_delay: 10ms }\ntasks:\n");
    for i in 0..24u64 {
        let deps: Vec<String> = (i.saturating_sub(4)..i)
            .filter(|_| next() % 3 == 0)
            .map(|j| format!("t{j}"))
            .collect();
        let command = match next() % 5 {
            0 => "exit 1".to_string(),
            1 => format!("test -e flaky{i} || {{ touch flaky{i}; exit 1; }}"),
            _ => "true".to_string(),
        };
        yaml.push_str(&format!(
            "  t{i}: {{ command: '{command}', depends_on: [{}], trigger_rule: {}, retries: 1 }}\n",
            deps.join(", "),
            rules[(next() % 6) as usize]
        ));
    }
    env.write("r.yaml", yaml);
    let seq_dir = env.path().join("seq");
    std::fs::create_dir(&seq_dir).unwrap();
    let seq: crate::common::Run = env
        .cmd(&[
            "run",
            "../r.yaml",
            "--executor",
            "sequential",
            "--output",
            "json",
        ])
        .current_dir(&seq_dir)
        .output()
        .unwrap()
        .into();
    let seq = seq.json();
    let (_, dist, stderr) = env.run_distributed(&nats, "r.yaml", &[]);
    let states = |d: &serde_json::Value| -> Vec<(String, String, u64)> {
        d["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].to_string(),
                    t["state"].to_string(),
                    t["attempts"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(states(&seq), states(&dist), "{stderr}");
}

#[test]
fn authentication_is_required_and_refused_when_missing() {
    let Some(nats) =
        NatsServer::start_with(Some("authorization { user: dagger, password: s3cret }\n"))
    else {
        return;
    };
    let env = Env::new();
    let bad = env.run(&["workers", "--nats", &nats.url()]);
    bad.code(3);
    assert!(
        bad.stderr
            .contains("cannot connect to NATS at nats://127.0.0.1:"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.to_lowercase().contains("authorization"),
        "{}",
        bad.stderr
    );
    let good_url = format!("nats://dagger:s3cret@127.0.0.1:{}", nats.port);
    let good = env.run(&["workers", "--nats", &good_url]);
    good.code(0);
    let wrong = env.run(&[
        "workers",
        "--nats",
        &format!("nats://dagger:nope@127.0.0.1:{}", nats.port),
    ]);
    wrong.code(3);
    assert!(
        !wrong.stderr.contains("nope"),
        "the password leaked into the message: {}",
        wrong.stderr
    );
}

#[test]
fn an_unreachable_server_is_exit_3_with_the_url() {
    let env = Env::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.write("u.yaml", "name: u\ntasks:\n  a: { command: 'true' }\n");
    let url = format!("nats://127.0.0.1:{port}");
    let r = env.run(&["run", "u.yaml", "--executor", "distributed", "--nats", &url]);
    r.code(3);
    assert!(
        r.stderr
            .contains(&format!("cannot connect to NATS at {url}")),
        "{}",
        r.stderr
    );
    let w = env.run(&["worker", "--nats", &url]);
    w.code(3);
}

#[test]
fn a_queue_without_a_live_worker_is_warned_about() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let _w = env.worker(&nats, "elsewhere", &[]);
    env.write(
        "w.yaml",
        "name: lonely\ntasks:\n  gpu: { command: 'true', queue: nowhere }\n",
    );
    let run = env.spawn_distributed(&nats, "w.yaml", &[]);
    // Dead-after is 3 s with the test timings; give the warning time to appear.
    std::thread::sleep(Duration::from_secs(6));
    kill(run.id(), "INT");
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: no live worker serves queue `nowhere`"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(130));
}

#[test]
fn tls_with_a_private_ca() {
    if std::process::Command::new("nats-server")
        .arg("--version")
        .output()
        .is_err()
        && std::env::var_os("CI").is_none()
    {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian package openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=dag test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    let conf = format!(
        "tls {{ cert_file: \"{}\", key_file: \"{}\" }}\n",
        dir.join("server.pem").display(),
        dir.join("server.key").display()
    );
    let Some(nats) = NatsServer::start_with(Some(&conf)) else {
        return;
    };
    let env = Env::new();
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let ca = dir.join("ca.pem");
    let trusted = env.run(&["workers", "--nats", &url, "--nats-ca", ca.to_str().unwrap()]);
    trusted.code(0);
    let untrusted = env.run(&["workers", "--nats", &url]);
    untrusted.code(3);
    assert!(
        untrusted.stderr.contains("certificate"),
        "{}",
        untrusted.stderr
    );
}

#[test]
fn a_stream_with_another_configuration_is_reported_not_changed() {
    let Some(nats) = server() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "DAG_TASKS".into(),
            subjects: vec!["dag.tasks.>".into()],
            retention: async_nats::jetstream::stream::RetentionPolicy::Limits,
            ..Default::default()
        })
        .await
        .unwrap();
    });
    let env = Env::new();
    let r = env.run(&["workers", "--nats", &nats.url()]);
    r.code(3);
    assert!(r.stderr.contains("stream DAG_TASKS exists with another configuration: retention Limits (dag needs WorkQueue)"), "{}", r.stderr);
}

#[test]
fn a_worker_runs_only_the_task_types_it_allows() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let _w = env.worker(&nats, "strict", &["--allow-types", "bash"]);
    env.write(
        "a.yaml",
        "name: allow\ntasks:\n  shell: { command: 'true' }\n  func: { type: fn, command: noop }\n",
    );
    let (code, doc, stderr) = env.run_distributed(&nats, "a.yaml", &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(task_state(&doc, "shell"), "success");
    let err = task(&doc, "func")["error"].as_str().unwrap().to_string();
    assert!(
        err.contains(
            "worker strict refused the task: this worker does not run fn tasks (--allow-types bash)"
        ),
        "{err}"
    );
    let bad = env.run(&["worker", "--nats", &nats.url(), "--allow-types", "bsh"]);
    bad.code(2);
}

/// deploy/nats-server.conf without its `jetstream` block: the test server gets its
/// store directory on the command line.
fn least_privilege_config() -> String {
    let conf = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/nats-server.conf"
    ))
    .unwrap();
    let start = conf.find("jetstream {").unwrap();
    let end = start + conf[start..].find('}').unwrap() + 1;
    format!("{}{}", &conf[..start], &conf[end..])
}

#[test]
fn least_privilege_identities_from_the_example_config() {
    let Some(nats) = NatsServer::start_with(Some(&least_privilege_config())) else {
        return;
    };
    let env = Env::new();
    let submitter = format!(
        "nats://submitter:change-me-submitter@127.0.0.1:{}",
        nats.port
    );
    let worker = format!("nats://worker:change-me-worker@127.0.0.1:{}", nats.port);
    // Each identity receives its replies under its own inbox prefix.
    let as_submitter = ("DAG_NATS_INBOX_PREFIX", "_INBOX_submitter");
    let as_worker = ("DAG_NATS_INBOX_PREFIX", "_INBOX_worker");
    // The submitter creates the layout and, with the first run using a queue, the
    // queue's consumer; then a worker with its own identity serves.
    let layout: crate::common::Run = env
        .cmd(&["workers", "--nats", &submitter])
        .env(as_submitter.0, as_submitter.1)
        .output()
        .unwrap()
        .into();
    layout.code(0);
    // `big` publishes an output over the server's max payload: its result, the
    // task message of `c` and the run store's record of it go through the object
    // stores, with these identities' permissions.
    env.write(
        "p.yaml",
        "name: perms\ntasks:\n  a: { command: 'echo hi; echo k=v >> \"$DAG_OUTPUT\"' }\n  b: { type: fn, command: 'echo ${{ tasks.a.outputs.k }}', depends_on: a }\n  big: { command: 'printf \"v=%s\\n\" \"$(head -c 1048500 /dev/zero | tr \"\\0\" x)\" >> \"$DAG_OUTPUT\"' }\n  c: { command: 'echo \"n=${{ tasks.a.outputs.k }}\" >> \"$DAG_OUTPUT\"', depends_on: [a, big] }\n",
    );
    // The worker identity may not create the queue's consumer: started before any
    // run created it, the worker says so and waits; the run creates it.
    let worker_log = env.path().join("worker.log");
    let mut child = env
        .cmd(&["worker", "--nats", &worker, "--name", "restricted"])
        .env(as_worker.0, as_worker.1)
        .envs(crate::common::nats::FAST.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&worker_log).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&worker_log).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(15), || log().contains(
            "cannot create consumer dag-worker-default of queue `default`"
        ) && log()
            .contains("waiting for it")),
        "{}",
        log()
    );
    let run = env
        .cmd(&[
            "run",
            "p.yaml",
            "--executor",
            "distributed",
            "--nats",
            &submitter,
            "--output",
            "json",
        ])
        .env(as_submitter.0, as_submitter.1)
        .envs(crate::common::nats::FAST.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run: crate::common::Run = run.wait_with_output().unwrap().into();
    run.code(0);
    assert!(
        log().contains("the consumer of queue `default` exists now: serving it"),
        "{}",
        log()
    );
    let doc = run.json();
    assert_eq!(task(&doc, "b")["worker"], "restricted");
    assert_eq!(task(&doc, "b")["outputs"]["output"], "v");
    assert_eq!(task(&doc, "c")["outputs"]["n"], "v");
    assert_eq!(
        task(&doc, "big")["outputs"]["v"].as_str().map(str::len),
        Some(1_048_500)
    );
    let _ = child.kill();
    let _ = child.wait();
    // dag names a refused permission instead of only timing out.
    let denied: crate::common::Run = env
        .cmd(&["runs", "--state", "nats", "--nats", &worker])
        .env(as_worker.0, as_worker.1)
        .output()
        .unwrap()
        .into();
    denied.code(3);
    assert!(
        denied
            .stderr
            .contains("help: the NATS server refused this user: Permissions Violation"),
        "{}",
        denied.stderr
    );
    // What each identity may not do, tried with a plain NATS client.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let addr = format!("nats://127.0.0.1:{}", nats.port);
        let login = |user: &str, pass: &str| {
            async_nats::ConnectOptions::with_user_and_password(user.into(), pass.into())
        };
        let as_worker = login("worker", "change-me-worker")
            .custom_inbox_prefix("_INBOX_worker")
            .connect(&addr)
            .await
            .unwrap();
        // A worker listening to every client's replies, as it could with `_INBOX.>`.
        let mut sniffed = futures_util::stream::select(
            as_worker.subscribe("_INBOX.>").await.unwrap(),
            as_worker.subscribe("_INBOX_submitter.>").await.unwrap(),
        );
        let js = async_nats::jetstream::new(as_worker);
        let published = tokio::time::timeout(Duration::from_secs(8), async {
            js.publish("dag.tasks.default", "{}".into())
                .await?
                .await
                .map_err(|e| async_nats::Error::from(e.to_string()))
        })
        .await;
        assert!(
            !matches!(published, Ok(Ok(_))),
            "the worker identity published a task"
        );
        // Nor rewrite a queue's consumer (create is update): with `headers_only`,
        // every task of the queue would be undecodable (attack on issue 13, 1).
        let stream = js.get_stream("DAG_TASKS").await.unwrap();
        let rewritten = tokio::time::timeout(Duration::from_secs(8), async {
            stream
                .create_consumer(async_nats::jetstream::consumer::pull::Config {
                    durable_name: Some("dag-worker-default".into()),
                    filter_subject: "dag.tasks.default".into(),
                    ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(2),
                    max_deliver: -1,
                    max_ack_pending: 1000,
                    headers_only: true,
                    ..Default::default()
                })
                .await
                .map_err(|e| async_nats::Error::from(e.to_string()))
        })
        .await;
        assert!(
            !matches!(rewritten, Ok(Ok(_))),
            "the worker identity rewrote a queue consumer"
        );
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer("dag-worker-default").await.unwrap();
        assert!(!consumer.info().await.unwrap().config.headers_only);
        let records =
            tokio::time::timeout(Duration::from_secs(8), js.get_key_value("dag_runs")).await;
        assert!(
            !matches!(records, Ok(Ok(_))),
            "the worker identity read the run records"
        );

        let as_submitter = login("submitter", "change-me-submitter")
            .custom_inbox_prefix("_INBOX_submitter")
            .connect(&addr)
            .await
            .unwrap();
        let js = async_nats::jetstream::new(as_submitter);
        // The submitter reads the run records: the worker hears none of it.
        let kv = js.get_key_value("dag_runs").await.unwrap();
        let keys: Vec<String> = kv
            .keys()
            .await
            .unwrap()
            .filter_map(|k| async move { k.ok() })
            .collect()
            .await;
        assert!(!keys.is_empty());
        let first = kv.get(&keys[0]).await.unwrap();
        assert!(first.is_some());
        let heard = tokio::time::timeout(Duration::from_secs(1), sniffed.next()).await;
        assert!(
            heard.is_err(),
            "the worker identity read a reply to the submitter: {heard:?}"
        );
        js.publish("dag.tasks.default", "{}".into())
            .await
            .unwrap()
            .await
            .unwrap();
        let stream = js.get_stream("DAG_TASKS").await.unwrap();
        let consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer("dag-worker-default").await.unwrap();
        let taken = tokio::time::timeout(Duration::from_secs(8), async {
            let mut batch = consumer
                .fetch()
                .max_messages(1)
                .expires(Duration::from_secs(2))
                .messages()
                .await?;
            Ok::<_, async_nats::Error>(batch.next().await.is_some_and(|m| m.is_ok()))
        })
        .await;
        assert!(
            !matches!(taken, Ok(Ok(true))),
            "the submitter identity took a task"
        );
    });
}

#[test]
fn logs_follow_a_distributed_run_from_the_nats_store() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let _worker = env.worker(&nats, "talker", &["--workers", "2"]);
    env.write(
        "f.yaml",
        "name: follow\ntasks:\n  talk: { command: 'for i in 1 2 3 4 5; do echo line $i; sleep 0.3; done' }\n  more: { command: 'echo after', depends_on: talk }\n",
    );
    let url = nats.url();
    let child = env.spawn_distributed(&nats, "f.yaml", &["--state", "nats"]);
    let mut id = String::new();
    assert!(wait_for(Duration::from_secs(10), || {
        let runs = env.run(&[
            "runs", "--state", "nats", "--nats", &url, "--output", "json",
        ]);
        if runs.code != 0 {
            return false;
        }
        match runs.json()[0]["run_id"].as_str() {
            Some(r) => {
                id = r.to_string();
                true
            }
            None => false,
        }
    }));
    // Workers publish output as it comes; follow reads only what is new each time.
    let follow = env.run(&["logs", &id, "--follow", "--state", "nats", "--nats", &url]);
    follow.code(0);
    assert_eq!(
        follow.stdout,
        "talk | line 1\ntalk | line 2\ntalk | line 3\ntalk | line 4\ntalk | line 5\nmore | after\n"
    );
    assert!(child.wait_with_output().unwrap().status.success());
}

/// A signed NATS JWT (`ed25519-nkey`) with `claims`, issued by `issuer`.
fn nats_jwt(issuer: &nkeys::KeyPair, claims: serde_json::Value) -> String {
    let b64 = |bytes: &[u8]| data_encoding::BASE64URL_NOPAD.encode(bytes);
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = b64(claims.to_string().as_bytes());
    let signed = format!("{header}.{body}");
    let signature = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", b64(&signature))
}

/// Claims common to every JWT: who issued it, about whom, and the `nats` part.
fn claims(
    issuer: &nkeys::KeyPair,
    subject: &str,
    name: &str,
    nats: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "jti": marker("jti"),
        "iat": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        "iss": issuer.public_key(),
        "sub": subject,
        "name": name,
        "nats": nats,
    })
}

#[test]
fn a_creds_file_authenticates_in_operator_mode() {
    // Decentralized auth, as `nsc` sets it up: an operator signs an account (with
    // JetStream), the account signs a user, and the user's JWT and seed go in a
    // .creds file.
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let unlimited = serde_json::json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1,
        "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
    });
    let operator_jwt = nats_jwt(
        &operator,
        claims(
            &operator,
            &operator.public_key(),
            "dag-op",
            serde_json::json!({"type": "operator", "version": 2}),
        ),
    );
    let account_jwt = nats_jwt(
        &operator,
        claims(
            &operator,
            &account.public_key(),
            "dag",
            serde_json::json!({"limits": unlimited, "type": "account", "version": 2}),
        ),
    );
    let user_jwt = nats_jwt(
        &account,
        claims(
            &account,
            &user.public_key(),
            "runner",
            serde_json::json!({"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2}),
        ),
    );
    // JetStream needs a system account besides.
    let system = nkeys::KeyPair::new_account();
    let system_jwt = nats_jwt(
        &operator,
        claims(
            &operator,
            &system.public_key(),
            "SYS",
            serde_json::json!({"type": "account", "version": 2}),
        ),
    );
    let config = format!(
        "operator: {operator_jwt}\nsystem_account: {sys}\nresolver: MEMORY\nresolver_preload: {{\n  {sys}: {system_jwt}\n  {}: {account_jwt}\n}}\n",
        account.public_key(),
        sys = system.public_key(),
    );
    let Some(nats) = NatsServer::start_with(Some(&config)) else {
        return;
    };
    let env = Env::new();
    let creds = env.write(
        "runner.creds",
        format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().unwrap()
        ),
    );
    let creds = creds.to_str().unwrap();
    let url = nats.url();
    // Without the credentials the server refuses the connection.
    let refused = env.run(&["workers", "--nats", &url]);
    refused.code(3);
    assert!(
        refused.stderr.contains("cannot connect to NATS"),
        "{}",
        refused.stderr
    );
    // The worker takes the file from $NATS_CREDS, the run from --nats-creds.
    let _worker = crate::common::nats::Worker {
        child: env
            .cmd(&["worker", "--nats", &url, "--name", "jwt"])
            .env("NATS_CREDS", creds)
            .envs(crate::common::nats::FAST.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    };
    env.write(
        "c.yaml",
        "name: creds\ntasks:\n  a: { command: 'echo signed in' }\n",
    );
    let (code, doc, stderr) = env.run_distributed(&nats, "c.yaml", &["--nats-creds", creds]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(task(&doc, "a")["worker"], "jwt");
    let logs = env.run(&["logs", doc["run_id"].as_str().unwrap(), "a"]);
    assert_eq!(logs.stdout, "signed in\n");
}

/// The messages a [`wiretap`] saw: subject and payload.
type Tapped = std::thread::JoinHandle<Vec<(String, Vec<u8>)>>;

/// Every message published on the server while it listens (core NATS `>`: task
/// messages, results, log stream, KV updates), until `stop` is sent.
fn wiretap(url: String) -> (std::sync::mpsc::Sender<()>, Tapped) {
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let client = async_nats::connect(url).await.unwrap();
            let mut sub = client.subscribe(">").await.unwrap();
            client.flush().await.unwrap();
            ready_tx.send(()).unwrap();
            let mut seen = Vec::new();
            loop {
                match tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
                    Ok(Some(m)) => seen.push((m.subject.to_string(), m.payload.to_vec())),
                    Ok(None) => break,
                    Err(_) if stop_rx.try_recv().is_ok() => break,
                    Err(_) => {}
                }
            }
            seen
        })
    });
    ready_rx.recv().unwrap();
    (stop_tx, handle)
}

#[test]
fn issue_13_secrets_a_worker_knows_are_masked_on_the_wire_and_in_the_nats_store() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let token = "tk-0123456789abcdefghij-XYZ";
    // Only the worker has the values: the scheduler cannot mask them for it.
    let _w = env.worker_with_env(
        &nats,
        "keeper",
        &[],
        &[("KEY", crate::run::PEM), ("TOKEN", token)],
    );
    env.write(
        "p.yaml",
        r#"
name: pem-dist
secret_env: [KEY, TOKEN]
tasks:
  show:
    command: |
      printf '%s\n' "$KEY"
      echo "tok=$TOKEN" >> "$DAG_OUTPUT"
  use:
    type: fn
    command: 'echo got ${{ tasks.show.outputs.tok }}'
    depends_on: show
"#,
    );
    let (stop, tap) = wiretap(nats.url());
    let (code, doc, stderr) = env.run_distributed(&nats, "p.yaml", &["--state", "nats"]);
    stop.send(()).unwrap();
    let seen = tap.join().unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(task(&doc, "show")["outputs"]["tok"], "***", "{doc}");
    assert_eq!(task(&doc, "use")["outputs"]["output"], "got ***", "{doc}");
    let id = doc["run_id"].as_str().unwrap();
    let url = nats.url();
    let logs = env.run(&["logs", id, "--state", "nats", "--nats", &url]);
    logs.code(0);
    assert!(logs.stdout.contains("***\n***\n"), "{}", logs.stdout);
    let status = env.run(&[
        "status", id, "--state", "nats", "--nats", &url, "--output", "json",
    ]);
    let subjects: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
    assert!(
        subjects.iter().any(|s| s.starts_with("dag.logs."))
            && subjects.iter().any(|s| s.starts_with("$KV.")),
        "the tap saw the log stream and the KV store: {subjects:?}"
    );
    let mut surfaces: Vec<(String, String)> = seen
        .into_iter()
        .map(|(s, p)| (s, String::from_utf8_lossy(&p).into_owned()))
        .collect();
    surfaces.push(("dag logs".into(), logs.stdout));
    surfaces.push(("dag status".into(), status.stdout));
    surfaces.push(("run document".into(), doc.to_string()));
    for (name, text) in &surfaces {
        for line in crate::run::pem_lines() {
            assert!(!text.contains(line), "a line of the key went out on {name}");
        }
        assert!(!text.contains(token), "the token went out on {name}");
    }
}

/// Issue 13 attack pass, findings 5 and 10, distributed: a worker masks the log
/// stream and the outputs of a task with the env it ran with (an upstream output
/// in a secret variable) and with the params that are part of a secret; the
/// scheduler shows such params as `***`.
#[test]
fn issue_13_a_worker_masks_resolved_env_secrets_and_secret_params() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let _w = env.worker(&nats, "masker", &[]);
    env.write(
        "s.yaml",
        r#"
name: secrets-dist
params: { pw: default }
env: { AUTH: "Bearer ${{ params.pw }}" }
secret_env: [AUTH]
tasks:
  plain:
    command: echo "val=pass-2-word" >> "$DAG_OUTPUT"
  copy:
    depends_on: plain
    env: { MYSEC: "${{ tasks.plain.outputs.val }}" }
    secret_env: [MYSEC]
    command: |
      echo "copy=$MYSEC" >> "$DAG_OUTPUT"
      echo "in log: $MYSEC and ${{ params.pw }}"
"#,
    );
    let (stop, tap) = wiretap(nats.url());
    let (code, doc, stderr) = env.run_distributed(
        &nats,
        "s.yaml",
        &["--state", "nats", "--param", "pw=PWSECRET55"],
    );
    stop.send(()).unwrap();
    let seen = tap.join().unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(task(&doc, "copy")["outputs"]["copy"], "***", "{doc}");
    assert_eq!(doc["params"]["pw"], "***", "{doc}");
    let id = doc["run_id"].as_str().unwrap();
    let url = nats.url();
    let logs = env.run(&["logs", id, "copy", "--state", "nats", "--nats", &url]);
    logs.code(0);
    assert!(
        logs.stdout.contains("in log: *** and ***"),
        "{}",
        logs.stdout
    );
    let status = env.run(&[
        "status", id, "--state", "nats", "--nats", &url, "--output", "json",
    ]);
    // The task message carries params and env (documented); the log stream and
    // what is shown do not.
    let mut surfaces: Vec<(String, String)> = seen
        .into_iter()
        .filter(|(s, _)| s.starts_with("dag.logs."))
        .map(|(s, p)| (s, String::from_utf8_lossy(&p).into_owned()))
        .collect();
    assert!(!surfaces.is_empty(), "the tap saw the log stream");
    surfaces.push(("dag logs".into(), logs.stdout));
    surfaces.push(("dag status".into(), status.stdout));
    surfaces.push(("stderr".into(), stderr));
    for (name, text) in &surfaces {
        assert!(!text.contains("PWSECRET55"), "the param went out on {name}");
        if name != "stderr" {
            assert!(!text.contains("in log: pass-2-word"), "{name}: {text}");
        }
    }
}

/// Issue 13, item 6, distributed: a FIFO at `$DAG_OUTPUT` wedged the worker (its
/// heartbeats and acks stopped, the message was redelivered and wedged the next
/// worker). The task fails with the reason, and the worker, with one slot, serves
/// the next run at once.
#[test]
fn a_fifo_at_dag_output_leaves_the_worker_healthy() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let mut worker = env.worker(&nats, "w-fifo", &["--workers", "1"]);
    env.write("h.yaml", crate::run::HOSTILE_OUTPUTS);
    let child = env.spawn_distributed(&nats, "h.yaml", &[]);
    let run = crate::common::finish_within(child, Duration::from_secs(60), "dag run");
    run.code(1);
    let doc = run.json();
    for (id, why) in [("fifo", "is a FIFO"), ("zero", "is a symbolic link")] {
        assert_eq!(task_state(&doc, id), "failed", "{doc}");
        assert_eq!(task(&doc, id)["attempts"], 1, "{doc}");
        assert!(
            task(&doc, id)["error"].as_str().unwrap().contains(why),
            "{doc}"
        );
    }
    assert_eq!(task_state(&doc, "fine"), "success");
    env.write(
        "next.yaml",
        "name: next\ntasks:\n  a: {command: 'echo v=2 >> \"$DAG_OUTPUT\"'}\n",
    );
    let child = env.spawn_distributed(&nats, "next.yaml", &[]);
    let run = crate::common::finish_within(child, Duration::from_secs(30), "the next run");
    run.code(0);
    assert_eq!(task(&run.json(), "a")["outputs"]["v"], "2");
    assert!(
        worker.child.try_wait().unwrap().is_none(),
        "the worker died"
    );
}

/// `--nats-creds` and `--nats-ca` naming `/dev/zero` were read without bound by the
/// NATS client; they are refused, by name, before connecting.
#[test]
fn a_device_as_the_creds_or_ca_file_is_refused_not_read() {
    let env = Env::new();
    for flag in ["--nats-creds", "--nats-ca"] {
        let child = env.spawn(&["workers", "--nats", "nats://127.0.0.1:1", flag, "/dev/zero"]);
        let run = crate::common::finish_within(child, Duration::from_secs(20), flag);
        assert_ne!(run.code, 0);
        assert!(
            run.stderr
                .contains("/dev/zero: is a character device, not a regular file"),
            "{flag}: {}",
            run.stderr
        );
    }
}

/// Issue 13, item 15: a SIGKILLed worker left its log directory (and its tasks'
/// `$DAG_OUTPUT` directory) in the temp directory; its reaper removes them. The log
/// directory is private (0700).
#[test]
fn a_sigkilled_worker_leaves_no_temp_dirs_and_its_log_dir_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let Some(nats) = server() else { return };
    let env = Env::new();
    let tmp = env.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let tmp_var = tmp.to_str().unwrap().to_string();
    let mut worker = env.worker_with_env(&nats, "w-tmp", &[], &[("TMPDIR", &tmp_var)]);
    let logs = crate::history::entries_with(&tmp, "dag-worker-");
    assert_eq!(logs.len(), 1, "{logs:?}");
    let mode = std::fs::metadata(tmp.join(&logs[0]))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    let m = marker("wtmp");
    env.write(
        "t.yaml",
        format!("name: t\ntasks:\n  w: {{ command: 'echo a=1 >> \"$DAG_OUTPUT\"; exec -a {m} sleep 300' }}\n"),
    );
    let mut run = env.spawn_distributed(&nats, "t.yaml", &[]);
    assert!(wait_for(Duration::from_secs(20), || !pids_with(&m).is_empty()));
    assert_eq!(crate::history::entries_with(&tmp, "dag-outputs-").len(), 1);
    kill(worker.child.id(), "KILL");
    let _ = worker.child.wait();
    let gone = wait_for(Duration::from_secs(10), || {
        crate::history::entries_with(&tmp, "dag-").is_empty()
    });
    let _ = run.kill();
    let _ = run.wait();
    for pid in pids_with(&m) {
        kill(pid, "KILL");
    }
    assert!(
        gone,
        "left behind: {:?}",
        crate::history::entries_with(&tmp, "")
    );
}

/// Issue 13, item 12, on a worker: a full disk under the worker's task log failed
/// the task (and spent its retries). The worker hands the task back instead, says
/// why, and stays up; a healthy worker then runs it once, to success.
#[test]
fn a_full_disk_under_a_worker_s_task_log_hands_the_task_back() {
    if !crate::common::can_unshare(&["--mount"]) {
        return;
    }
    let Some(nats) = server() else { return };
    let env = Env::new();
    let tmp = env.path().join("fulltmp");
    std::fs::create_dir(&tmp).unwrap();
    let url = nats.url();
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs {tmp} || exit 99\nexec env TMPDIR={tmp} {bin} worker --name w-full --workers 1 --nats {url}",
        tmp = tmp.display(),
        bin = crate::common::dag_bin().display()
    );
    let worker_log = env.path().join("w-full.log");
    let mut full = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .current_dir(env.path())
        .envs(crate::common::nats::FAST.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&worker_log).unwrap())
        .spawn()
        .unwrap();
    let registered = wait_for(Duration::from_secs(15), || {
        env.run(&["workers", "--nats", &url])
            .stdout
            .contains("w-full")
    });
    assert!(
        registered,
        "{}",
        std::fs::read_to_string(&worker_log).unwrap_or_default()
    );
    env.write(
        "loud.yaml",
        "name: loud\ntasks:\n  loud: { command: \"head -c 4000000 /dev/zero | tr '\\\\0' x\", retries: 0 }\n",
    );
    let run = env.spawn_distributed(&nats, "loud.yaml", &[]);
    let handed_back = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&worker_log)
            .unwrap_or_default()
            .contains("No space left on device")
    });
    let said = std::fs::read_to_string(&worker_log).unwrap_or_default();
    let still_up = full.try_wait().unwrap().is_none()
        && env
            .run(&["workers", "--nats", &url])
            .stdout
            .contains("w-full");
    // Stopped now, so that the task's next delivery (an AckWait later) goes to the
    // healthy worker, which runs it.
    kill(full.id(), "TERM");
    let _ = full.wait();
    let _healthy = env.worker(&nats, "w-ok", &[]);
    let run = crate::common::finish_within(run, Duration::from_secs(60), "dag run");
    assert!(handed_back, "{said}");
    assert!(said.contains("cannot write the task log"), "{said}");
    assert!(said.contains("handing task loud of run"), "{said}");
    assert!(still_up, "the worker with the full disk died: {said}");
    run.code(0);
    let doc = run.json();
    assert_eq!(task_state(&doc, "loud"), "success", "{doc}");
    assert_eq!(task(&doc, "loud")["worker"], "w-ok", "{doc}");
}

/// Issue 17, part 5: workers take ready tasks by priority across the queue. With
/// one 1-slot worker, a priority-100 task that becomes ready while eight
/// lower-priority tasks are ready runs after at most two of them (the one
/// message the scheduler lets wait in the queue, and one the worker may take
/// as the urgent task is being readied), not after all eight. The first task
/// to reach the queue may be any of those ready at the start.
#[test]
fn a_high_priority_task_overtakes_queued_lower_priority_ones() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let _w = env.worker(&nats, "solo", &["--workers", "1"]);
    let order = env.path().join("order");
    let o = order.display();
    let mut yaml =
        format!("name: prio\ntasks:\n  first: {{command: 'echo first >> {o}; sleep 1'}}\n");
    for i in 1..=8 {
        yaml.push_str(&format!(
            "  l{i}: {{command: 'echo l{i} >> {o}; sleep 0.3'}}\n"
        ));
    }
    yaml.push_str(&format!(
        "  urgent: {{command: 'echo urgent >> {o}', priority: 100, depends_on: [first]}}\n"
    ));
    env.write("prio.yaml", yaml);
    let (code, _, stderr) = env.run_distributed(&nats, "prio.yaml", &[]);
    assert_eq!(code, 0, "{stderr}");
    let ran = std::fs::read_to_string(&order).unwrap();
    let ran: Vec<&str> = ran.lines().collect();
    assert_eq!(ran.len(), 10, "{ran:?}");
    let first = ran.iter().position(|t| *t == "first").unwrap();
    let urgent = ran.iter().position(|t| *t == "urgent").unwrap();
    assert!(first <= 1, "the first task waited: {ran:?}");
    assert!(
        urgent - first <= 3,
        "urgent waited behind lower-priority tasks: {ran:?}"
    );
}

/// A server away for longer than the workers' dead-after time: a heartbeat write
/// the worker gave up on lands when the server is back, and the worker takes it
/// for its own (it used to take it for another worker's and shut down).
#[test]
fn a_worker_outlives_a_server_outage_longer_than_its_dead_after_time() {
    let Some(mut nats) = server() else { return };
    let env = Env::new();
    let mut w = env.worker(&nats, "steady", &["--workers", "1"]);
    std::thread::sleep(Duration::from_secs(2));
    nats.kill();
    // FAST: heartbeats every second, dead after 3.
    std::thread::sleep(Duration::from_secs(6));
    nats.restart();
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        w.child.try_wait().unwrap().is_none(),
        "the worker exited: {}",
        std::fs::read_to_string(env.path().join("worker-steady.log")).unwrap_or_default()
    );
    env.write("one.yaml", "name: one\ntasks:\n  a: {command: 'echo a'}\n");
    let (code, doc, stderr) = env.run_distributed(&nats, "one.yaml", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(task(&doc, "a")["worker"], "steady");
}

/// Every result of a run that ended is acknowledged, the last one too (saved
/// with the run's end): none is left in the results stream.
#[test]
fn a_run_that_ended_leaves_none_of_its_results_in_the_stream() {
    let Some(nats) = server() else { return };
    let env = Env::new();
    let _w = env.worker(&nats, "w", &[]);
    env.write(
        "two.yaml",
        "name: two\ntasks:\n  a: {command: 'true'}\n  b: {command: 'true', depends_on: [a]}\n",
    );
    let (code, _, stderr) = env.run_distributed(&nats, "two.yaml", &[]);
    assert_eq!(code, 0, "{stderr}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let left = || {
        rt.block_on(async {
            let client = async_nats::connect(nats.url()).await.unwrap();
            let js = async_nats::jetstream::new(client);
            let mut stream = js.get_stream("DAG_RESULTS").await.unwrap();
            stream.info().await.unwrap().state.messages
        })
    };
    assert!(
        wait_for(Duration::from_secs(5), || left() == 0),
        "{} results left in DAG_RESULTS",
        left()
    );
}
