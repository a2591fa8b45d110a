//! `dag report`: the Markdown report, read back as GitHub reads it.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

use crate::common::Env;
use crate::common::browser::screenshot_path;

/// What a Markdown document holds, as a GitHub-flavoured reader sees it.
#[derive(Debug, Default)]
struct Doc {
    headings: Vec<String>,
    /// Each table's rows (the header first), each row's cells as text.
    tables: Vec<Vec<Vec<String>>>,
    /// Fenced code blocks: language and text.
    code: Vec<(String, String)>,
    /// Raw HTML anywhere (block or inline): none is ever expected.
    html: Vec<String>,
    /// All text outside code blocks.
    text: String,
}

fn read(md: &str) -> Doc {
    let mut doc = Doc::default();
    let mut heading: Option<String> = None;
    let mut cell: Option<String> = None;
    let mut code: Option<(String, String)> = None;
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    for event in Parser::new_ext(md, options) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => doc.headings.extend(heading.take()),
            Event::Start(Tag::Table(_)) => doc.tables.push(Vec::new()),
            Event::Start(Tag::TableHead | Tag::TableRow) => {
                doc.tables.last_mut().unwrap().push(Vec::new())
            }
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                let row = doc.tables.last_mut().unwrap().last_mut().unwrap();
                row.push(cell.take().unwrap());
                doc.text.push('\n');
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(l) => l.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                code = Some((lang, String::new()));
            }
            Event::End(TagEnd::CodeBlock) => doc.code.extend(code.take()),
            Event::Html(h) | Event::InlineHtml(h) => doc.html.push(h.to_string()),
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, body)) = code.as_mut() {
                    body.push_str(&t);
                    continue;
                }
                for s in [heading.as_mut(), cell.as_mut()].into_iter().flatten() {
                    s.push_str(&t);
                }
                doc.text.push_str(&t);
            }
            Event::End(TagEnd::Paragraph | TagEnd::Item) => doc.text.push('\n'),
            _ => {}
        }
    }
    doc
}

const HOSTILE: &str = r#"name: demo
tasks:
  fetch:
    command: echo "files=[\"a\",\"b\",\"c\"]" >> "$DAG_OUTPUT"
  convert:
    command: echo converting ${{ item }}
    depends_on: [fetch]
    for_each: ${{ tasks.fetch.outputs.files }}
  build_it.now:
    command: |
      echo 'line <script>alert(1)</script> | pipe ```` fence'
      echo '*bold* [link](http://example.com) <b>x</b>'
      exit 3
    depends_on: [convert]
  report:
    command: echo done
    depends_on: [build_it.now]
  cleanup:
    command: echo cleanup
    depends_on: [build_it.now]
    trigger_rule: all_done
"#;

