//! `--replicas`: dag's streams, consumers and buckets on a 3-node JetStream cluster
//! on loopback, a node SIGKILLed mid-run; and what a replica count the server
//! cannot give, or one that differs from an existing stream's, does.

use std::time::{Duration, Instant};

use crate::common::nats::{FAST, Nats, NatsCluster, NatsServer};
use crate::common::{Env, task, task_state, wait_for};

/// The streams behind everything dag creates at startup (KV buckets are streams
/// `KV_<bucket>`, object stores `OBJ_<bucket>`).
const STREAMS: &[&str] = &[
    "DAG_TASKS",
    "DAG_RESULTS",
    "DAG_LOGS",
    "KV_dag_workers",
    "KV_dag_runs",
    "OBJ_dag_payloads",
];

/// What the cluster says of one stream or consumer: its name, the replica count
/// of its configuration (0 for a consumer that inherits its stream's), its
/// leader, and its peers other than the leader with whether each is current.
#[derive(Debug)]
struct Placement {
    name: String,
    configured: usize,
    leader: Option<String>,
    peers: Vec<(String, bool)>,
}

impl Placement {
    /// Copies the cluster keeps: the leader and its peers.
    fn copies(&self) -> usize {
        usize::from(self.leader.is_some()) + self.peers.len()
    }
}

fn placement(
    name: String,
    configured: usize,
    cluster: Option<async_nats::jetstream::stream::ClusterInfo>,
) -> Placement {
    let cluster = cluster.unwrap_or_default();
    Placement {
        name,
        configured,
        leader: cluster.leader,
        peers: cluster
            .replicas
            .into_iter()
            .map(|p| (p.name, p.current && !p.offline))
            .collect(),
    }
}

/// The placement of every stream in [`STREAMS`] and of every consumer of
/// `DAG_TASKS` and `DAG_RESULTS`, as the server at `url` reports them.
fn placements(url: &str) -> Result<Vec<Placement>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let urls: Vec<async_nats::ServerAddr> = url.split(',').map(|u| u.parse().unwrap()).collect();
    rt.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(urls)
            .await
            .map_err(|e| e.to_string())?;
        let js = async_nats::jetstream::new(client);
        let mut out = Vec::new();
        for name in STREAMS {
            let mut stream = js
                .get_stream(*name)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            let info = stream.info().await.map_err(|e| format!("{name}: {e}"))?;
            out.push(placement(
                name.to_string(),
                info.config.num_replicas,
                info.cluster.clone(),
            ));
            if ["DAG_TASKS", "DAG_RESULTS"].contains(name) {
                let mut consumers = stream.consumers();
                while let Some(c) = futures_util::StreamExt::next(&mut consumers).await {
                    let c = c.map_err(|e| format!("consumers of {name}: {e}"))?;
                    out.push(placement(
                        format!("{name} > {}", c.name),
                        c.config.num_replicas,
                        c.cluster,
                    ));
                }
            }
        }
        Ok(out)
    })
}

/// Waits for `child` to end, up to `limit`; kills it and fails past that.
fn wait_output(child: std::process::Child, limit: Duration) -> std::process::Output {
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            crate::common::kill(pid, "KILL");
            panic!("the run did not end within {limit:?}");
        }
    }
}

/// A 3-node cluster, a test directory and the cluster's URL, with dag's
/// layout made first with 3 replicas, as the README says to (`dag workers`
/// without --replicas, as the workers' readiness checks run it, then takes
/// the streams as they are). None without nats-server outside CI.
fn replicated_cluster() -> Option<(NatsCluster, Env, String)> {
    let cluster = NatsCluster::start()?;
    let env = Env::new();
    let url = cluster.url();
    env.run(&["workers", "--nats", &url, "--replicas", "3"])
        .code(0);
    Some((cluster, env, url))
}

