//! Sub-DAG runs as the user sees them: the parent and its child runs link each
//! other in `dag status` (table and JSON), `dag runs` lists a child under its
//! parent, `latest` is the parent, `dag cancel CHILD` cancels the parent, `dag
//! graph` draws a sub-DAG as a cluster and `dag ui` links the runs' pages.

use std::time::Duration;

use crate::common::browser::Browser;
use crate::common::{Env, finish_within, task_state, wait_for};
use crate::ui::{Ui, until};

/// A parent running `sub/region.yaml` for two regions.
const PARENT: &str = "\
name: parent
tasks:
  prep: { command: echo prep }
  eu: { type: dag, file: sub/region.yaml, params: { region: eu }, depends_on: [prep] }
  us: { type: dag, file: sub/region.yaml, params: { region: us }, depends_on: [prep] }
  report: { command: 'echo ${{ tasks.eu.outputs.summary }}', depends_on: [eu, us] }
";

/// The sub-DAG: two tasks, and an output.
const REGION: &str = "\
name: region
params: { region: none }
outputs: { summary: '${{ tasks.load.outputs.rows }}' }
tasks:
  extract: { command: 'echo extracting ${{ params.region }}' }
  load: { command: 'echo rows=42 >> $DAG_OUTPUT', depends_on: [extract] }
";

/// An env holding the parent and its sub-DAG, run once; the parent's JSON.
fn ran() -> (Env, serde_json::Value) {
    let env = Env::new();
    env.write("parent.yaml", PARENT);
    env.write("sub/region.yaml", REGION);
    let (run, doc) = env.run_json("parent.yaml", &[]);
    run.code(0);
    (env, doc)
}

#[test]
fn status_json_links_the_parent_and_its_children() {
    let (env, parent) = ran();
    let id = parent["run_id"].as_str().unwrap();
    assert_eq!(parent["parent"], serde_json::Value::Null);
    let children = parent["children"].as_array().unwrap();
    let tasks: Vec<&str> = children
        .iter()
        .map(|c| c["task"].as_str().unwrap())
        .collect();
    let mut sorted = tasks.clone();
    sorted.sort();
    assert_eq!(sorted, ["eu", "us"], "{parent}");
    let eu = children.iter().find(|c| c["task"] == "eu").unwrap();
    let child_id = eu["run"].as_str().unwrap();
    assert_eq!(child_id, format!("{id}-eu"));

    let child = env.run(&["status", child_id, "--output", "json"]);
    child.code(0);
    let child = child.json();
    assert_eq!(child["dag"], "region");
    assert_eq!(
        child["parent"],
        serde_json::json!({"run": id, "task": "eu"})
    );
    assert_eq!(child["children"], serde_json::json!([]));

    // The table of the child says whose it is; the parent's lists its children.
    let table = env.run(&["status", child_id]);
    table.code(0);
    let said = format!("the sub-DAG run of task eu of run {id}");
    assert!(table.stdout.contains(&said), "{}", table.stdout);
    let table = env.run(&["status", id]);
    table.code(0);
    for task in ["eu", "us"] {
        let line = format!("{task} → sub-DAG run {id}-{task} (success)");
        assert!(table.stdout.contains(&line), "{}", table.stdout);
    }
}

#[test]
fn runs_lists_a_child_under_its_parent_and_latest_is_the_parent() {
    let (env, parent) = ran();
    let id = parent["run_id"].as_str().unwrap();
    let runs = env.run(&["runs"]);
    runs.code(0);
    let rows: Vec<&str> = runs.stdout.lines().filter(|l| l.starts_with('│')).collect();
    // The header, the parent, then its children marked under it.
    assert_eq!(rows.len(), 4, "{}", runs.stdout);
    assert!(rows[1].contains("parent"), "{}", runs.stdout);
    for row in &rows[2..] {
        assert!(row.contains(&format!("└ {id}-")), "{}", runs.stdout);
        assert!(row.contains("region"), "{}", runs.stdout);
    }
    // `--limit` counts the parent; its children come with it.
    let one = env.run(&["runs", "--limit", "1"]);
    assert_eq!(one.stdout, runs.stdout);

    let docs = env.run(&["runs", "--output", "json"]);
    docs.code(0);
    let docs = docs.json();
    let docs = docs.as_array().unwrap();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0]["run_id"], id);
    assert_eq!(docs[0]["parent"], serde_json::Value::Null);
    for d in &docs[1..] {
        assert_eq!(d["parent"]["run"], id, "{d}");
    }

    // The children were created after the parent: `latest` is still the parent.
    let latest = env.run(&["status", "latest", "--output", "json"]);
    latest.code(0);
    assert_eq!(latest.json()["run_id"], id);
    let logs = env.run(&["logs", "latest", "prep"]);
    logs.code(0);
    assert_eq!(logs.stdout, "prep\n");
}

