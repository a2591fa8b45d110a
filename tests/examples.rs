//! Every pipeline in `examples/dags/` validates and runs, with the exit code its
//! header promises (`# expect-exit: N`, default 0) and the arguments it asks for
//! (`# run-args: ...`).

use std::path::Path;

use crate::common::Env;

#[test]
fn every_example_validates_and_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dags");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        // Directories hold the sub-DAGs of the examples, run through them.
        .filter(|p| p.is_file())
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
        // What the example needs to run here (`# run-args: --gpus 2`).
        if let Some(extra) = text.lines().find_map(|l| l.strip_prefix("# run-args: ")) {
            args.extend(extra.split_whitespace());
        }
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
        let mut doc = run.json();
        if text.contains("cache:") {
            // The second run restores the cached steps.
            let again = env.cmd(&args).env("TMPDIR", env.path()).output().unwrap();
            let again: crate::common::Run = again.into();
            again.code(expect);
            doc = again.json();
            assert!(
                doc["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["cached"] == true),
                "{}: nothing cached the second time: {doc}",
                file.display()
            );
        }
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

/// The README's table of examples names every file in `examples/dags/`.
#[test]
fn every_example_is_listed_in_the_readme() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dags");
    let text = readme();
    let mut missing: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !text.contains(&format!("| `{name}` |")))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "README.md's table of examples lacks {missing:?}"
    );
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

// The README's first minute: the blocks marked `<!-- readme-test: NAME -->` run as
// written, with the binary under test as `dag` (the one line they cannot run is the
// README's `cargo install --locked --path .`, which puts this binary on the PATH).

/// The README's text.
fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(path).unwrap()
}

/// The fenced block right after `<!-- readme-test: NAME -->`: its info string (`sh`,
/// `yaml`, ...) and its text.
#[track_caller]
fn readme_block(readme: &str, name: &str) -> (String, String) {
    let marker = format!("<!-- readme-test: {name} -->");
    let found: Vec<_> = readme.match_indices(&marker).collect();
    assert_eq!(
        found.len(),
        1,
        "README.md must hold `{marker}` once, right above the block it marks"
    );
    let after = &readme[found[0].0 + marker.len()..];
    let mut lines = after.lines();
    assert_eq!(lines.next(), Some(""), "`{marker}` ends its line");
    let fence = lines.next().unwrap_or_default();
    let info = fence
        .strip_prefix("```")
        .unwrap_or_else(|| panic!("`{marker}` is followed by a fenced block, not {fence:?}"));
    let mut body = String::new();
    for line in lines {
        if line == "```" {
            return (info.to_string(), body);
        }
        body.push_str(line);
        body.push('\n');
    }
    panic!("the block after `{marker}` is not closed");
}

/// Runs a README script in `env` and fails, naming the block, unless it succeeds.
#[track_caller]
fn run_readme_script(env: &Env, name: &str, script: &str) -> crate::common::Run {
    let run: crate::common::Run = env.sh(script).output().unwrap().into();
    assert_eq!(
        run.code, 0,
        "README block `{name}` failed as written:\n{script}\n--- stdout\n{}\n--- stderr (each command after `+`)\n{}",
        run.stdout, run.stderr
    );
    run
}

/// What a run's table and summary line say, without what varies from run to run:
/// each line as a list of cells; durations and the run id are `*`, borders are their
/// first character.
fn result_shape(output: &str) -> Vec<Vec<String>> {
    let mut duration_column = None;
    let mut shape = Vec::new();
    for line in output.lines() {
        let first = line.chars().next().unwrap_or(' ');
        if "┌╞├└".contains(first) {
            shape.push(vec![first.to_string()]);
        } else if let Some(row) = line.strip_prefix('│') {
            let mut cells: Vec<String> = row
                .trim_end_matches('│')
                .split('┆')
                .map(|c| c.trim().to_string())
                .collect();
            match duration_column {
                None => duration_column = cells.iter().position(|c| c == "duration"),
                Some(i) => cells[i] = "*".into(),
            }
            shape.push(cells);
        } else if let Some(rest) = line.strip_prefix("run ") {
            // `run ID STATE: COUNTS in DURATION`
            let (id, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let (what, took) = rest.rsplit_once(" in ").unwrap_or((rest, ""));
            assert!(
                is_run_id(id) && is_duration(took),
                "not a summary line: {line:?}"
            );
            shape.push(vec!["run".into(), "*".into(), what.into(), "*".into()]);
        } else {
            shape.push(vec![line.to_string()]);
        }
    }
    shape
}

/// `20261126T045533528Z-afb6`
fn is_run_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 24
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..18].iter().all(u8::is_ascii_digit)
        && &b[18..20] == b"Z-"
        && b[20..].iter().all(u8::is_ascii_hexdigit)
}

