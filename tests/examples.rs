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
        env.run(&["validate", path]).code(0);
        let mut args = vec!["run", path, "--output", "json"];
        let work = env.path().join("work");
        let work_param = format!("work={}", work.display());
        if text.contains("${{ params.work }}") {
            args.extend(["--param", &work_param]);
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
