//! Pools (`pools:`, `pool:`, `pool_slots:`, `--pool`): never more slots held at
//! once than a pool has, in every executor; the wait shown in progress, status,
//! JSON and `dag pools`; and what is refused.

use std::time::Duration;

use crate::common::nats::NatsServer;
use crate::common::{Env, task, task_state, wait_for};

/// Tasks `t0`..`t{n-1}` of pool `db`, each writing its start and end times (ns)
/// and its slots to `times/ID`, and `free`, which takes no pool.
fn pool_dag(size: u32, n: usize, extra: &str) -> String {
    let mut s = format!("name: pooled\npools: {{ db: {size} }}\ntasks:\n");
    for i in 0..n {
        let slots = if i == n - 1 { 2 } else { 1 };
        s.push_str(&format!(
            "  t{i}: {{ command: 'mkdir -p times; s=$(date +%s%N); sleep 0.3; echo \"$s $(date +%s%N) {slots}\" > times/t{i}', pool: db, pool_slots: {slots}{extra} }}\n"
        ));
    }
    s.push_str("  free: { command: 'sleep 0.3' }\n");
    s
}

/// The most slots held at once, from the tasks' own times.
fn most_held(env: &Env) -> u32 {
    let mut spans = Vec::new();
    for e in std::fs::read_dir(env.path().join("times")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let f: Vec<u64> = text
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        spans.push((f[0], f[1], f[2] as u32));
    }
    spans
        .iter()
        .map(|&(start, ..)| {
            spans
                .iter()
                .filter(|&&(s, e, _)| s <= start && start < e)
                .map(|&(.., slots)| slots)
                .sum::<u32>()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn a_pool_never_has_more_slots_held_than_its_size() {
    let env = Env::new();
    env.write("p.yaml", pool_dag(2, 6, ""));
    for executor in ["local", "sequential"] {
        let _ = std::fs::remove_dir_all(env.path().join("times"));
        let (r, doc) = env.run_json("p.yaml", &["--executor", executor, "--parallel", "8"]);
        r.code(0);
        assert!(most_held(&env) <= 2, "{executor}: {}", most_held(&env));
        if executor == "local" {
            assert_eq!(most_held(&env), 2, "the pool was used to its size");
            // Some task waited, and the wait was told on stderr's progress lines.
            assert!(r.stderr.contains("waiting for pool db"), "{}", r.stderr);
        }
        assert_eq!(task_state(&doc, "t5"), "success");
    }
    // --pool resizes the file's pool (and $DAG_POOLS does too).
    let _ = std::fs::remove_dir_all(env.path().join("times"));
    env.run_json("p.yaml", &["--pool", "db=3", "--parallel", "8"])
        .0
        .code(0);
    assert_eq!(most_held(&env), 3);
    let _ = std::fs::remove_dir_all(env.path().join("times"));
    let r: crate::common::Run = env
        .cmd(&["run", "p.yaml", "--parallel", "8", "--output", "quiet"])
        .env("DAG_POOLS", "db=2,other=1")
        .output()
        .unwrap()
        .into();
    r.code(0);
    assert_eq!(most_held(&env), 2);
}

#[test]
fn instances_of_a_mapped_task_share_their_pool() {
    let env = Env::new();
    env.write(
        "m.yaml",
        "name: m\npools: { db: 2 }\ntasks:\n  each:\n    for_each: [a, b, c, d, e]\n    pool: db\n    command: 'mkdir -p times; s=$(date +%s%N); sleep 0.3; echo \"$s $(date +%s%N) 1\" > times/${{ item }}'\n",
    );
    env.run_json("m.yaml", &["--parallel", "8"]).0.code(0);
    assert_eq!(most_held(&env), 2);
}

#[test]
fn a_waiting_task_shows_in_status_json_and_dag_pools() {
    let env = Env::new();
    env.write(
        "w.yaml",
        "name: w\npools: { db: 1 }\ntasks:\n  first: { command: 'sleep 3', pool: db }\n  second: { command: 'true', pool: db }\n",
    );
    let mut child = env.spawn(&["run", "w.yaml", "--output", "quiet"]);
    let seen = wait_for(Duration::from_secs(5), || {
        let s = env.run(&["status", "latest", "--output", "json"]);
        s.code == 0
            && serde_json::from_str::<serde_json::Value>(&s.stdout)
                .is_ok_and(|d| task(&d, "second")["waiting"] == "waiting for pool db")
    });
    assert!(seen, "the wait never showed in dag status");
    let table = env.run(&["status", "latest"]);
    assert!(
        table.stdout.contains("queued (waiting for pool db)"),
        "{}",
        table.stdout
    );
    let pools = env.run(&["pools", "--output", "json"]);
    pools.code(0);
    let doc: serde_json::Value = serde_json::from_str(&pools.stdout).unwrap();
    assert_eq!(doc[0]["pool"], "db", "{doc}");
    assert_eq!(doc[0]["held"], 1, "{doc}");
    assert_eq!(doc[0]["holders"][0]["task"], "first", "{doc}");
    assert_eq!(doc[0]["waiters"][0]["task"], "second", "{doc}");
    let table = env.run(&["pools"]);
    assert!(table.stdout.contains("first (1)"), "{}", table.stdout);
    assert!(child.wait().unwrap().success());
    let (_, doc) = {
        let s = env.run(&["status", "latest", "--output", "json"]);
        (
            s.code,
            serde_json::from_str::<serde_json::Value>(&s.stdout).unwrap(),
        )
    };
    assert!(task(&doc, "second").get("waiting").is_none(), "{doc}");
    let none = env.run(&["pools"]);
    assert!(
        none.stdout.contains("no run going on uses a pool"),
        "{}",
        none.stdout
    );
}

#[test]
fn a_distributed_run_keeps_to_its_pools() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    env.write("p.yaml", pool_dag(2, 6, ""));
    let _w = env.worker(&nats, "pools", &["--workers", "6"]);
    let (code, doc, stderr) = env.run_distributed(&nats, "p.yaml", &[]);
    assert_eq!(code, 0, "{doc}\n{stderr}");
    assert_eq!(task(&doc, "t0")["worker"], "pools");
    assert!(most_held(&env) <= 2, "{}", most_held(&env));
}

#[test]
fn bad_pools_are_refused_where_they_are_written() {
    let env = Env::new();
    insta::assert_snapshot!(env.refused(
        "name: bad\npools: { db: 0, gpu: 1, data: 2, 'a.b': 2 }\ntasks:\n  a: { command: 'true', pool: bd }\n  b: { command: 'true', pool: gpu, pool_slots: 2 }\n  c: { command: 'true', pool_slots: 1 }\n  d: { command: 'true', pool: nothing }\n  e: { command: 'true', pool: dat }\n"
    ));
    // A pool given on the command line is one the file may name.
    env.write(
        "cli.yaml",
        "name: cli\ntasks:\n  a: { command: 'true', pool: shared }\n",
    );
    env.run(&["validate", "cli.yaml"]).code(2);
    env.run(&["validate", "cli.yaml", "--pool", "shared=1"])
        .code(0);
    env.run_json("cli.yaml", &["--pool", "shared=1"]).0.code(0);
    for bad in ["shared", "shared=0", "a.b=1", "shared=x"] {
        let r = env.run(&["run", "cli.yaml", "--pool", bad]);
        r.code(2);
        assert!(r.stderr.contains("--pool"), "{bad}: {}", r.stderr);
    }
}

/// Tasks `{prefix}0`.. of pool `db` (size 1), each writing its times as
/// [`pool_dag`]'s do.
fn shared_dag(name: &str, prefix: &str, n: usize) -> String {
    let mut s = format!("name: {name}\npools: {{ db: 1 }}\ntasks:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  {prefix}{i}: {{ command: 'mkdir -p times; s=$(date +%s%N); sleep 0.4; echo \"$s $(date +%s%N) 1\" > times/{prefix}{i}', pool: db }}\n"
        ));
    }
    s
}