#[test]
fn a_markdown_report_reads_back_as_github_would() {
    let env = Env::new();
    env.write("r.yaml", HOSTILE);
    env.run(&["run", "r.yaml", "--output", "quiet"]).code(1);
    let out = env.run(&["report", "--format", "markdown"]);
    out.code(0);
    let doc = read(&out.stdout);

    assert!(doc.html.is_empty(), "raw HTML got through: {:?}", doc.html);
    assert_eq!(
        doc.headings[1..],
        [
            "Failed tasks",
            "build_it.now · attempt 1 · exit 3",
            "Graph",
            "Tasks"
        ]
    );
    assert!(
        doc.headings[0].starts_with("❌ demo · run "),
        "{:?}",
        doc.headings
    );
    assert!(
        doc.text
            .contains("Tasks: 8 (6 success, 1 failed, 1 upstream_failed)"),
        "{}",
        doc.text
    );

    // The log tail, word for word, in a fence that its backticks do not end.
    let tail = doc
        .code
        .iter()
        .find(|(lang, _)| lang == "text")
        .expect("a log tail");
    assert_eq!(
        tail.1,
        "line <script>alert(1)</script> | pipe ```` fence\n*bold* [link](http://example.com) <b>x</b>\n"
    );

    // The graph: one node per task, the mapped task's three instances in one.
    let (_, chart) = doc
        .code
        .iter()
        .find(|(lang, _)| lang == "mermaid")
        .expect("a graph");
    assert!(chart.starts_with("flowchart LR\n"), "{chart}");
    for node in [
        "[\"fetch<br/>success\"]:::success",
        "[\"convert<br/>3 success\"]:::success",
        "[\"build_it.now<br/>failed\"]:::failed",
        "[\"report<br/>upstream_failed\"]:::upstream_failed",
        "[\"cleanup<br/>success\"]:::success",
    ] {
        assert!(chart.contains(node), "{node} not in {chart}");
    }
    assert_eq!(chart.matches(" --> ").count(), 4, "{chart}");

    // The table: a header and one row per task or mapped task, six cells each.
    assert_eq!(doc.tables.len(), 1);
    let table = &doc.tables[0];
    assert_eq!(
        table[0],
        ["task", "state", "attempts", "duration", "exit", "error"]
    );
    assert!(table.iter().all(|row| row.len() == 6), "{table:?}");
    let names: Vec<&str> = table[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        ["fetch", "convert", "build_it.now", "report", "cleanup"]
    );
    assert_eq!(table[2][1], "3 instances: 3 success");
    assert_eq!(table[2][2], "3");
    assert_eq!(
        (table[3][1].as_str(), table[3][4].as_str()),
        ("failed", "3")
    );
    assert_eq!(table[4][5], "an upstream task failed (all_success)");

    // `-o` writes the same report.
    env.run(&["report", "-o", "report.md"]).code(0);
    let written = std::fs::read_to_string(env.path().join("report.md")).unwrap();
    assert_eq!(written, out.stdout);
}

/// 600 tasks and a mapped task of 10,000 items, all `noop`.
fn wide_dag() -> String {
    let mut yaml = String::from("name: wide\ntasks:\n");
    for i in 0..600 {
        yaml.push_str(&format!("  t{i}: {{type: fn, command: noop}}\n"));
    }
    let items: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    yaml.push_str(&format!(
        "  many:\n    type: fn\n    command: noop\n    for_each: [{}]\n",
        items.join(", ")
    ));
    yaml
}

#[test]
fn a_report_of_ten_thousand_tasks_stays_small_enough_for_github() {
    let env = Env::new();
    env.write("w.yaml", wide_dag());
    env.run(&["run", "w.yaml", "--output", "quiet"]).code(0);
    let out = env.run(&["report"]);
    out.code(0);
    // GitHub refuses step summaries over 1 MiB.
    assert!(out.stdout.len() < 256 * 1024, "{} bytes", out.stdout.len());
    let doc = read(&out.stdout);
    assert!(doc.html.is_empty(), "{:?}", doc.html);
    assert!(
        doc.text.contains("Not shown: more than 300 tasks"),
        "{}",
        doc.text
    );
    assert!(doc.code.iter().all(|(lang, _)| lang != "mermaid"));
    let table = &doc.tables[0];
    // 500 rows at most: the 600 tasks, then the mapped task past the cap.
    assert_eq!(table.len(), 1 + 500);
    assert!(doc.text.contains("and 101 more rows"), "{}", doc.text);
}

#[test]
fn a_report_of_an_unknown_run_or_to_an_unwritable_path_is_refused() {
    let env = Env::new();
    env.write("a.yaml", "name: a\ntasks:\n  x: {command: 'true'}\n");
    env.run(&["run", "a.yaml", "--output", "quiet"]).code(0);
    let unknown = env.run(&["report", "20991231T000000000Z-0000"]);
    assert_ne!(unknown.code, 0);
    assert!(
        unknown.stderr.contains("20991231T000000000Z-0000"),
        "{}",
        unknown.stderr
    );
    let dir = env.run(&["report", "-o", env.path().to_str().unwrap()]);
    dir.code(2);
    assert!(
        dir.stderr.contains("cannot write the report"),
        "{}",
        dir.stderr
    );
}

