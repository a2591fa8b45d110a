//! `dag ui`: the pages over a real store, in a real browser; the token, the host
//! check and the action checks over plain HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::Duration;

use serde_json::Value;

use crate::common::browser::{Browser, dechunk, screenshot_path};
use crate::common::{Env, wait_for};

/// A `dag ui` of the test's store; stopped when dropped.
pub(crate) struct Ui {
    child: Child,
    /// `127.0.0.1:PORT`.
    addr: String,
}

impl Ui {
    pub(crate) fn start(env: &Env, args: &[&str]) -> Ui {
        let mut all = vec!["ui"];
        if !args.contains(&"--bind") {
            all.extend(["--bind", "127.0.0.1:0"]);
        }
        all.extend_from_slice(args);
        let mut child = env.spawn(&all);
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        assert!(!addr.is_empty(), "dag ui printed no address");
        Ui { child, addr }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn get(&self, path: &str) -> Answer {
        http(&self.addr, "GET", path, &[], "")
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

/// One HTTP/1.1 request (`Connection: close`), with `Host` set to `addr` unless
/// `headers` gives one.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Answer {
        status,
        headers: head.to_string(),
        body,
    }
}

/// The id of the newest run of the test's store.
fn newest_run(env: &Env) -> String {
    let mut ids: Vec<String> = std::fs::read_dir(env.path().join("state/runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    ids.sort();
    ids.pop().unwrap()
}

/// Waits until `script` (a function body) returns true in the page.
pub(crate) fn until(browser: &Browser, what: &str, script: &str) {
    let ok = wait_for(Duration::from_secs(30), || {
        browser.eval(script).as_bool() == Some(true)
    });
    assert!(
        ok,
        "{what}: never true; the page shows: {}",
        browser.eval("return document.body.innerText;")
    );
}

/// A run with hostile text in a log line, an output and an error, and a task that
/// fails until a file exists.
const HOSTILE: &str = r#"name: shop
tasks:
  fetch:
    command: |
      echo 'line <script>alert(1)</script> & "q"'
      echo 'v=<img src=x onerror=alert(2)>' >> "$DAG_OUTPUT"
  parts:
    for_each: [a, b, c]
    command: echo part ${{ item }}
    depends_on: [fetch]
  build:
    command: test -f ok || { echo 'build broke <b>here</b>'; exit 3; }
    depends_on: [parts]
  ship:
    command: echo shipped
    depends_on: [build]
"#;

#[test]
fn the_ui_shows_runs_live_in_a_browser_and_retries_and_cancels_from_the_page() {
    let Some(browser) = Browser::start_serving_loopback() else {
        return;
    };
    let env = Env::new();
    env.write("shop.yaml", HOSTILE);
    env.run(&["run", "shop.yaml", "--output", "quiet"]).code(1);
    let failed = newest_run(&env);
    let ui = Ui::start(&env, &[]);

    // Runs: the run, its state and its counts.
    browser.goto(&ui.url("/"));
    until(
        &browser,
        "the runs list",
        "return document.querySelectorAll('#runs tbody tr').length === 1;",
    );
    let row = browser.eval(
        "const r = document.querySelector('#runs tbody tr');
         return {id: r.dataset.run, cells: Array.from(r.cells).map(c => c.textContent)};",
    );
    assert_eq!(row["id"], failed.as_str());
    assert_eq!(row["cells"][1], "shop");
    assert_eq!(row["cells"][2], "failed");
    assert_eq!(
        row["cells"][5], "4 success1 failed1 upstream failed",
        "{row}"
    );

    // A new run appears without a reload.
    browser.eval("window.marker = 'same page'; return 1;");
    env.write(
        "wait.yaml",
        "name: waiting\ntasks:\n  slow:\n    command: |\n      for i in $(seq 1 400); do echo \"tick $i\"; [ -f go ] && break; sleep 0.1; done\n  after:\n    command: echo after\n    depends_on: [slow]\n",
    );
    let mut live = env.spawn(&["run", "wait.yaml", "--output", "quiet"]);
    until(
        &browser,
        "the new run in the list",
        "return document.querySelectorAll('#runs tbody tr').length === 2 && window.marker === 'same page';",
    );
    assert!(wait_for(Duration::from_secs(10), || newest_run(&env) != failed));
    let running = newest_run(&env);

    // The run in progress: its page follows it, and the running task's log too.
    browser.goto(&ui.url(&format!("/runs/{running}")));
    until(
        &browser,
        "the running run",
        "return document.getElementById('run-state').textContent === 'running';",
    );
    browser.eval("window.marker = 'same page'; return 1;");
    browser.click("#task-table tr[data-task='slow']");
    until(
        &browser,
        "the running task's log",
        "const l = document.getElementById('log'); return !!l && l.dataset.running === '1' && l.textContent.includes('tick 1');",
    );
    let ticks = |b: &Browser| {
        b.eval("return document.getElementById('log').textContent.split('\\n').filter(l => l.startsWith('tick')).length;")
            .as_u64()
            .unwrap_or(0)
    };
    let before = ticks(&browser);
    until(
        &browser,
        "the log growing",
        &format!(
            "return document.getElementById('log').textContent.split('\\n').filter(l => l.startsWith('tick')).length > {};",
            before + 5
        ),
    );
    browser.screenshot(&screenshot_path("ui-run-live.png"));
    env.write("go", "");
    until(
        &browser,
        "the run's end, without a reload",
        "return document.getElementById('run-state').textContent === 'success' && window.marker === 'same page'
           && document.querySelector('#task-table tr[data-task=after] .badge').textContent === 'success';",
    );
    assert!(live.wait().unwrap().success());

    // The failed run: graph, timeline, table, and a task's panel with its log.
    browser.goto(&ui.url(&format!("/runs/{failed}")));
    let seen = browser.eval(
        "const all = (s) => Array.from(document.querySelectorAll(s));
         return {
           state: document.getElementById('run-state').textContent,
           nodes: all('#graph-svg g.node').map(g => [g.dataset.task, g.dataset.state]),
           bars: all('#timeline svg rect').filter(r => r.className.baseVal.startsWith('b-')).length,
           rows: all('#task-table tbody tr').length,
           scripts: document.scripts.length,
           retry: !document.getElementById('act-retry').disabled,
           cancel: !document.getElementById('act-cancel').disabled,
         };",
    );
    assert_eq!(seen["state"], "failed");
    assert_eq!(
        seen["nodes"],
        serde_json::json!([
            ["fetch", "success"],
            ["parts", "success"],
            ["build", "failed"],
            ["ship", "upstream_failed"]
        ])
    );
    assert_eq!(seen["bars"], 3);
    assert_eq!(seen["rows"], 6);
    assert_eq!(seen["scripts"], 1);
    assert_eq!(seen["retry"], true);
    assert_eq!(seen["cancel"], false);
    browser.click("#graph-svg g.node[data-task='fetch']");
    until(
        &browser,
        "the fetch panel",
        "return !!document.querySelector('#panel .task-detail[data-task=fetch]');",
    );
    let panel = browser.eval(
        "return {
           log: document.getElementById('log').textContent,
           output: document.querySelector('#panel .outputs pre').textContent,
           attempts: document.querySelectorAll('#panel .attempts tbody tr').length,
           scripts: document.scripts.length,
           imgs: document.querySelectorAll('#panel img').length,
         };",
    );
    assert_eq!(panel["log"], "line <script>alert(1)</script> & \"q\"\n");
    assert_eq!(panel["output"], "<img src=x onerror=alert(2)>");
    assert_eq!(panel["attempts"], 1);
    assert_eq!(panel["scripts"], 1);
    assert_eq!(panel["imgs"], 0);
    browser.click("#task-table tr[data-task='build']");
    until(
        &browser,
        "the build panel",
        "return !!document.querySelector('#panel .task-detail[data-task=build]');",
    );
    let build = browser.eval(
        "const r = document.querySelector('#panel .attempts tbody tr');
         return {exit: r.cells[5].textContent, error: r.cells[9].textContent, log: document.getElementById('log').textContent};",
    );
    assert_eq!(build["exit"], "3");
    assert_eq!(build["error"], "exit code 3");
    assert_eq!(build["log"], "build broke <b>here</b>\n");
    browser.screenshot(&screenshot_path("ui-run.png"));

    // Retry from the page: the run goes on and succeeds, seen live.
    env.write("ok", "");
    browser.eval("window.marker = 'same page'; return 1;");
    browser.click("#act-retry");
    until(
        &browser,
        "the retried run's success",
        "return document.getElementById('run-state').textContent === 'success' && window.marker === 'same page';",
    );
    let status = env.run(&["status", &failed, "--output", "json"]);
    let doc = status.json();
    assert_eq!(doc["state"], "success");

    // Cancel from the page.
    env.write(
        "sleep.yaml",
        "name: sleepy\ntasks:\n  nap:\n    command: sleep 60\n",
    );
    let mut sleepy = env.spawn(&["run", "sleep.yaml", "--output", "quiet"]);
    assert!(wait_for(Duration::from_secs(10), || {
        let id = newest_run(&env);
        id != running && id != failed
    }));
    let nap = newest_run(&env);
    browser.goto(&ui.url(&format!("/runs/{nap}")));
    until(
        &browser,
        "the sleeping run",
        "return document.getElementById('run-state').textContent === 'running' && !document.getElementById('act-cancel').disabled;",
    );
    browser.click("#act-cancel");
    until(
        &browser,
        "the cancelled run",
        "return document.getElementById('run-state').textContent === 'cancelled';",
    );
    let code = sleepy.wait().unwrap().code();
    assert_eq!(code, Some(130), "a cancelled run exits 130");

    // The DAG page: durations across its runs and its file.
    browser.goto(&ui.url("/dags/shop"));
    let dag = browser.eval(
        "return {
           rows: Array.from(document.querySelectorAll('#duration-table tbody tr')).map(r => [r.dataset.name, r.cells[1].textContent]),
           file: document.getElementById('file-text').textContent.includes('name: shop'),
         };",
    );
    assert_eq!(
        dag["rows"],
        serde_json::json!([
            ["fetch", "1/1 (100%)"],
            ["parts", "1/1 (100%)"],
            ["build", "1/1 (100%)"],
            ["ship", "1/1 (100%)"]
        ]),
        "a retried run counts as it ended"
    );
    assert_eq!(dag["file"], true);
    browser.screenshot(&screenshot_path("ui-dag.png"));

    // Screenshots of the runs list; nothing fetched from any other host.
    browser.goto(&ui.url("/"));
    until(
        &browser,
        "the runs list",
        "return document.querySelectorAll('#runs tbody tr').length === 3;",
    );
    browser.screenshot(&screenshot_path("ui-runs.png"));
    let elsewhere: Vec<String> = browser
        .page_fetches()
        .into_iter()
        .filter(|f| {
            let target = f.split_whitespace().nth(1).unwrap_or(f);
            !(target.starts_with('/') || target.starts_with(&format!("http://{}", ui.addr)))
        })
        .collect();
    assert!(elsewhere.is_empty(), "the pages fetched {elsewhere:?}");
}

#[test]
fn the_dag_page_shows_durations_across_runs_and_what_changed_in_the_file() {
    let env = Env::new();
    let first = "name: etl\ntasks:\n  extract:\n    command: 'true'\n  load:\n    command: 'true'\n    depends_on: [extract]\n";
    env.write("etl.yaml", first);
    env.run(&["run", "etl.yaml", "--output", "quiet"]).code(0);
    env.write(
        "etl.yaml",
        first.replace("load:\n    command: 'true'", "load:\n    command: 'exit 4'"),
    );
    env.run(&["run", "etl.yaml", "--output", "quiet"]).code(1);
    let ui = Ui::start(&env, &[]);
    let page = ui.get("/dags/etl");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("<tr data-name=\"extract\"><td><code>extract</code></td><td class=\"n\" data-v=\"1\">2/2 (100%)</td>"), "{}", page.body);
    assert!(page.body.contains("<tr data-name=\"load\"><td><code>load</code></td><td class=\"n\" data-v=\"0.5\">1/2 (50%)</td>"), "{}", page.body);
    assert!(
        page.body
            .contains("<span class=\"del\">-     command: &apos;true&apos;</span>")
            && page
                .body
                .contains("<span class=\"add\">+     command: &apos;exit 4&apos;</span>"),
        "{}",
        page.body
    );
    // A bar per run, linked to it.
    assert_eq!(page.body.matches("<a href=\"/runs/").count(), 4);
    let missing = ui.get("/dags/nothing");
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("no run of a DAG named `nothing`"));
}