#[test]
fn distributed_runs_sharing_a_deployment_share_its_pools() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    env.write("a.yaml", shared_dag("runa", "a", 3));
    env.write("b.yaml", shared_dag("runb", "b", 3));
    let _w = env.worker(&nats, "shared", &["--workers", "6"]);
    let a = env.spawn_distributed(&nats, "a.yaml", &[]);
    let b = env.spawn_distributed(&nats, "b.yaml", &[]);
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        std::fs::read_dir(env.path().join("times")).unwrap().count(),
        6
    );
    assert_eq!(most_held(&env), 1, "two runs held pool db at once");
}

#[test]
fn a_killed_driver_s_pool_slots_come_back_after_the_lease() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    env.write(
        "hog.yaml",
        "name: hog\npools: { db: 1 }\ntasks:\n  hog: { command: 'sleep 20', pool: db }\n",
    );
    env.write(
        "next.yaml",
        "name: next\npools: { db: 1 }\ntasks:\n  after: { command: 'true', pool: db }\n",
    );
    let _w = env.worker(&nats, "lease", &["--workers", "4"]);
    let url = nats.url();
    let lease = [("DAG_NATS_POOL_LEASE", "2s")];
    let mut hog = env
        .cmd(&[
            "run",
            "hog.yaml",
            "--executor",
            "distributed",
            "--nats",
            &url,
            "--state",
            "file",
            "-o",
            "quiet",
        ])
        .envs(crate::common::nats::FAST.iter().copied())
        .envs(lease)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let held = wait_for(Duration::from_secs(10), || {
        let p = env.run(&[
            "--state", "nats", "--nats", &url, "pools", "--output", "json",
        ]);
        p.stdout.contains("\"hog\"")
    });
    assert!(held, "the hog never held pool db");
    crate::common::kill(hog.id(), "KILL");
    let _ = hog.wait();
    let r: crate::common::Run = env
        .cmd(&[
            "run",
            "next.yaml",
            "--executor",
            "distributed",
            "--nats",
            &url,
            "--state",
            "file",
            "-o",
            "json",
        ])
        .envs(crate::common::nats::FAST.iter().copied())
        .envs(lease)
        .output()
        .unwrap()
        .into();
    r.code(0);
    assert!(r.stderr.contains("waiting for pool db"), "{}", r.stderr);
    assert_eq!(task_state(&r.json(), "after"), "success");
}