#[test]
fn dag_run_writes_the_markdown_report_when_the_run_ends() {
    let env = Env::new();
    env.write("r.yaml", HOSTILE);
    env.run(&[
        "run",
        "r.yaml",
        "--output",
        "quiet",
        "--report-markdown",
        "summary.md",
    ])
    .code(1);
    let written = std::fs::read_to_string(env.path().join("summary.md")).unwrap();
    let report = env.run(&["report"]);
    assert_eq!(written, report.stdout);
    assert!(
        written.contains("#### `build_it.now` · attempt 1 · exit 3"),
        "{written}"
    );
    // A path that cannot be written is refused before anything runs.
    let refused = env.run(&[
        "run",
        "r.yaml",
        "--report-markdown",
        env.path().to_str().unwrap(),
    ]);
    refused.code(2);
    assert!(
        refused.stderr.contains("cannot write the report"),
        "{}",
        refused.stderr
    );
    let runs = env.run(&["runs", "--output", "json"]).json();
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
}

#[test]
fn a_distributed_run_in_the_nats_store_gets_the_same_report() {
    let Some(nats) = crate::common::nats::NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let _worker = env.worker(&nats, "reporter", &["--workers", "2"]);
    env.write("r.yaml", HOSTILE);
    let url = nats.url();
    let (code, doc, stderr) = env.run_distributed(&nats, "r.yaml", &["--state", "nats"]);
    assert_eq!(code, 1, "{stderr}");
    let id = doc["run_id"].as_str().unwrap();
    let out = env.run(&["report", id, "--state", "nats", "--nats", &url]);
    out.code(0);
    let md = read(&out.stdout);
    assert!(md.html.is_empty(), "{:?}", md.html);
    assert!(md.headings[0].contains(id), "{:?}", md.headings);
    let tail = md
        .code
        .iter()
        .find(|(lang, _)| lang == "text")
        .expect("a log tail");
    assert!(
        tail.1.starts_with("line <script>alert(1)</script>"),
        "{}",
        tail.1
    );
    let (_, chart) = md
        .code
        .iter()
        .find(|(lang, _)| lang == "mermaid")
        .expect("a graph");
    assert!(
        chart.contains("[\"convert<br/>3 success\"]:::success"),
        "{chart}"
    );
    assert_eq!(md.tables[0].len(), 6, "{:?}", md.tables);
    // The timeline tells the time in the queue (until a worker took the task)
    // from the time running.
    let html = env.run(&[
        "report", id, "--format", "html", "--state", "nats", "--nats", &url,
    ]);
    html.code(0);
    assert!(
        html.stdout.contains("<rect class=\"queue\""),
        "no queued time shown"
    );
}

#[test]
fn dag_graph_of_a_run_shows_each_task_in_its_state() {
    let env = Env::new();
    env.write("r.yaml", HOSTILE);
    let (run, doc) = env.run_json("r.yaml", &[]);
    run.code(1);
    let id = doc["run_id"].as_str().unwrap();

    let text = env.run(&["graph", id]);
    text.code(0);
    assert_eq!(
        text.stdout,
        format!(
            "demo · run {id} · failed (8 tasks)\n  fetch [bash] echo \"files=[\\\"a\\\",\\\"b\\\",\\\"c\\\"]\" >> \"$DAG_OUTPUT\"  success\n  convert [bash] 3 instances  ← fetch  3 success\n  build_it.now [bash] echo 'line <script>alert(1)</script> | pipe ```` fence'…  ← convert  failed\n  report [bash] echo done  ← build_it.now  upstream_failed\n  cleanup [bash] echo cleanup  ← build_it.now  success\n"
        )
    );
    // Coloured only when asked (stdout is a pipe here).
    let colored = env.run(&["--color", "always", "graph", id]);
    assert!(
        colored.stdout.contains("\x1b[31mfailed\x1b[0m"),
        "{}",
        colored.stdout
    );

    let dot = env.run(&["graph", id, "--format", "dot"]);
    assert!(
        dot.stdout
            .contains("n2 [label=\"build_it.now\\nfailed\", fillcolor=\"#ffd7d5\""),
        "{}",
        dot.stdout
    );
    assert_eq!(dot.stdout.matches(" -> ").count(), 4, "{}", dot.stdout);

    let mermaid = env.run(&["graph", id, "--format", "mermaid"]);
    assert!(
        mermaid
            .stdout
            .contains("n1[\"convert<br/>3 success\"]:::success"),
        "{}",
        mermaid.stdout
    );

    // A run id that names no run, and a file that does not exist, are exit 2.
    let unknown = env.run(&["graph", "20991231T000000000Z-0000"]);
    unknown.code(2);
    assert!(
        unknown.stderr.contains("no run `20991231T000000000Z-0000`"),
        "{}",
        unknown.stderr
    );
    env.run(&["graph", "missing.yaml"]).code(2);
}

