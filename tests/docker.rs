//! docker tasks on the real Docker engine, with the local test image
//! `dag-test-busybox:latest` (scripts/test-image.sh builds it from Debian's static
//! busybox; no registry is involved).

use std::process::Command;
use std::sync::Once;
use std::time::Duration;

use crate::common::{Env, kill, task, task_state, wait_for};

const IMAGE: &str = "dag-test-busybox:latest";

/// Docker is up and the test image exists; without Docker the tests skip, except in
/// CI, where they fail and say what is missing.
pub(crate) fn docker_ready() -> bool {
    static BUILD: Once = Once::new();
    let up = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !up {
        if std::env::var_os("CI").is_some() {
            panic!(
                "these tests need a running Docker daemon (`docker info` failed), and CI is set"
            );
        }
        eprintln!("no Docker daemon: docker tests not run");
        return false;
    }
    BUILD.call_once(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test-image.sh");
        let out = Command::new("bash")
            .arg(script)
            .output()
            .expect("run scripts/test-image.sh");
        assert!(
            out.status.success(),
            "scripts/test-image.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    true
}

/// Containers (running or not) labelled with this DAG name.
fn containers_of(dag: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=dag.dag={dag}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// For the `--allow-volume` tests: Docker and a NATS server, a temp dir with an
/// `allowed` directory (holding `sub`) and an `outside` one holding `secret.txt`.
fn allowed_and_outside(
    sub: &str,
) -> Option<(
    crate::common::nats::NatsServer,
    Env,
    std::path::PathBuf,
    std::path::PathBuf,
)> {
    if !docker_ready() {
        return None;
    }
    let nats = crate::common::nats::NatsServer::start()?;
    let env = Env::new();
    let allowed = env.path().join("allowed");
    let outside = env.path().join("outside");
    std::fs::create_dir_all(allowed.join(sub)).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "outside the allowed path\n").unwrap();
    Some((nats, env, allowed, outside))
}

fn unique(tag: &str) -> String {
    crate::common::marker(tag)
}

#[test]
fn output_exit_codes_env_volumes_and_outputs() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    let name = unique("dk-basic");
    std::fs::create_dir(env.path().join("vol")).unwrap();
    std::fs::write(env.path().join("vol/in.txt"), "from the host\n").unwrap();
    let vol = env.path().join("vol").display().to_string();
    env.write(
        "d.yaml",
        format!(
            r#"
name: {name}
env: {{ LEVEL: dag }}
tasks:
  hello:
    type: docker
    image: {IMAGE}
    pull: never
    env: {{ GREETING: hi }}
    volumes: ["{vol}:/data"]
    command: |
      echo "out $GREETING $LEVEL $DAG_TASK_ID $DAG_ATTEMPT"
      echo "err line" >&2
      cat /data/in.txt
      echo written > /data/out.txt
      echo "answer=42" >> "$DAG_OUTPUT"
  readonly:
    type: docker
    image: {IMAGE}
    volumes: ["{vol}:/data:ro"]
    command: echo nope > /data/blocked.txt
  exit3:
    type: docker
    image: {IMAGE}
    command: exit 3
  seed_form:
    type: docker
    command: '{{"image": "{IMAGE}", "command": "echo seed $A", "env": {{"A": "form"}}, "pull": "never"}}'
  uses_output:
    type: docker
    image: {IMAGE}
    command: echo "got ${{{{ tasks.hello.outputs.answer }}}}"
    depends_on: hello
"#
        ),
    );
    let (run, doc) = env.run_json("d.yaml", &[]);
    run.code(1);
    let id = doc["run_id"].as_str().unwrap();
    assert_eq!(task_state(&doc, "hello"), "success");
    assert_eq!(task(&doc, "hello")["outputs"]["answer"], "42");
    let log = env.run(&["logs", id, "hello"]).stdout;
    assert!(log.contains("out hi dag hello 1\n"), "{log}");
    assert!(log.contains("err line\n"), "{log}");
    assert!(log.contains("from the host\n"), "{log}");
    assert_eq!(
        std::fs::read_to_string(env.path().join("vol/out.txt")).unwrap(),
        "written\n"
    );
    assert_eq!(task_state(&doc, "readonly"), "failed");
    assert!(!env.path().join("vol/blocked.txt").exists());
    assert_eq!(task(&doc, "exit3")["exit_code"], 3);
    assert_eq!(task(&doc, "exit3")["error"], "exit code 3");
    assert_eq!(env.run(&["logs", id, "seed_form"]).stdout, "seed form\n");
    assert_eq!(env.run(&["logs", id, "uses_output"]).stdout, "got 42\n");
    assert!(containers_of(&name).is_empty(), "containers left behind");
}

#[test]
fn limits_are_set_on_the_container() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    let name = unique("dk-limits");
    env.write(
        "l.yaml",
        format!("name: {name}\ntasks:\n  limited: {{ type: docker, image: {IMAGE}, command: sleep 3, memory_mb: 64, cpu_quota: 50 }}\n"),
    );
    let child = env.spawn(&["run", "l.yaml", "--output", "json"]);
    let mut inspected = String::new();
    assert!(wait_for(Duration::from_secs(20), || {
        let Some(id) = containers_of(&name).into_iter().next() else {
            return false;
        };
        let out = Command::new("docker")
            .args(["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}} {{index .Config.Labels \"dag.task_id\"}} {{.Name}}", &id])
            .output()
            .unwrap();
        inspected = String::from_utf8_lossy(&out.stdout).trim().to_string();
        !inspected.is_empty()
    }));
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run_id = doc["run_id"].as_str().unwrap();
    assert_eq!(
        inspected,
        format!("67108864 50000 100000 limited /dag-{run_id}-limited-1")
    );
    assert!(containers_of(&name).is_empty());
}