#[test]
fn off_loopback_a_token_is_required_and_every_request_must_carry_it() {
    let env = Env::new();
    let refused = env.run(&["ui", "--bind", "0.0.0.0:0"]);
    refused.code(2);
    assert!(
        refused.stderr.contains("needs a token"),
        "{}",
        refused.stderr
    );
    let short = env.run(&["ui", "--bind", "0.0.0.0:0", "--token", "abc"]);
    short.code(2);
    assert!(short.stderr.contains("at least 16"), "{}", short.stderr);
    let odd = env.run(&["ui", "--token", "0123456789abcdef;x=1"]);
    odd.code(2);
    assert!(odd.stderr.contains("the token holds `;`"), "{}", odd.stderr);

    let token = "0123456789abcdef-token";
    let ui = Ui::start(&env, &["--bind", "0.0.0.0:0", "--token", token]);
    let port = ui.addr.rsplit_once(':').unwrap().1.to_string();
    let addr = format!("127.0.0.1:{port}");
    let plain = http(&addr, "GET", "/", &[], "");
    assert_eq!(plain.status, 401, "{plain:?}");
    assert!(plain.body.contains("needs its token"));
    for path in ["/assets/ui.js", "/api/runs", "/workers", "/runs/x"] {
        assert_eq!(http(&addr, "GET", path, &[], "").status, 401, "{path}");
    }
    let wrong = http(
        &addr,
        "GET",
        "/",
        &[("Authorization", "Bearer 0123456789abcdef-tokeX")],
        "",
    );
    assert_eq!(wrong.status, 401);
    let bearer = format!("Bearer {token}");
    let ok = http(&addr, "GET", "/", &[("Authorization", &bearer)], "");
    assert_eq!(ok.status, 200);
    // A foreign Host is fine with a token (it is the token that protects).
    let named = http(
        &addr,
        "GET",
        "/",
        &[("Authorization", &bearer), ("Host", "dag.example:80")],
        "",
    );
    assert_eq!(named.status, 200);
    // The token in the address becomes a cookie, and leaves the address.
    let first = http(&addr, "GET", &format!("/?token={token}&x=1"), &[], "");
    assert_eq!(first.status, 303, "{first:?}");
    let headers = first.headers.to_ascii_lowercase();
    assert!(headers.contains("location: /?x=1"), "{headers}");
    assert!(
        headers.contains(&format!(
            "set-cookie: dag_ui_token={token}; path=/; httponly; samesite=strict"
        )),
        "{headers}"
    );
    let cookie = format!("dag_ui_token={token}");
    let by_cookie = http(&addr, "GET", "/", &[("Cookie", &cookie)], "");
    assert_eq!(by_cookie.status, 200);
    let bad = http(&addr, "GET", "/?token=nope", &[], "");
    assert_eq!(bad.status, 401);
}

