//! `dag validate`: a snapshot of the rendered problems of every file in
//! `tests/fixtures/invalid/`, and garbage that must give exit 2, never a panic.

use std::path::Path;

use crate::common::Env;

fn fixtures(kind: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

fn validate_in_fixtures(path: &str) -> crate::common::Run {
    let env = Env::new();
    env.cmd(&["validate", path])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
        .output()
        .unwrap()
        .into()
}

#[test]
fn every_invalid_fixture_renders_its_problems() {
    let names = fixtures("invalid");
    assert!(names.len() >= 15, "fixtures: {names:?}");
    for name in names {
        let run = validate_in_fixtures(&format!("invalid/{name}"));
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{name}");
        assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(format!("invalid__{}", name.trim_end_matches(".yaml")), run.stderr);
        });
    }
}

#[test]
fn every_valid_fixture_passes() {
    for name in fixtures("valid") {
        let run = validate_in_fixtures(&format!("valid/{name}"));
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert!(run.stdout.contains(": ok ("), "{name}");
    }
}

#[test]
fn several_files_report_each_and_exit_2_if_any_is_invalid() {
    let run = validate_in_fixtures("valid/anchors.yaml");
    run.code(0);
    let env = Env::new();
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let run: crate::common::Run = env
        .cmd(&[
            "validate",
            "valid/anchors.yaml",
            "invalid/cycle.yaml",
            "invalid/empty.yaml",
        ])
        .current_dir(fx)
        .output()
        .unwrap()
        .into();
    run.code(2);
    assert!(
        run.stdout.contains("valid/anchors.yaml: ok"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("invalid/cycle.yaml is invalid"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("invalid/empty.yaml is invalid"),
        "{}",
        run.stderr
    );
}

fn garbage(contents: &[u8]) -> crate::common::Run {
    let env = Env::new();
    env.write("g.yaml", contents);
    let run = env.run(&["validate", "g.yaml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("error: g.yaml is invalid"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let run_cmd = env.run(&["run", "g.yaml"]);
    assert_eq!(run_cmd.code, 2, "dag run: {}", run_cmd.stderr);
    run
}

#[test]
fn binary_bytes() {
    let run = garbage(b"name: x\ntasks:\n  a: {command: \xff\xfe\x00\x01}\n");
    assert!(run.stderr.contains("not valid UTF-8"), "{}", run.stderr);
    garbage(b"\x00\x01\x02\x03\x7f");
}

#[test]
fn a_ten_megabyte_line() {
    let mut s = b"name: long\ntasks:\n  a: {command: ".to_vec();
    s.extend(std::iter::repeat_n(b'[', 10 * 1024 * 1024));
    s.push(b'\n');
    garbage(&s);
    let mut s = b"name: long\ntasks:\n  a:\n    comand: ".to_vec();
    s.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    s.push(b'\n');
    let run = garbage(&s);
    assert!(run.stderr.contains("unknown key `comand`"));
    assert!(
        run.stderr.len() < 64 * 1024,
        "the 10 MB line was echoed back whole"
    );
}

#[test]
fn alias_bombs() {
    let mut s = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        s.push_str(&format!(
            "a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    s.push_str("name: bomb\ntasks: *a9\n");
    let run = garbage(s.as_bytes());
    assert!(
        run.stderr.contains("aliases expand to more than"),
        "{}",
        run.stderr
    );
}

#[test]
fn non_map_shapes() {
    garbage(b"just a string\n");
    garbage(b"42\n");
    garbage(b"name: x\ntasks: 3\n");
    garbage(b"name: x\ntasks:\n  a: [1, 2]\n");
    garbage(b"name: [x]\ntasks:\n  a: {command: 'true'}\n");
    garbage(b"name: x\ntasks:\n  ? [complex, key]\n  : {command: 'true'}\n");
    garbage(b"---\nname: x\n---\nname: y\n");
    garbage(&b"[".repeat(50_000));
    garbage(b"\t\tname: x\n");
}

/// Regression: a very long task id validated, then failed at run time because its
/// log file name was too long.
#[test]
fn overlong_names_are_refused() {
    let long = "t".repeat(101);
    let run = garbage(format!("name: x\ntasks:\n  {long}: {{command: 'true'}}\n").as_bytes());
    assert!(run.stderr.contains("at most 100"), "{}", run.stderr);
}

/// Issue 13, item 8: one 1 MB anchored string aliased 5,000 times (a 1 MB file)
/// grew to 4 GB and aborted; the expansion is bounded in bytes, with exit 2.
#[test]
fn a_string_alias_bomb_is_refused_in_bounded_memory() {
    let env = Env::new();
    let mut src = format!(
        "x-big: &big {}\nname: bomb\ntasks:\n  a:\n    command: 'true'\n    description: [",
        "x".repeat(1024 * 1024)
    );
    src.push_str(&vec!["*big"; 5000].join(", "));
    src.push_str("]\n");
    env.write("bomb.yaml", src);
    let (run, peak_kib) = crate::common::run_measuring_rss(env.cmd(&["validate", "bomb.yaml"]));
    run.code(2);
    assert!(
        run.stderr.contains("aliases expand to more than"),
        "{}",
        run.stderr
    );
    assert!(
        peak_kib < 512 * 1024,
        "peak RSS {peak_kib} KiB for a 1 MB file"
    );
}

/// Attack pass on issue 13: a file under the size cap made of tiny nodes
/// (`x: [a,a,a,…]`) costs about 90 bytes a node: 256 MiB of it took 12 GB. The
/// document's nodes are counted and refused past the budget, with exit 2, in
/// bounded memory.
#[test]
fn a_document_of_millions_of_tiny_nodes_is_refused_in_bounded_memory() {
    let env = Env::new();
    let mut src = String::from(
        "name: b
x: [",
    );
    src.push_str(&"a,".repeat(10_000_000));
    src.push_str("a]\n");
    env.write("nodes.yaml", src);
    let (run, peak_kib) = crate::common::run_measuring_rss(env.cmd(&["validate", "nodes.yaml"]));
    run.code(2);
    assert!(
        run.stderr
            .contains("the document has more than 2000000 nodes"),
        "{}",
        run.stderr
    );
    assert!(
        peak_kib < 512 * 1024,
        "peak RSS {peak_kib} KiB for a 20 MB file"
    );
}

/// Issue 13, item 7: the size cap looked at `metadata().len()`, which is 0 for
/// devices and FIFOs, so `dag validate /dev/zero` read without end.
#[test]
fn dev_zero_as_the_dag_file_or_the_config_is_refused_at_the_cap() {
    let env = Env::new();
    let dag = env.write("ok.yaml", "name: x\ntasks:\n  a: {command: 'true'}\n");
    for args in [vec!["validate", "/dev/zero"], vec!["run", "/dev/zero"]] {
        let (run, peak_kib) = crate::common::run_measuring_rss(env.cmd(&args));
        run.code(2);
        assert!(
            run.stderr.contains("more than 268435456 bytes"),
            "{args:?}: {}",
            run.stderr
        );
        // The cap plus what reading it costs; without the cap it grew to gigabytes.
        assert!(peak_kib < 1024 * 1024, "{args:?}: peak RSS {peak_kib} KiB");
    }
    let mut cmd = env.cmd(&["validate", dag.to_str().unwrap()]);
    cmd.env("DAG_CONFIG", "/dev/zero");
    let (run, _) = crate::common::run_measuring_rss(cmd);
    run.code(2);
    assert!(
        run.stderr
            .contains("cannot read config file /dev/zero: holds more than"),
        "{}",
        run.stderr
    );
}

/// A FIFO or a pipe given as the DAG file (`dag validate <(cat f)`) is read to its
/// end, as `cat` would.
#[test]
fn a_fifo_as_the_dag_file_is_read_to_its_end() {
    let env = Env::new();
    let fifo = env.path().join("dag.fifo");
    crate::common::mkfifo(&fifo);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            std::fs::write(fifo, "name: piped\ntasks:\n  a: {command: 'true'}\n").unwrap()
        })
    };
    let run = env.run(&["validate", fifo.to_str().unwrap()]);
    writer.join().unwrap();
    run.code(0);
    assert!(run.stdout.contains(": ok ("), "{}", run.stdout);
}

/// Issue 13, item 13: a 10,000-task cycle took 16.5 s to validate and printed a
/// 2 MB error, one label per dependency. A long cycle is reported by its length and
/// its ends, each task with its place along it.
#[test]
fn a_ten_thousand_task_cycle_is_reported_compactly() {
    let env = Env::new();
    let n = 10_000;
    let mut src = String::from("name: ring\ntasks:\n");
    for i in 0..n {
        src.push_str(&format!(
            "  t{i}:\n    command: 'true'\n    depends_on: [t{}]\n",
            (i + 1) % n
        ));
    }
    env.write("ring.yaml", src);
    let run = env.run(&["validate", "ring.yaml"]);
    run.code(2);
    assert!(
        run.stderr.contains(
            "dependency cycle of 10000 tasks: t0 (1) → t1 (2) → t2 (3) → … → t9997 (9998)"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`t9999` depends on `t0`"),
        "{}",
        run.stderr
    );
    // How fast it is reported is for the benchmarks (`dag validate` of large
    // files in BENCHMARKS.md), not a timed assertion here.
    assert!(run.stderr.len() < 4096, "{} bytes", run.stderr.len());
}

#[test]
fn problems_as_json_and_as_github_annotations() {
    let env = Env::new();
    env.write(
        "good.yaml",
        "name: good\ntasks:\n  a: { command: 'true' }\n",
    );
    // A comma and a colon in the name, a problem whose help makes a second line.
    env.write(
        "odd,name:1.yaml",
        "name: odd\ndefaults:\n  timeout: forever\ntasks:\n  a: { command: 'true', depends_on: [b] }\n",
    );
    let json = env.run(&[
        "validate",
        "good.yaml",
        "odd,name:1.yaml",
        "--format",
        "json",
    ]);
    json.code(2);
    let doc = json.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["files"][0]["ok"], true);
    assert_eq!(doc["files"][0]["tasks"], 1);
    let problems = doc["files"][1]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{doc}");
    assert_eq!(problems[0]["line"], 3);
    assert_eq!(problems[0]["column"], 12);
    assert_eq!(
        problems[0]["help"],
        "write a duration such as 500ms, 30s, 10m or 1h30m"
    );
    // The text render names the same place.
    let text = env.run(&["validate", "odd,name:1.yaml"]);
    assert!(
        text.stderr.contains("odd,name:1.yaml:3:12"),
        "{}",
        text.stderr
    );

    let gh = env.run(&[
        "validate",
        "good.yaml",
        "odd,name:1.yaml",
        "--format",
        "github",
    ]);
    gh.code(2);
    let lines: Vec<&str> = gh.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", gh.stdout);
    // As GitHub documents workflow commands: `::error file=F,line=L,col=C,...::M`,
    // with `%`, CR and LF escaped in the message and also `:` and `,` in values.
    for line in &lines {
        let rest = line.strip_prefix("::error ").expect(line);
        let (props, message) = rest.split_once("::").expect(line);
        for prop in props.split(',') {
            let (k, v) = prop.split_once('=').expect(prop);
            assert!(
                ["file", "line", "col", "endLine", "endColumn", "title"].contains(&k),
                "{k}"
            );
            assert!(!v.contains([':', ',', '\n', '\r']), "{v}");
        }
        assert!(!message.contains(['\n', '\r']));
        assert!(props.starts_with("file=odd%2Cname%3A1.yaml,"), "{props}");
    }
    assert!(
        lines[0].contains(",line=3,col=12,endLine=3,endColumn=19,")
            && lines[0]
                .ends_with("e.g. 30s%0Ahelp: write a duration such as 500ms, 30s, 10m or 1h30m"),
        "{}",
        lines[0]
    );
}
