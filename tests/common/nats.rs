//! A real `nats-server` per test: a free loopback port, a temporary store, and ways to
//! kill and restart it. Without `nats-server` on PATH the tests skip, except in CI,
//! where they fail and say what is missing.

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
    pub fn worker(&self, nats: &NatsServer, name: &str, args: &[&str]) -> Worker {
        self.worker_with_env(nats, name, args, &[])
    }

    pub fn worker_with_env(
        &self,
        nats: &NatsServer,
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
    pub fn spawn_distributed(&self, nats: &NatsServer, file: &str, args: &[&str]) -> Child {
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
        nats: &NatsServer,
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