#[test]
fn on_loopback_foreign_hosts_and_cross_site_actions_are_refused() {
    let env = Env::new();
    env.write(
        "x.yaml",
        "name: x\ntasks:\n  a:\n    command: 'echo \"<script>alert(1)</script>\" >> $DAG_OUTPUT; exit 1'\n",
    );
    env.run(&["run", "x.yaml", "--output", "quiet"]).code(1);
    let run = newest_run(&env);
    let ui = Ui::start(&env, &[]);
    // DNS rebinding: a page of another name pointed at 127.0.0.1.
    let rebound = http(&ui.addr, "GET", "/", &[("Host", "evil.example:8080")], "");
    assert_eq!(rebound.status, 403, "{rebound:?}");
    for host in ["localhost", "127.0.0.1", "[::1]:9"] {
        assert_eq!(
            http(&ui.addr, "GET", "/", &[("Host", host)], "").status,
            200,
            "{host}"
        );
    }
    // Every answer says what the page may load.
    let page = ui.get(&format!("/runs/{run}"));
    assert_eq!(page.status, 200);
    assert!(
        page.headers
            .to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{}",
        page.headers
    );
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert_eq!(page.body.matches("<script").count(), 1);
    // Actions: only from the page itself.
    let path = format!("/runs/{run}/retry");
    let bare = http(&ui.addr, "POST", &path, &[], "");
    assert_eq!(bare.status, 403);
    assert!(bare.body.contains("x-dag-ui"), "{bare:?}");
    let cross = http(
        &ui.addr,
        "POST",
        &path,
        &[("X-Dag-UI", "1"), ("Origin", "http://evil.example")],
        "",
    );
    assert_eq!(cross.status, 403, "{cross:?}");
    let unknown = http(&ui.addr, "POST", &path, &[("X-Dag-UI", "1")], "task=nope");
    assert_eq!(unknown.status, 404, "{unknown:?}");
    let huge = http(
        &ui.addr,
        "POST",
        &path,
        &[("X-Dag-UI", "1")],
        &"x".repeat(10_000),
    );
    assert_eq!(huge.status, 413, "{huge:?}");
    let weird = http(&ui.addr, "GET", "/runs/..%2F..%2Fetc/tasks/a", &[], "");
    assert_eq!(weird.status, 404);
    let panel = ui.get(&format!("/runs/{run}/tasks/a"));
    assert!(!panel.body.contains("<script>alert"), "{}", panel.body);

    // Read-only: no buttons, and actions refused.
    drop(ui);
    let ro = Ui::start(&env, &["--read-only"]);
    let page = ro.get(&format!("/runs/{run}"));
    assert!(!page.body.contains("act-retry"), "{}", page.body);
    let refused = http(&ro.addr, "POST", &path, &[("X-Dag-UI", "1")], "");
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("read-only"), "{refused:?}");
    // The runs list's stream: the run, as JSON.
    let runs = first_event(&ro.addr, "/api/runs");
    assert_eq!(runs[0]["id"], run.as_str(), "{runs}");
    assert_eq!(runs[0]["state"], "failed");
    assert_eq!(runs[0]["counts"], serde_json::json!([["failed", 1]]));
}