#[test]
fn runner_defaults_fill_what_tasks_leave_open() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    let name = unique("dk-defaults");
    let shared = env.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("in.txt"), "from the host\n").unwrap();
    env.write(
        "d.yaml",
        format!("name: {name}\ntasks:\n  bare: {{ type: docker, command: 'cat /data/in.txt; sleep 3' }}\n  own: {{ type: docker, image: {IMAGE}, memory_mb: 32, command: sleep 3 }}\n"),
    );
    // Without a default image, a task that names none is a validation error.
    let refused = env.run(&["run", "d.yaml"]);
    refused.code(2);
    assert!(
        refused.stderr.contains("`image` is required for docker"),
        "{}",
        refused.stderr
    );
    let bad = env.run(&[
        "run",
        "d.yaml",
        "--docker-image",
        IMAGE,
        "--docker-volume",
        "x",
    ]);
    bad.code(2);
    assert!(
        bad.stderr.contains("--docker-volume: invalid volume `x`"),
        "{}",
        bad.stderr
    );
    let volume = format!("{}:/data:ro", shared.display());
    let child = env.spawn(&[
        "run",
        "d.yaml",
        "--parallel",
        "2",
        "--output",
        "json",
        "--docker-image",
        IMAGE,
        "--docker-memory-mb",
        "64",
        "--docker-volume",
        &volume,
    ]);
    // Each container as `task memory binds`.
    let mut seen = Vec::new();
    assert!(wait_for(Duration::from_secs(20), || {
        seen = containers_of(&name)
            .iter()
            .map(|id| {
                let out = Command::new("docker")
                    .args(["inspect", "-f", "{{index .Config.Labels \"dag.task_id\"}} {{.Config.Image}} {{.HostConfig.Memory}} {{.HostConfig.Binds}}", id])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            })
            .filter(|line| !line.is_empty())
            .collect();
        seen.sort();
        seen.len() == 2
    }));
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The task's own limit wins over the default; the default volume is added to
    // every container, before the output file dag mounts itself.
    assert!(
        seen[0].starts_with(&format!("bare {IMAGE} 67108864 [{volume} ")),
        "{seen:?}"
    );
    assert!(
        seen[1].starts_with(&format!("own {IMAGE} 33554432 [{volume} ")),
        "{seen:?}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let logs = env.run(&["logs", doc["run_id"].as_str().unwrap(), "bare"]);
    assert_eq!(logs.stdout, "from the host\n");
}

#[test]
fn a_timeout_stops_and_removes_the_container() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    let name = unique("dk-timeout");
    env.write(
        "t.yaml",
        format!("name: {name}\ntasks:\n  slow: {{ type: docker, image: {IMAGE}, command: sleep 60, timeout: 3s }}\n"),
    );
    let (run, doc) = env.run_json("t.yaml", &[]);
    run.code(1);
    // A loaded engine may still be starting the container when the deadline
    // passes; the error then goes on to say so, and the container must go all the
    // same.
    let error = task(&doc, "slow")["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.starts_with("timed out after 3s"), "{error}");
    assert!(
        containers_of(&name).is_empty(),
        "the timed-out container is still there"
    );
}

#[test]
fn a_cancelled_run_leaves_no_container() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    let name = unique("dk-cancel");
    env.write(
        "c.yaml",
        format!("name: {name}\ntasks:\n  a: {{ type: docker, image: {IMAGE}, command: sleep 60 }}\n  b: {{ type: docker, image: {IMAGE}, command: sleep 60 }}\n"),
    );
    let child = env.spawn(&["run", "c.yaml", "--output", "json", "--parallel", "2"]);
    assert!(
        wait_for(Duration::from_secs(20), || containers_of(&name).len() == 2),
        "containers never started"
    );
    std::thread::sleep(Duration::from_millis(300));
    kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(task_state(&doc, "a"), "cancelled");
    assert_eq!(task_state(&doc, "b"), "cancelled");
    assert!(
        containers_of(&name).is_empty(),
        "a cancelled container is still there"
    );
}

