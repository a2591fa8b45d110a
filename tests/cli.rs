//! The command line's fit with shells and tools: completions, man pages, graphs.

use std::path::Path;

use crate::common::Env;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_completions_are_current() {
    let env = Env::new();
    for (shell, file) in [
        ("bash", "dag.bash"),
        ("zsh", "_dag"),
        ("fish", "dag.fish"),
        ("powershell", "_dag.ps1"),
        ("elvish", "dag.elv"),
    ] {
        let generated = env.run(&["completions", shell]);
        generated.code(0);
        let committed =
            std::fs::read_to_string(root().join("completions").join(file)).unwrap_or_default();
        assert!(
            generated.stdout == committed,
            "completions/{file} is stale: run scripts/gen-docs.sh and commit the result"
        );
    }
}

#[test]
fn committed_man_pages_are_current() {
    let env = Env::new();
    let out = env.path().join("man");
    env.run(&["man", "--out", out.to_str().unwrap()]).code(0);
    let list = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let names = list(&out);
    assert!(
        names.contains(&"dag.1".to_string()) && names.contains(&"dag-run.1".to_string()),
        "{names:?}"
    );
    assert_eq!(
        names,
        list(&root().join("man")),
        "man/ is stale: run scripts/gen-docs.sh"
    );
    for name in names {
        let fresh = std::fs::read_to_string(out.join(&name)).unwrap();
        let committed = std::fs::read_to_string(root().join("man").join(&name)).unwrap();
        assert!(
            fresh == committed,
            "man/{name} is stale: run scripts/gen-docs.sh and commit the result"
        );
    }
}

#[test]
fn bash_completes_commands_and_flags() {
    let script = root().join("completions/dag.bash");
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let program = format!(
            "source {}\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n_dag dag '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            script.display(),
            words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            words.len() - 1,
            words.last().unwrap(),
            words.get(words.len().wrapping_sub(2)).unwrap_or(&""),
        );
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(program)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let commands = complete("dag re");
    assert!(commands.lines().any(|l| l == "retry"), "{commands}");
    let flags = complete("dag run --exe");
    assert!(flags.lines().any(|l| l == "--executor"), "{flags}");
    let values = complete("dag run --executor ");
    for v in ["sequential", "local", "distributed"] {
        assert!(values.lines().any(|l| l == v), "{values}");
    }
}

#[test]
fn graphs_as_text_dot_and_mermaid() {
    let env = Env::new();
    let file = root().join("examples/dags/diamond.yaml");
    let file = file.to_str().unwrap();
    for format in ["text", "dot", "mermaid"] {
        let out = env.run(&["graph", file, "--format", format]);
        out.code(0);
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(format!("graph__diamond_{format}"), out.stdout);
        });
    }
    // The DOT output renders with Graphviz.
    let has_dot = std::process::Command::new("dot").arg("-V").output().is_ok();
    if !has_dot {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs Graphviz's `dot` (Debian package graphviz)"
        );
        return;
    }
    let dot = env.run(&["graph", file, "--format", "dot"]);
    let mut render = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(render.stdin.as_mut().unwrap(), dot.stdout.as_bytes()).unwrap();
    let svg = render.wait_with_output().unwrap();
    assert!(svg.status.success());
    assert!(
        String::from_utf8_lossy(&svg.stdout).contains("<svg"),
        "no SVG"
    );
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let env = Env::new();
    env.write(
        "p.yaml",
        "name: plan\nparams: { who: world }\ntasks:\n  a: { command: 'touch ran; echo hello ${{ params.who }}' }\n  b: { command: 'true', depends_on: a }\n  c: { command: 'true' }\n",
    );
    let r = env.run(&["run", "p.yaml", "--dry-run", "--param", "who=you"]);
    r.code(0);
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("dry_run_plan", r.stdout);
    });
    assert!(!env.path().join("ran").exists());
    assert!(
        !env.path().join("state").exists(),
        "a dry run creates no state"
    );
    // As JSON: the same plan, and the same graph as `dag graph --format json`.
    let plan = env.run(&[
        "run",
        "p.yaml",
        "--dry-run",
        "--param",
        "who=you",
        "-o",
        "json",
        "-p",
        "3",
    ]);
    let doc = plan.json();
    assert_eq!(doc["executor"], "local");
    assert_eq!(doc["parallel"], 3);
    assert_eq!(doc["waves"], 2);
    let tasks: Vec<(String, u64, String)> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["wave"].as_u64().unwrap(),
                t["command"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        [
            ("a".into(), 1, "touch ran; echo hello you".into()),
            ("b".into(), 2, "true".into()),
            ("c".into(), 1, "true".into()),
        ]
    );
    let graph = env.run(&["graph", "p.yaml", "--format", "json"]).json();
    assert_eq!(graph["tasks"][1], doc["tasks"][1]);
    assert_eq!(graph["tasks"][0]["command"], "touch ran; echo hello world");
    assert!(!env.path().join("ran").exists());
    env.run(&["run", "p.yaml", "--dry-run", "-q"]).code(0);
    assert_eq!(env.run(&["run", "p.yaml", "--dry-run", "-q"]).stdout, "");
}