#[test]
fn the_html_report_shows_the_run_in_a_browser_that_fetches_nothing() {
    let Some(browser) = crate::common::browser::Browser::start() else {
        return;
    };
    let env = Env::new();
    env.write("r.yaml", HOSTILE);
    env.run(&[
        "run",
        "r.yaml",
        "--output",
        "quiet",
        "--report-html",
        "run.html",
    ])
    .code(1);
    // The same page as `dag report --format html` (the run has ended: nothing in
    // it depends on the clock).
    let again = env.run(&["report", "--format", "html"]);
    let page = std::fs::read_to_string(env.path().join("run.html")).unwrap();
    assert_eq!(page, again.stdout);

    browser.goto(&format!("file://{}", env.path().join("run.html").display()));
    let seen = browser.eval(
        "const all = (s) => Array.from(document.querySelectorAll(s));
         return {
           state: document.getElementById('run-state').textContent,
           counts: document.getElementById('counts').textContent,
           nodes: all('#graph-svg g.node').map(g => [g.dataset.task, g.dataset.state]),
           edges: all('#graph-svg path.edge').length,
           runs: all('#timeline svg rect').filter(r => r.className.baseVal.startsWith('b-')).map(r => r.className.baseVal),
           rows: all('#task-table tbody tr').map(r => r.dataset.task),
           scripts: document.scripts.length,
           tail: document.querySelector('pre.tail').textContent,
           error: document.querySelector('#failed p.error').textContent,
         };",
    );
    assert_eq!(seen["state"], "failed");
    assert_eq!(
        seen["counts"],
        "8 tasks: 6 success, 1 failed, 1 upstream_failed"
    );
    assert_eq!(
        seen["nodes"],
        serde_json::json!([
            ["fetch", "success"],
            ["convert", "success"],
            ["build_it.now", "failed"],
            ["report", "upstream_failed"],
            ["cleanup", "success"]
        ])
    );
    assert_eq!(seen["edges"], 4);
    // A running bar for each task that ran (the mapped task's instances in one).
    assert_eq!(
        seen["runs"],
        serde_json::json!(["b-success", "b-success", "b-failed", "b-success"])
    );
    assert_eq!(seen["rows"].as_array().unwrap().len(), 8);
    // The log's `<script>` is text: the page holds its own script only.
    assert_eq!(seen["scripts"], 1);
    assert_eq!(
        seen["tail"],
        "line <script>alert(1)</script> | pipe ```` fence\n*bold* [link](http://example.com) <b>x</b>"
    );
    assert_eq!(seen["error"], "exit code 3");

    // Sorting: by duration, longest last, then first.
    let order = |b: &crate::common::browser::Browser| {
        b.eval("return Array.from(document.querySelectorAll('#task-table tbody tr')).map(r => Number(r.cells[3].dataset.v));")
    };
    browser.click("#task-table th:nth-child(4)");
    let up: Vec<i64> = serde_json::from_value(order(&browser)).unwrap();
    assert!(up.windows(2).all(|w| w[0] <= w[1]), "{up:?}");
    browser.click("#task-table th:nth-child(4)");
    let down: Vec<i64> = serde_json::from_value(order(&browser)).unwrap();
    assert!(down.windows(2).all(|w| w[0] >= w[1]), "{down:?}");

    browser.screenshot(&screenshot_path("report.png"));
    let fetches = browser.page_fetches();
    assert!(fetches.is_empty(), "the report fetched {fetches:?}");

    // The check itself sees a page that fetches: through the proxy, and by its
    // links.
    env.write(
        "fetching.html",
        "<!DOCTYPE html><html><body><img src=\"http://example.com/pixel.png\"></body></html>",
    );
    browser.goto(&format!(
        "file://{}",
        env.path().join("fetching.html").display()
    ));
    let caught = browser.page_fetches();
    assert!(
        caught.iter().any(|f| f.contains("example.com/pixel.png"))
            && caught
                .iter()
                .any(|f| f.starts_with("GET http://example.com/pixel.png")),
        "{caught:?}"
    );
}