#[test]
fn a_sigkilled_run_leaves_no_container() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    let name = unique("dk-sigkill");
    env.write(
        "k.yaml",
        format!(
            "name: {name}\ntasks:\n  a: {{ type: docker, image: {IMAGE}, command: sleep 300 }}\n"
        ),
    );
    let tmp = env.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let child = env
        .cmd(&["run", "k.yaml", "--output", "quiet"])
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || containers_of(&name).len() == 1),
        "the container never started"
    );
    // `dag-outputs-PID-TOKEN-RANDOM`: the run's pid and its reaper's token.
    let outputs = crate::history::entries_with(&tmp, "dag-outputs-");
    let token = outputs[0].split('-').nth(3).unwrap().to_string();
    let reaping = format!("__reap-containers {token} {} ", child.id());
    kill(child.id(), "KILL");
    let _ = child.wait_with_output();
    // dag had no chance to remove it; its reaper does, then removes the output
    // directory again (the container's start may have been in flight, and Docker
    // makes the missing output file, as a directory, when it starts it).
    let gone = wait_for(Duration::from_secs(60), || {
        containers_of(&name).is_empty() && crate::common::pids_with(&reaping).is_empty()
    });
    for id in containers_of(&name) {
        let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    }
    assert!(gone, "the container of a SIGKILLed dag run is still there");
    assert!(
        crate::history::entries_with(&tmp, "dag-").is_empty(),
        "left behind: {:?}",
        crate::history::entries_with(&tmp, "")
    );
}

#[test]
fn docker_tasks_run_in_parallel() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    let name = unique("dk-par");
    let mut yaml = format!("name: {name}\ntasks:\n");
    for i in 0..3 {
        yaml.push_str(&format!(
            "  t{i}: {{ type: docker, image: {IMAGE}, command: sleep 1 }}\n"
        ));
    }
    env.write("p.yaml", yaml);
    let (run, doc) = env.run_json("p.yaml", &["--parallel", "3"]);
    run.code(0);
    // Every task started before any other ended.
    let times: Vec<(String, String)> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["started_at"].as_str().unwrap().to_string(),
                t["ended_at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let last_start = times.iter().map(|t| &t.0).max().unwrap();
    let first_end = times.iter().map(|t| &t.1).min().unwrap();
    assert!(last_start < first_end, "tasks did not overlap: {times:?}");
    assert!(containers_of(&name).is_empty());
}

#[test]
fn image_and_volume_problems_are_task_errors() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    let name = unique("dk-img");
    env.write(
        "i.yaml",
        format!(
            r#"
name: {name}
tasks:
  never: {{ type: docker, image: "dag-test-absent:1", pull: never, command: "true" }}
  unpullable: {{ type: docker, image: "dag-test-absent:2", command: "true" }}
  badvolume: {{ type: docker, image: {IMAGE}, volumes: ["relative:data"], command: "true" }}
"#
        ),
    );
    let (run, doc) = env.run_json("i.yaml", &[]);
    run.code(1);
    assert_eq!(
        task(&doc, "never")["error"],
        "image dag-test-absent:1 is not present and the task says `pull: never`"
    );
    assert!(
        task(&doc, "unpullable")["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot pull image dag-test-absent:2: "),
        "{doc}"
    );
    assert!(
        task(&doc, "badvolume")["error"]
            .as_str()
            .unwrap()
            .contains("invalid volume `relative:data`"),
        "{doc}"
    );
    assert!(containers_of(&name).is_empty());
}

#[test]
fn an_unreachable_daemon_stops_the_run_before_it_starts() {
    let env = Env::new();
    env.write(
        "u.yaml",
        format!("name: unreachable\ntasks:\n  a: {{ command: touch ran }}\n  b: {{ type: docker, image: {IMAGE}, command: 'true' }}\n"),
    );
    let run: crate::common::Run = env
        .cmd(&["run", "u.yaml"])
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-docker.sock", env.path().display()),
        )
        .output()
        .unwrap()
        .into();
    run.code(3);
    assert!(
        run.stderr
            .contains("cannot run docker tasks: the Docker daemon at unix://"),
        "{}",
        run.stderr
    );
    assert!(!env.path().join("ran").exists(), "a task ran");
    let runs = env.run(&["runs"]);
    assert!(
        !runs.stdout.contains("unreachable"),
        "a run was recorded: {}",
        runs.stdout
    );
}

