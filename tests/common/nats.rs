//! A real `nats-server` per test: a free loopback port, a temporary store, and ways to
//! kill and restart it; or a 3-node JetStream cluster of them. Without `nats-server`
//! on PATH the tests skip, except in CI, where they fail and say what is missing.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Env, wait_for};

pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    store: tempfile::TempDir,
    config: Option<PathBuf>,
}

/// Whether `nats-server` is on PATH; in CI its absence fails the test.
fn have_nats_server() -> bool {
    if Command::new("nats-server")
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var_os("CI").is_some() {
            panic!(
                "these tests need `nats-server` on PATH (scripts/test.sh installs it), and CI is set"
            );
        }
        eprintln!("no nats-server on PATH: NATS tests not run");
        return false;
    }
    true
}

/// What a test's `dag` processes connect to: one server or a cluster.
pub trait Nats {
    /// The `--nats` value: one URL, or several comma-separated.
    fn url(&self) -> String;
}

impl Nats for NatsServer {
    fn url(&self) -> String {
        NatsServer::url(self)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl NatsServer {
    /// Starts a server, or returns `None` (outside CI) when nats-server is missing.
    pub fn start() -> Option<NatsServer> {
        Self::start_with(None)
    }

    /// Starts a server with extra configuration (e.g. authorization).
    pub fn start_with(config: Option<&str>) -> Option<NatsServer> {
        if !have_nats_server() {
            return None;
        }
        let store = tempfile::tempdir().unwrap();
        let config = config.map(|c| {
            let p = store.path().join("server.conf");
            std::fs::write(&p, c).unwrap();
            p
        });
        let mut server = NatsServer {
            child: None,
            port: free_port(),
            store,
            config,
        };
        server.launch();
        Some(server)
    }

    fn launch(&mut self) {
        let mut cmd = Command::new("nats-server");
        cmd.args([
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-sd",
        ])
        .arg(self.store.path().join("js"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(self.store.path().join("server.log")).unwrap());
        if let Some(c) = &self.config {
            cmd.arg("-c").arg(c);
        }
        self.child = Some(cmd.spawn().expect("start nats-server"));
        let port = self.port;
        assert!(
            wait_for(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "nats-server did not come up:\n{}",
            std::fs::read_to_string(self.store.path().join("server.log")).unwrap_or_default()
        );
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port with the same store.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `dag worker` process, killed when dropped.
pub struct Worker {
    pub child: Child,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Protocol timings shortened for tests.
pub const FAST: &[(&str, &str)] = &[("DAG_NATS_ACK_WAIT", "2s"), ("DAG_NATS_HEARTBEAT", "1s")];

impl Env {
    /// Starts `dag worker --name NAME --nats URL ARGS` with `FAST` timings.
    pub fn worker(&self, nats: &impl Nats, name: &str, args: &[&str]) -> Worker {
        self.worker_with_env(nats, name, args, &[])
    }

    pub fn worker_with_env(
        &self,
        nats: &impl Nats,
        name: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Worker {
        let mut all = vec!["worker", "--name", name, "--nats"];
        let url = nats.url();
        all.push(&url);
        all.extend_from_slice(args);
        let mut cmd = self.cmd(&all);
        let log = self.path().join(format!("worker-{name}.log"));
        cmd.envs(FAST.iter().copied())
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("start dag worker");
        let worker = Worker { child };
        // Ready when its heartbeat is in the bucket.
        let ok = wait_for(Duration::from_secs(15), || {
            let r: super::Run = self
                .cmd(&["workers", "--nats", &url, "--output", "json"])
                .envs(FAST.iter().copied())
                .output()
                .unwrap()
                .into();
            r.code == 0 && r.stdout.contains(&format!("\"id\": \"{name}\""))
        });
        assert!(
            ok,
            "worker {name} did not register: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        worker
    }

    /// `dag run FILE --executor distributed --nats URL --output json ARGS`, started,
    /// with its state in the file store (tests of `--state nats` say so).
    pub fn spawn_distributed(&self, nats: &impl Nats, file: &str, args: &[&str]) -> Child {
        let url = nats.url();
        let state = if args.contains(&"--state") {
            vec![]
        } else {
            vec!["--state", "file"]
        };
        let mut all = vec![
            "run",
            file,
            "--executor",
            "distributed",
            "--nats",
            &url,
            "--output",
            "json",
        ];
        all.extend(state);
        all.extend_from_slice(args);
        self.cmd(&all)
            .envs(FAST.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs a distributed run to its end; returns its exit code and JSON document.
    pub fn run_distributed(
        &self,
        nats: &impl Nats,
        file: &str,
        args: &[&str],
    ) -> (i32, serde_json::Value, String) {
        let out = self
            .spawn_distributed(nats, file, args)
            .wait_with_output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON ({e}): {}\n{stderr}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        (out.status.code().unwrap_or(-1), doc, stderr)
    }
}

/// A 3-node JetStream cluster on loopback: each node a `nats-server` with its own
/// client port, route port and store, routed to the other two. Nodes can be
/// killed (SIGKILL) and started again with the same name, ports and store.
pub struct NatsCluster {
    nodes: Vec<ClusterNode>,
    dir: tempfile::TempDir,
}

struct ClusterNode {
    name: String,
    port: u16,
    cluster_port: u16,
    child: Option<Child>,
}

impl Nats for NatsCluster {
    fn url(&self) -> String {
        NatsCluster::url(self)
    }
}

impl NatsCluster {
    /// Starts three nodes and waits until JetStream has a meta leader (a stream
    /// with 3 replicas can be created), or returns `None` (outside CI) when
    /// nats-server is missing.
    pub fn start() -> Option<NatsCluster> {
        if !have_nats_server() {
            return None;
        }
        let mut cluster = NatsCluster {
            nodes: (1..=3)
                .map(|i| ClusterNode {
                    name: format!("n{i}"),
                    port: free_port(),
                    cluster_port: free_port(),
                    child: None,
                })
                .collect(),
            dir: tempfile::tempdir().unwrap(),
        };
        for i in 0..cluster.nodes.len() {
            cluster.launch(i);
        }
        cluster.wait_for_meta_leader();
        Some(cluster)
    }

    /// Every node's client URL, comma-separated (as `--nats` takes them).
    pub fn url(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.node_url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// One node's client URL.
    pub fn node_url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].port)
    }

    /// The index of the node named `name` (`n1`..`n3`).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// A node's server log so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{}.log", self.nodes[i].name)))
            .unwrap_or_default()
    }

    fn launch(&mut self, i: usize) {
        let routes: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| format!("nats://127.0.0.1:{}", n.cluster_port))
            .collect();
        let node = &self.nodes[i];
        let log = self.dir.path().join(format!("{}.log", node.name));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &node.port.to_string()])
            .args(["--server_name", &node.name, "--cluster_name", "dagtest"])
            .arg("--cluster")
            .arg(format!("nats://127.0.0.1:{}", node.cluster_port))
            .arg("--routes")
            .arg(routes.join(","))
            .arg("-sd")
            .arg(self.dir.path().join(&node.name))
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start nats-server");
        let port = node.port;
        self.nodes[i].child = Some(child);
        assert!(
            wait_for(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "cluster node {i} did not come up:\n{}",
            self.log(i)
        );
    }

    /// Waits (up to 30 s) until the cluster can create a stream with 3 replicas:
    /// JetStream has a meta leader and every node takes part.
    fn wait_for_meta_leader(&self) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let urls: Vec<async_nats::ServerAddr> = (0..self.nodes.len())
            .map(|i| self.node_url(i).parse().unwrap())
            .collect();
        let ready = rt.block_on(async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            let client = loop {
                match async_nats::connect(urls.clone()).await {
                    Ok(c) => break c,
                    Err(_) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(e) => return Err(e.to_string()),
                }
            };
            let js = async_nats::jetstream::new(client);
            loop {
                let created = js
                    .create_stream(async_nats::jetstream::stream::Config {
                        name: "CLUSTER_PROBE".into(),
                        subjects: vec!["cluster.probe".into()],
                        num_replicas: 3,
                        ..Default::default()
                    })
                    .await;
                match created {
                    Ok(_) => {
                        let _ = js.delete_stream("CLUSTER_PROBE").await;
                        return Ok(());
                    }
                    Err(e) if tokio::time::Instant::now() >= deadline => {
                        return Err(e.to_string());
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        if let Err(e) = ready {
            panic!(
                "the JetStream cluster did not form: {e}\n{}",
                (0..3).map(|i| self.log(i)).collect::<Vec<_>>().join("\n")
            );
        }
    }

    /// SIGKILLs node `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts node `i` again with its name, ports and store.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.launch(i);
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
