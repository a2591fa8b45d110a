//! The deployment pieces under deploy/: the worker image (built here from the
//! test binary on the base deploy/base-image.sh makes from Debian's packages),
//! the systemd unit and the Kubernetes example.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::nats::{FAST, NatsServer};
use crate::common::{Env, dag_bin, finish_within, marker, pids_with, python_has, task, wait_for};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().expect("docker")
}

#[track_caller]
fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Removes a container (whatever its state) and an image when dropped.
struct Cleanup {
    container: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.container]);
        let _ = docker(&["rmi", "-f", &self.image]);
    }
}

/// Builds deploy/Dockerfile on dag-base:bookworm with the test binary as
/// DAG_BINARY, in a build context of its own holding only that binary.
fn build_worker_image(tag: &str) {
    let out = Command::new("bash")
        .arg(Path::new(ROOT).join("deploy/base-image.sh"))
        .output()
        .expect("run deploy/base-image.sh");
    assert!(
        out.status.success(),
        "deploy/base-image.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let context = tempfile::tempdir().unwrap();
    let bin = context.path().join("dag");
    if std::fs::hard_link(dag_bin(), &bin).is_err() {
        std::fs::copy(dag_bin(), &bin).unwrap();
    }
    let dockerfile = Path::new(ROOT).join("deploy/Dockerfile");
    docker_ok(&[
        "build",
        "-q",
        "-f",
        dockerfile.to_str().unwrap(),
        "--build-arg",
        "DAG_BINARY=dag",
        "-t",
        tag,
        context.path().to_str().unwrap(),
    ]);
}

/// Whether the worker `name` is listed by `dag workers`.
fn listed(env: &Env, nats: &NatsServer, name: &str) -> bool {
    let r: crate::common::Run = env
        .cmd(&["workers", "--nats", &nats.url(), "--output", "json"])
        .envs(FAST.iter().copied())
        .output()
        .unwrap()
        .into();
    r.code == 0 && r.stdout.contains(&format!("\"id\": \"{name}\""))
}

#[test]
fn the_worker_image_runs_tasks_and_drains_on_docker_stop() {
    if !crate::docker::docker_ready() {
        return;
    }
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let m = marker("dk-deploy");
    let image = format!("dag-worker-test:{m}");
    let container = format!("dag-worker-{m}");
    let worker = format!("ctr-{m}");
    let _cleanup = Cleanup {
        container: container.clone(),
        image: image.clone(),
    };
    build_worker_image(&image);

    // The worker in its container, on the host's network, where the test's
    // nats-server listens on loopback; configured by NATS_URL alone.
    let mut args = vec![
        "run".to_string(),
        "-d".into(),
        "--name".into(),
        container.clone(),
        "--label".into(),
        format!("dag.dag={m}"),
        "--network".into(),
        "host".into(),
        "--stop-timeout".into(),
        "60".into(),
        "-e".into(),
        format!("NATS_URL={}", nats.url()),
    ];
    for (k, v) in FAST {
        args.extend(["-e".into(), format!("{k}={v}")]);
    }
    args.extend([
        image.clone(),
        "--name".into(),
        worker.clone(),
        "--workers".into(),
        "2".into(),
        "--shutdown-timeout".into(),
        "30s".into(),
    ]);
    docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let env = Env::new();
    assert!(
        wait_for(Duration::from_secs(20), || listed(&env, &nats, &worker)),
        "the containerised worker did not register:\n{}",
        String::from_utf8_lossy(&docker(&["logs", &container]).stderr)
    );

    // The worker's own command line holds `m`: the task gets a marker of its own.
    let slow = marker("slowtask");
    env.write(
        "d.yaml",
        format!(
            "name: {m}\ntasks:\n  first: {{ command: 'echo in the container as $(id -u)' }}\n  \
             slow: {{ command: ': {slow}; sleep 4; echo finished', depends_on: first }}\n"
        ),
    );
    let run = env.spawn_distributed(&nats, "d.yaml", &[]);
    // The container's processes are visible from the host: wait for `slow`.
    assert!(
        wait_for(Duration::from_secs(30), || !pids_with(&slow).is_empty()),
        "the slow task never started:\n{}",
        String::from_utf8_lossy(&docker(&["logs", &container]).stderr)
    );
    // `docker stop` sends SIGTERM and waits up to the container's stop timeout
    // (60 s) before SIGKILL: the worker lets `slow` finish, then exits 0.
    let started = Instant::now();
    docker_ok(&["stop", &container]);
    let stopped_after = started.elapsed();
    let exit = docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &container]);
    let logs = docker(&["logs", &container]);
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr)
    );
    assert_eq!(
        exit, "0",
        "the worker did not exit 0 on docker stop:\n{logs}"
    );
    assert!(
        stopped_after < Duration::from_secs(30),
        "docker stop took {stopped_after:?}"
    );

    let out = finish_within(run, Duration::from_secs(30), "the run");
    assert_eq!(out.code, 0, "{}\n{logs}", out.stderr);
    let doc = out.json();
    let id = doc["run_id"].as_str().unwrap();
    for t in ["first", "slow"] {
        assert_eq!(task(&doc, t)["state"], "success", "{doc}");
        assert_eq!(task(&doc, t)["worker"], worker.as_str(), "{doc}");
        assert_eq!(task(&doc, t)["attempts"], 1, "{doc}");
    }
    // Finished by the draining worker, not handed back and run again.
    assert_eq!(task(&doc, "slow")["deliveries"], 1, "{doc}");
    assert_eq!(
        env.run(&["logs", id, "first"]).stdout,
        "in the container as 10001\n"
    );
    assert_eq!(env.run(&["logs", id, "slow"]).stdout, "finished\n");
    // On exit the worker removed its heartbeat.
    assert!(
        !listed(&env, &nats, &worker),
        "the stopped worker is still listed"
    );
    drop(_cleanup);
    let left = docker_ok(&["ps", "-aq", "--filter", &format!("label=dag.dag={m}")]);
    assert!(left.is_empty(), "containers left behind: {left}");
}