#[test]
fn the_docker_example_runs() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/dags/docker.yaml");
    let work = format!("work={}", env.path().join("work").display());
    env.run(&["validate", file]).code(0);
    let (run, doc) = env.run_json(file, &["--param", &work]);
    run.code(0);
    let log = env
        .run(&["logs", doc["run_id"].as_str().unwrap(), "consume"])
        .stdout;
    assert_eq!(log, "sum of 100 numbers is 5050\n");
    assert!(containers_of("containers").is_empty());
}

/// A TCP front for the local engine's socket on 127.0.0.1 (what `socat` would do),
/// counting the connections it serves.
fn tcp_front_for_the_engine() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("tcp://{}", listener.local_addr().unwrap());
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let Ok(unix) = std::os::unix::net::UnixStream::connect("/var/run/docker.sock") else {
                continue;
            };
            let (mut tcp_in, mut unix_out) = (tcp.try_clone().unwrap(), unix.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut tcp_in, &mut unix_out);
                let _ = unix_out.shutdown(std::net::Shutdown::Write);
            });
            let (mut unix_in, mut tcp_out) = (unix, tcp);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut unix_in, &mut tcp_out);
                let _ = tcp_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (address, served)
}

#[test]
fn issue_13_docker_host_names_the_engine_used() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    let name = unique("dk-host");
    env.write(
        "h.yaml",
        format!("name: {name}\ntasks:\n  a: {{ type: docker, image: {IMAGE}, pull: never, command: echo over tcp }}\n"),
    );
    // A TCP address nobody listens on: the run stops before it starts, naming it.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        format!("tcp://{a}")
    };
    let run: crate::common::Run = env
        .cmd(&["run", "h.yaml"])
        .env("DOCKER_HOST", &closed)
        .output()
        .unwrap()
        .into();
    run.code(3);
    assert!(
        run.stderr
            .contains(&format!("the Docker daemon at {closed} is unreachable"))
            && run.stderr.to_lowercase().contains("connection refused"),
        "{}",
        run.stderr
    );
    // TLS asked for without its files: the missing file is named.
    let run: crate::common::Run = env
        .cmd(&["run", "h.yaml"])
        .env("DOCKER_HOST", &closed)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", env.path())
        .output()
        .unwrap()
        .into();
    run.code(3);
    assert!(
        run.stderr.contains("DOCKER_TLS_VERIFY is set but")
            && run.stderr.contains("ca.pem is missing"),
        "{}",
        run.stderr
    );
    // The engine behind a TCP address: the task runs there.
    let (address, served) = tcp_front_for_the_engine();
    let run: crate::common::Run = env
        .cmd(&["run", "h.yaml", "--output", "json"])
        .env("DOCKER_HOST", &address)
        .output()
        .unwrap()
        .into();
    run.code(0);
    let id = run.json()["run_id"].as_str().unwrap().to_string();
    assert_eq!(env.run(&["logs", &id, "a"]).stdout, "over tcp\n");
    assert!(
        served.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "dag did not use DOCKER_HOST={address}"
    );
    assert!(containers_of(&name).is_empty());
    // A worker with --docker checks the engine before it serves, naming it.
    let worker: crate::common::Run = env
        .cmd(&["worker", "--docker", "--nats", "nats://127.0.0.1:1"])
        .env("DOCKER_HOST", &closed)
        .output()
        .unwrap()
        .into();
    worker.code(3);
    assert!(
        worker.stderr.contains(&format!(
            "--docker: the Docker daemon at {closed} is unreachable"
        )),
        "{}",
        worker.stderr
    );
    // The reaper removes leftovers through the same address.
    let token = unique("reap").replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let started = Command::new("docker")
        .args(["run", "-d", "--label", &format!("dag.reaper.{token}=1")])
        .args(["--label", &format!("dag.dag={name}"), IMAGE, "sleep", "300"])
        .output()
        .unwrap();
    assert!(started.status.success(), "{started:?}");
    let before = served.load(std::sync::atomic::Ordering::SeqCst);
    let reap = Command::new(crate::common::dag_bin())
        .args(["__reap-containers", &token])
        .env("DOCKER_HOST", &address)
        .status()
        .unwrap();
    assert!(reap.success());
    assert!(
        containers_of(&name).is_empty(),
        "the reaper left the container"
    );
    assert!(served.load(std::sync::atomic::Ordering::SeqCst) > before);
}

