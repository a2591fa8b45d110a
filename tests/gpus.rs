//! GPUs (`gpus:`, `dag run --gpus`, `dag worker --gpus`), with declared devices
//! (no GPU is needed): concurrent attempts never hold the same device, tasks wait
//! for free ones, a task no machine could serve is told, and what is refused.

use std::time::Duration;

use crate::common::nats::NatsServer;
use crate::common::{Env, task, task_state, wait_for};

/// A bash task that records, in `times/ID`, its start and end (ns) and the
/// devices it was given (`-` for none).
fn recording(id: &str, gpus: u32) -> String {
    format!(
        "  {id}: {{ gpus: {gpus}, command: 'mkdir -p times; s=$(date +%s%N); sleep 0.3; echo \"$s $(date +%s%N) ${{CUDA_VISIBLE_DEVICES:--}} ${{NVIDIA_VISIBLE_DEVICES:--}}\" > times/{id}' }}\n"
    )
}

/// One task's record: start, end, devices.
struct Held {
    id: String,
    start: u64,
    end: u64,
    devices: Vec<String>,
}

/// What the tasks recorded; each task's two variables must name the same devices.
fn held(env: &Env) -> Vec<Held> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(env.path().join("times")).unwrap() {
        let e = e.unwrap();
        let text = std::fs::read_to_string(e.path()).unwrap();
        let f: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(
            f[2], f[3],
            "CUDA_ and NVIDIA_VISIBLE_DEVICES differ: {text}"
        );
        out.push(Held {
            id: e.file_name().to_string_lossy().into_owned(),
            start: f[0].parse().unwrap(),
            end: f[1].parse().unwrap(),
            devices: if f[2] == "-" {
                Vec::new()
            } else {
                f[2].split(',').map(str::to_string).collect()
            },
        });
    }
    out
}

/// Checks that no two tasks held one device at overlapping times, and that each
/// held as many distinct devices as it asked for, all of `devices`.
fn never_shared(held: &[Held], wants: &dyn Fn(&str) -> usize, devices: &[&str]) {
    for h in held {
        let mut distinct = h.devices.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), wants(&h.id), "{}: {:?}", h.id, h.devices);
        assert_eq!(h.devices.len(), wants(&h.id), "{}: {:?}", h.id, h.devices);
        for d in &h.devices {
            assert!(devices.contains(&d.as_str()), "{}: {d}", h.id);
        }
    }
    for a in held {
        for b in held {
            if a.id >= b.id {
                continue;
            }
            let shared = a.devices.iter().any(|d| b.devices.contains(d));
            let overlap = a.start < b.end && b.start < a.end;
            assert!(
                !(shared && overlap),
                "{} {:?} and {} {:?} held a device at once",
                a.id,
                a.devices,
                b.id,
                b.devices
            );
        }
    }
}

#[test]
fn concurrent_tasks_never_hold_the_same_gpu() {
    let env = Env::new();
    let mut yaml = String::from("name: gpus\ntasks:\n");
    for i in 0..4 {
        yaml.push_str(&recording(&format!("one{i}"), 1));
    }
    yaml.push_str(&recording("two", 2));
    yaml.push_str(&recording("none", 0));
    env.write("g.yaml", yaml);
    let wants = |id: &str| match id {
        "two" => 2,
        "none" => 0,
        _ => 1,
    };
    for executor in ["local", "sequential"] {
        let _ = std::fs::remove_dir_all(env.path().join("times"));
        let (r, doc) = env.run_json(
            "g.yaml",
            &["--executor", executor, "--gpus", "2", "--parallel", "8"],
        );
        r.code(0);
        assert_eq!(task_state(&doc, "two"), "success");
        let held = held(&env);
        assert_eq!(held.len(), 6);
        never_shared(&held, &wants, &["0", "1"]);
        if executor == "local" {
            // Six tasks and two GPUs: some waited, and said so.
            assert!(r.stderr.contains("waiting for GPUs"), "{}", r.stderr);
        }
    }
}

