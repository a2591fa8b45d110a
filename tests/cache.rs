//! Task result caching (`cache:`): hits and misses as each thing the key covers
//! changes, restored outputs, logs and files, `--no-cache`, expiry, damaged
//! entries, secrets, concurrent savers, `dag cache`, and the workers' shared
//! cache in the NATS object store.

use std::process::Stdio;

use crate::common::nats::NatsServer;
use crate::common::{Env, can_unshare, task, task_state};

/// A build step that counts its executions in `runs.txt` (not an input or an
/// output of the cache), reads `src/*.txt`, `$TARGET` and an upstream output, and
/// writes `dist/out.txt` and an output.
const BUILD: &str = r#"name: build
params:
  flavour: plain
tasks:
  version:
    command: echo "v=$(cat version.txt)" >> "$DAG_OUTPUT"
  compile:
    depends_on: [version]
    command: |
      echo "compiling ${{ params.flavour }} ${{ tasks.version.outputs.v }}"
      echo x >> runs.txt
      mkdir -p dist
      cat src/*.txt > dist/out.txt
      echo "size=$(wc -c < dist/out.txt)" >> "$DAG_OUTPUT"
    cache:
      inputs: [src/*.txt]
      env: [TARGET]
      outputs: [dist]
  use:
    depends_on: [compile]
    command: 'test "$(cat dist/out.txt)" = "$(cat src/*.txt)" && echo "size ${{ tasks.compile.outputs.size }}"'
"#;

/// A change to what the key covers: what, how to make it, how to undo it, and the
/// `dag run` arguments and variables that come with it.
type Change<'a> = (
    &'a str,
    Box<dyn Fn(&Env)>,
    Box<dyn Fn(&Env)>,
    Vec<&'a str>,
    Vec<(&'a str, &'a str)>,
);

fn executions(env: &Env) -> usize {
    std::fs::read_to_string(env.path().join("runs.txt"))
        .unwrap_or_default()
        .lines()
        .count()
}

fn build_env() -> Env {
    let env = Env::new();
    env.write("b.yaml", BUILD);
    env.write("src/a.txt", "alpha\n");
    env.write("version.txt", "1");
    env
}

/// Runs b.yaml with `extra` and `vars`; returns whether compile was cached.
fn run(env: &Env, extra: &[&str], vars: &[(&str, &str)]) -> (bool, serde_json::Value) {
    let mut args = vec!["run", "b.yaml", "--output", "json"];
    args.extend_from_slice(extra);
    let out = env.cmd(&args).envs(vars.iter().copied()).output().unwrap();
    let r: crate::common::Run = out.into();
    r.code(0);
    let doc = r.json();
    assert_eq!(task_state(&doc, "use"), "success", "{doc}");
    (task(&doc, "compile")["cached"] == true, doc)
}

#[test]
fn a_cached_task_runs_again_only_when_what_it_depends_on_changes() {
    for executor in ["local", "sequential"] {
        let env = build_env();
        let ex = ["--executor", executor];
        assert!(!run(&env, &ex, &[]).0, "{executor}: first run");
        assert_eq!(executions(&env), 1);

        // Nothing changed: a hit, outputs, log and the output directory restored.
        std::fs::remove_dir_all(env.path().join("dist")).unwrap();
        let (hit, doc) = run(&env, &ex, &[]);
        assert!(hit, "{executor}: {doc}");
        assert_eq!(executions(&env), 1, "{executor}");
        assert_eq!(task(&doc, "compile")["state"], "success");
        assert_eq!(task(&doc, "compile")["outputs"]["size"], "6");
        let logs = env.run(&["logs", "latest", "compile"]);
        assert!(logs.stdout.contains("compiling plain 1"), "{}", logs.stdout);
        assert!(logs.stdout.contains("cache hit"), "{}", logs.stdout);

        // Each thing the key covers makes a miss; putting it back, a hit again.
        let changes: [Change; 5] = [
            (
                "input file content",
                Box::new(|e| {
                    e.write("src/a.txt", "beta\n");
                }),
                Box::new(|e| {
                    e.write("src/a.txt", "alpha\n");
                }),
                vec![],
                vec![],
            ),
            (
                "a new input file",
                Box::new(|e| {
                    e.write("src/b.txt", "");
                }),
                Box::new(|e| std::fs::remove_file(e.path().join("src/b.txt")).unwrap()),
                vec![],
                vec![],
            ),
            (
                "an upstream output",
                Box::new(|e| {
                    e.write("version.txt", "2");
                }),
                Box::new(|e| {
                    e.write("version.txt", "1");
                }),
                vec![],
                vec![],
            ),
            (
                "the command (a param)",
                Box::new(|_| {}),
                Box::new(|_| {}),
                vec!["--param", "flavour=fancy"],
                vec![],
            ),
            (
                "a cache.env variable",
                Box::new(|_| {}),
                Box::new(|_| {}),
                vec![],
                vec![("TARGET", "arm")],
            ),
        ];
        for (what, change, undo, args, vars) in &changes {
            let before = executions(&env);
            change(&env);
            let mut all = ex.to_vec();
            all.extend_from_slice(args);
            assert!(
                !run(&env, &all, vars).0,
                "{executor}: {what} changed: a hit"
            );
            assert_eq!(executions(&env), before + 1, "{executor}: {what}");
            // The same change again: its own saved result.
            assert!(run(&env, &all, vars).0, "{executor}: {what} again: a miss");
            undo(&env);
            assert!(run(&env, &ex, &[]).0, "{executor}: {what} undone: a miss");
            assert_eq!(executions(&env), before + 1, "{executor}: {what}");
        }

        // --no-cache runs it and refreshes the saved result.
        let before = executions(&env);
        assert!(!run(&env, &[ex.as_slice(), &["--no-cache"]].concat(), &[]).0);
        assert_eq!(executions(&env), before + 1);
        assert!(run(&env, &ex, &[]).0);
    }
}

#[test]
fn the_table_junit_status_and_events_say_cached() {
    let env = build_env();
    run(&env, &[], &[]);
    let r = env.run(&["run", "b.yaml", "--report", "junit.xml"]);
    r.code(0);
    assert!(r.stdout.contains("success (cached)"), "{}", r.stdout);
    let junit = std::fs::read_to_string(env.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("cached: the result of an earlier run"),
        "{junit}"
    );
    let status = env.run(&["status", "latest"]);
    assert!(
        status.stdout.contains("success (cached)"),
        "{}",
        status.stdout
    );
    let markdown = env.run(&["report", "latest"]);
    assert!(
        markdown.stdout.contains("success (cached)"),
        "{}",
        markdown.stdout
    );
    env.run(&["report", "latest", "--format", "html", "-o", "r.html"])
        .code(0);
    let html = std::fs::read_to_string(env.path().join("r.html")).unwrap();
    assert!(html.contains("success (cached)"), "the HTML report");
    let runs = std::fs::read_dir(env.path().join("state/runs")).unwrap();
    let cached_events = runs
        .flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join("run.json")).ok())
        .filter(|text| text.contains("\"cached\":true"))
        .count();
    assert_eq!(
        cached_events, 1,
        "one run's record holds the cached attempt"
    );
}

#[test]
fn an_expired_or_damaged_entry_is_a_miss_and_is_replaced() {
    let env = build_env();
    let text = BUILD.replace("outputs: [dist]", "outputs: [dist]\n      ttl: 1s");
    env.write("b.yaml", text);
    run(&env, &[], &[]);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert!(!run(&env, &[], &[]).0, "expired: a miss");
    let logs = env.run(&["logs", "latest", "compile"]);
    assert!(logs.stdout.contains("expired"), "{}", logs.stdout);
    assert!(run(&env, &[], &[]).0, "saved again: a hit");

    // Each entry cut short, or with a byte changed, is a miss that says why.
    let entry = walk_files(&env.path().join("state/cache"))
        .into_iter()
        .find(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .is_some_and(|d| d != "tmp")
        })
        .unwrap();
    let bytes = std::fs::read(&entry).unwrap();
    for damage in [bytes[..bytes.len() / 2].to_vec(), {
        let mut b = bytes.clone();
        b[12] ^= 0x20;
        b
    }] {
        std::fs::write(&entry, &damage).unwrap();
        let before = executions(&env);
        assert!(!run(&env, &[], &[]).0, "damaged: a miss");
        assert_eq!(executions(&env), before + 1);
        let logs = env.run(&["logs", "latest", "compile"]);
        assert!(logs.stdout.contains("unusable"), "{}", logs.stdout);
        assert!(run(&env, &[], &[]).0, "replaced: a hit");
    }
    // A FIFO or a link where the entry is: a miss, never a hang.
    std::fs::remove_file(&entry).unwrap();
    crate::common::mkfifo(&entry);
    assert!(!run(&env, &[], &[]).0);
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk_files(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn secrets_enter_the_cache_only_as_hashes() {
    let env = Env::new();
    env.write(
        "s.yaml",
        "name: s\ntasks:\n  t:\n    command: 'echo \"token $API_TOKEN\"; echo \"o=$API_TOKEN\" >> \"$DAG_OUTPUT\"'\n    secret_env: [API_TOKEN]\n    cache: { env: [API_TOKEN] }\n",
    );
    let secret = "s3cr3t-value-0123456789";
    for want_hit in [false, true] {
        let out = env
            .cmd(&["run", "s.yaml", "--output", "json"])
            .env("API_TOKEN", secret)
            .output()
            .unwrap();
        let r: crate::common::Run = out.into();
        r.code(0);
        assert_eq!(task(&r.json(), "t")["cached"] == true, want_hit);
    }
    for f in walk_files(&env.path().join("state/cache")) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the secret",
            f.display()
        );
    }
    // Another value of the secret is another key.
    let out = env
        .cmd(&["run", "s.yaml", "--output", "json"])
        .env("API_TOKEN", "another")
        .output()
        .unwrap();
    let r: crate::common::Run = out.into();
    assert!(task(&r.json(), "t")["cached"] != true);
}

#[test]
fn runs_saving_the_same_task_at_once_leave_one_whole_entry() {
    let env = Env::new();
    env.write(
        "c.yaml",
        "name: c\ntasks:\n  t:\n    command: 'head -c 3000000 /dev/urandom > big.bin; echo o=1 >> \"$DAG_OUTPUT\"'\n    cache: { outputs: [big.bin] }\n",
    );
    let children: Vec<_> = (0..4)
        .map(|_| {
            env.cmd(&["run", "c.yaml", "--output", "quiet"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let ls = env.run(&["cache", "ls", "--output", "json"]);
    ls.code(0);
    let listed: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let saved = std::fs::read(env.path().join("big.bin")).unwrap();
    std::fs::remove_file(env.path().join("big.bin")).unwrap();
    let (r, doc) = env.run_json("c.yaml", &[]);
    r.code(0);
    assert_eq!(task(&doc, "t")["cached"], true, "{doc}");
    // The restored file is whichever run saved last: a whole one, 3 MB.
    let restored = std::fs::read(env.path().join("big.bin")).unwrap();
    assert_eq!(restored.len(), 3_000_000);
    let _ = saved;
}

#[test]
fn dag_cache_lists_removes_and_prunes() {
    let env = build_env();
    run(&env, &[], &[]);
    run(&env, &[], &[("TARGET", "arm")]);
    let ls = env.run(&["cache", "ls", "--output", "json"]);
    ls.code(0);
    let listed: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
    let keys: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2, "{listed}");
    assert_eq!(listed[0]["task"], "compile");
    assert_eq!(listed[0]["dag"], "build");
    let table = env.run(&["cache", "ls", "--task", "compile"]);
    assert!(table.stdout.contains("2 saved results"), "{}", table.stdout);
    assert!(table.stdout.contains(&keys[0][..12]), "{}", table.stdout);

    env.run(&["cache", "rm"]).code(2);
    let unknown = env.run(&["cache", "rm", "zzzz"]);
    unknown.code(2);
    assert!(
        unknown.stderr.contains("no saved result"),
        "{}",
        unknown.stderr
    );
    let rm = env.run(&["cache", "rm", &keys[0][..10]]);
    rm.code(0);
    assert!(
        rm.stdout.contains("removed 1 saved result"),
        "{}",
        rm.stdout
    );
    assert!(!run(&env, &[], &[]).0, "removed: a miss");

    let dry = env.run(&["cache", "prune", "--older-than", "1h", "--dry-run"]);
    assert!(dry.stdout.contains("would remove 0"), "{}", dry.stdout);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let prune = env.run(&["cache", "prune", "--older-than", "1s"]);
    prune.code(0);
    assert!(
        prune.stdout.contains("removed 2 saved results"),
        "{}",
        prune.stdout
    );
    run(&env, &[], &[]);
    env.run(&["cache", "rm", "--dag", "build"]).code(0);
    let ls = env.run(&["cache", "ls", "--output", "json"]);
    assert_eq!(ls.stdout.trim(), "[]");
}

#[test]
fn bad_cache_keys_are_refused_where_they_are_written() {
    let env = Env::new();
    insta::assert_snapshot!(env.refused(
        "name: bad\ntasks:\n  a: { command: 'true', cache: { input: [x] } }\n  b: { command: 'true', cache: { outputs: [../out, /etc/x] } }\n  c: { command: 'true', cache: { ttl: 0s, inputs: ['[z'] } }\n  d: { command: 'true', cache: [x] }\n  e: { command: 'true', cache: { env: ['A=B'] } }\n"
    ));
}

#[test]
fn a_pattern_that_matches_nothing_is_a_warning_not_a_failure() {
    let env = Env::new();
    env.write(
        "w.yaml",
        "name: w\ntasks:\n  t: { command: 'true', cache: { inputs: ['missing/*.c'], outputs: [none.txt] } }\n",
    );
    let (r, doc) = env.run_json("w.yaml", &[]);
    r.code(0);
    assert_eq!(task_state(&doc, "t"), "success");
    let logs = env.run(&["logs", "latest", "t"]);
    assert!(
        logs.stdout.contains("`missing/*.c` matches no file"),
        "{}",
        logs.stdout
    );
    assert!(
        logs.stdout.contains("`none.txt` matches no file"),
        "{}",
        logs.stdout
    );
    let (_, doc) = env.run_json("w.yaml", &[]);
    assert_eq!(task(&doc, "t")["cached"], true);
}

/// Starts a worker in `dir` (its inputs and outputs are relative to it), under
/// host name `host` when one is given and a UTS namespace can be made.
fn worker_in(
    env: &Env,
    nats: &NatsServer,
    name: &str,
    dir: &str,
    host: Option<&str>,
) -> crate::common::nats::Worker {
    let url = nats.url();
    let bin = crate::common::dag_bin();
    let mut cmd = match host {
        Some(h) => {
            let mut c = std::process::Command::new("unshare");
            c.args([
                "-u",
                "sh",
                "-c",
                &format!("hostname {h} && exec \"$0\" \"$@\""),
            ])
            .arg(&bin);
            c
        }
        None => std::process::Command::new(&bin),
    };
    cmd.args(["worker", "--name", name, "--nats", &url])
        .current_dir(env.path().join(dir))
        .env("DAG_HOME", env.path().join("state"))
        .envs(crate::common::nats::FAST.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(env.path().join(format!("worker-{name}.log"))).unwrap());
    let child = cmd.spawn().unwrap();
    let worker = crate::common::nats::Worker { child };
    let up = crate::common::wait_for(std::time::Duration::from_secs(15), || {
        let r = env.run(&["workers", "--nats", &url, "--output", "json"]);
        r.stdout.contains(&format!("\"id\": \"{name}\""))
    });
    assert!(up, "worker {name} did not start");
    worker
}

#[test]
fn a_result_saved_by_one_worker_serves_another_host() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    env.write(
        "b.yaml",
        BUILD.replace("echo x >> runs.txt", "echo x >> ../runs.txt"),
    );
    for dir in ["a", "b"] {
        env.write(&format!("{dir}/src/a.txt"), "alpha\n");
        env.write(&format!("{dir}/version.txt"), "1");
    }
    let first = worker_in(&env, &nats, "cache-a", "a", None);
    let (code, doc, stderr) = env.run_distributed(&nats, "b.yaml", &[]);
    assert_eq!(code, 0, "{doc}\n{stderr}");
    assert_ne!(task(&doc, "compile")["cached"], true);
    assert_eq!(executions(&env), 1);
    drop(first);

    let other_host = can_unshare(&["-u"]).then_some("cache-host-b");
    let _second = worker_in(&env, &nats, "cache-b", "b", other_host);
    let (code, doc, stderr) = env.run_distributed(&nats, "b.yaml", &[]);
    assert_eq!(code, 0, "{doc}\n{stderr}");
    let compile = task(&doc, "compile");
    assert_eq!(compile["cached"], true, "{doc}");
    assert_eq!(compile["worker"], "cache-b");
    if let Some(h) = other_host {
        assert_eq!(compile["host"], h, "{doc}");
    }
    assert_eq!(compile["outputs"]["size"], "6");
    assert_eq!(executions(&env), 1, "the second worker did not run it");
    // The output directory came back in the second worker's directory.
    assert_eq!(
        std::fs::read_to_string(env.path().join("b/dist/out.txt")).unwrap(),
        "alpha\n"
    );
    // The deployment's cache is listed and emptied with --state nats.
    let url = nats.url();
    let ls = env.run(&[
        "--state", "nats", "--nats", &url, "cache", "ls", "--output", "json",
    ]);
    ls.code(0);
    let listed: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["task"], "compile");
    // --no-cache travels to the worker.
    let (code, doc, _) = env.run_distributed(&nats, "b.yaml", &["--no-cache"]);
    assert_eq!(code, 0);
    assert_ne!(task(&doc, "compile")["cached"], true);
    assert_eq!(executions(&env), 2);
    env.run(&["--state", "nats", "--nats", &url, "cache", "rm", "--all"])
        .code(0);
    let (_, doc, _) = env.run_distributed(&nats, "b.yaml", &[]);
    assert_ne!(task(&doc, "compile")["cached"], true);
    assert_eq!(executions(&env), 3);
}

/// Publishes `info` as the description of object `key` of the `dag_cache`
/// bucket (what anyone who can write the bucket can do), with `chunk` as its
/// content when one is given.
fn forge_object(nats: &NatsServer, key: &str, info: serde_json::Value, chunk: Option<&[u8]>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        if let Some(chunk) = chunk {
            let subject = format!("$O.dag_cache.C.{}", info["nuid"].as_str().unwrap());
            js.publish(subject, chunk.to_vec().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
        let name = base64_url(key.as_bytes());
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Rollup", "sub");
        js.publish_with_headers(
            format!("$O.dag_cache.M.{name}"),
            headers,
            serde_json::to_vec(&info).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    });
}

#[test]
fn a_forged_object_in_the_workers_cache_is_a_miss_never_a_crash() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    env.write(
        "w.yaml",
        "name: w\ntasks:\n  t:\n    command: echo x >> ../runs.txt\n    cache: {}\n  u:\n    command: 'true'\n    cache: {}\n",
    );
    env.write("a/keep", "");
    let mut worker = worker_in(&env, &nats, "forged", "a", None);
    let (code, _, stderr) = env.run_distributed(&nats, "w.yaml", &[]);
    assert_eq!(code, 0, "{stderr}");
    let url = nats.url();
    let ls = env.run(&[
        "--state", "nats", "--nats", &url, "cache", "ls", "-o", "json",
    ]);
    let listed: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
    let key = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["task"] == "t")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let forgeries = [
        // A link to itself: following it never ends.
        (
            serde_json::json!({"name": key, "bucket": "dag_cache", "nuid": "LINKNUID", "size": 0,
                "chunks": 0, "options": {"link": {"bucket": "dag_cache", "name": key}}}),
            None,
            "a link",
        ),
        // More bytes than its description says.
        (
            serde_json::json!({"name": key, "bucket": "dag_cache", "nuid": "LIENUID", "size": 1,
                "chunks": 1}),
            Some(&b"0123456789"[..]),
            "more than the 1 bytes",
        ),
        // Chunks named by a wildcard: every entry's chunks (replacing it must not
        // purge them all).
        (
            serde_json::json!({"name": key, "bucket": "dag_cache", "nuid": ">", "size": 10,
                "chunks": 1}),
            None,
            "its chunks are named",
        ),
    ];
    for (n, (info, chunk, why)) in forgeries.into_iter().enumerate() {
        forge_object(&nats, &key, info, chunk);
        let (code, doc, stderr) = env.run_distributed(&nats, "w.yaml", &[]);
        assert_eq!(code, 0, "{why}: {doc}\n{stderr}");
        let t = task(&doc, "t");
        assert_ne!(t["cached"], true, "{why}: {doc}");
        assert!(
            worker.child.try_wait().unwrap().is_none(),
            "{why}: the worker died"
        );
        let run_id = doc["run_id"].as_str().unwrap();
        let log = env.run(&["logs", run_id, "t"]).stdout;
        assert!(
            log.contains("unusable") && log.contains(why),
            "{why}: {log}"
        );
        assert_eq!(executions(&env), n + 2);
    }
    // The forgeries were replaced, and the other entry is whole: the next run is
    // two hits, at once.
    let started = std::time::Instant::now();
    let (_, doc, _) = env.run_distributed(&nats, "w.yaml", &[]);
    assert_eq!(task(&doc, "t")["cached"], true, "{doc}");
    assert_eq!(task(&doc, "u")["cached"], true, "{doc}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// `bytes` in URL-safe base64 with padding, as the object store names objects.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

#[test]
fn checking_the_cache_counts_against_the_timeout_and_obeys_a_stop() {
    let env = Env::new();
    // 200 GB to hash (a sparse file: no disk), minutes of work.
    let big = std::fs::File::create(env.path().join("big")).unwrap();
    big.set_len(200 << 30).unwrap();
    env.write(
        "t.yaml",
        "name: t\ntasks:\n  t:\n    timeout: 2s\n    command: echo x >> runs.txt\n    cache:\n      inputs: [big]\n",
    );
    let started = std::time::Instant::now();
    let (_, doc) = env.run_json("t.yaml", &[]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let t = task(&doc, "t");
    assert_eq!(t["state"], "failed", "{doc}");
    assert!(
        t["error"].as_str().unwrap().contains("timed out after 2s"),
        "{doc}"
    );
    assert_eq!(executions(&env), 0);
    // Ctrl-C while the key is being made cancels the attempt at once.
    env.write(
        "t.yaml",
        "name: t\ntasks:\n  t:\n    timeout: 10m\n    command: echo x >> runs.txt\n    cache:\n      inputs: [big]\n",
    );
    let child = env
        .cmd(&["run", "t.yaml", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let stopped = std::time::Instant::now();
    crate::common::kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert!(stopped.elapsed() < std::time::Duration::from_secs(10));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(task(&doc, "t")["state"], "cancelled", "{doc}");
}

#[test]
fn a_hit_that_cannot_be_put_back_leaves_nothing_half_done() {
    let env = Env::new();
    env.write(
        "t.yaml",
        "name: t\ntasks:\n  t:\n    command: test ! -d dist/sub/b && echo x >> runs.txt && mkdir -p dist/sub && echo a > dist/a && echo b > dist/sub/b\n    cache:\n      outputs: [dist]\n",
    );
    env.run_json("t.yaml", &[]);
    // Where the entry's second file goes is now a directory.
    std::fs::write(env.path().join("dist/a"), "changed").unwrap();
    std::fs::remove_file(env.path().join("dist/sub/b")).unwrap();
    std::fs::create_dir_all(env.path().join("dist/sub/b/inside")).unwrap();
    let (_, doc) = env.run_json("t.yaml", &[]);
    let t = task(&doc, "t");
    assert_eq!(t["state"], "failed", "{doc}");
    assert_ne!(t["cached"], true);
    let log = env
        .run(&["logs", doc["run_id"].as_str().unwrap(), "t"])
        .stdout;
    assert!(!log.contains("cache hit"), "{log}");
    assert!(
        log.contains("unusable") && log.contains("is a directory"),
        "{log}"
    );
    // The first file was not put back, and nothing was left beside the places.
    assert_eq!(
        std::fs::read_to_string(env.path().join("dist/a")).unwrap(),
        "changed"
    );
    assert_eq!(walk_files(&env.path().join("dist")).len(), 1);
}

#[test]
fn output_files_behind_a_link_to_a_directory_are_not_saved() {
    let env = Env::new();
    env.write("elsewhere/f.txt", "outside");
    std::os::unix::fs::symlink(env.path().join("elsewhere"), env.path().join("dist")).unwrap();
    env.write(
        "t.yaml",
        "name: t\ntasks:\n  t:\n    command: echo x >> runs.txt\n    cache:\n      outputs: [dist/*]\n",
    );
    let (_, doc) = env.run_json("t.yaml", &[]);
    let log = env
        .run(&["logs", doc["run_id"].as_str().unwrap(), "t"])
        .stdout;
    assert!(
        log.contains("dist/f.txt not saved") && log.contains("symbolic link"),
        "{log}"
    );
    // Nothing of it in the cache, and the next run is a hit (not an entry that
    // cannot be put back).
    for f in walk_files(&env.path().join("state/cache")) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("outside"),
            "{f:?}"
        );
    }
    let (_, doc) = env.run_json("t.yaml", &[]);
    assert_eq!(task(&doc, "t")["cached"], true, "{doc}");
    assert_eq!(executions(&env), 1);
}

#[test]
fn dag_cache_rm_refuses_an_empty_key_and_removes_every_damaged_entry_it_lists() {
    let env = build_env();
    run(&env, &[], &[]);
    let cache = env.path().join("state/cache");
    // Files where no key's entry goes: an odd name, and a key in another shard.
    env.write("state/cache/zz/garbage", "junk");
    env.write("state/cache/ab/cd0123", "junk");
    let listed = |env: &Env| -> Vec<String> {
        let ls = env.run(&["cache", "ls", "-o", "json"]);
        ls.code(0);
        let doc: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
        doc.as_array()
            .unwrap()
            .iter()
            .map(|l| l["key"].as_str().unwrap().to_string())
            .collect()
    };
    let keys = listed(&env);
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.contains(&"zz/garbage".to_string()), "{keys:?}");
    assert!(keys.contains(&"ab/cd0123".to_string()), "{keys:?}");
    // The empty prefix would start every key.
    env.run(&["cache", "rm", ""]).code(2);
    assert_eq!(listed(&env).len(), 3);
    env.run(&["cache", "rm", "zz/garbage"]).code(0);
    assert!(!cache.join("zz/garbage").exists());
    let rm = env.run(&["cache", "rm", "--all"]);
    rm.code(0);
    assert!(
        rm.stdout.contains("removed 2 saved results"),
        "{}",
        rm.stdout
    );
    assert!(listed(&env).is_empty());
    assert!(walk_files(&cache).is_empty());
}

#[test]
fn an_input_directory_that_cannot_be_read_is_never_taken_as_empty() {
    // Root reads every directory: the run is made as nobody.
    let setpriv = std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !setpriv || !root {
        return;
    }
    let env = Env::new();
    env.write("src/a.txt", "a");
    env.write("src/locked/f", "one");
    env.write(
        "t.yaml",
        "name: t\ntasks:\n  t:\n    command: echo x >> runs.txt\n    cache:\n      inputs: [src, 'src/locked/*', f.txt/x]\n",
    );
    use std::os::unix::fs::PermissionsExt;
    for (p, mode) in [("", 0o777), ("src/locked", 0o700), ("t.yaml", 0o644)] {
        std::fs::set_permissions(env.path().join(p), std::fs::Permissions::from_mode(mode))
            .unwrap();
    }
    env.write("f.txt", "a file, not a directory");
    let as_nobody = |env: &Env| {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(crate::common::dag_bin())
            .args(["run", "t.yaml", "--output", "json"])
            .current_dir(env.path())
            .env("HOME", env.path())
            .env("DAG_HOME", env.path().join("state"))
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(task(&doc, "t")["state"], "success", "{doc}");
        doc
    };
    for _ in 0..2 {
        let doc = as_nobody(&env);
        assert_ne!(task(&doc, "t")["cached"], true, "{doc}");
        let log = env
            .run(&["logs", doc["run_id"].as_str().unwrap(), "t"])
            .stdout;
        assert!(
            log.contains("cache: not used") && log.contains("Permission denied"),
            "{log}"
        );
    }
    assert_eq!(executions(&env), 2);
}

#[test]
fn a_directory_or_a_future_time_where_an_entry_is_does_not_stick() {
    let env = build_env();
    run(&env, &[], &[]);
    let entry = walk_files(&env.path().join("state/cache"))
        .into_iter()
        .find(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .is_some_and(|d| d != "tmp")
        })
        .unwrap();
    // A directory where the entry goes: a miss, and the new result replaces it.
    std::fs::remove_file(&entry).unwrap();
    std::fs::create_dir_all(entry.join("inside")).unwrap();
    assert!(!run(&env, &[], &[]).0);
    assert!(entry.is_file(), "the directory was not replaced");
    assert!(run(&env, &[], &[]).0);
    // An entry saved "tomorrow" (a clock far ahead) is expired for a ttl and
    // pruned as damaged.
    let text = BUILD.replace("outputs: [dist]", "outputs: [dist]\n      ttl: 1h");
    env.write("b.yaml", text);
    run(&env, &[], &[]);
    let entry = walk_files(&env.path().join("state/cache"))
        .into_iter()
        .filter(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .is_some_and(|d| d != "tmp")
        })
        .max_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .unwrap();
    let bytes = std::fs::read(&entry).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let at = text.find("\"created_ms\":").unwrap() + "\"created_ms\":".len();
    let end = at + text[at..].find(',').unwrap();
    let now: u64 = text[at..end].parse().unwrap();
    let later = (now + 86_400_000).to_string();
    assert_eq!(
        later.len(),
        end - at,
        "same width, so the header keeps its length"
    );
    let mut forged = bytes.clone();
    forged[at..end].copy_from_slice(later.as_bytes());
    std::fs::write(&entry, &forged).unwrap();
    assert!(!run(&env, &[], &[]).0, "a future entry served a hit");
    let before = env.run(&["cache", "ls", "--output", "json"]).stdout;
    std::fs::write(&entry, &forged).unwrap();
    let prune = env.run(&["cache", "prune", "--older-than", "30d"]);
    prune.code(0);
    assert!(
        prune.stdout.contains("removed 1"),
        "{}\n{before}",
        prune.stdout
    );
}

#[test]
fn a_result_saved_while_a_value_was_not_secret_never_serves_a_run_where_it_is() {
    let env = Env::new();
    let plain = "name: s\ntasks:\n  t:\n    command: 'echo \"token $API_TOKEN\"'\n    cache: { env: [API_TOKEN] }\n";
    env.write("s.yaml", plain);
    let secret = "s3cr3t-value-4242";
    let run = |env: &Env| {
        let r: crate::common::Run = env
            .cmd(&["run", "s.yaml", "--output", "json"])
            .env("API_TOKEN", secret)
            .output()
            .unwrap()
            .into();
        r.code(0);
        r.json()
    };
    run(&env);
    env.write(
        "s.yaml",
        plain.replace("    cache:", "    secret_env: [API_TOKEN]\n    cache:"),
    );
    let doc = run(&env);
    assert_ne!(task(&doc, "t")["cached"], true, "{doc}");
    let logs = env.run(&["logs", "latest", "t"]);
    assert!(!logs.stdout.contains(secret), "{}", logs.stdout);
}