#[test]
fn issue_13_docker_output_is_masked() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    let name = unique("dk-mask");
    // Containers get only the task's variables, so the key is in the file here.
    let key: String = crate::run::PEM
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    env.write(
        "m.yaml",
        format!(
            r#"
name: {name}
secret_env: [KEY]
env:
  KEY: |
{key}
tasks:
  show:
    type: docker
    image: {IMAGE}
    pull: never
    command: printf '%s\n' "$KEY"; echo "k=$KEY" | head -1 >> "$DAG_OUTPUT"
"#
        ),
    );
    let run: crate::common::Run = env
        .cmd(&["run", "m.yaml", "-v", "--output", "json"])
        .output()
        .unwrap()
        .into();
    run.code(0);
    let id = run.json()["run_id"].as_str().unwrap().to_string();
    let log = env.run(&["logs", &id, "show"]).stdout;
    assert!(log.contains("***"), "{log}");
    for (surface, text) in [
        ("log", &log),
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
    ] {
        for line in crate::run::pem_lines() {
            assert!(
                !text.contains(line),
                "a line of the key leaked into {surface}: {text}"
            );
        }
    }
}

#[test]
fn issue_13_a_symlink_cannot_take_a_volume_outside_the_allowed_path() {
    let Some((nats, env, allowed, outside)) = allowed_and_outside("inner") else {
        return;
    };
    std::fs::write(allowed.join("inner/ok.txt"), "inside\n").unwrap();
    let (a, o) = (allowed.display(), outside.display());
    let _worker = env.worker(
        &nats,
        "fenced",
        &[
            "--docker",
            "--workers",
            "1",
            "--allow-volume",
            &a.to_string(),
        ],
    );
    // `plant` makes symlinks in the allowed directory from inside a container: one
    // out of it (the host's path), one that stays inside. Later tasks mount them.
    let name = unique("dk-fence");
    env.write(
        "f.yaml",
        format!(
            r#"
name: {name}
tasks:
  plant:
    type: docker
    image: {IMAGE}
    pull: never
    volumes: ['{a}:/data']
    command: ln -sfn {o} /data/esc && ln -sfn / /data/root && ln -sfn {a}/inner /data/in
  escape:
    type: docker
    image: {IMAGE}
    pull: never
    volumes: ['{a}/esc:/x']
    command: cat /x/secret.txt
    depends_on: plant
  root:
    type: docker
    image: {IMAGE}
    pull: never
    volumes: ['{a}/root/etc:/x']
    command: cat /x/hostname
    depends_on: plant
  dotdot:
    type: docker
    image: {IMAGE}
    pull: never
    volumes: ['{a}/../outside:/x']
    command: cat /x/secret.txt
  inside:
    type: docker
    image: {IMAGE}
    pull: never
    volumes: ['{a}/in:/x:ro']
    command: cat /x/ok.txt
    depends_on: plant
  host_network:
    type: docker
    image: {IMAGE}
    pull: never
    network: host
    command: 'true'
"#
        ),
    );
    let (code, doc, stderr) = env.run_distributed(&nats, "f.yaml", &[]);
    assert_eq!(code, 1, "{stderr}\n{doc}");
    assert_eq!(task_state(&doc, "plant"), "success", "{doc}");
    assert!(
        std::fs::symlink_metadata(allowed.join("esc")).is_ok_and(|m| m.is_symlink()),
        "the symlink was planted"
    );
    for (id, to) in [
        ("escape", o.to_string()),
        ("root", "/etc".to_string()),
        ("dotdot", o.to_string()),
    ] {
        assert_eq!(task_state(&doc, id), "failed", "{doc}");
        let error = task(&doc, id)["error"].as_str().unwrap();
        assert!(
            error.contains("is not under an allowed path")
                && error.contains(&format!("it resolves to {to}")),
            "{id}: {error}"
        );
    }
    let id = doc["run_id"].as_str().unwrap();
    for t in ["escape", "root", "dotdot"] {
        let log = env.run(&["logs", id, t]).stdout;
        assert!(!log.contains("outside the allowed path"), "{log}");
    }
    // A symlink that stays inside is followed, and the task runs.
    assert_eq!(task_state(&doc, "inside"), "success", "{doc}");
    assert_eq!(env.run(&["logs", id, "inside"]).stdout, "inside\n");
    let error = task(&doc, "host_network")["error"].as_str().unwrap();
    assert!(
        error.contains(
            "network `host` is not allowed on this worker (--allow-network bridge, default, none)"
        ),
        "{error}"
    );
    assert!(containers_of(&name).is_empty());
}

