//! Every pipeline in `examples/dags/` validates and runs, with the exit code its
//! header promises (`# expect-exit: N`, default 0).

use std::path::Path;

use crate::common::Env;

#[test]
fn every_example_validates_and_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dags");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 4);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect: i32 = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect-exit: "))
            .map_or(0, |n| n.trim().parse().unwrap());
        let env = Env::new();
        let path = file.to_str().unwrap();
        if text.contains("# needs: network") {
            // Validated only: it talks to the internet.
            env.run(&["validate", path]).code(0);
            continue;
        }
        if text.contains("image: dag-test-busybox") {
            // Needs Docker and the test image: see tests/docker.rs, which runs it.
            continue;
        }
        if text.contains("# run-with: examples/embed.rs") {
            // Its functions live in the embedding program; see `the_embed_example_runs`.
            continue;
        }
        env.run(&["validate", path]).code(0);
        let mut args = vec!["run", path, "--output", "json"];
        let work = env.path().join("work");
        let work_param = format!("work={}", work.display());
        if text.contains("${{ params.work }}") {
            args.extend(["--param", &work_param]);
        }
        let server = crate::common::http::Server::start();
        let url_param = format!("base_url={}", server.url(""));
        if text.contains("${{ params.base_url }}") {
            args.extend(["--param", &url_param]);
        }
        let run = env.cmd(&args).env("TMPDIR", env.path()).output().unwrap();
        let run: crate::common::Run = run.into();
        run.code(expect);
        let doc = run.json();
        for t in doc["tasks"].as_array().unwrap() {
            assert!(
                ["success", "failed", "upstream_failed", "skipped"]
                    .contains(&t["state"].as_str().unwrap()),
                "{}: {t}",
                file.display()
            );
        }
    }
}

#[test]
fn the_etl_example_produces_its_report() {
    let env = Env::new();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dags/etl.yaml");
    let work = env.path().join("etl");
    let param = format!("work={}", work.display());
    let run = env.run(&[
        "run",
        file.to_str().unwrap(),
        "--parallel",
        "8",
        "--param",
        &param,
    ]);
    run.code(0);
    let report = std::fs::read_to_string(work.join("report.txt")).unwrap();
    assert!(
        report.starts_with("Sales report for 2025-11-18\n"),
        "{report}"
    );
    assert!(
        report.contains("north,") && report.contains("Top orders:"),
        "{report}"
    );
    assert!(!work.join("scratch").exists(), "cleanup ran");
}

/// The embedding example, built by `cargo test` with the other targets.
fn embed_bin() -> std::path::PathBuf {
    let dag = crate::common::dag_bin();
    let bin = dag.parent().unwrap().join("examples/embed");
    assert!(
        bin.exists(),
        "{} is missing: `cargo test` builds the examples",
        bin.display()
    );
    bin
}

#[test]
fn the_embed_example_runs_its_own_functions() {
    let env = Env::new();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dags/embedded.yaml");
    let out = std::process::Command::new(embed_bin())
        .arg(&file)
        .env("DAG_HOME", env.path().join("state"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Word count: 9 words in 2 texts"),
        "{stdout}"
    );
    // The run is in the store like any other: the CLI reads it back.
    let status = env.run(&["status", "--output", "json"]).json();
    assert_eq!(status["dag"], "embedded");
    assert_eq!(
        crate::common::task(&status, "show")["outputs"]["output"],
        "Word count: 9 words in 2 texts"
    );
    // The plain `dag` binary does not know those functions.
    let r = env.run(&["validate", file.to_str().unwrap()]);
    r.code(2);
    assert!(
        r.stderr.contains("unknown function `count_words`"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_http_example_posts_what_it_measured() {
    let server = crate::common::http::Server::start();
    let env = Env::new();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dags/http.yaml");
    let param = format!("base_url={}", server.url(""));
    env.run(&["run", file.to_str().unwrap(), "--param", &param])
        .code(0);
    let reqs = server.requests();
    let get = reqs.iter().find(|r| r.method == "GET").unwrap();
    let post = reqs.iter().find(|r| r.method == "POST").unwrap();
    let fetched: serde_json::Value = serde_json::from_str(&post.body).unwrap();
    // The GET's response body is the echo of the GET itself; its length is what
    // the bash task measured.
    let echo_of_get = serde_json::json!({"method": get.method, "path": get.path, "headers": get.headers, "body": get.body}).to_string();
    assert_eq!(fetched["fetched_bytes"], echo_of_get.len());
    assert_eq!(post.headers["content-type"], "application/json");
}

#[test]
fn the_fanout_example_merges_its_shards() {
    let env = Env::new();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dags/fanout.yaml");
    let param = format!("work={}", env.path().join("w").display());
    let (run, doc) = env.run_json(file.to_str().unwrap(), &["--param", &param]);
    run.code(0);
    let log = env
        .run(&["logs", doc["run_id"].as_str().unwrap(), "merge"])
        .stdout;
    assert_eq!(log, "total 80200\n");
}