#[test]
fn a_waiting_task_that_ranks_higher_is_not_starved_by_smaller_ones() {
    // `big` wants the whole pool and ranks first; two chains of small tasks of
    // the pool keep one slot taken each: a freed slot must wait for `big`, not
    // go to the next small task of a chain.
    let env = Env::new();
    let mut s = String::from(
        "name: starve\npools: { db: 2 }\ntasks:\n  gate: { command: 'sleep 0.2' }\n  big: { command: 'mkdir -p s; date +%s%N > s/big; sleep 0.3', pool: db, pool_slots: 2, priority: 10, depends_on: [gate] }\n",
    );
    for c in ["a", "b"] {
        for i in 1..=8 {
            let dep = if i > 1 {
                format!(", depends_on: [{c}{}]", i - 1)
            } else {
                String::new()
            };
            s.push_str(&format!(
                "  {c}{i}: {{ command: 'mkdir -p s; date +%s%N > s/{c}{i}; sleep 0.3', pool: db{dep} }}\n"
            ));
        }
    }
    env.write("p.yaml", s);
    env.run_json("p.yaml", &["--parallel", "8"]).0.code(0);
    let at = |t: &str| -> u64 {
        std::fs::read_to_string(env.path().join("s").join(t))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert!(
        at("big") < at("a4") && at("big") < at("b4"),
        "big started after the small tasks that came after it"
    );
}

/// Runs `f` with the `dag_pools` bucket of `nats` (made when missing).
fn with_pools_kv<T>(
    nats: &NatsServer,
    f: impl AsyncFnOnce(async_nats::jetstream::kv::Store) -> T,
) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let kv = match js.get_key_value("dag_pools").await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(async_nats::jetstream::kv::Config {
                    bucket: "dag_pools".into(),
                    history: 1,
                    ..Default::default()
                })
                .await
                .unwrap(),
        };
        f(kv).await
    })
}