/// Attack finding 2: an allowed prefix nested in another one is resolved once, when
/// the worker starts; a task that replaces it with a symlink to `/` does not widen
/// it. A prefix that does not exist is a usage error at start.
#[test]
fn issue_13_a_nested_allowed_prefix_replaced_by_a_symlink_admits_nothing_new() {
    if !docker_ready() {
        return;
    }
    let Some(nats) = crate::common::nats::NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let allowed = env.path().join("allowed");
    std::fs::create_dir_all(allowed.join("cache")).unwrap();
    let (a, url) = (allowed.display().to_string(), nats.url());
    let missing = format!("{a}/nope");
    // Without the check the worker would start and serve: bounded, not a hang.
    let mut child = env.spawn(&[
        "worker",
        "--nats",
        &url,
        "--docker",
        "--allow-volume",
        &a,
        "--allow-volume",
        &missing,
    ]);
    if !wait_for(Duration::from_secs(10), || {
        child.try_wait().unwrap().is_some()
    }) {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--allow-volume {missing}: cannot resolve it")),
        "{stderr}"
    );
    let cache = format!("{a}/cache");
    let _worker = env.worker(
        &nats,
        "nested",
        &[
            "--docker",
            "--workers",
            "1",
            "--allow-volume",
            &a,
            "--allow-volume",
            &cache,
        ],
    );
    let name = unique("dk-nested");
    env.write(
        "n.yaml",
        format!(
            r#"
name: {name}
tasks:
  plant:
    type: docker
    image: {IMAGE}
    pull: never
    volumes: ['{a}:/data']
    command: rmdir /data/cache && ln -s / /data/cache
  escape:
    type: docker
    image: {IMAGE}
    pull: never
    volumes: ['/:/host']
    command: cat /host/etc/hostname
    depends_on: plant
  through:
    type: docker
    image: {IMAGE}
    pull: never
    volumes: ['{a}/cache/etc:/x']
    command: cat /x/hostname
    depends_on: plant
"#
        ),
    );
    let (code, doc, stderr) = env.run_distributed(&nats, "n.yaml", &[]);
    assert_eq!(code, 1, "{stderr}\n{doc}");
    assert_eq!(task_state(&doc, "plant"), "success", "{doc}");
    assert!(std::fs::symlink_metadata(allowed.join("cache")).is_ok_and(|m| m.is_symlink()));
    for (id, to) in [("escape", "/"), ("through", "/etc")] {
        assert_eq!(task_state(&doc, id), "failed", "{doc}");
        let error = task(&doc, id)["error"].as_str().unwrap();
        assert!(
            error.contains("is not under an allowed path")
                && error.contains(&format!("it resolves to {to}")),
            "{id}: {error}"
        );
    }
    assert!(containers_of(&name).is_empty());
}

/// A Docker engine that answers `/_ping` and `/version` (what the client asks
/// first) and never answers anything else: its address.
fn hanging_engine() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("tcp://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut request = String::new();
                    if reader.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some(v) = header.to_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if header.trim().is_empty() {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    let _ = std::io::Read::read_exact(&mut reader, &mut body);
                    let path = request.split(' ').nth(1).unwrap_or("");
                    let answer = if path.ends_with("/_ping") {
                        "OK".to_string()
                    } else if path.ends_with("/version") {
                        r#"{"ApiVersion":"1.41","Version":"20.10.0","MinAPIVersion":"1.12"}"#
                            .to_string()
                    } else {
                        // Hang: hold the connection open and never answer.
                        std::thread::sleep(Duration::from_secs(3600));
                        return;
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                }
            });
        }
    });
    address
}

/// Attack finding 4: an engine that stops answering costs a docker task its
/// `timeout`, not bollard's two minutes per request, and Ctrl-C acts at once.
#[test]
fn issue_13_a_hanging_engine_costs_the_task_timeout_and_ctrl_c_acts_at_once() {
    let env = Env::new();
    let engine = hanging_engine();
    env.write(
        "h.yaml",
        format!("name: hang\ntasks:\n  a: {{ type: docker, image: {IMAGE}, timeout: 2s, command: echo hi }}\n"),
    );
    let started = std::time::Instant::now();
    let run: crate::common::Run = env
        .cmd(&["run", "h.yaml", "--output", "json"])
        .env("DOCKER_HOST", &engine)
        .output()
        .unwrap()
        .into();
    let took = started.elapsed();
    run.code(1);
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let error = task(&run.json(), "a")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("timed out after 2s")
            && error.contains(&format!("the Docker engine at {engine} did not answer")),
        "{error}"
    );
    // Ctrl-C while the engine hangs: exit 130 at once.
    env.write(
        "l.yaml",
        format!("name: hang\ntasks:\n  a: {{ type: docker, image: {IMAGE}, timeout: 10m, command: echo hi }}\n"),
    );
    let child = env
        .cmd(&["run", "l.yaml", "--output", "json"])
        .env("DOCKER_HOST", &engine)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let signalled = std::time::Instant::now();
    kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "took {:?}",
        signalled.elapsed()
    );
}