/// `27ms`, `1.2s`, `1m3s`
fn is_duration(d: &str) -> bool {
    d.starts_with(|c: char| c.is_ascii_digit())
        && d.ends_with(|c: char| c.is_ascii_alphabetic())
        && d.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
}

#[test]
fn the_readme_first_run_runs_and_prints_what_the_readme_shows() {
    let text = readme();
    let (info, script) = readme_block(&text, "first-run");
    assert_eq!(info, "sh");
    assert!(
        script.lines().any(|l| l.starts_with("dag run")),
        "the first run runs a DAG:\n{script}"
    );
    let env = Env::new();
    let run = run_readme_script(&env, "first-run", &script);

    // The output shown is what `dag run` prints today, but for times and the run id.
    let (_, shown) = readme_block(&text, "first-run-output");
    let (want, got) = (result_shape(&shown), result_shape(&run.stdout));
    assert!(
        got.iter().any(|l| l.first().is_some_and(|c| c == "run")),
        "no summary line:\n{}",
        run.stdout
    );
    assert_eq!(
        want, got,
        "README.md's first-run output is not what `dag run` prints; it printed:\n{}",
        run.stdout
    );

    // Then each `$ COMMAND` of the console block prints the lines under it.
    let (info, console) = readme_block(&text, "first-run-logs");
    assert_eq!(info, "console");
    let mut commands: Vec<(String, String)> = Vec::new();
    for line in console.lines() {
        match (line.strip_prefix("$ "), commands.last_mut()) {
            (Some(command), _) => commands.push((command.to_string(), String::new())),
            (None, Some((_, out))) => {
                out.push_str(line);
                out.push('\n');
            }
            (None, None) => panic!("the console block starts with a `$ ` command: {line:?}"),
        }
    }
    assert!(!commands.is_empty());
    for (command, want) in commands {
        let run = run_readme_script(&env, "first-run-logs", &command);
        assert_eq!(run.stdout, want, "`{command}` in README.md");
    }
}

#[test]
fn the_readme_first_pipeline_runs_as_written() {
    let text = readme();
    let (info, yaml) = readme_block(&text, "first-pipeline");
    assert_eq!(info, "yaml");
    // The block says the file it is, on its first line: `# etl.yaml`.
    let file = yaml
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .filter(|f| f.ends_with(".yaml") && !f.contains(['/', ' ']))
        .unwrap_or_else(|| panic!("the first pipeline's first line names its file:\n{yaml}"))
        .to_string();
    let (info, script) = readme_block(&text, "first-pipeline-commands");
    assert_eq!(info, "sh");
    assert!(
        script
            .lines()
            .any(|l| l.starts_with(&format!("dag run {file}"))),
        "the commands run {file}:\n{script}"
    );
    let env = Env::new();
    env.write(&file, &yaml);
    let run = run_readme_script(&env, "first-pipeline-commands", &script);

    // The last command shows a task's log, and its comment says what the log
    // holds (`# a task's output: north,165 and south,80`): the pipeline computes
    // that, not merely succeeds.
    let last = script.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    let (command, said) = last
        .split_once('#')
        .and_then(|(c, comment)| Some((c.trim(), comment.split_once("output: ")?.1)))
        .unwrap_or_else(|| {
            panic!("the commands end with `dag logs ... # ...output: LINE and LINE`:\n{script}")
        });
    assert!(command.starts_with("dag logs "), "{last}");
    let want: String = said
        .split(" and ")
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    assert!(
        run.stdout.ends_with(&want),
        "`{command}` printed, at the end of:\n{}\nnot what README.md says:\n{want}",
        run.stdout
    );

    // Every run those commands made succeeded, every task of them too.
    let runs = env.run(&["runs", "--output", "json"]);
    let runs = runs.code(0).json();
    let runs = runs.as_array().unwrap();
    assert!(!runs.is_empty(), "the commands made no run");
    for run in runs {
        assert_eq!(run["state"], "success", "{run}");
        for t in run["tasks"].as_array().unwrap() {
            assert_eq!(t["state"], "success", "{t}");
        }
    }
}