/// The data of the first event of a server-sent event stream, as JSON.
fn first_event(addr: &str, path: &str) -> Value {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if let Some(data) = seen.split("data: ").nth(1)
            && let Some((json, _)) = data.split_once('\n')
        {
            return serde_json::from_str(json).unwrap();
        }
    }
}

#[test]
fn over_nats_the_ui_shows_distributed_runs_the_workers_and_tasks_no_worker_can_take() {
    use crate::common::nats::NatsServer;
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let Some(browser) = Browser::start_serving_loopback() else {
        return;
    };
    let env = Env::new();
    let _w = env.worker(&nats, "w1", &["--allow-types", "bash,fn"]);
    env.write(
        "spread.yaml",
        "name: spread\ntasks:\n  here:\n    command: echo 'ran <i>here</i>'\n  stuck:\n    command: echo never\n    queue: nowhere\n",
    );
    let run = env.spawn_distributed(&nats, "spread.yaml", &["--state", "nats"]);
    let url = nats.url();
    let ui = Ui::start(&env, &["--state", "nats", "--nats", &url]);

    // The run, from the NATS store.
    browser.goto(&ui.url("/"));
    until(
        &browser,
        "the distributed run",
        "const r = document.querySelector('#runs tbody tr'); return !!r && r.cells[1].textContent === 'spread';",
    );
    let id = browser
        .eval("return document.querySelector('#runs tbody tr').dataset.run;")
        .as_str()
        .unwrap()
        .to_string();
    browser.goto(&ui.url(&format!("/runs/{id}")));
    until(
        &browser,
        "the task a worker ran",
        "const b = document.querySelector('#task-table tr[data-task=here] .badge'); return !!b && b.textContent === 'success';",
    );
    browser.click("#task-table tr[data-task='here']");
    until(
        &browser,
        "its panel",
        "const r = document.querySelector('#panel .attempts tbody tr'); return !!r && r.cells[7].textContent === 'w1' && document.getElementById('log').textContent === 'ran <i>here</i>\\n';",
    );

    // The workers page: the worker, its types, and the task nobody can take.
    browser.goto(&ui.url("/workers"));
    until(
        &browser,
        "the worker and the warning",
        "const w = document.querySelector('#workers tr[data-worker=w1]');
         const u = document.getElementById('unservable');
         return !!w && w.cells[2].textContent === 'alive' && w.cells[5].textContent === 'bash, fn'
           && !!u && u.textContent.includes('wait in queue nowhere, and no live worker serves it');",
    );
    let queue = browser.eval(
        "const q = document.querySelector('#queues tr[data-queue=nowhere]'); return q ? [q.cells[1].textContent, q.cells[3].textContent] : null;",
    );
    assert_eq!(queue, serde_json::json!(["1", "0"]));
    browser.screenshot(&screenshot_path("ui-workers.png"));

    // Cancel from the run's page reaches the distributed run.
    browser.goto(&ui.url(&format!("/runs/{id}")));
    until(
        &browser,
        "the cancel button",
        "return !document.getElementById('act-cancel').disabled;",
    );
    browser.click("#act-cancel");
    until(
        &browser,
        "the cancelled run",
        "return document.getElementById('run-state').textContent === 'cancelled';",
    );
    let out = crate::common::finish_within(
        run,
        Duration::from_secs(30),
        "the cancelled distributed run",
    );
    assert_eq!(out.code, 130, "{}", out.stderr);
}