#[test]
fn a_run_and_its_sub_dag_runs_share_the_machine_s_gpus() {
    let env = Env::new();
    let mut child = String::from("name: child\ntasks:\n");
    child.push_str(&recording("c0", 1));
    child.push_str(&recording("c1", 1));
    env.write("child.yaml", child);
    let mut parent = String::from("name: parent\ntasks:\n");
    parent.push_str(&recording("p0", 1));
    parent.push_str(&recording("p1", 1));
    parent.push_str("  sub: { type: dag, file: child.yaml }\n");
    env.write("parent.yaml", parent);
    let (r, doc) = env.run_json("parent.yaml", &["--gpus", "1", "--parallel", "8"]);
    r.code(0);
    assert_eq!(task_state(&doc, "sub"), "success");
    let held = held(&env);
    assert_eq!(held.len(), 4);
    never_shared(&held, &|_| 1, &["0"]);
}

#[test]
fn a_task_needing_more_gpus_than_the_machine_has_is_exit_2() {
    let env = Env::new();
    env.write(
        "big.yaml",
        format!("name: big\ntasks:\n{}", recording("train", 3)),
    );
    let r = env.run(&["run", "big.yaml", "--gpus", "2"]);
    r.code(2);
    assert!(
        r.stderr
            .contains("task `train` needs 3 GPUs, and this machine has 2 (--gpus 2)"),
        "{}",
        r.stderr
    );
    // No GPUs declared: none to give.
    let r = env.run(&["run", "big.yaml"]);
    r.code(2);
    assert!(r.stderr.contains("this machine has 0"), "{}", r.stderr);
    // Nothing ran.
    assert!(!env.path().join("times").exists());
    env.run_json("big.yaml", &["--gpus", "3"]).0.code(0);
}

#[test]
fn bad_gpus_are_refused_where_they_are_written() {
    let env = Env::new();
    insta::assert_snapshot!(env.refused(
        "name: bad\ntasks:\n  a: { command: 'true', gpus: -1 }\n  b: { command: 'true', gpus: two }\n  c: { type: http, url: 'http://127.0.0.1:1/', gpus: 1 }\n  d: { type: fn, command: noop, gpus: 1 }\n  e: { command: 'true', gpus: 5000 }\n"
    ));
    env.write("ok.yaml", "name: ok\ntasks:\n  a: { command: 'true' }\n");
    for bad in ["abc", "-1", "1.5", "99999"] {
        for cmd in [
            vec!["run", "ok.yaml", "--gpus", bad],
            vec!["worker", "--gpus", bad],
        ] {
            let r = env.run(&cmd);
            r.code(2);
            assert!(r.stderr.contains("--gpus"), "{cmd:?}: {}", r.stderr);
        }
    }
}

#[test]
fn a_worker_gives_its_gpus_to_one_task_at_a_time() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let mut yaml = String::from("name: gpud\ntasks:\n");
    for i in 0..3 {
        yaml.push_str(&recording(&format!("one{i}"), 1));
    }
    yaml.push_str(&recording("none", 0));
    env.write("g.yaml", yaml);
    let _w = env.worker(&nats, "gpu1", &["--workers", "4", "--gpus", "1"]);
    let (code, doc, stderr) = env.run_distributed(&nats, "g.yaml", &[]);
    assert_eq!(code, 0, "{doc}\n{stderr}");
    assert_eq!(task(&doc, "one0")["worker"], "gpu1");
    let held = held(&env);
    assert_eq!(held.len(), 4);
    never_shared(&held, &|id| if id == "none" { 0 } else { 1 }, &["0"]);
    // Every attempt was its first: no task was handed back or redelivered.
    for t in doc["tasks"].as_array().unwrap() {
        assert_eq!(t["attempts"], 1, "{t}");
    }
}