#[test]
fn cancelling_a_child_run_cancels_its_parent() {
    let env = Env::new();
    env.write(
        "parent.yaml",
        "name: parent\ntasks:\n  slow: { type: dag, file: sub/slow.yaml }\n",
    );
    env.write(
        "sub/slow.yaml",
        "name: slow\ntasks:\n  nap: { command: sleep 60 }\n",
    );
    let mut driver = env.spawn(&["run", "parent.yaml", "--output", "json"]);
    // The child run exists once its task sleeps.
    let mut child_id = String::new();
    let started = wait_for(Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_millis(200));
        let runs = env.run(&["runs", "--output", "json"]);
        let Ok(docs) = serde_json::from_str::<serde_json::Value>(&runs.stdout) else {
            return false;
        };
        let found = docs
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| !d["parent"].is_null() && task_state(d, "nap") == "running");
        if let Some(d) = found {
            child_id = d["run_id"].as_str().unwrap().to_string();
        }
        found.is_some()
    });
    if !started {
        let _ = driver.kill();
        panic!("the child run never started");
    }
    let parent_id = child_id.strip_suffix("-slow").unwrap().to_string();

    let cancel = env.run(&["cancel", &child_id, "--nats", "nats://127.0.0.1:9"]);
    cancel.code(0);
    let said = format!(
        "run {child_id} is the sub-DAG run of task slow of run {parent_id}: cancelling {parent_id}"
    );
    assert!(cancel.stdout.contains(&said), "{}", cancel.stdout);

    let run = finish_within(driver, Duration::from_secs(30), "dag run");
    run.code(130);
    let doc = run.json();
    assert_eq!(doc["run_id"], parent_id);
    assert_eq!(doc["state"], "cancelled");
    let child = env.run(&["status", &child_id, "--output", "json"]);
    assert_eq!(child.json()["state"], "cancelled");
}

#[test]
fn graph_draws_a_sub_dag_as_a_cluster_that_graphviz_renders() {
    let env = Env::new();
    env.write("parent.yaml", PARENT);
    env.write("sub/region.yaml", REGION);
    // A nested sub-DAG whose params only a run knows: drawn with its defaults.
    env.write(
        "nest.yaml",
        "name: nest\ntasks:\n  a: { command: 'echo x=1 >> $DAG_OUTPUT' }\n  \
         deep: { type: dag, file: sub/deep.yaml, depends_on: [a] }\n",
    );
    env.write(
        "sub/deep.yaml",
        "name: deep\ntasks:\n  first: { command: 'echo x=1 >> $DAG_OUTPUT' }\n  \
         inner: { type: dag, file: region.yaml, params: { region: '${{ tasks.first.outputs.x }}' }, depends_on: [first] }\n",
    );

    let dot = env.run(&["graph", "parent.yaml", "--format", "dot"]);
    dot.code(0);
    for want in [
        "compound=true;",
        "subgraph \"cluster_eu\" {",
        "label=\"eu: sub/region.yaml\";",
        "\"eu/extract\" -> \"eu/load\";",
        "\"prep\" -> \"eu/extract\" [lhead=\"cluster_eu\"];",
        "\"eu/load\" -> \"report\" [ltail=\"cluster_eu\"];",
    ] {
        assert!(dot.stdout.contains(want), "no {want} in\n{}", dot.stdout);
    }
    let nested = env.run(&["graph", "nest.yaml", "--format", "dot"]);
    nested.code(0);
    assert!(
        nested.stdout.contains("subgraph \"cluster_deep/inner\" {"),
        "{}",
        nested.stdout
    );
    for text in [&dot.stdout, &nested.stdout] {
        if let Some(svg) = render_dot(text) {
            assert!(svg.contains("<svg"), "no SVG");
        }
    }

    let text = env.run(&["graph", "parent.yaml"]);
    text.code(0);
    assert!(
        text.stdout.contains(
            "  eu [dag] sub/region.yaml region=eu  ← prep\n    extract [bash] echo extracting eu\n"
        ),
        "{}",
        text.stdout
    );
    let text = env.run(&["graph", "nest.yaml"]);
    assert!(
        text.stdout
            .contains("      extract [bash] echo extracting none\n"),
        "{}",
        text.stdout
    );

    let mermaid = env.run(&["graph", "parent.yaml", "--format", "mermaid"]);
    mermaid.code(0);
    assert!(
        mermaid
            .stdout
            .contains("  subgraph t1[\"eu: sub/region.yaml\"]\n    t1_0[\"extract (bash)\"]\n"),
        "{}",
        mermaid.stdout
    );
    assert!(
        mermaid.stdout.contains("  t0 --> t1\n"),
        "{}",
        mermaid.stdout
    );
}