#[test]
fn secrets_the_file_gives_are_masked_on_every_page_and_odd_task_ids_retry() {
    let env = Env::new();
    let file = |token: &str| {
        format!(
            "name: vault\ntasks:\n  '-x':\n    env:\n      API_TOKEN: {token}\n      PEM: |\n        -----BEGIN KEY-----\n        abcdefghijklmnop\n        qrstuvwxyz012345\n        -----END KEY-----\n    secret_env: [API_TOKEN, PEM]\n    command: test -f ok || exit 5\n"
        )
    };
    env.write("vault.yaml", file("hunter2-first-secret"));
    env.run(&["run", "vault.yaml", "--output", "quiet"]).code(1);
    env.write("vault.yaml", file("hunter2-second-secret"));
    env.run(&["run", "vault.yaml", "--output", "quiet"]).code(1);
    let run = newest_run(&env);
    let ui = Ui::start(&env, &[]);
    let dag = ui.get("/dags/vault");
    assert_eq!(dag.status, 200, "{dag:?}");
    let panel = ui.get(&format!("/runs/{run}/tasks/-x"));
    assert_eq!(panel.status, 200, "{panel:?}");
    for page in [&dag.body, &panel.body] {
        for secret in [
            "hunter2-first-secret",
            "hunter2-second-secret",
            "abcdefghijklmnop",
            "qrstuvwxyz012345",
        ] {
            assert!(!page.contains(secret), "{secret} shown in clear: {page}");
        }
    }
    // The file is shown, masked, and so is what changed between the runs.
    assert!(dag.body.contains("API_TOKEN: ***"), "{}", dag.body);
    assert!(
        dag.body
            .contains("The two files differ only in secrets (masked here)."),
        "{}",
        dag.body
    );
    // A task whose id starts with `-` is retried as any other.
    env.write("ok", "");
    let retried = http(
        &ui.addr,
        "POST",
        &format!("/runs/{run}/retry"),
        &[
            ("X-Dag-UI", "1"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "task=-x",
    );
    assert_eq!(retried.status, 200, "{retried:?}");
    assert!(wait_for(Duration::from_secs(20), || {
        env.run(&["status", &run, "--output", "json"]).json()["state"] == "success"
    }));
}

#[test]
fn an_action_whose_body_never_ends_is_given_up() {
    let env = Env::new();
    let ui = Ui::start(&env, &[]);
    let mut s = TcpStream::connect(&ui.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /runs/x/retry HTTP/1.1\r\nHost: {}\r\nX-Dag-UI: 1\r\nContent-Length: 4000\r\n\r\na",
        ui.addr
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[test]
fn a_run_whose_process_died_is_shown_interrupted_and_retried_from_its_page() {
    let env = Env::new();
    env.write(
        "die.yaml",
        "name: die\ntasks:\n  slow:\n    command: test -f ok || sleep 30\n  after:\n    command: echo after\n    depends_on: [slow]\n",
    );
    let mut run = env.spawn(&["run", "die.yaml", "--output", "quiet"]);
    assert!(wait_for(Duration::from_secs(10), || {
        env.path().join("state/runs").exists()
            && env.run(&["status", "latest", "--output", "json"]).json()["tasks"][0]["state"]
                == "running"
    }));
    crate::common::kill(run.id(), "KILL");
    let _ = run.wait();
    let id = newest_run(&env);
    let ui = Ui::start(&env, &[]);
    let page = ui.get(&format!("/runs/{id}"));
    assert!(
        page.body.contains("id=\"run-interrupted\""),
        "{}",
        page.body
    );
    env.write("ok", "");
    let retried = http(
        &ui.addr,
        "POST",
        &format!("/runs/{id}/retry"),
        &[("X-Dag-UI", "1")],
        "",
    );
    assert_eq!(retried.status, 200, "{retried:?}");
    assert!(wait_for(Duration::from_secs(20), || {
        env.run(&["status", &id, "--output", "json"]).json()["state"] == "success"
    }));
    assert!(
        !ui.get(&format!("/runs/{id}"))
            .body
            .contains("run-interrupted")
    );
}

#[test]
fn the_ui_serves_runs_by_state_as_prometheus_metrics() {
    let env = Env::new();
    env.write(
        "ok.yaml",
        "name: ok\ntasks:\n  a: { type: fn, command: noop }\n",
    );
    env.write(
        "bad.yaml",
        "name: bad\ntasks:\n  a: { type: fn, command: fail }\n",
    );
    env.run(&["run", "ok.yaml", "--output", "quiet"]).code(0);
    env.run(&["run", "ok.yaml", "--output", "quiet"]).code(0);
    env.run(&["run", "bad.yaml", "--output", "quiet"]).code(1);
    let ui = Ui::start(&env, &[]);
    let answer = ui.get("/metrics");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        answer
            .headers
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{answer:?}"
    );
    let body = &answer.body;
    assert!(body.contains("# TYPE dag_runs gauge"), "{body}");
    assert!(body.contains("dag_runs{state=\"success\"} 2"), "{body}");
    assert!(body.contains("dag_runs{state=\"failed\"} 1"), "{body}");
}