/// A run worth looking at: a fan-out, a retried task, a failure and a cleanup.
const SHOWCASE: &str = r#"name: nightly-etl
tasks:
  extract:
    command: sleep 0.2; echo "regions=[\"eu\",\"us\",\"asia\",\"africa\"]" >> "$DAG_OUTPUT"
  transform:
    depends_on: extract
    for_each: ${{ tasks.extract.outputs.regions }}
    max_parallel: 2
    command: sleep 0.$((RANDOM % 3 + 1)); echo "region ${{ item }} done"
  flaky_upload:
    depends_on: transform
    retries: 2
    retry_delay: 200ms
    command: |
      f="${TMPDIR:-/tmp}/upload-$DAG_RUN_ID"; n=$(cat "$f" 2>/dev/null || echo 0); echo $((n + 1)) > "$f"
      sleep 0.1; [ "$n" -ge 1 ] || { echo "connection reset"; exit 1; }
  validate:
    depends_on: transform
    command: 'sleep 0.3; echo "row count mismatch - 1024 rows, 1000 expected"; exit 2'
  publish:
    depends_on: [flaky_upload, validate]
    command: echo publish
  cleanup:
    depends_on: [flaky_upload, validate]
    trigger_rule: all_done
    command: sleep 0.1; echo cleanup
"#;

#[test]
fn a_screenshot_of_the_html_report() {
    let Some(browser) = crate::common::browser::Browser::start() else {
        return;
    };
    let env = Env::new();
    env.write("etl.yaml", SHOWCASE);
    env.run(&[
        "run",
        "etl.yaml",
        "--output",
        "quiet",
        "--parallel",
        "4",
        "--report-html",
        "etl.html",
    ])
    .code(1);
    browser.goto(&format!("file://{}", env.path().join("etl.html").display()));
    let seen = browser.eval(
        "return {
           waits: document.querySelectorAll('#timeline svg rect.wait').length,
           upload: Array.from(document.querySelectorAll('#timeline g.row'))
             .find(g => g.dataset.task === 'flaky_upload')
             .querySelectorAll('rect.b-failed, rect.b-up_for_retry, rect.b-success').length,
         };",
    );
    // The retried task has both attempts on its row, with the wait between them.
    assert_eq!(seen["upload"], 2, "{seen}");
    assert!(seen["waits"].as_u64().unwrap() >= 1, "{seen}");
    browser.screenshot(&screenshot_path("report-showcase.png"));
    assert!(browser.page_fetches().is_empty());
}

#[test]
fn an_html_report_of_ten_thousand_tasks_stays_small() {
    let env = Env::new();
    env.write("w.yaml", wide_dag());
    env.run(&["run", "w.yaml", "--output", "quiet"]).code(0);
    let out = env.run(&["report", "--format", "html"]);
    out.code(0);
    // Issue 15's target for 10,000 tasks: at most 5 MB.
    assert!(out.stdout.len() < 5_000_000, "{} bytes", out.stdout.len());
    // Every task has its row; the mapped task is one node and one timeline row.
    assert_eq!(out.stdout.matches("<tr data-task=").count(), 10_600);
    assert_eq!(out.stdout.matches("<g class=\"node\"").count(), 601);
    assert_eq!(out.stdout.matches("<g class=\"row\"").count(), 601);

    // In the browser: the first 500 rows, then every row when asked.
    let Some(browser) = crate::common::browser::Browser::start() else {
        return;
    };
    env.write("wide.html", &out.stdout);
    browser.goto(&format!(
        "file://{}",
        env.path().join("wide.html").display()
    ));
    let shown = "return Array.from(document.querySelectorAll('#task-table tbody'))
        .filter(b => !b.hidden).reduce((n, b) => n + b.rows.length, 0);";
    assert_eq!(browser.eval(shown), 500);
    browser.click("#show-all");
    assert_eq!(browser.eval(shown), 10_600);
    assert!(browser.page_fetches().is_empty());
}