#[test]
fn a_waiting_attempt_does_not_make_its_driver_write_the_pool_without_end() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    env.write(
        "hog.yaml",
        "name: hog\npools: { db: 1 }\ntasks:\n  hog: { command: 'sleep 4', pool: db }\n",
    );
    env.write(
        "next.yaml",
        "name: next\npools: { db: 1 }\ntasks:\n  after: { command: 'true', pool: db }\n",
    );
    let _w = env.worker(&nats, "storm", &["--workers", "4"]);
    let hog = env.spawn_distributed(&nats, "hog.yaml", &[]);
    let revision = || {
        with_pools_kv(&nats, async |kv| {
            kv.entry("db").await.unwrap().map_or(0, |e| e.revision)
        })
    };
    assert!(wait_for(Duration::from_secs(10), || revision() > 0));
    let next = env.spawn_distributed(&nats, "next.yaml", &[]);
    std::thread::sleep(Duration::from_millis(1000));
    let before = revision();
    std::thread::sleep(Duration::from_millis(1500));
    let writes = revision() - before;
    // A lease renewal or two, not a write each time a write is seen.
    assert!(
        writes < 10,
        "{writes} writes of pool db in 1.5 s while one attempt waited"
    );
    for child in [hog, next] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_forged_lease_that_never_ends_does_not_hold_a_pool_forever() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let forged = serde_json::json!({
        "size": 1,
        "holders": [{ "id": "x.y.1", "run": "x", "task": "y", "slots": 1, "by": "nobody",
                      "until": u64::MAX, "since": 0 }],
        "waiters": [{ "id": "x.z.1", "run": "x", "task": "z", "slots": 1000000, "by": "nobody",
                      "until": u64::MAX - 1, "since": 0 }],
    });
    with_pools_kv(&nats, async |kv| {
        kv.put("db", serde_json::to_vec(&forged).unwrap().into())
            .await
            .unwrap();
    });
    env.write(
        "next.yaml",
        "name: next\npools: { db: 1 }\ntasks:\n  after: { command: 'true', pool: db }\n",
    );
    let _w = env.worker(&nats, "forged", &["--workers", "2"]);
    let mut child = env.spawn_distributed(&nats, "next.yaml", &[]);
    let done = wait_for(Duration::from_secs(20), || {
        child.try_wait().unwrap().is_some()
    });
    if !done {
        let _ = child.kill();
    }
    assert!(done, "the run waited for a lease that never ends");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn attempts_past_what_the_pool_s_value_can_hold_wait_rather_than_fail() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    // Holders of no slots, all but filling the server's 1 MiB payload limit for
    // 4 s: one more entry and the value could not be written.
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 4_000;
    let mut holders = Vec::new();
    let mut bytes = 0;
    let mut i = 0;
    // Entries of 230 bytes or so, up to 300 bytes short of the limit.
    while bytes < 1_048_576 - 300 {
        let h = serde_json::json!({ "id": format!("x.h{i}.1"), "run": "x", "task": format!("h{i:0>100}"),
                                    "slots": 0, "by": "other", "until": until, "since": 0 });
        bytes += h.to_string().len() + 1;
        holders.push(h);
        i += 1;
    }
    let value = serde_json::json!({ "size": 1, "holders": holders, "waiters": [] });
    with_pools_kv(&nats, async |kv| {
        kv.put("db", serde_json::to_vec(&value).unwrap().into())
            .await
            .unwrap();
    });
    env.write(
        "next.yaml",
        "name: next\npools: { db: 1 }\ntasks:\n  after: { command: 'true', pool: db }\n",
    );
    let _w = env.worker(&nats, "full", &["--workers", "2"]);
    let (code, doc, stderr) = env.run_distributed(&nats, "next.yaml", &[]);
    assert_eq!(code, 0, "{doc}\n{stderr}");
    assert_eq!(task_state(&doc, "after"), "success");
}