/// `text` rendered as SVG by Graphviz's `dot`, which must accept it without a
/// warning; None without `dot` (outside CI).
fn render_dot(text: &str) -> Option<String> {
    if std::process::Command::new("dot")
        .arg("-V")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs Graphviz's `dot` (Debian package graphviz)"
        );
        return None;
    }
    let mut render = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(render.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let out = render.wait_with_output().unwrap();
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && warnings.is_empty(),
        "{warnings}\n{text}"
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_ui_links_a_child_run_and_its_parent_both_ways() {
    let Some(browser) = Browser::start_serving_loopback() else {
        return;
    };
    let (env, parent) = ran();
    let id = parent["run_id"].as_str().unwrap();
    let child = format!("{id}-eu");
    let ui = Ui::start(&env, &[]);

    // The child's page names its parent's, and the link leads there.
    browser.goto(&ui.url(&format!("/runs/{child}")));
    until(
        &browser,
        "the link to the parent run",
        "return !!document.querySelector('#run-parent a');",
    );
    let seen = browser.eval(
        "const p = document.getElementById('run-parent');
         return {text: p.textContent, href: p.querySelector('a').getAttribute('href')};",
    );
    assert_eq!(
        seen["text"],
        format!("the sub-DAG run of task eu of run {id}"),
        "{seen}"
    );
    assert_eq!(seen["href"], format!("/runs/{id}"), "{seen}");
    browser.click("#run-parent a");
    until(
        &browser,
        "the parent's page",
        &format!(
            "return location.pathname === '/runs/{id}' && !!document.getElementById('run-children');"
        ),
    );

    // The parent's page lists its children with their states, and its `dag`
    // tasks link them in the table and in their panel.
    let seen = browser.eval(
        "const all = (s) => Array.from(document.querySelectorAll(s));
         return {
           children: all('#run-children li').map(l => [l.querySelector('a').getAttribute('href'), l.textContent]),
           rows: all('#task-table a.sub-dag').map(a => a.getAttribute('href')),
         };",
    );
    let children = seen["children"].as_array().unwrap();
    assert_eq!(children.len(), 2, "{seen}");
    for task in ["eu", "us"] {
        let href = format!("/runs/{id}-{task}");
        assert!(
            children.iter().any(|c| c[0] == href.as_str()
                && c[1] == format!("{task} → sub-DAG run {id}-{task} success").as_str()),
            "{seen}"
        );
        assert!(
            seen["rows"].as_array().unwrap().iter().any(|r| *r == href),
            "{seen}"
        );
    }
    browser.click("#task-table tr[data-task='eu'] td:nth-child(2)");
    until(
        &browser,
        "the dag task's panel",
        &format!(
            "const a = document.querySelector('#panel-child a'); return !!a && a.getAttribute('href') === '/runs/{child}';"
        ),
    );
    browser.click("#task-table a.sub-dag");
    until(
        &browser,
        "a child's page from the table",
        "return location.pathname.startsWith('/runs/') && !!document.getElementById('run-parent');",
    );
}

#[test]
fn the_reports_name_the_runs_of_sub_dags() {
    let (env, parent) = ran();
    let id = parent["run_id"].as_str().unwrap();
    let md = env.run(&["report", id, "--format", "markdown"]);
    md.code(0);
    for task in ["eu", "us"] {
        let line = format!("- **Sub-DAG run** of task `{task}`: `{id}-{task}` (success)\n");
        assert!(md.stdout.contains(&line), "{}", md.stdout);
    }
    let md = env.run(&["report", &format!("{id}-eu"), "--format", "markdown"]);
    let line = format!("- **Sub-DAG run** of task `eu` of run `{id}`\n");
    assert!(md.stdout.contains(&line), "{}", md.stdout);

    let html = env.run(&["report", id, "--format", "html"]);
    html.code(0);
    let item = format!(
        "<li><code>eu</code> → sub-DAG run <code>{id}-eu</code> <span class=\"badge s-success\">success</span></li>"
    );
    assert!(html.stdout.contains(&item), "{}", html.stdout);
    let html = env.run(&["report", &format!("{id}-eu"), "--format", "html"]);
    let line = format!(
        "<p class=\"facts\" id=\"run-parent\">the sub-DAG run of task <code>eu</code> of run <code>{id}</code></p>"
    );
    assert!(html.stdout.contains(&line), "{}", html.stdout);
}

/// Attack pass: records edited by hand to link runs no run of dag could (a
/// parent naming itself, two runs naming each other, ids holding terminal
/// escapes and markup, a record of another run) are refused by name where
/// they are read: `dag runs` lists the others, `dag status`, the reports and
/// `dag cancel` say which file is damaged, and nothing prints an escape.
#[test]
fn hand_made_links_between_runs_are_refused_by_name() {
    let (env, parent) = ran();
    let id = parent["run_id"].as_str().unwrap();
    let runs = env.path().join("state/runs");
    let child: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs.join(format!("{id}-eu/run.json"))).unwrap())
            .unwrap();
    let evil = "\u{1b}]0;pwned\u{7}<script>alert(1)</script>";
    let forge = |run: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut r = child.clone();
        r["run_id"] = run.into();
        edit(&mut r);
        env.write(
            &format!("state/runs/{run}/run.json"),
            serde_json::to_vec(&r).unwrap(),
        );
    };
    let link = |run: &str, task: &str| serde_json::json!({"run": run, "task": task});
    let own = "20200101T000001000Z-0001";
    forge(own, &|r| r["parent"] = link(own, "eu"));
    let (a, b) = ("20200101T000002000Z-000a", "20200101T000002000Z-000b");
    forge(a, &|r| r["parent"] = link(b, "eu"));
    forge(b, &|r| r["parent"] = link(a, "eu"));
    let escapes = "20200101T000003000Z-0003";
    forge(escapes, &|r| {
        r["parent"] = serde_json::Value::Null;
        r["children"] = serde_json::json!([link(evil, evil)]);
    });
    let other = "20200101T000004000Z-0004";
    forge(other, &|r| r["run_id"] = evil.into());

    let listed = env.run(&["runs"]);
    listed.code(0);
    for bad in [own, a, b, escapes, other] {
        let line = format!("warning: skipping run {bad}: state store:");
        assert!(listed.stderr.contains(&line), "{bad}: {}", listed.stderr);
        assert!(!listed.stdout.contains(bad), "{}", listed.stdout);
    }
    assert!(
        listed.stdout.contains(&format!("└ {id}-eu")),
        "{}",
        listed.stdout
    );
    let json = env.run(&["runs", "--output", "json"]);
    json.code(0);
    assert_eq!(json.json().as_array().unwrap().len(), 3, "{}", json.stdout);
    for (bad, said) in [
        (own, "its parent link names run"),
        (a, "its parent link names run"),
        (escapes, "as the run of a sub-DAG"),
        (other, "it holds the record of run"),
    ] {
        for args in [
            vec!["status", bad],
            vec!["report", bad, "--format", "html"],
            vec!["report", bad, "--format", "markdown"],
            vec!["cancel", bad, "--nats", "nats://127.0.0.1:9"],
        ] {
            let run = env.run(&args);
            assert_ne!(run.code, 0, "{args:?}: {}", run.stdout);
            assert!(run.stderr.contains(said), "{args:?}: {}", run.stderr);
            let all = format!("{}{}", run.stdout, run.stderr);
            assert!(
                !all.contains('\u{1b}') && !all.contains('\u{7}'),
                "{args:?}: {all}"
            );
        }
    }
    // Whatever is left, `latest` is still the parent.
    let latest = env.run(&["status", "--output", "json"]);
    assert_eq!(latest.json()["run_id"], id);
}