/// `tok` is secret because task `a`'s secret holds it; task `b`, with no secrets
/// of its own, prints it and fails.
const SECRET_PARAM: &str = r#"name: leak
params: { tok: TOKSECRET123 }
tasks:
  a:
    env: { AUTH: "Bearer ${{ params.tok }}" }
    secret_env: [AUTH]
    command: 'true'
  b:
    command: 'echo "calling with ${{ params.tok }}"; exit 1'
"#;

fn assert_no_secret_in_what_shows(env: &Env, id: &str, extra: &[&str]) {
    let with = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(extra);
        env.run(&all)
    };
    for args in [
        &["logs", id, "b"][..],
        &["report", id],
        &["report", id, "--format", "html"],
        &["graph", id],
        &["status", id],
    ] {
        let out = with(args);
        assert!(
            !out.stdout.contains("TOKSECRET123") && !out.stderr.contains("TOKSECRET123"),
            "{args:?}: {}{}",
            out.stdout,
            out.stderr
        );
    }
    let logs = with(&["logs", id, "b"]);
    assert!(logs.stdout.contains("calling with ***"), "{}", logs.stdout);
}

#[test]
fn a_param_secret_for_one_task_is_masked_in_every_task_s_output_and_reports() {
    let env = Env::new();
    env.write("leak.yaml", SECRET_PARAM);
    let (run, doc) = env.run_json("leak.yaml", &[]);
    run.code(1);
    let id = doc["run_id"].as_str().unwrap();
    assert_no_secret_in_what_shows(&env, id, &[]);
}

#[test]
fn a_worker_masks_a_param_secret_for_another_task() {
    let Some(nats) = crate::common::nats::NatsServer::start() else {
        return;
    };
    let env = Env::new();
    let _worker = env.worker(&nats, "masker2", &[]);
    env.write("leak.yaml", SECRET_PARAM);
    let url = nats.url();
    let (code, doc, stderr) = env.run_distributed(&nats, "leak.yaml", &["--state", "nats"]);
    assert_eq!(code, 1, "{stderr}");
    let id = doc["run_id"].as_str().unwrap();
    assert_no_secret_in_what_shows(&env, id, &["--state", "nats", "--nats", &url]);
}

#[test]
fn dag_graph_of_a_run_masks_its_secret_params_when_their_secret_is_unset() {
    let env = Env::new();
    env.write(
        "g.yaml",
        "name: g\nparams: {p: x}\ntasks:\n  call:\n    secret_env: [TOKEN]\n    command: \"curl -H 'X: ${{ params.p }}' http://127.0.0.1:9/\"\n",
    );
    let run: crate::common::Run = env
        .cmd(&[
            "run",
            "g.yaml",
            "--output",
            "json",
            "--param",
            "p=abcdefsecret",
        ])
        .env("TOKEN", "abcdefsecret")
        .output()
        .unwrap()
        .into();
    let id = run.json()["run_id"].as_str().unwrap().to_string();
    let graph: crate::common::Run = env
        .cmd(&["graph", &id])
        .env_remove("TOKEN")
        .output()
        .unwrap()
        .into();
    graph.code(0);
    assert!(!graph.stdout.contains("abcdefsecret"), "{}", graph.stdout);
    assert!(graph.stdout.contains("X: ***"), "{}", graph.stdout);
}