#[test]
fn a_replicated_run_survives_a_killed_cluster_node() {
    let Some((mut cluster, env, url)) = replicated_cluster() else {
        return;
    };
    let _w1 = env.worker(&cluster, "w1", &["--workers", "4", "--replicas", "3"]);
    let _w2 = env.worker(&cluster, "w2", &["--workers", "4", "--replicas", "3"]);
    // 20 tasks, then a gate the test opens once a node is dead, then 30 more: the
    // node dies while the run is surely under way, with 31 tasks left.
    let mut yaml = String::from("name: replicated\ntasks:\n");
    for i in 0..20 {
        yaml.push_str(&format!(
            "  a{i:02}: {{ command: 'sleep 0.1; echo a{i:02} >> ran.txt' }}\n"
        ));
    }
    yaml.push_str(
        "  gate: { command: 'touch gate-open; while [ ! -e go ]; do sleep 0.05; done; echo gate >> ran.txt' }\n",
    );
    for i in 0..30 {
        yaml.push_str(&format!(
            "  b{i:02}: {{ command: 'sleep 0.1; echo b{i:02} >> ran.txt', depends_on: [gate] }}\n"
        ));
    }
    env.write("r.yaml", &yaml);
    let started = Instant::now();
    let run = env.spawn_distributed(&cluster, "r.yaml", &["--state", "nats", "--replicas", "3"]);
    let ran = |env: &Env| {
        std::fs::read_to_string(env.path().join("ran.txt"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert!(
        wait_for(Duration::from_secs(60), || env
            .path()
            .join("gate-open")
            .exists()
            && ran(&env) >= 20),
        "the first 20 tasks and the gate did not start"
    );
    // Every stream, bucket and consumer has 3 copies, all current (a follower
    // on a loaded machine may lag a moment: looked at until they are).
    let mut before = placements(&url).unwrap();
    wait_for(Duration::from_secs(30), || {
        before = placements(&url).unwrap();
        before
            .iter()
            .all(|p| p.peers.iter().all(|(_, current)| *current))
    });
    for p in &before {
        assert_eq!(p.copies(), 3, "{p:?}");
        if !p.name.contains(" > ") {
            assert_eq!(p.configured, 3, "{p:?}");
        }
        assert!(p.peers.iter().all(|(_, current)| *current), "{p:?}");
    }
    assert!(
        before
            .iter()
            .any(|p| p.name == "DAG_TASKS > dag-worker-default")
            && before
                .iter()
                .any(|p| p.name.starts_with("DAG_RESULTS > results-")),
        "{before:?}"
    );
    // Kill the node leading the task queue: its leadership must move.
    let leader = before
        .iter()
        .find(|p| p.name == "DAG_TASKS")
        .and_then(|p| p.leader.clone())
        .unwrap();
    let victim = cluster.index_of(&leader).unwrap();
    cluster.kill(victim);
    env.write("go", "");
    let out = wait_output(run, Duration::from_secs(180));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = doc["run_id"].as_str().unwrap().to_string();
    // Every task `success`, once, in the state the cluster keeps.
    let status = env.run(&[
        "status", &id, "--state", "nats", "--nats", &url, "--output", "json",
    ]);
    status.code(0);
    let state = status.json();
    let tasks = state["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 51, "{state}");
    for t in tasks {
        assert_eq!(t["state"], "success", "{t}");
        assert_eq!(t["attempts"], 1, "{t}");
    }
    let executions = ran(&env);
    eprintln!(
        "51 tasks over a 3-node cluster with node {leader} killed: {:.1} s, {} duplicate execution(s)",
        started.elapsed().as_secs_f64(),
        executions - 51
    );
    // The node comes back, catches up, and serves the run's state itself.
    cluster.restart(victim);
    let back = |p: &Placement| {
        p.copies() == 3 && p.leader.is_some() && p.peers.iter().all(|(_, current)| *current)
    };
    let mut last = Vec::new();
    let caught_up = wait_for(Duration::from_secs(60), || {
        match placements(&cluster.node_url(victim)) {
            Ok(p) => {
                let ok = p
                    .iter()
                    .filter(|p| !p.name.starts_with("DAG_RESULTS > "))
                    .all(back);
                last = p;
                ok
            }
            Err(_) => false,
        }
    });
    assert!(caught_up, "node {leader} did not catch up: {last:?}");
    let status = env.run(&[
        "status",
        &id,
        "--state",
        "nats",
        "--nats",
        &cluster.node_url(victim),
        "--output",
        "json",
    ]);
    status.code(0);
    for t in status.json()["tasks"].as_array().unwrap() {
        assert_eq!(
            task_state(&status.json(), t["id"].as_str().unwrap()),
            "success"
        );
    }
}

#[test]
fn replicas_a_single_server_cannot_give_are_explained() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let url = Nats::url(&nats);
    let r = env.run(&["workers", "--nats", &url, "--replicas", "3"]);
    r.code(3);
    // The error is drawn in a box, its lines wrapped.
    let said = r
        .stderr
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains("cannot create stream DAG_TASKS with 3 replicas: jetstream error: replicas > 1 not supported in non-clustered mode")
            && said.contains("(--replicas 3 needs a JetStream cluster of at least 3 servers;"),
        "{said}"
    );
    // The default takes an existing layout as it is, and says nothing of it.
    let r = env.run(&["workers", "--nats", &url]);
    r.code(0);
    assert!(!r.stderr.contains("replica"), "{}", r.stderr);
    // A count asked for that an existing stream does not have is warned about,
    // once per stream, and changes nothing.
    let r = env.run(&["workers", "--nats", &url, "--replicas", "3"]);
    r.code(0);
    for stream in [
        "DAG_TASKS",
        "DAG_RESULTS",
        "DAG_LOGS",
        "KV_dag_workers",
        "OBJ_dag_payloads",
    ] {
        let says = format!("`nats stream edit {stream} --replicas 3`");
        assert_eq!(r.stderr.matches(&says).count(), 1, "{stream}: {}", r.stderr);
    }
    assert!(
        r.stderr.contains(
            "dag: warning: stream DAG_TASKS exists with 1 replica, not the 3 --replicas asks for; dag does not change it"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_replica_count_outside_1_to_5_is_a_usage_error() {
    let env = Env::new();
    for bad in ["0", "6", "three", "-1"] {
        let r = env.run(&["workers", &format!("--replicas={bad}")]);
        r.code(2);
        assert!(
            r.stderr
                .contains("a replica count is a whole number from 1 to 5"),
            "{bad}: {}",
            r.stderr
        );
    }
    let r = env
        .cmd(&["workers"])
        .env("DAG_NATS_REPLICAS", "9")
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    env.write("c.yaml", "nats_replicas: 7\n");
    let r = env.run(&["--config", "c.yaml", "workers"]);
    r.code(2);
    assert!(
        r.stderr.contains("`nats_replicas`: invalid value `7`")
            && r.stderr
                .contains("a replica count is a whole number from 1 to 5"),
        "{}",
        r.stderr
    );
}

/// A worker started while its cluster has no quorum (two of three nodes down)
/// waits for the cluster, saying so, instead of exiting, and serves once the
/// nodes are back.
#[test]
fn a_worker_started_while_its_cluster_has_no_quorum_waits_for_it() {
    let Some((mut cluster, env, url)) = replicated_cluster() else {
        return;
    };
    cluster.kill(1);
    cluster.kill(2);
    let log = env.path().join("worker-late.log");
    let mut worker = env
        .cmd(&[
            "worker",
            "--name",
            "late",
            "--nats",
            &url,
            "--replicas",
            "3",
        ])
        .envs(FAST.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(30), || said().contains("trying again")),
        "{}",
        said()
    );
    assert!(worker.try_wait().unwrap().is_none(), "{}", said());
    cluster.restart(1);
    cluster.restart(2);
    env.write("one.yaml", "name: one\ntasks:\n  a: {command: 'true'}\n");
    let (code, doc, stderr) = env.run_distributed(&cluster, "one.yaml", &["--replicas", "3"]);
    assert_eq!(code, 0, "{stderr}\n{}", said());
    assert_eq!(task(&doc, "a")["worker"], "late");
    let _ = worker.kill();
    let _ = worker.wait();
}