/// Attack pass: `dag runs` over a parent of a thousand child runs (a mapped
/// dag task) lists each under it, as it lists the same runs unlinked (each
/// child's parent is read once, not once per child: a big record read a
/// thousand times took 16 s; timings are for benchmarks, not tests).
#[test]
fn runs_lists_a_thousand_child_runs_under_their_parent() {
    let (env, parent) = ran();
    let id = parent["run_id"].as_str().unwrap().to_string();
    let runs = env.path().join("state/runs");
    let read = |run: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(runs.join(run).join("run.json")).unwrap()).unwrap()
    };
    let (top, child) = (read(&id), read(&format!("{id}-eu")));
    let n = 1000;
    let listed = |linked: bool| {
        let env = crate::common::Env::new();
        let big = "20200101T000000000Z-0001";
        let write = |run: &str, r: &serde_json::Value| {
            env.write(
                &format!("state/runs/{run}/run.json"),
                serde_json::to_vec(r).unwrap(),
            );
        };
        let mut p = top.clone();
        p["run_id"] = big.into();
        let task = p["tasks"][0].clone();
        let mut tasks = Vec::new();
        let mut children = Vec::new();
        for i in 0..n {
            let mut t = task.clone();
            t["id"] = format!("many.{i}").into();
            tasks.push(t);
            children.push(serde_json::json!({"run": format!("{big}-many_{i}-abcd"), "task": format!("many.{i}")}));
        }
        p["tasks"] = tasks.into();
        p["children"] = if linked {
            children.into()
        } else {
            serde_json::json!([])
        };
        write(big, &p);
        for i in 0..n {
            let run = format!("{big}-many_{i}-abcd");
            let mut c = child.clone();
            c["run_id"] = run.as_str().into();
            c["parent"] = if linked {
                serde_json::json!({"run": big, "task": format!("many.{i}")})
            } else {
                serde_json::Value::Null
            };
            write(&run, &c);
        }
        let runs = env.run(&["runs", "--limit", "5000"]);
        runs.code(0);
        assert_eq!(runs.stdout.matches("-many_").count(), n, "{}", runs.stdout);
        // Linked, each is listed under the parent (`└ ` and its full id).
        if linked {
            assert_eq!(runs.stdout.matches("└ ").count(), n, "{}", runs.stdout);
        }
    };
    // (Listing them once read the parent's record again for each child: 16 s
    // for these; now about the time of unlinked runs.)
    listed(false);
    listed(true);
}