#[test]
fn a_report_is_never_written_into_the_state_directory_or_twice_to_one_file() {
    let env = Env::new();
    env.write("a.yaml", "name: a\ntasks:\n  x: {command: 'true'}\n");
    let (run, doc) = env.run_json("a.yaml", &[]);
    run.code(0);
    let id = doc["run_id"].as_str().unwrap();
    let state = env.path().join("state");
    let run_json = state.join("runs").join(id).join("run.json");
    assert!(run_json.exists(), "the test's state is not where it thinks");
    let refused = env.run(&["report", id, "-o", run_json.to_str().unwrap()]);
    refused.code(2);
    assert!(
        refused.stderr.contains("inside the state directory"),
        "{}",
        refused.stderr
    );
    env.run(&["status", id]).code(0);
    // Two report flags, one file.
    let twice = env.run(&[
        "run",
        "a.yaml",
        "--report",
        "out.txt",
        "--report-html",
        "./out.txt",
    ]);
    twice.code(2);
    assert!(
        twice
            .stderr
            .contains("another report flag names the same file"),
        "{}",
        twice.stderr
    );
}

#[test]
fn a_report_replaces_a_symlink_s_target_whole_and_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.write("a.yaml", "name: a\ntasks:\n  x: {command: 'true'}\n");
    env.run(&["run", "a.yaml", "--output", "quiet"]).code(0);
    let target = env.write("kept/report.md", "old report\n");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink(&target, env.path().join("link.md")).unwrap();
    env.run(&["report", "-o", "link.md"]).code(0);
    let link = std::fs::symlink_metadata(env.path().join("link.md")).unwrap();
    assert!(link.file_type().is_symlink(), "the symlink was replaced");
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.starts_with("## ✅ a · run "), "{text}");
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    // No temporary file is left beside it.
    let left: Vec<_> = std::fs::read_dir(env.path().join("kept"))
        .unwrap()
        .collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn markdown_reports_stay_within_what_github_takes() {
    let env = Env::new();
    // Nineteen failed instances with ten long lines each, and a last line of 70,000
    // characters with no newline (a progress bar).
    env.write(
        "big\u{202e}.yaml",
        r#"name: big
tasks:
  wide:
    for_each: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    command: 'for i in 1 2 3 4 5 6 7 8 9 10; do head -c 6500 /dev/zero | tr "\0" y; echo; done; exit 1'
  bar:
    command: 'head -c 70000 /dev/zero | tr "\0" x; printf "\033[2K 100%%"; exit 1'
"#,
    );
    env.run(&["run", "big\u{202e}.yaml", "--output", "quiet"])
        .code(1);
    let md = env.run(&["report"]).stdout;
    assert!(md.len() < 1024 * 1024, "{} bytes", md.len());
    let doc = read(&md);
    assert!(doc.html.is_empty());
    // The bar's tail is the end of its one line, marked as cut.
    let bar = doc
        .code
        .iter()
        .find(|(_, body)| body.contains("100%"))
        .expect("the bar's tail");
    assert!(
        bar.1.starts_with('…') && bar.1.contains("xxx\\u{1b}[2K 100%"),
        "{}",
        bar.1
    );
    // The file name's right-to-left override is shown, not obeyed.
    assert!(!md.contains('\u{202e}'), "a raw U+202E");
    assert!(doc.text.contains("big\\u{202e}.yaml"), "{}", doc.text);

    // A graph with more edges than GitHub draws is left out, saying so.
    let mut dense = String::from("name: dense\ntasks:\n");
    for i in 0..210 {
        let deps: Vec<String> = (0..i).map(|j| format!("t{j}")).collect();
        dense.push_str(&format!(
            "  t{i}: {{type: fn, command: noop, depends_on: [{}]}}\n",
            deps.join(", ")
        ));
    }
    env.write("dense.yaml", dense);
    env.run(&["run", "dense.yaml", "--output", "quiet"]).code(0);
    let md = env.run(&["report"]).stdout;
    let doc = read(&md);
    assert!(
        doc.code.iter().all(|(lang, _)| lang != "mermaid"),
        "a graph GitHub cannot draw"
    );
    assert!(
        doc.text
            .contains("Not shown: more than 300 tasks, or more edges than GitHub draws"),
        "{}",
        doc.text
    );
    // The HTML graph of its 21,945 edges would be megabytes of paths: left out.
    let html = env.run(&["report", "--format", "html"]).stdout;
    assert!(
        html.contains("Not shown: more than 2000 tasks or 20000 dependencies."),
        "the dense graph was drawn"
    );
    assert!(html.len() < 1_000_000, "{} bytes", html.len());
}