#[test]
fn a_worker_s_empty_lane_of_bigger_tasks_does_not_keep_its_gpus_idle() {
    // A worker with 2 GPUs also serves the lane of 2-GPU tasks, empty here: in
    // line for both GPUs, it kept the 1-GPU tasks to one at a time.
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let mut yaml = String::from("name: gpul\ntasks:\n");
    for i in 0..4 {
        yaml.push_str(&recording(&format!("one{i}"), 1).replace("sleep 0.3", "sleep 1.5"));
    }
    env.write("g.yaml", yaml);
    let _w = env.worker(&nats, "gpu2", &["--workers", "4", "--gpus", "2"]);
    let (code, doc, stderr) = env.run_distributed(&nats, "g.yaml", &[]);
    assert_eq!(code, 0, "{doc}\n{stderr}");
    let held = held(&env);
    assert_eq!(held.len(), 4);
    never_shared(&held, &|_| 1, &["0", "1"]);
    let overlapping = held
        .iter()
        .filter(|a| {
            held.iter()
                .any(|b| a.id != b.id && a.start < b.end && b.start < a.end)
        })
        .count();
    assert!(
        overlapping >= 2,
        "the 1-GPU tasks ran one at a time on a worker with 2 GPUs"
    );
}

#[test]
fn a_gpu_task_no_live_worker_can_take_is_told_and_waits_for_one() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    env.write(
        "big.yaml",
        format!("name: bigd\ntasks:\n{}", recording("train", 2)),
    );
    let _small = env.worker(&nats, "small", &["--gpus", "1"]);
    let log = |name: &str| {
        std::fs::read_to_string(env.path().join(format!("worker-{name}.log"))).unwrap()
    };
    assert!(
        log("small").contains(", 1 GPU (--gpus 1) on "),
        "{}",
        log("small")
    );
    // `auto` without nvidia-smi: none, and the startup line says why.
    let have_smi = std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .is_ok();
    if !have_smi {
        let _auto = env.worker(&nats, "auto", &["--gpus", "auto"]);
        assert!(
            log("auto").contains(", 0 GPUs (--gpus auto: no nvidia-smi"),
            "{}",
            log("auto")
        );
    }
    let child = env.spawn_distributed(&nats, "big.yaml", &[]);
    // `dag queues` tells the lane of tasks needing 2 GPUs: one waits, no live
    // worker serves it.
    let url = nats.url();
    let mut last = String::new();
    let told = wait_for(Duration::from_secs(20), || {
        let r = env.run(&["queues", "--nats", &url, "--output", "json"]);
        last = r.stdout.clone();
        serde_json::from_str::<serde_json::Value>(&r.stdout).is_ok_and(|d| {
            d["queues"].as_array().unwrap().iter().any(|q| {
                q["gpus"] == 2 && q["waiting"] == 1 && q["workers"] == 0 && q["unserved"] == 1
            })
        })
    });
    assert!(told, "dag queues never told the unserved GPU task: {last}");
    let table = env.run(&["queues", "--nats", &url]);
    assert!(
        table.stdout.contains("default (2 GPUs)"),
        "{}",
        table.stdout
    );
    // A worker with enough GPUs takes it.
    let _big = env.worker(&nats, "big", &["--gpus", "2"]);
    let out = child.wait_with_output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(task(&doc, "train")["worker"], "big");
    assert_eq!(task(&doc, "train")["attempts"], 1);
    never_shared(&held(&env), &|_| 2, &["0", "1"]);
}

#[test]
fn a_docker_task_s_container_requests_its_gpus() {
    if !crate::docker::docker_ready() {
        return;
    }
    let env = Env::new();
    env.write(
        "d.yaml",
        "name: dgpu\ntasks:\n  train: { type: docker, image: 'dag-test-busybox:latest', pull: never, command: 'true', gpus: 2 }\n",
    );
    let (r, doc) = env.run_json("d.yaml", &["--gpus", "3"]);
    // This machine has no NVIDIA runtime: the container is created with the
    // request (as `docker inspect` shows it), and cannot start.
    if task_state(&doc, "train") == "success" {
        // A host with the NVIDIA Container Toolkit and three GPUs.
        return;
    }
    r.code(1);
    let error = task(&doc, "train")["error"].as_str().unwrap().to_string();
    assert!(error.contains("it requests GPUs nvidia [0, 1]"), "{error}");
    assert!(error.contains("NVIDIA Container Toolkit"), "{error}");
}