/// Attack pass: `dag cancel CHILD` when the parent's record cannot be read
/// (pruned by hand, damaged) cancels through the child's own record, which
/// names the same driving process, and says why; before, it answered "no run"
/// and the run went on.
#[test]
fn cancelling_a_child_run_whose_parent_record_is_gone_still_stops_it() {
    let env = Env::new();
    env.write(
        "parent.yaml",
        "name: parent\ntasks:\n  slow: { type: dag, file: sub/slow.yaml }\n",
    );
    env.write(
        "sub/slow.yaml",
        "name: slow\ntasks:\n  nap: { command: sleep 60 }\n",
    );
    let mut driver = env.spawn(&["run", "parent.yaml", "--output", "json"]);
    let runs = env.path().join("state/runs");
    let mut child_id = String::new();
    let started = wait_for(Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_millis(200));
        let Some(id) = std::fs::read_dir(&runs)
            .into_iter()
            .flatten()
            .flatten()
            .find_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.ends_with("-slow").then_some(name)
            })
        else {
            return false;
        };
        let child = env.run(&["status", &id, "--output", "json"]);
        child_id = id;
        child.code == 0 && task_state(&child.json(), "nap") == "running"
    });
    if !started {
        let _ = driver.kill();
        panic!("the child run never started");
    }
    let parent_id = child_id.strip_suffix("-slow").unwrap().to_string();
    let record = runs.join(&parent_id).join("run.json");
    let kept = std::fs::read(&record).unwrap();
    std::fs::remove_file(&record).unwrap();

    let cancel = env.run(&["cancel", &child_id, "--nats", "nats://127.0.0.1:9"]);
    std::fs::write(&record, kept).unwrap();
    if cancel.code != 0 {
        let _ = driver.kill();
    }
    cancel.code(0);
    let said = format!(
        "run {parent_id} cannot be read (no run `{parent_id}` in the state store), so run {child_id} is cancelled: cancelling {child_id}"
    );
    assert!(cancel.stdout.contains(&said), "{}", cancel.stdout);
    let run = finish_within(driver, Duration::from_secs(30), "dag run");
    run.code(130);
}

/// Attack pass: six small files, each calling the next ten times, make a
/// million tasks; `dag graph` draws sub-DAGs up to 10,000 tasks in all, and
/// the `dag` tasks past them as plain tasks, in moments (it drew them all,
/// for minutes, in gigabytes).
#[test]
fn graph_of_sub_dags_calling_each_other_many_times_is_bounded() {
    let env = Env::new();
    let levels = 6;
    for level in 0..levels {
        let mut file = format!("name: l{level}\ntasks:\n");
        for i in 0..10 {
            if level + 1 < levels {
                file.push_str(&format!(
                    "  t{i}: {{ type: dag, file: l{}.yaml }}\n",
                    level + 1
                ));
            } else {
                file.push_str(&format!("  t{i}: {{ command: 'true' }}\n"));
            }
        }
        env.write(&format!("l{level}.yaml"), file);
    }
    for format in ["text", "dot", "mermaid"] {
        let graph = finish_within(
            env.spawn(&["graph", "l0.yaml", "--format", format]),
            Duration::from_secs(30),
            "dag graph",
        );
        graph.code(0);
        let lines = graph.stdout.lines().count();
        assert!((10_000..30_000).contains(&lines), "{format}: {lines} lines");
    }
}
