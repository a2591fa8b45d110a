//! http tasks against a real HTTP server on 127.0.0.1, and task outputs passed
//! across bash, http and fn tasks.

use crate::common::http::Server;
use crate::common::{Env, task, task_state};

#[test]
fn every_method_with_bodies_and_headers() {
    let server = Server::start();
    let env = Env::new();
    let echo = server.url("/echo");
    env.write(
        "m.yaml",
        format!(
            r#"
name: methods
tasks:
  get: {{ type: http, command: GET {echo} }}
  post_json: {{ type: http, command: 'POST {echo} {{"name": "dag", "n": 1}}' }}
  put_raw: {{ type: http, command: PUT {echo} plain text body }}
  delete: {{ type: http, command: DELETE {echo} }}
  patch_keys:
    type: http
    method: patch
    url: {echo}
    body: '{{"x": [1, 2]}}'
    headers: {{ Content-Type: application/merge-patch+json, X-Trace: abc, Authorization: Bearer secret }}
  head: {{ type: http, command: HEAD {echo} }}
  options: {{ type: http, command: OPTIONS {echo} }}
"#
        ),
    );
    let (run, doc) = env.run_json("m.yaml", &["--parallel", "1"]);
    run.code(0);
    let reqs = server.requests();
    let by_method = |m: &str| {
        reqs.iter()
            .find(|r| r.method == m)
            .unwrap_or_else(|| panic!("no {m} in {reqs:?}"))
            .clone()
    };
    for m in ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
        assert_eq!(by_method(m).path, "/echo");
    }
    let post = by_method("POST");
    assert_eq!(post.body, r#"{"name": "dag", "n": 1}"#);
    assert_eq!(post.headers["content-type"], "application/json");
    let put = by_method("PUT");
    assert_eq!(put.body, "plain text body");
    assert!(
        !put.headers.contains_key("content-type"),
        "raw bodies get no JSON content type"
    );
    let patch = by_method("PATCH");
    assert_eq!(
        patch.headers["content-type"], "application/merge-patch+json",
        "an explicit header wins"
    );
    assert_eq!(patch.headers["x-trace"], "abc");
    assert_eq!(patch.body, r#"{"x": [1, 2]}"#);
    assert_eq!(task(&doc, "get")["exit_code"], 200);
    // The response body is the output; the log has status, headers and body, and no
    // credentials.
    let output = task(&doc, "post_json")["outputs"]["output"]
        .as_str()
        .unwrap();
    let echoed: serde_json::Value = serde_json::from_str(output).unwrap();
    assert_eq!(echoed["body"], r#"{"name": "dag", "n": 1}"#);
    let log = env
        .run(&["logs", doc["run_id"].as_str().unwrap(), "patch_keys"])
        .stdout;
    assert!(log.contains("> PATCH http://"), "{log}");
    assert!(log.contains("< HTTP/1.1 200 OK"), "{log}");
    // (The echo server repeats the header in its body; the request lines must not.)
    assert!(log.contains("> Authorization: <hidden>"), "{log}");
    assert!(
        !log.lines()
            .any(|l| l.starts_with('>') && l.contains("secret")),
        "{log}"
    );
    assert!(log.contains("\"method\":\"PATCH\""), "{log}");
}

#[test]
fn status_codes_decide_success() {
    let server = Server::start();
    let env = Env::new();
    let mut yaml = String::from("name: statuses\ntasks:\n");
    for code in [200, 201, 301, 404, 500, 503] {
        yaml.push_str(&format!(
            "  s{code}: {{ type: http, command: GET {} }}\n",
            server.url(&format!("/status/{code}"))
        ));
    }
    env.write("s.yaml", yaml);
    let (run, doc) = env.run_json("s.yaml", &[]);
    run.code(1);
    for ok in ["s200", "s201", "s301"] {
        assert_eq!(task_state(&doc, ok), "success", "{ok}");
    }
    assert_eq!(
        task(&doc, "s301")["exit_code"],
        200,
        "redirects are followed"
    );
    for (id, code, reason) in [
        ("s404", 404, "Not Found"),
        ("s500", 500, "Internal Server Error"),
        ("s503", 503, "Service Unavailable"),
    ] {
        assert_eq!(task_state(&doc, id), "failed");
        assert_eq!(task(&doc, id)["exit_code"], code);
        assert_eq!(
            task(&doc, id)["error"],
            format!("HTTP {code} {reason}: status {code} body")
        );
    }
}

#[test]
fn refused_connection_timeout_tls_and_dns_name_their_cause() {
    let server = Server::start();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = Env::new();
    env.write(
        "e.yaml",
        format!(
            r#"
name: errors
tasks:
  refused: {{ type: http, command: GET http://127.0.0.1:{closed}/ }}
  slow: {{ type: http, command: GET {slow}, timeout: 300ms }}
  tls: {{ type: http, command: GET https://127.0.0.1:{port}/echo, timeout: 10s }}
  dns: {{ type: http, command: GET http://no-such-host.invalid/, timeout: 20s }}
"#,
            slow = server.url("/slow"),
            port = server.port
        ),
    );
    let (run, doc) = env.run_json("e.yaml", &[]);
    run.code(1);
    let err = |id: &str| task(&doc, id)["error"].as_str().unwrap().to_string();
    assert_eq!(
        err("refused"),
        format!("connection refused by 127.0.0.1:{closed}")
    );
    assert_eq!(err("slow"), "timed out after 300ms");
    assert!(
        err("tls").starts_with(&format!("TLS with 127.0.0.1:{} failed", server.port)),
        "{}",
        err("tls")
    );
    assert!(
        err("dns").starts_with("cannot resolve the host of http://no-such-host.invalid/"),
        "{}",
        err("dns")
    );
}

#[test]
fn retries_succeed_on_the_third_try() {
    let server = Server::start();
    let env = Env::new();
    env.write(
        "r.yaml",
        format!(
            "name: retry\ntasks:\n  flaky: {{ type: http, command: GET {}, retries: 3, retry_delay: 10ms }}\n",
            server.url("/flaky/r1")
        ),
    );
    let (run, doc) = env.run_json("r.yaml", &[]);
    run.code(0);
    assert_eq!(task(&doc, "flaky")["attempts"], 3);
    assert_eq!(task(&doc, "flaky")["outputs"]["output"], "ok after 3");
}

#[test]
fn a_body_over_the_output_cap_is_logged_not_kept() {
    let server = Server::start();
    let env = Env::new();
    env.write(
        "b.yaml",
        format!(
            "name: big\ntasks:\n  big: {{ type: http, command: GET {} }}\n",
            server.url("/big")
        ),
    );
    let (run, doc) = env.run_json("b.yaml", &[]);
    run.code(0);
    assert_eq!(task(&doc, "big")["outputs"], serde_json::json!({}));
    let log = env
        .run(&["logs", doc["run_id"].as_str().unwrap(), "big"])
        .stdout;
    assert!(
        log.contains("this log keeps the first 1048576 bytes"),
        "{}",
        &log[log.len() - 300..]
    );
}

#[test]
fn outputs_flow_from_bash_to_http_to_fn_to_bash() {
    let server = Server::start();
    let env = Env::new();
    env.write(
        "o.yaml",
        format!(
            r#"
name: outputs
tasks:
  prep:
    command: |
      echo "name=world" >> "$DAG_OUTPUT"
      {{ echo "poem<<END"; echo "roses"; echo "violets"; echo "END"; }} >> "$DAG_OUTPUT"
  call:
    type: http
    method: POST
    url: {echo}
    body: '{{"hello": "${{{{ tasks.prep.outputs.name }}}}"}}'
    headers: {{ X-Name: "${{{{ tasks.prep.outputs.name }}}}" }}
    depends_on: prep
  relay:
    type: fn
    command: echo ${{{{ tasks.call.output }}}}
    depends_on: call
  finish:
    env:
      RELAYED: ${{{{ tasks.relay.output }}}}
      POEM: ${{{{ tasks.prep.outputs.poem }}}}
    command: printf '%s\n---\n%s\n' "$RELAYED" "$POEM" > result.txt
    depends_on: relay
"#,
            echo = server.url("/echo")
        ),
    );
    let (run, doc) = env.run_json("o.yaml", &[]);
    run.code(0);
    assert_eq!(
        task(&doc, "prep")["outputs"],
        serde_json::json!({"name": "world", "poem": "roses\nviolets"})
    );
    let req = server
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(req.body, r#"{"hello": "world"}"#);
    assert_eq!(req.headers["x-name"], "world");
    let result = std::fs::read_to_string(env.path().join("result.txt")).unwrap();
    let (relayed, poem) = result.split_once("\n---\n").unwrap();
    let echoed: serde_json::Value = serde_json::from_str(relayed).unwrap();
    assert_eq!(echoed["body"], r#"{"hello": "world"}"#);
    assert_eq!(poem, "roses\nviolets\n");
    // The stored run shows the outputs too.
    let status = env
        .run(&[
            "status",
            doc["run_id"].as_str().unwrap(),
            "--output",
            "json",
        ])
        .json();
    assert_eq!(task(&status, "prep")["outputs"]["name"], "world");
}

#[test]
fn output_problems_are_clear_errors() {
    let env = Env::new();
    env.write(
        "p.yaml",
        r#"
name: problems
tasks:
  quiet: { command: "true" }
  uses_missing: { command: "echo ${{ tasks.quiet.outputs.nothing }}", depends_on: quiet }
  too_big: { command: 'head -c 1100000 /dev/zero | tr "\0" a | sed "s/^/big=/" >> "$DAG_OUTPUT"' }
  malformed: { command: 'echo "no equals sign" >> "$DAG_OUTPUT"' }
"#,
    );
    let (run, doc) = env.run_json("p.yaml", &[]);
    run.code(1);
    assert_eq!(
        task(&doc, "uses_missing")["error"],
        "task `quiet` published no output `nothing` (it published: nothing)"
    );
    assert!(
        task(&doc, "too_big")["error"]
            .as_str()
            .unwrap()
            .contains("over the cap of 1048576 bytes (1 MiB)"),
        "{doc}"
    );
    assert!(
        task(&doc, "malformed")["error"]
            .as_str()
            .unwrap()
            .contains("$DAG_OUTPUT line 1: expected `key=value`"),
        "{doc}"
    );
}

#[test]
fn issue_13_credentials_in_urls_are_masked_in_logs_errors_and_plans() {
    let server = Server::start();
    let env = Env::new();
    let ok = server
        .url("/echo")
        .replacen("http://", "http://alice:pa55w0rd@", 1);
    // A port nobody listens on: the connection error names the URL.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://bob:hunter2x@127.0.0.1:{port}/x")
    };
    env.write(
        "u.yaml",
        format!(
            "name: userinfo\ntasks:\n  ok: {{ type: http, command: GET {ok} }}\n  refused: {{ type: http, command: GET {refused} }}\n  bad: {{ type: http, command: 'GET http://carol:s3cret9@exa mple/' }}\n"
        ),
    );
    let plan = env.run(&["run", "u.yaml", "--dry-run"]);
    let (run, doc) = env.run_json("u.yaml", &["-v"]);
    run.code(1);
    // The credentials still reach the server (as basic authentication).
    assert!(
        server.requests()[0].headers.contains_key("authorization"),
        "{:?}",
        server.requests()
    );
    let id = doc["run_id"].as_str().unwrap();
    let logs = env.run(&["logs", id]).stdout;
    assert!(logs.contains("> GET http://***@127.0.0.1:"), "{logs}");
    for (name, text) in [
        ("plan", &plan.stdout),
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("logs", &logs),
    ] {
        for pass in ["pa55w0rd", "hunter2x", "s3cret9"] {
            assert!(!text.contains(pass), "{pass} leaked into {name}: {text}");
        }
    }
    assert_eq!(task_state(&doc, "refused"), "failed");
}

#[test]
fn a_status_listed_in_skip_exit_code_skips_the_task() {
    let server = Server::start();
    let env = Env::new();
    env.write(
        "s.yaml",
        format!(
            "name: statuses\ntasks:\n  gone: {{ type: http, command: GET {}, skip_exit_code: [404, 410] }}\n  broken: {{ type: http, command: GET {}, skip_exit_code: 404 }}\n",
            server.url("/status/404"),
            server.url("/status/500"),
        ),
    );
    let (run, doc) = env.run_json("s.yaml", &[]);
    run.code(1);
    assert_eq!(task_state(&doc, "gone"), "skipped");
    assert_eq!(task(&doc, "gone")["exit_code"], 404);
    assert_eq!(task_state(&doc, "broken"), "failed");
}