/// Attack finding 1: a symbolic link swapped into an allowed directory between the
/// check and the engine's mount. Here the test itself swaps `d` (a directory) and
/// `s` (a link to `/`) in a tight loop while a task mounting `ALLOWED/d` retries
/// until it reads a file outside; every attempt must see the real `d` or be
/// refused.
#[test]
fn issue_13_a_symlink_swapped_in_after_the_check_is_never_mounted() {
    let Some((nats, env, allowed, outside)) = allowed_and_outside("d") else {
        return;
    };
    std::os::unix::fs::symlink("/", allowed.join("s")).unwrap();
    let (a, o) = (allowed.display().to_string(), outside.display().to_string());
    let _worker = env.worker(
        &nats,
        "raced",
        &["--docker", "--workers", "1", "--allow-volume", &a],
    );
    let name = unique("dk-race");
    env.write(
        "r.yaml",
        format!(
            r#"
name: {name}
tasks:
  victim:
    type: docker
    image: {IMAGE}
    pull: never
    volumes: ['{a}/d:/x']
    command: cat /x{o}/secret.txt
    retries: 15
    retry_backoff: fixed
    retry_delay: 10ms
"#
        ),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let stop = stop.clone();
        let dir = std::ffi::CString::new(allowed.as_os_str().as_encoded_bytes()).unwrap();
        std::thread::spawn(move || {
            use nix::libc;
            let mut swaps = 0u64;
            // SAFETY: opens a NUL-terminated path; the descriptor is closed below.
            let fd = unsafe { libc::open(dir.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
            assert!(fd >= 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // `d` and `s` trade places atomically: `d` is always there, a
                // directory or a link to `/`.
                // SAFETY: NUL-terminated names relative to an open directory.
                unsafe {
                    libc::renameat2(fd, c"d".as_ptr(), fd, c"s".as_ptr(), libc::RENAME_EXCHANGE)
                };
                swaps += 1;
            }
            // SAFETY: closes the descriptor opened above.
            unsafe { libc::close(fd) };
            swaps
        })
    };
    let (code, doc, stderr) = env.run_distributed(&nats, "r.yaml", &[]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(flipper.join().unwrap() > 1000);
    let attempts = task(&doc, "victim")["attempts"].as_u64().unwrap();
    assert_eq!(code, 1, "an attempt escaped: {stderr}\n{doc}");
    assert_eq!(attempts, 16, "{doc}");
    let id = doc["run_id"].as_str().unwrap();
    for n in 1..=attempts {
        let log = env
            .run(&["logs", id, "victim", "--attempt", &n.to_string()])
            .stdout;
        assert!(
            !log.contains("outside the allowed path"),
            "attempt {n}: {log}"
        );
    }
    assert!(containers_of(&name).is_empty());
}

/// Attack pass on issue 13: a task that planted a FIFO at a later Docker task's
/// output path wedged `dag run` for ever (the output file was opened for writing
/// with a blocking `open`, on a runtime thread, so even SIGTERM went unanswered).
/// The file is now created afresh: the Docker task runs and its outputs are read.
#[test]
fn a_fifo_planted_at_a_docker_output_path_is_replaced_not_opened() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    std::fs::create_dir(env.path().join("tmp")).unwrap();
    let name = unique("dk-fifo");
    env.write(
        "f.yaml",
        format!(
            "name: {name}\ntasks:\n  d0:\n    type: docker\n    image: {IMAGE}\n    command: 'true'\n  plant:\n    command: |\n      for d in \"$TMPDIR\"/dag-outputs-*; do mkfifo \"$d/$DAG_RUN_ID.d.1\"; done\n      ls \"$TMPDIR\"/dag-outputs-*/\"$DAG_RUN_ID.d.1\"\n    depends_on: [d0]\n  d:\n    type: docker\n    image: {IMAGE}\n    command: echo k=fresh > $DAG_OUTPUT\n    depends_on: [plant]\n"
        ),
    );
    let child = env
        .cmd(&["run", "f.yaml", "--output", "json"])
        .env("TMPDIR", env.path().join("tmp"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = crate::common::finish_within(child, Duration::from_secs(120), "dag run");
    run.code(0);
    let doc = run.json();
    assert_eq!(task(&doc, "d")["outputs"]["k"], "fresh", "{doc}");
}

/// A worker's pinned volumes are bind mounts of the operator's directories inside
/// its private temp directory. When the worker is SIGKILLed, its reaper removes
/// that directory's tree: it must never descend into a mount, or it would delete
/// the operator's data.
#[test]
fn a_sigkilled_worker_s_reaper_never_deletes_through_a_pinned_volume() {
    if !docker_ready() {
        return;
    }
    let Some(nats) = crate::common::nats::NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let allowed = env.path().join("allowed");
    std::fs::create_dir_all(allowed.join("sub")).unwrap();
    std::fs::write(allowed.join("keep.txt"), "the operator's data\n").unwrap();
    std::fs::write(allowed.join("sub/deep.txt"), "more of it\n").unwrap();
    let tmp = env.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let (a, t) = (allowed.display().to_string(), tmp.display().to_string());
    let worker_name = unique("pinned");
    let mut worker = env.worker_with_env(
        &nats,
        &worker_name,
        &["--docker", "--workers", "1", "--allow-volume", &a],
        &[("TMPDIR", &t)],
    );
    let name = unique("dk-pinned");
    env.write(
        "p.yaml",
        format!(
            "name: {name}\ntasks:\n  hold:\n    type: docker\n    image: {IMAGE}\n    pull: never\n    volumes: ['{a}:/data']\n    command: sleep 300\n"
        ),
    );
    let mut run = env.spawn_distributed(&nats, "p.yaml", &[]);
    assert!(
        wait_for(Duration::from_secs(30), || !containers_of(&name).is_empty()
            && !crate::history::entries_with(&tmp, "dag-volumes-").is_empty()),
        "the task's container never started"
    );
    // `dag-volumes-PID-TOKEN-RANDOM`: the worker's pid and its reaper's token.
    let volumes = crate::history::entries_with(&tmp, "dag-volumes-");
    let token = volumes[0].split('-').nth(3).unwrap().to_string();
    let worker_pid = worker.child.id();
    kill(worker_pid, "KILL");
    let _ = worker.child.wait();
    // The reaper keeps the worker's command line until it has removed the temp
    // directories, then execs `dag __reap-containers TOKEN PID`, which removes the
    // container and then the temp directories again: the worker may have died with
    // the container's start request in flight, and Docker makes the missing bind
    // mount sources (the staging mount point, the output file) when it starts it.
    let needle = format!("--name {worker_name} ");
    let reaping = format!("__reap-containers {token} {worker_pid} ");
    let reaped = wait_for(Duration::from_secs(60), || {
        crate::common::pids_with(&needle).is_empty()
            && crate::common::pids_with(&reaping).is_empty()
    });
    let _ = run.kill();
    let _ = run.wait();
    // The reaper detached the staging mount before removing its mount point.
    let mounted = |tmp: &std::path::Path| {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&*tmp.to_string_lossy()))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let left = mounted(&tmp);
    // Whatever staging mount is left is detached before the checks can fail.
    for dir in crate::history::entries_with(&tmp, "dag-volumes-") {
        for e in std::fs::read_dir(tmp.join(&dir)).unwrap().flatten() {
            let _ = Command::new("umount").arg("-l").arg(e.path()).status();
        }
    }
    assert!(
        reaped,
        "the reaper is still running after 60 s: {:?}; temp dir: {:?}",
        [
            crate::common::pids_with(&needle),
            crate::common::pids_with(&reaping)
        ],
        crate::history::entries_with(&tmp, "")
    );
    assert_eq!(
        std::fs::read_to_string(allowed.join("keep.txt")).unwrap(),
        "the operator's data\n"
    );
    assert!(
        allowed.join("sub/deep.txt").exists(),
        "the reaper deleted through the mount"
    );
    assert!(left.is_empty(), "staging mounts left: {left:?}");
    assert!(
        crate::history::entries_with(&tmp, "dag-").is_empty(),
        "{:?}",
        crate::history::entries_with(&tmp, "")
    );
}

#[test]
fn a_cached_docker_task_reads_its_inputs_on_the_host_not_at_its_workdir() {
    if !docker_ready() {
        return;
    }
    let env = Env::new();
    let name = unique("dk-cache");
    env.write("vol/in.txt", "one\n");
    let vol = env.path().join("vol").display().to_string();
    env.write(
        "d.yaml",
        format!(
            "name: {name}\ntasks:\n  t:\n    type: docker\n    image: {IMAGE}\n    pull: never\n    workdir: /data\n    volumes: ['{vol}:/data']\n    command: sh -c 'cat in.txt > out.txt'\n    cache: {{ inputs: [vol/in.txt], outputs: [vol/out.txt] }}\n"
        ),
    );
    let first = env.run_json("d.yaml", &[]);
    first.0.code(0);
    assert_ne!(task(&first.1, "t")["cached"], true);
    std::fs::remove_file(env.path().join("vol/out.txt")).unwrap();
    let (r, doc) = env.run_json("d.yaml", &[]);
    r.code(0);
    assert_eq!(task(&doc, "t")["cached"], true, "{doc}");
    assert_eq!(
        std::fs::read_to_string(env.path().join("vol/out.txt")).unwrap(),
        "one\n"
    );
    // The input read on the host (not at /data): changing it is a miss.
    env.write("vol/in.txt", "two\n");
    let (_, doc) = env.run_json("d.yaml", &[]);
    assert_ne!(task(&doc, "t")["cached"], true, "{doc}");
}