/// The path of Jenkins' `junit-10.xsd` (scripts/junit-xsd.sh fetches it), or `None`
/// outside CI when it or xmllint cannot be had; in CI that is a failure.
fn junit_schema() -> Option<std::path::PathBuf> {
    let fetched = std::process::Command::new("bash")
        .arg(root().join("scripts/junit-xsd.sh"))
        .output()
        .ok()
        .filter(|o| o.status.success());
    let lint = std::process::Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    match fetched {
        Some(o) if lint => Some(String::from_utf8_lossy(&o.stdout).trim().into()),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "the JUnit test needs xmllint (Debian's libxml2-utils) and junit-10.xsd \
                 (scripts/junit-xsd.sh fetches it from PyPI; scripts/test.sh installs both), and CI is set"
            );
            eprintln!("skipped: no xmllint or junit-10.xsd here");
            None
        }
    }
}

/// `report` validated against junit-10.xsd and read as GitLab reads it: the test
/// cases by name, as (status, details).
fn junit_cases(
    schema: &Path,
    report: &Path,
) -> std::collections::BTreeMap<String, (String, String)> {
    let check = std::process::Command::new("python3")
        .arg(root().join("tests/junit_check.py"))
        .args([schema, report])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "the report does not validate: {}\n{}",
        String::from_utf8_lossy(&check.stderr),
        std::fs::read_to_string(report).unwrap()
    );
    let cases: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(c["time"].as_f64().is_some(), "{c}");
            (
                c["name"].as_str().unwrap().to_string(),
                (
                    c["status"].as_str().unwrap().to_string(),
                    c["details"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn junit_report_for_ci() {
    let Some(schema) = junit_schema() else {
        return;
    };
    let env = Env::new();
    env.write(
        "ci.yaml",
        r#"name: ci
tasks:
  ok: { command: "echo fine" }
  broken:
    command: "printf 'line one\\n\\033[31mred <&> \"q\"\\033[0m\\x01\\xef\\xbf\\xbf \\xe2\\x80\\xae rtl\\n'; exit 3"
  flaky:
    command: "test -e marker || { touch marker; echo first; exit 1; }"
    retries: 1
    retry_delay: 0s
  always_broken:
    command: "echo try; exit 2"
    retries: 1
    retry_delay: 0s
  after: { command: "true", depends_on: [broken] }
  only_on_failure: { command: "true", depends_on: [ok], trigger_rule: all_failed }
"#,
    );
    let report = env.path().join("report.xml");
    let r = env.run(&["run", "ci.yaml", "-q", "--report", report.to_str().unwrap()]);
    r.code(1);
    assert!(
        r.stdout.is_empty() && r.stderr.is_empty(),
        "--quiet prints nothing: {} {}",
        r.stdout,
        r.stderr
    );
    let xml = std::fs::read_to_string(&report).unwrap();
    let cases = junit_cases(&schema, &report);
    let status = |t: &str| cases[t].0.as_str();
    assert_eq!(status("ok"), "success");
    assert_eq!(status("flaky"), "success");
    assert_eq!(status("broken"), "failed");
    assert_eq!(status("always_broken"), "failed");
    assert_eq!(status("after"), "skipped", "{xml}");
    assert_eq!(status("only_on_failure"), "skipped", "{xml}");
    // The failure's text is the end of its log, once, with colour codes and what
    // XML cannot hold dropped and a bidi override made visible.
    let details = &cases["broken"].1;
    assert!(
        details.starts_with("line one\nred <&> \"q\""),
        "{details:?}"
    );
    assert!(details.contains("\\u{202e} rtl"), "{details:?}");
    assert!(
        !details.contains('\u{1b}') && !details.contains('\u{1}'),
        "{details:?}"
    );
    assert_eq!(xml.matches("line one").count(), 1, "{xml}");
    assert!(!xml.contains("<system-out>"), "{xml}");
    assert!(
        xml.contains(r#"<failure message="exit code 3" type="failed">"#),
        "{xml}"
    );
    // Why a task did not run is the text GitLab shows.
    assert!(
        cases["after"].1.contains("upstream"),
        "{:?}",
        cases["after"]
    );
    assert!(xml.contains(r#"type="upstream_failed""#), "{xml}");
    // Earlier attempts: flaky for a task that succeeded in the end, reruns for one
    // that did not.
    assert!(
        xml.contains(r#"<flakyFailure message="attempt 1: exit code 1" type="failed">"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<rerunFailure message="attempt 1: exit code 2" type="failed">"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testsuite name="ci" tests="6" skipped="2" errors="0" failures="2""#),
        "{xml}"
    );
    // `dag report --format junit` writes the same document later.
    let again = env.run(&["report", "latest", "--format", "junit"]);
    again.code(0);
    assert_eq!(again.stdout, xml);

    // A task stopped by --fail-fast is skipped as cancelled.
    env.write(
        "stop.yaml",
        "name: stop\ntasks:\n  fails: { command: 'exit 1' }\n  wait: { command: 'sleep 1' }\n  later: { command: 'true', depends_on: [wait] }\n",
    );
    let stopped = env.path().join("stopped.xml");
    env.run(&[
        "run",
        "stop.yaml",
        "-q",
        "--fail-fast",
        "--parallel",
        "2",
        "--report",
        stopped.to_str().unwrap(),
    ])
    .code(1);
    let cases = junit_cases(&schema, &stopped);
    assert_eq!(cases["fails"].0, "failed");
    assert_eq!(cases["later"].0, "skipped");
    assert!(
        std::fs::read_to_string(&stopped)
            .unwrap()
            .contains(r#"type="cancelled""#)
    );
}

/// Each instance of a mapped task is a test case of its own, named by its id, with
/// its own status: from a list in the file, a matrix, and a list read at run time.
#[test]
fn junit_lists_each_instance_as_a_test_case() {
    let Some(schema) = junit_schema() else {
        return;
    };
    let env = Env::new();
    env.write(
        "m.yaml",
        r#"name: mapped
tasks:
  each:
    for_each: [1, 2, 3]
    command: echo "item ${{ item }}"; test ${{ item }} != 2
  build:
    matrix: { region: [eu, us] }
    command: echo ${{ matrix.region }}
  list: { command: 'echo "files=[\"a\", \"b\"]" >> "$DAG_OUTPUT"' }
  convert:
    depends_on: list
    for_each: ${{ tasks.list.outputs.files }}
    command: echo ${{ item }}
  none: { for_each: [], command: 'true' }
  report: { command: 'true', depends_on: [each, build, convert] }
"#,
    );
    let report = env.path().join("m.xml");
    env.run(&["run", "m.yaml", "-q", "--report", report.to_str().unwrap()])
        .code(1);
    let cases = junit_cases(&schema, &report);
    let names: Vec<&str> = cases.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "build.eu",
            "build.us",
            "convert",
            "convert.0",
            "convert.1",
            "each.0",
            "each.1",
            "each.2",
            "list",
            "none",
            "report"
        ]
    );
    let status = |t: &str| cases[t].0.as_str();
    for t in [
        "each.0",
        "each.2",
        "build.eu",
        "build.us",
        "convert.0",
        "convert.1",
    ] {
        assert_eq!(status(t), "success", "{t}");
    }
    assert_eq!(status("each.1"), "failed");
    assert_eq!(cases["each.1"].1, "item 2", "the instance's own log");
    // The stand-in of a list read at run time is its expansion.
    assert_eq!(status("convert"), "success");
    assert_eq!(status("none"), "skipped");
    assert_eq!(status("report"), "skipped");
    let xml = std::fs::read_to_string(&report).unwrap();
    assert!(
        xml.contains(r#"<testsuite name="mapped" tests="11" skipped="2" errors="0" failures="1""#),
        "{xml}"
    );
}

/// What a log holds besides its escape sequences reaches the report: tabs and
/// carriage returns (quick-junit would drop them), the lines after a sequence cut
/// short, and an error's line breaks in its `message` attribute.
#[test]
fn junit_keeps_tabs_and_the_lines_after_a_cut_escape() {
    let Some(schema) = junit_schema() else {
        return;
    };
    let env = Env::new();
    env.write(
        "t.yaml",
        r#"name: t
tasks:
  go_test:
    command: "printf '\\033[31m--- FAIL\\033[0m\\tTestX\\tx_test.go:12\\nhalf\\rdone\\ncut \\033]8;;http://x\\nthe error\\nlast line\\n'; exit 1"
  said:
    type: fn
    command: "fail first line\nsecond\tline"
"#,
    );
    let report = env.path().join("t.xml");
    env.run(&["run", "t.yaml", "-q", "--report", report.to_str().unwrap()])
        .code(1);
    let cases = junit_cases(&schema, &report);
    assert_eq!(
        cases["go_test"].1,
        "--- FAIL\tTestX\tx_test.go:12\nhalf\rdone\ncut \nthe error\nlast line"
    );
    let xml = std::fs::read_to_string(&report).unwrap();
    assert!(
        xml.contains(r#"<failure message="first line&#10;second&#9;line""#),
        "{xml}"
    );
}

#[test]
fn color_never_and_globbed_validate() {
    let env = Env::new();
    env.write("a.yaml", "name: a\ntasks:\n  x: { command: 'true' }\n");
    env.write("b.yaml", "name: b\ntasks:\n  x: { command: 'true' }\n");
    env.write("c.yml", "not: [valid\n");
    let r = env.run(&["validate", "*.yaml", "--color", "never"]);
    r.code(0);
    assert_eq!(
        r.stdout,
        "./a.yaml: ok (a, 1 task)\n./b.yaml: ok (b, 1 task)\n"
    );
    let none = env.run(&["validate", "*.json"]);
    none.code(2);
    assert!(
        none.stderr.contains("no file matches *.json"),
        "{}",
        none.stderr
    );
    let bad = env.run(&["validate", "c.yml", "--color", "never"]);
    bad.code(2);
    assert!(!bad.stderr.contains('\u{1b}'), "{}", bad.stderr);
}

/// Runs tests/schema_check.py over `files` with the schema `dag schema` prints.
fn check_schema(env: &Env, files: &[std::path::PathBuf]) -> Vec<(String, bool)> {
    let schema = env.run(&["schema"]);
    schema.code(0);
    let path = env.path().join("schema.json");
    std::fs::write(&path, &schema.stdout).unwrap();
    if !crate::common::python_has("jsonschema, yaml", "packages jsonschema and pyyaml") {
        return Vec::new();
    }
    let out = std::process::Command::new("python3")
        .arg(root().join("tests/schema_check.py"))
        .arg(&path)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| (l.to_string(), l.starts_with("ok ")))
        .collect()
}

fn yaml_files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_schema_matches_the_parser() {
    let env = Env::new();
    let schema: serde_json::Value = serde_json::from_str(&env.run(&["schema"]).stdout).unwrap();
    assert_eq!(schema["title"], "dag DAG file, format version 1");
    // Every example and valid fixture passes the schema...
    let mut good = yaml_files("examples/dags");
    good.extend(yaml_files("tests/fixtures/valid"));
    for (line, ok) in check_schema(&env, &good) {
        assert!(ok, "{line}");
    }
    // ...and the invalid fixtures of the wrong-key and wrong-type kinds fail it.
    let bad: Vec<_> = [
        "unknown_keys",
        "wrong_types",
        "bad_names",
        "trigger_rules",
        "wrong_type_keys",
        "tasks_not_map",
        "not_a_map",
        "missing_name",
        "empty_tasks",
        "task_not_map",
        "bad_durations",
        "fn_unknown",
    ]
    .iter()
    .map(|n| root().join(format!("tests/fixtures/invalid/{n}.yaml")))
    .collect();
    for (line, ok) in check_schema(&env, &bad) {
        assert!(!ok, "the schema accepts what dag refuses: {line}");
    }
}

#[test]
fn flags_beat_environment_beat_config_file() {
    let env = Env::new();
    env.write("p.yaml", "name: p\ntasks:\n  a: { command: 'true' }\n");
    env.write("dag.yaml", "executor: sequential\nparallel: 3\n");
    let plan = |extra_env: &[(&str, &str)], args: &[&str]| {
        let mut all = vec!["--config", "dag.yaml", "run", "p.yaml", "--dry-run"];
        all.extend_from_slice(args);
        let out = env
            .cmd(&all)
            .env_remove("DAG_EXECUTOR")
            .env_remove("DAG_PARALLEL")
            .envs(extra_env.iter().copied())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        plan(&[], &[]).contains("executor sequential, --parallel 3"),
        "{}",
        plan(&[], &[])
    );
    let from_env = plan(&[("DAG_EXECUTOR", "local"), ("DAG_PARALLEL", "5")], &[]);
    assert!(
        from_env.contains("executor local, --parallel 5"),
        "{from_env}"
    );
    let from_flags = plan(
        &[("DAG_PARALLEL", "5")],
        &["--parallel", "7", "--executor", "local"],
    );
    assert!(
        from_flags.contains("executor local, --parallel 7"),
        "{from_flags}"
    );
    // Docker defaults: a task that names no image is valid once the config file
    // gives one, and the volume list reaches the runner.
    env.write(
        "d.yaml",
        "name: d\ntasks:\n  a: { type: docker, command: 'true' }\n",
    );
    let no_image = env.cmd(&["validate", "d.yaml"]).output().unwrap();
    assert_eq!(no_image.status.code(), Some(2));
    env.write(
        "docker.yaml",
        "docker_image: img:1\ndocker_volumes: [/srv/in:/in:ro, nowhere]\n",
    );
    let valid = env.run(&["--config", "docker.yaml", "validate", "d.yaml"]);
    valid.code(0);
    let volumes = env.run(&["--config", "docker.yaml", "run", "d.yaml"]);
    volumes.code(2);
    assert!(
        volumes
            .stderr
            .contains("--docker-volume: invalid volume `nowhere`"),
        "{}",
        volumes.stderr
    );
    // A volume's options keep their commas, on the command line and in the
    // variable (which separates volumes with `;`).
    let with_options = [
        "run",
        "d.yaml",
        "--dry-run",
        "--docker-image",
        "img:1",
        "--docker-volume",
        "/srv/in:/in:ro,rprivate",
    ];
    env.run(&with_options).code(0);
    let listed = env
        .cmd(&["run", "d.yaml", "--dry-run", "--docker-image", "img:1"])
        .env(
            "DAG_DOCKER_VOLUMES",
            "/srv/in:/in:ro,rprivate; /srv/out:/out",
        )
        .output()
        .unwrap();
    assert_eq!(listed.status.code(), Some(0), "{listed:?}");
    env.write("typo.yaml", "paralel: 3\n");
    let bad = env.run(&["--config", "typo.yaml", "runs"]);
    bad.code(2);
    assert!(
        bad.stderr.contains("unknown setting `paralel`")
            && bad.stderr.contains("help: did you mean `parallel`?")
            && bad.stderr.contains("typo.yaml:1:1"),
        "{}",
        bad.stderr
    );
}

/// Runs the dynamic bash completion (`source <(COMPLETE=bash dag)`) for `words`,
/// completing the last one.
fn dynamic_bash(env: &Env, words: &[&str]) -> Vec<String> {
    let bin = crate::common::dag_bin();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source <(COMPLETE=bash '{bin}')\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_TYPE=9\n_clap_complete_dag dag '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        bin = bin.display(),
        words = quoted.join(" "),
        cword = words.len() - 1,
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(program)
        .current_dir(env.path())
        .env("DAG_HOME", env.path().join("state"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_run_ids_and_task_ids() {
    let env = Env::new();
    env.write("c.yaml", "name: comp\ntasks:\n  extract: { command: 'true' }\n  transform: { command: 'true', depends_on: extract }\n");
    let first = env.run_json("c.yaml", &[]).1;
    let id = first["run_id"].as_str().unwrap().to_string();
    let runs = dynamic_bash(&env, &["dag", "status", &id[..6]]);
    assert!(runs.contains(&id), "{runs:?}");
    let logs = dynamic_bash(&env, &["dag", "logs", ""]);
    assert!(logs.contains(&id), "{logs:?}");
    let tasks = dynamic_bash(&env, &["dag", "run", "c.yaml", "--only", "tr"]);
    assert_eq!(tasks, ["transform"]);
    let retry_tasks = dynamic_bash(&env, &["dag", "retry", &id, "--task", "ex"]);
    assert_eq!(retry_tasks, ["extract"]);
    // After a run id (or `latest`, or the start of one), `logs` offers its tasks.
    for run in [id.as_str(), "latest", &id[..id.len() - 2]] {
        let log_tasks = dynamic_bash(&env, &["dag", "logs", run, "tr"]);
        assert_eq!(log_tasks, ["transform"], "{run}");
    }
}

#[test]
fn init_writes_a_starter_that_runs_as_the_default_file_and_stdin_works_too() {
    let env = Env::new();
    // No file given and none here: say what to do.
    let none = env.run(&["run"]);
    none.code(2);
    assert!(
        none.stderr
            .contains("no DAG file given, and no dag.yaml in this directory")
            && none.stderr.contains("dag init"),
        "{}",
        none.stderr
    );
    let init = env.run(&["init", "starter"]);
    init.code(0);
    assert_eq!(init.stdout, "wrote dag.yaml: run it with `dag run`\n");
    // It never overwrites.
    env.run(&["init"]).code(2);
    env.run(&["validate", "dag.yaml"]).code(0);
    let run = env.run(&["run", "--output", "json"]);
    run.code(0);
    let doc = run.json();
    assert_eq!(doc["dag"], "starter");
    assert_eq!(doc["tasks"].as_array().unwrap().len(), 7, "{doc}");
    // `-` reads the DAG from standard input.
    let text = std::fs::read_to_string(env.path().join("dag.yaml")).unwrap();
    for args in [
        &["run", "-", "--output", "json"][..],
        &["validate", "-"][..],
    ] {
        let mut child = env
            .cmd(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A name that cannot name a DAG.
    env.run(&["init", "two words", "--file", "other.yaml"])
        .code(2);
}

#[test]
fn a_bad_value_in_the_config_file_is_told_as_the_file_s() {
    let env = Env::new();
    env.write("p.yaml", "name: p\ntasks:\n  a: { command: 'true' }\n");
    env.write("c.yaml", "# defaults\nexecutor: fast\nparallel: lots\n");
    let run = |args: &[&str]| {
        let mut all = vec!["--config", "c.yaml", "run", "p.yaml", "--dry-run"];
        all.extend_from_slice(args);
        let out = env
            .cmd(&all)
            .env_remove("DAG_EXECUTOR")
            .env_remove("DAG_PARALLEL")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(2));
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("config_bad_value", stderr);
    });
    // Flags over both: nothing from the file is read, nothing is wrong.
    let (code, stderr) = run(&["--executor", "local", "--parallel", "2"]);
    assert_eq!(code, Some(0), "{stderr}");
    // The same value on the command line is the flag's error, as clap tells it.
    let (code, stderr) = run(&["--executor", "local", "--parallel", "lots"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("'--parallel <N>'"), "{stderr}");
}

/// The lines of a file echoed in an error cannot drive the terminal: escape
/// sequences and bidi overrides in a DAG or config file are shown as visible
/// characters, and the place still points at the right column.
#[test]
fn file_lines_in_errors_carry_no_terminal_controls() {
    let env = Env::new();
    env.write(
        "p.yaml",
        "name: x\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{202e}y\ntasks:\n  a: { command: 'true' }\n",
    );
    let r = env.run(&["validate", "p.yaml"]);
    r.code(2);
    assert!(
        !r.stderr.contains(['\u{1b}', '\u{7}', '\u{202e}']),
        "{:?}",
        r.stderr
    );
    assert!(r.stderr.contains("[p.yaml:1:7]"), "{}", r.stderr);
    assert!(
        r.stderr.contains("name: x?]0;PWNED??[2J\u{FFFD}y"),
        "{}",
        r.stderr
    );

    env.write("q.yaml", "name: q\ntasks:\n  a: { command: 'true' }\n");
    env.write("c.yaml", "parallel: \u{1b}[2Jé\u{1b}]0;t\u{7}x\n");
    let out = env
        .cmd(&["--config", "c.yaml", "run", "q.yaml", "--dry-run"])
        .env_remove("DAG_PARALLEL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains(['\u{1b}', '\u{7}']), "{stderr:?}");
    assert!(stderr.contains("[c.yaml:1:11]"), "{stderr}");
    assert!(stderr.contains("parallel: ?[2Jé?]0;t?x"), "{stderr}");

    // A huge bad value is not repeated whole in the message.
    env.write("c.yaml", format!("parallel: {}\n", "9x".repeat(400_000)));
    let out = env
        .cmd(&["--config", "c.yaml", "run", "q.yaml", "--dry-run"])
        .env_remove("DAG_PARALLEL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.len() < 2000,
        "{} bytes: {stderr:.3000}",
        stderr.len()
    );
    assert!(
        stderr.contains(&format!("`{}…`", "9x".repeat(40))),
        "{stderr}"
    );
}

#[test]
fn help_shows_examples_and_global_options_apart_and_man_pages_have_the_usual_sections() {
    let env = Env::new();
    for cmd in [
        "run", "validate", "status", "runs", "logs", "report", "retry", "worker", "cancel",
        "graph", "ui", "init",
    ] {
        let help = env.run(&[cmd, "--help"]);
        help.code(0);
        assert!(
            help.stdout.contains("\nExamples:\n  dag "),
            "{cmd}: {}",
            help.stdout
        );
        // The options every command takes stand under their own headings.
        let (own, rest) = help.stdout.split_once("Global options:").expect(cmd);
        assert!(
            !own.contains("--state-dir") && rest.contains("--state-dir"),
            "{cmd}"
        );
        assert!(
            rest.contains("NATS options:") && !own.contains("--nats-creds"),
            "{cmd}"
        );
    }
    let out = env.path().join("man");
    env.run(&["man", "--out", out.to_str().unwrap()]).code(0);
    for page in ["dag.1", "dag-run.1", "dag-ui.1"] {
        let text = std::fs::read_to_string(out.join(page)).unwrap();
        for section in [".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH FILES"] {
            assert!(text.contains(section), "{page}: {section}");
        }
        // Every exit code the README lists.
        for code in ["0", "1", "2", "3", "70", "130", "143"] {
            assert!(
                text.contains(&format!(".TP\n\\fB{code}\\fR\n")),
                "{page}: {code}"
            );
        }
    }
}

#[test]
fn progress_and_colour_are_chosen_apart() {
    let env = Env::new();
    env.write("p.yaml", "name: p\ntasks:\n  a: { command: 'true' }\n");
    // Off a terminal, `--color always` still prints the plain lines.
    let coloured = env.run(&["run", "p.yaml", "--color", "always"]);
    coloured.code(0);
    assert!(
        coloured.stderr.contains(" a running\n"),
        "{}",
        coloured.stderr
    );
    // `--progress never` (or DAG_PROGRESS) prints none; the results still come.
    let none = env.run(&["run", "p.yaml", "--progress", "never"]);
    none.code(0);
    assert_eq!(none.stderr, "");
    assert!(none.stdout.contains("success"), "{}", none.stdout);
    let by_env = env
        .cmd(&["run", "p.yaml"])
        .env("DAG_PROGRESS", "never")
        .output()
        .unwrap();
    assert!(by_env.stderr.is_empty());
}

/// Runtime errors are drawn by the renderer that draws a file's problems: the
/// message, the errors that caused it, and what to do.
#[test]
fn runtime_errors_are_rendered_as_file_errors_are() {
    let env = Env::new();
    env.write("file", "");
    let store = env.run(&["--state-dir", "file/x", "runs"]);
    store.code(3);
    env.write("p.yaml", "name: p\ntasks:\n  a: { command: 'true' }\n");
    env.run(&["run", "p.yaml", "-q"]).code(0);
    let unknown = env.run(&["logs", "nope"]);
    unknown.code(2);
    let invalid = env.run(&["validate", "missing.yaml"]);
    invalid.code(2);
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("runtime_error_with_cause", store.stderr);
        insta::assert_snapshot!("runtime_error_unknown_run", unknown.stderr);
        insta::assert_snapshot!("runtime_error_missing_file", invalid.stderr);
    });
}