#[test]
fn the_kubernetes_example_parses_with_the_right_kinds() {
    if !python_has("yaml", "PyYAML") {
        return;
    }
    let check = r#"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = sorted(d["kind"] for d in docs)
assert kinds == ["ConfigMap", "Deployment", "Secret"], kinds
by = {d["kind"]: d for d in docs}
for d in docs:
    assert d["apiVersion"] == ("apps/v1" if d["kind"] == "Deployment" else "v1"), d["apiVersion"]
    assert d["metadata"]["name"], d
spec = by["Deployment"]["spec"]
pod = spec["template"]["spec"]
assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
grace = pod["terminationGracePeriodSeconds"]
(c,) = [c for c in pod["containers"] if c["name"] == "worker"]
assert c["lifecycle"]["preStop"], c
args = c["args"]
timeout = args[args.index("--shutdown-timeout") + 1]
assert timeout.endswith("s") and int(timeout[:-1]) + 10 <= grace, (timeout, grace)
refs = [e["valueFrom"] for e in c.get("env", []) if "valueFrom" in e]
refs += [e for e in c.get("envFrom", [])]
names = {r.get("configMapKeyRef", r.get("secretKeyRef", r.get("configMapRef", r.get("secretRef", {})))).get("name") for r in refs}
names |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
assert by["ConfigMap"]["metadata"]["name"] in names, names
assert by["Secret"]["metadata"]["name"] in names, names
print("ok")
"#;
    let out = Command::new("python3")
        .args(["-c", check])
        .arg(Path::new(ROOT).join("deploy/kubernetes/worker.yaml"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_systemd_units_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs systemd-analyze (Debian package systemd; scripts/test.sh installs it)"
        );
        eprintln!("no systemd-analyze: the units are not verified");
        return;
    }
    for (name, command, least_stop) in [
        ("dag-worker.service", "worker", 41),
        ("dag-scheduler.service", "scheduler", 5),
    ] {
        let unit = std::fs::read_to_string(Path::new(ROOT).join("deploy").join(name)).unwrap();
        assert!(unit.contains(&format!("ExecStart=/usr/local/bin/dag {command}")));
        // verify checks that ExecStart's program exists: point it at the test binary.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            unit.replace("/usr/local/bin/dag", dag_bin().to_str().unwrap()),
        )
        .unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A bad value is only a warning (exit 0): any output is a failure.
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "systemd-analyze verify {name}:\n{stderr}"
        );
        // The worker's stop timeout leaves the drain (--shutdown-timeout, 30 s)
        // its time.
        let stop = unit
            .lines()
            .find_map(|l| l.strip_prefix("TimeoutStopSec="))
            .expect("TimeoutStopSec");
        assert!(
            stop.trim_end_matches('s').parse::<u32>().unwrap() >= least_stop,
            "{name}: {stop}"
        );
        for line in [
            "KillSignal=SIGTERM",
            "Restart=",
            "EnvironmentFile=",
            "User=dag",
        ] {
            assert!(unit.contains(line), "{name}: {line}");
        }
    }
}