#[test]
fn a_killed_worker_s_task_keeps_its_pool_slot_and_gives_it_back_when_it_ends() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    env.write(
        "k.yaml",
        "name: killed\npools: { db: 1 }\ntasks:\n  long: { command: 'mkdir -p times; s=$(date +%s%N); sleep 2.31; echo \"$s $(date +%s%N) 1\" > times/long', pool: db }\n  next: { command: 'mkdir -p times; s=$(date +%s%N); echo \"$s $(date +%s%N) 1\" > times/next', pool: db, priority: -1 }\n",
    );
    let mut first = env.worker(&nats, "doomed", &["--workers", "2"]);
    let child = env.spawn_distributed(&nats, "k.yaml", &[]);
    // Once `long` runs on the first worker, that worker dies; a second takes over.
    let started = wait_for(Duration::from_secs(10), || {
        !crate::common::pids_with("sleep 2.31").is_empty()
    });
    assert!(started, "long never started");
    crate::common::kill(first.child.id(), "KILL");
    let _ = first.child.wait();
    // Its task dies with it (it may be gone already).
    for pid in crate::common::pids_with("sleep 2.31") {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let _second = env.worker(&nats, "heir", &["--workers", "2"]);
    let out = child.wait_with_output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{doc}");
    assert_eq!(task(&doc, "long")["worker"], "heir", "{doc}");
    assert_eq!(task_state(&doc, "next"), "success");
    assert_eq!(most_held(&env), 1, "next ran while long held the pool");
}

#[test]
fn a_running_attempt_whose_holder_entry_went_puts_it_back() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    env.write(
        "hold.yaml",
        "name: hold\npools: { db: 1 }\ntasks:\n  holder: { command: 'sleep 6', pool: db }\n",
    );
    let _w = env.worker(&nats, "keeper", &["--workers", "2"]);
    let url = nats.url();
    let mut run = env
        .cmd(&[
            "run",
            "hold.yaml",
            "--executor",
            "distributed",
            "--nats",
            &url,
            "--state",
            "file",
            "-o",
            "quiet",
        ])
        .envs(crate::common::nats::FAST.iter().copied())
        .env("DAG_NATS_POOL_LEASE", "3s")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let holders = |nats: &NatsServer| {
        with_pools_kv(nats, async |kv| {
            let Ok(Some(bytes)) = kv.get("db").await else {
                return (0usize, serde_json::Value::Null);
            };
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            (v["holders"].as_array().map_or(0, Vec::len), v)
        })
    };
    assert!(wait_for(Duration::from_secs(10), || holders(&nats).0 == 1));
    // The entry goes (an outage longer than the lease, another process's
    // mistake): the driver's next renewal puts it back.
    let (_, mut value) = holders(&nats);
    value["holders"] = serde_json::json!([]);
    with_pools_kv(&nats, async |kv| {
        kv.put("db", serde_json::to_vec(&value).unwrap().into())
            .await
            .unwrap();
    });
    assert_eq!(holders(&nats).0, 0);
    assert!(
        wait_for(Duration::from_secs(4), || holders(&nats).0 == 1),
        "the running attempt's slot never came back: {}",
        holders(&nats).1
    );
    assert!(run.wait().unwrap().success());
}
