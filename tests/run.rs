//! `dag run` end to end: task semantics, output formats, exit codes.

use std::time::Duration;

use crate::common::{Env, task, task_state};

const DIAMOND: &str = r#"
name: diamond
params: { word: hello }
env: { SHARED: dag-level, OVERRIDDEN: dag-level }
tasks:
  top:
    command: echo "$SHARED ${{ params.word }}" > top.txt
  left:
    command: cat top.txt > left.txt
    depends_on: top
  right:
    command: echo right; exit 7
    depends_on: top
  bottom:
    command: cat left.txt
    depends_on: [left, right]
  always:
    command: "true"
    depends_on: [bottom]
    trigger_rule: all_done
"#;

#[test]
fn a_failing_branch_fails_the_run_and_spares_independent_tasks() {
    let env = Env::new();
    env.write("d.yaml", DIAMOND);
    let (run, doc) = env.run_json("d.yaml", &[]);
    run.code(1);
    assert_eq!(doc["state"], "failed");
    assert_eq!(task_state(&doc, "top"), "success");
    assert_eq!(task_state(&doc, "left"), "success");
    assert_eq!(task_state(&doc, "right"), "failed");
    assert_eq!(task(&doc, "right")["exit_code"], 7);
    assert_eq!(task(&doc, "right")["error"], "exit code 7");
    assert_eq!(task_state(&doc, "bottom"), "upstream_failed");
    assert_eq!(task_state(&doc, "always"), "success");
    assert_eq!(
        std::fs::read_to_string(env.path().join("left.txt")).unwrap(),
        "dag-level hello\n"
    );
}

#[test]
fn params_can_be_overridden_and_unknown_ones_are_refused() {
    let env = Env::new();
    env.write("d.yaml", DIAMOND);
    env.run(&["run", "d.yaml", "--param", "word=bye", "--only", "left"])
        .code(0);
    assert_eq!(
        std::fs::read_to_string(env.path().join("left.txt")).unwrap(),
        "dag-level bye\n"
    );
    let r = env.run(&["run", "d.yaml", "--param", "wrod=x"]);
    r.code(2);
    assert!(
        r.stderr
            .contains("--param `wrod` is not a param of this DAG"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("did you mean `word`?"), "{}", r.stderr);
    // A value that would be read as an expression when the task starts is refused
    // before anything runs.
    let r = env.run(&["run", "d.yaml", "--param", "word=${{ tasks.top.output }}"]);
    r.code(2);
    assert!(
        r.stderr
            .contains("the value of param `word` contains `${{`"),
        "{}",
        r.stderr
    );
}

#[test]
fn only_runs_the_task_and_its_upstream() {
    let env = Env::new();
    env.write("d.yaml", DIAMOND);
    let (run, doc) = env.run_json("d.yaml", &["--only", "left"]);
    run.code(0);
    let ids: Vec<&str> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["top", "left"]);
    let r = env.run(&["run", "d.yaml", "--only", "lefft"]);
    r.code(2);
    assert!(r.stderr.contains("did you mean `left`?"), "{}", r.stderr);
}

#[test]
fn environment_precedence_and_dag_variables() {
    let env = Env::new();
    env.write(
        "e.yaml",
        r#"
name: envs
env: { A: dag, B: dag, DAG_TASK_ID: spoofed }
tasks:
  show:
    env: { B: task }
    command: echo "$INHERITED $A $B $DAG_NAME $DAG_TASK_ID $DAG_ATTEMPT $DAG_RUN_ID" > out.txt
"#,
    );
    let r = env
        .cmd(&["run", "e.yaml", "--output", "json"])
        .env("INHERITED", "inh")
        .env("A", "outer")
        .output()
        .unwrap();
    let run: crate::common::Run = r.into();
    run.code(0);
    let doc = run.json();
    let out = std::fs::read_to_string(env.path().join("out.txt")).unwrap();
    assert_eq!(
        out,
        format!(
            "inh dag task envs show 1 {}\n",
            doc["run_id"].as_str().unwrap()
        )
    );
}

#[test]
fn workdir_is_honoured() {
    let env = Env::new();
    std::fs::create_dir(env.path().join("sub")).unwrap();
    env.write(
        "w.yaml",
        "name: w\ntasks:\n  here: { command: pwd > where.txt, workdir: sub }\n",
    );
    env.run(&["run", "w.yaml"]).code(0);
    let here = std::fs::read_to_string(env.path().join("sub/where.txt")).unwrap();
    assert!(here.trim_end().ends_with("/sub"), "{here}");
}

#[test]
fn retries_then_success_records_every_attempt() {
    let env = Env::new();
    env.write(
        "f.yaml",
        r#"
name: flaky
tasks:
  flaky:
    command: n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; [ "$n" -ge 2 ]
    retries: 3
    retry_delay: 10ms
    retry_backoff: fixed
"#,
    );
    let (run, doc) = env.run_json("f.yaml", &[]);
    run.code(0);
    assert_eq!(task(&doc, "flaky")["attempts"], 3);
    let status = env.run(&[
        "status",
        doc["run_id"].as_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(status.json(), doc, "status prints the same document as run");
}

#[test]
fn a_timeout_kills_the_whole_process_tree() {
    let env = Env::new();
    let m = crate::common::marker("tmo");
    env.write(
        "t.yaml",
        format!("name: t\ntasks:\n  slow:\n    command: sleep 300 & bash -c 'exec -a {m} sleep 300' ; wait\n    timeout: 300ms\n"),
    );
    let (run, doc) = env.run_json("t.yaml", &[]);
    run.code(1);
    assert_eq!(task_state(&doc, "slow"), "failed");
    assert!(
        task(&doc, "slow")["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 300ms")
    );
    assert!(
        crate::common::pids_with(&m).is_empty(),
        "a task process survived its timeout"
    );
}

#[test]
fn a_background_grandchild_never_survives_its_task() {
    let env = Env::new();
    let m = crate::common::marker("bg");
    env.write(
        "b.yaml",
        format!(
            "name: b\ntasks:\n  leave:\n    command: (exec -a {m} sleep 1000) & echo started\n"
        ),
    );
    env.run(&["run", "b.yaml"]).code(0);
    assert!(
        crate::common::wait_for(std::time::Duration::from_secs(2), || {
            crate::common::pids_with(&m).is_empty()
        }),
        "the background sleep outlived its task"
    );
}

#[test]
fn fn_tasks_builtins_and_panics() {
    let env = Env::new();
    env.write(
        "fn.yaml",
        r#"
name: fns
tasks:
  nothing: { type: fn, command: noop }
  nap: { type: fn, command: sleep 20ms }
  broken: { type: fn, command: fail the reason }
"#,
    );
    let (run, doc) = env.run_json("fn.yaml", &[]);
    run.code(1);
    assert_eq!(task_state(&doc, "nothing"), "success");
    assert_eq!(task_state(&doc, "nap"), "success");
    assert_eq!(task(&doc, "broken")["error"], "the reason");
    env.write(
        "bad.yaml",
        "name: b\ntasks:\n  x: { type: fn, command: nop }\n",
    );
    let r = env.run(&["run", "bad.yaml"]);
    r.code(2);
    assert!(r.stderr.contains("unknown function `nop`"), "{}", r.stderr);
    assert!(r.stderr.contains("did you mean `noop`?"), "{}", r.stderr);
}

#[test]
fn fail_fast_stops_scheduling() {
    let env = Env::new();
    env.write(
        "ff.yaml",
        "name: ff\ntasks:\n  a: { command: exit 1 }\n  b: { command: 'true', depends_on: a, trigger_rule: all_done }\n  c: { command: 'true', priority: -1 }\n",
    );
    let (run, doc) = env.run_json("ff.yaml", &["--fail-fast", "--parallel", "1"]);
    run.code(1);
    assert_eq!(task_state(&doc, "a"), "failed");
    assert_eq!(task_state(&doc, "b"), "cancelled");
    assert_eq!(task_state(&doc, "c"), "cancelled");
}

#[test]
fn sequential_and_local_agree_on_the_diamond() {
    let env = Env::new();
    env.write("d.yaml", DIAMOND);
    let (_, seq) = env.run_json("d.yaml", &["--executor", "sequential"]);
    let (_, local) = env.run_json("d.yaml", &["--executor", "local", "--parallel", "4"]);
    let states = |d: &serde_json::Value| -> Vec<(String, String)> {
        d["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].to_string(), t["state"].to_string()))
            .collect()
    };
    assert_eq!(states(&seq), states(&local));
}

#[test]
fn the_table_shows_failed_task_log_tails() {
    let env = Env::new();
    env.write("d.yaml", DIAMOND);
    let r = env.run(&["run", "d.yaml"]);
    r.code(1);
    assert!(r.stdout.contains("│ right"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("── right (attempt 1) · last 1 line of its log ──\nright\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("run ") && r.stdout.contains(" failed: "),
        "{}",
        r.stdout
    );
    // Not a terminal: plain progress lines on stderr, no escape codes.
    assert!(r.stderr.contains(" right failed in "), "{}", r.stderr);
    assert!(!r.stderr.contains('\u{1b}'), "{}", r.stderr);
}

#[test]
fn verbose_streams_output_prefixed_by_task() {
    let env = Env::new();
    env.write(
        "v.yaml",
        "name: v\ntasks:\n  talk: { command: 'echo one; echo two >&2' }\n",
    );
    let r = env.run(&["run", "v.yaml", "-v", "--output", "quiet"]);
    r.code(0);
    assert!(r.stderr.contains("talk | one\n"), "{}", r.stderr);
    assert!(r.stderr.contains("talk | two\n"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn a_missing_command_gives_exit_127_in_the_log() {
    let env = Env::new();
    env.write(
        "m.yaml",
        "name: m\ntasks:\n  nope: { command: ./does-not-exist --flag }\n",
    );
    let (run, doc) = env.run_json("m.yaml", &[]);
    run.code(1);
    assert_eq!(task(&doc, "nope")["exit_code"], 127);
    let logs = env.run(&["logs", doc["run_id"].as_str().unwrap(), "nope"]);
    assert!(logs.stdout.contains("command not found"), "{}", logs.stdout);
}

#[test]
fn a_hundred_megabytes_of_output_passes_with_flat_memory() {
    let env = Env::new();
    env.write(
        "big.yaml",
        "name: big\ntasks:\n  loud: { command: 'head -c 100000000 /dev/zero | tr \"\\0\" x; echo' }\n",
    );
    for extra in [&[][..], &["-v"][..]] {
        let mut args = vec!["run", "big.yaml", "--output", "json"];
        args.extend_from_slice(extra);
        let child = env
            .cmd(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut peak_kb = 0u64;
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut peak = 0u64;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                        && let Some(kb) = s
                            .lines()
                            .find(|l| l.starts_with("VmHWM:"))
                            .and_then(|l| l.split_whitespace().nth(1))
                            .and_then(|v| v.parse::<u64>().ok())
                    {
                        peak = peak.max(kb);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                peak
            })
        };
        let out = child.wait_with_output().unwrap();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        peak_kb = peak_kb.max(watcher.join().unwrap());
        assert!(out.status.success(), "{extra:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let log = env
            .path()
            .join("state/runs")
            .join(doc["run_id"].as_str().unwrap())
            .join("logs/loud.1.log");
        assert_eq!(
            std::fs::metadata(&log).unwrap().len(),
            100_000_001,
            "{extra:?}"
        );
        assert!(
            peak_kb > 0 && peak_kb < 64 * 1024,
            "peak RSS {peak_kb} KiB with {extra:?}"
        );
    }
}

#[test]
fn state_dir_problems_are_infrastructure_errors() {
    let env = Env::new();
    env.write("ok.yaml", "name: ok\ntasks:\n  a: { command: 'true' }\n");
    env.write("not-a-dir", "x");
    let r = env.run(&["run", "ok.yaml", "--state-dir", "not-a-dir/state"]);
    r.code(3);
    assert!(
        r.stderr.contains("state store: cannot create"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_missing_file_is_a_usage_error() {
    let env = Env::new();
    let r = env.run(&["run", "nope.yaml"]);
    r.code(2);
    assert!(
        r.stderr.contains("cannot read DAG file nope.yaml"),
        "{}",
        r.stderr
    );
}

/// Regression: commands started without bash must behave as under `bash -c`.
#[test]
fn plain_commands_behave_as_under_bash() {
    let env = Env::new();
    env.write("noshebang.sh", "echo from a script without a shebang\n");
    let mut perms = std::fs::metadata(env.path().join("noshebang.sh"))
        .unwrap()
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(env.path().join("noshebang.sh"), perms).unwrap();
    env.write(
        "p.yaml",
        "name: plain\ntasks:\n  colon: { command: ':' }\n  dot: { command: '. /dev/null' }\n  script: { command: ./noshebang.sh }\n",
    );
    let (run, doc) = env.run_json("p.yaml", &[]);
    run.code(0);
    let logs = env.run(&["logs", doc["run_id"].as_str().unwrap(), "script"]);
    assert_eq!(logs.stdout, "from a script without a shebang\n");
}

#[test]
fn logs_of_a_task_that_never_ran_say_why() {
    let env = Env::new();
    env.write(
        "n.yaml",
        "name: n\ntasks:\n  a: { command: 'exit 1' }\n  b: { command: 'true', depends_on: a }\n",
    );
    let (_, doc) = env.run_json("n.yaml", &[]);
    let r = env.run(&["logs", doc["run_id"].as_str().unwrap(), "b"]);
    r.code(0);
    assert!(
        r.stderr
            .contains("task b never ran (upstream_failed: an upstream task failed"),
        "{}",
        r.stderr
    );
}

#[test]
fn secret_values_are_masked_everywhere() {
    let env = Env::new();
    env.write(
        "s.yaml",
        r#"
name: secrets
secret_env: [API_TOKEN]
env: { DB_PASSWORD: "pa55word-xyz" }
tasks:
  leak:
    secret_env: [DB_PASSWORD]
    command: 'echo "token=$API_TOKEN"; printf "half=%s" "pa55"; printf "word-xyz\n"; echo "$DB_PASSWORD" >&2; exit 3'
  also:
    type: fn
    command: fail could not log in with s3cr3t-t0ken-42
"#,
    );
    let report = env.path().join("r.xml");
    let run: crate::common::Run = env
        .cmd(&[
            "run",
            "s.yaml",
            "-v",
            "--output",
            "json",
            "--report",
            report.to_str().unwrap(),
        ])
        .env("API_TOKEN", "s3cr3t-t0ken-42")
        .output()
        .unwrap()
        .into();
    run.code(1);
    let id = run.json()["run_id"].as_str().unwrap().to_string();
    let logs = env.run(&["logs", &id]).stdout;
    let junit = std::fs::read_to_string(&report).unwrap();
    for (name, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("logs", &logs),
        ("junit", &junit),
    ] {
        assert!(
            !text.contains("s3cr3t-t0ken-42"),
            "the token leaked into {name}: {text}"
        );
        assert!(
            !text.contains("pa55word-xyz"),
            "the password leaked into {name}: {text}"
        );
    }
    assert!(logs.contains("token=***"), "{logs}");
    assert!(
        logs.contains("half=***"),
        "a secret split between writes is masked too: {logs}"
    );
    assert!(run.stderr.contains("leak | token=***"), "{}", run.stderr);
    assert_eq!(
        task(&run.json(), "also")["error"],
        "could not log in with ***"
    );
}

/// A private key as a `secret_env` value: several lines, as long as real ones.
pub const PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj
MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu
NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ
Ag==
-----END PRIVATE KEY-----
";

/// The lines of `PEM` that must never show: every line but the short last base64 one
/// is also long enough to be masked on its own.
pub fn pem_lines() -> Vec<&'static str> {
    PEM.lines().filter(|l| l.len() >= 8).collect()
}

/// Every file under `dir`, as text.
pub fn files_under(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
                out.push((p.display().to_string(), text));
            }
        }
    }
    out
}

#[test]
fn issue_13_multi_line_secrets_and_outputs_are_masked_on_every_surface() {
    let env = Env::new();
    // `long` writes one 810 KB line at once (progress output: `\r`, no `\n`) with
    // the token every 30 bytes, so some occurrence straddles each cut of the line.
    env.write(
        "p.yaml",
        r#"
name: pem
secret_env: [KEY, TOKEN]
tasks:
  show:
    command: |
      printf '%s\n' "$KEY"
      echo "tok=$TOKEN" >> "$DAG_OUTPUT"
      printf 'key<<EOF\n%s\nEOF\n' "$KEY" >> "$DAG_OUTPUT"
  long:
    command: |
      line=$(for i in $(seq 27000); do printf 'ab\r%s' "$TOKEN"; done)
      printf '%s' "$line"
  fail:
    command: |
      echo "$KEY" | sed -n 2p >&2
      exit 4
  bad_output:
    command: echo "$KEY" | sed -n 2p >> "$DAG_OUTPUT"
  bad_key:
    command: echo "$(echo "$KEY" | sed -n 3p)==" >> "$DAG_OUTPUT"
  use:
    type: fn
    command: 'echo got ${{ tasks.show.outputs.tok }}'
    depends_on: show
"#,
    );
    let report = env.path().join("r.xml");
    let run: crate::common::Run = env
        .cmd(&[
            "run",
            "p.yaml",
            "-v",
            "--output",
            "json",
            "--report",
            report.to_str().unwrap(),
        ])
        .env("KEY", PEM)
        .env("TOKEN", "tk-0123456789abcdefghij-XYZ")
        .output()
        .unwrap()
        .into();
    run.code(1);
    let doc = run.json();
    let id = doc["run_id"].as_str().unwrap().to_string();
    // Stored masked: what downstream tasks get is `***` too.
    assert_eq!(task(&doc, "show")["outputs"]["tok"], "***", "{doc}");
    assert_eq!(
        task(&doc, "show")["outputs"]["key"],
        "***\n".repeat(6),
        "one mask per line of the key: {doc}"
    );
    assert_eq!(task(&doc, "use")["outputs"]["output"], "got ***", "{doc}");
    let mut surfaces = vec![
        ("stdout (-v and JSON)".to_string(), run.stdout.clone()),
        ("stderr".to_string(), run.stderr.clone()),
        ("dag logs".to_string(), env.run(&["logs", &id]).stdout),
        (
            "dag status --output json".to_string(),
            env.run(&["status", &id, "--output", "json"]).stdout,
        ),
        (
            "junit".to_string(),
            std::fs::read_to_string(&report).unwrap(),
        ),
    ];
    // Run record, event log, task logs.
    surfaces.extend(files_under(&env.path().join("state")));
    for (name, text) in &surfaces {
        for line in pem_lines() {
            // Not even in part (an error quoting the start of a bad output line).
            assert!(
                !text.contains(&line[..16]),
                "a line of the key leaked into {name}"
            );
        }
        assert!(
            !text.contains("tk-0123456789abcdefghij-XYZ"),
            "the token leaked into {name}"
        );
    }
    for t in ["bad_output", "bad_key"] {
        assert_eq!(task_state(&doc, t), "failed", "{doc}");
    }
    let logs = env.run(&["logs", &id, "show"]).stdout;
    assert!(logs.contains("***"), "{logs}");
    assert!(run.stderr.contains("show | ***"), "{}", run.stderr);
    assert!(
        env.run(&["logs", &id, "long"])
            .stdout
            .matches("ab\r***")
            .count()
            == 27000,
        "every token on the long line is masked"
    );
}

/// Issue 13 attack pass, findings 5, 7 and 10: a secret passed as a param is shown
/// nowhere (JSON, the plan, the graph), though the record keeps it for `dag retry`;
/// a secret whose lines are all short is masked when printed a line at a time; an
/// output is masked with the secrets of the env the task ran with (an upstream
/// task's output substituted).
#[test]
fn issue_13_param_secrets_short_lines_and_resolved_env_secrets_are_masked() {
    let env = Env::new();
    env.write(
        "s.yaml",
        r#"
name: secrets2
params: { tok: FILESECRET77, pw: PWSECRET55, day: "2024" }
env: { TOKEN: "${{ params.tok }}", AUTH: "Bearer ${{ params.pw }}" }
secret_env: [TOKEN, AUTH]
tasks:
  api:
    command: 'echo "?k=${{ params.tok }}&p=${{ params.pw }}&d=${{ params.day }}"'
  plain:
    command: echo "val=pass-2-word" >> "$DAG_OUTPUT"
  copy:
    depends_on: plain
    env: { MYSEC: "${{ tasks.plain.outputs.val }}" }
    secret_env: [MYSEC]
    command: |
      echo "copy=$MYSEC" >> "$DAG_OUTPUT"
      echo "in log: $MYSEC"
  pin:
    env: { PIN: "9a7\nq2x" }
    secret_env: [PIN]
    command: |
      printf '%s\n' "$PIN" | while read -r l; do echo "$l"; sleep 0.2; done
"#,
    );
    for args in [
        &["graph", "s.yaml"][..],
        &["run", "s.yaml", "--dry-run"],
        &["run", "s.yaml", "--dry-run", "--param", "tok=PARAMSECRET99"],
    ] {
        let out = env.run(args).stdout;
        assert!(out.contains("?k=***&p=***&d=2024"), "{args:?}: {out}");
        for secret in ["FILESECRET77", "PARAMSECRET99", "PWSECRET55"] {
            assert!(!out.contains(secret), "{args:?}: {out}");
        }
    }
    let run: crate::common::Run = env
        .cmd(&[
            "run",
            "s.yaml",
            "-v",
            "--output",
            "json",
            "--param",
            "tok=PARAMSECRET99",
        ])
        .output()
        .unwrap()
        .into();
    run.code(0);
    let doc = run.json();
    let id = doc["run_id"].as_str().unwrap().to_string();
    assert_eq!(doc["params"]["tok"], "***", "{doc}");
    // Part of a secret value (`Bearer ...`): a secret too. Not a secret: shown.
    assert_eq!(doc["params"]["pw"], "***", "{doc}");
    assert_eq!(doc["params"]["day"], "2024", "{doc}");
    assert_eq!(task(&doc, "copy")["outputs"]["copy"], "***", "{doc}");
    let status = env.run(&["status", &id, "--output", "json"]).stdout;
    let status_doc: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status_doc["params"]["tok"], "***", "{status}");
    assert_eq!(task(&status_doc, "copy")["outputs"]["copy"], "***");
    let logs = env.run(&["logs", &id]).stdout;
    for (name, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("status", &status),
        ("logs", &logs),
    ] {
        for secret in ["PARAMSECRET99", "PWSECRET55", "9a7", "q2x"] {
            assert!(
                !text.contains(secret),
                "{secret} leaked into {name}: {text}"
            );
        }
    }
    assert!(logs.contains("in log: ***"), "{logs}");
    assert_eq!(
        env.run(&["logs", &id, "pin"])
            .stdout
            .matches("***\n")
            .count(),
        2
    );
    // The run record keeps the param for `dag retry` (documented): retrying runs
    // with it.
    let retried: crate::common::Run = env
        .cmd(&["retry", &id, "--task", "api", "--output", "json"])
        .output()
        .unwrap()
        .into();
    retried.code(0);
    assert_eq!(retried.json()["params"]["tok"], "***");
    let last = env.run(&["logs", &id, "api", "--attempt", "2"]).stdout;
    assert!(
        last.contains("?k=***"),
        "the retry ran with the stored param: {last}"
    );
}

/// Issue 13 attack pass, finding 3: a secret of 1,000 lines made a task that
/// printed 1.3 MB and wrote a 950 KB `$DAG_OUTPUT` take 30 s to end (the matcher
/// was rebuilt for every output and tried every line at every position), and the
/// run ignored Ctrl-C meanwhile. Masking is linear now: well under a second here
/// in a debug build (the old code: about 20 s).
#[test]
fn issue_13_a_big_multi_line_secret_does_not_slow_the_run() {
    let env = Env::new();
    env.write(
        "b.yaml",
        r#"
name: big-secret
secret_env: [BIG]
tasks:
  out:
    # Lines that start like the key's but differ at the end: the worst case of
    # the old matcher, which tried each of the key's lines at every position.
    command: |
      for i in $(seq 20); do printf '%s\n' "$BIG" | cut -c1-60; done
      printf '%s\n' "$BIG"
      # 15,000 keys (and 15 empty ones, for the value's last newline)
      for i in $(seq 15); do
        printf '%s\n' "$BIG" | cut -c1-60 | awk -v r=$i '{print "k" r "_" NR "=" $0}'
      done >> "$DAG_OUTPUT"
      echo "key=$(printf '%s\n' "$BIG" | sed -n 7p)" >> "$DAG_OUTPUT"
"#,
    );
    let big: String = (0..1000)
        .map(|i| format!("{:064x}\n", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .collect();
    let started = std::time::Instant::now();
    let run: crate::common::Run = env
        .cmd(&["run", "b.yaml", "--output", "json"])
        .env("BIG", &big)
        .output()
        .unwrap()
        .into();
    let took = started.elapsed();
    run.code(0);
    let doc = run.json();
    assert_eq!(task(&doc, "out")["outputs"]["key"], "***");
    assert_eq!(
        task(&doc, "out")["outputs"].as_object().unwrap().len(),
        15_016
    );
    let id = doc["run_id"].as_str().unwrap().to_string();
    let logs = env.run(&["logs", &id, "out"]).stdout;
    let masked = logs.matches("***\n").count();
    assert_eq!(masked, 1000, "one mask per printed line of the key");
    assert!(!logs.contains(&big[65..129]) && logs.contains(&big[65..125]));
    assert!(
        took < Duration::from_secs(5),
        "a run with a 1,000-line secret took {took:?}"
    );
}

/// Issue 13 attack pass, finding 6: an http task URL whose password holds `/ # ?`
/// or a blank (not escaped) was shown in clear in the plan, the log, the error,
/// JSON and the run's files.
#[test]
fn issue_13_unescaped_url_passwords_are_masked_on_every_surface() {
    let env = Env::new();
    let urls = [
        ("http://user:Zm9v/YmFy+PASS1==@127.0.0.1:1/path", "PASS1"),
        ("http://user:s3cr#PASS2@127.0.0.1:1/path", "PASS2"),
        ("http://user:ab?PASS3@127.0.0.1:1/path", "PASS3"),
        ("http://user:PASS4 x@127.0.0.1:1/path", "PASS4"),
    ];
    let mut dag = String::from("name: urls\ntasks:\n");
    for (i, (url, _)) in urls.iter().enumerate() {
        dag.push_str(&format!(
            "  t{i}:\n    type: http\n    url: '{url}'\n    timeout: 10s\n"
        ));
    }
    env.write("u.yaml", &dag);
    let plan = env.run(&["run", "u.yaml", "--dry-run"]).stdout;
    assert_eq!(
        plan.matches("GET http://***@127.0.0.1:1/path").count(),
        4,
        "{plan}"
    );
    let report = env.path().join("r.xml");
    let run: crate::common::Run = env
        .cmd(&["run", "u.yaml", "-v", "--report", report.to_str().unwrap()])
        .output()
        .unwrap()
        .into();
    run.code(1);
    let json: crate::common::Run = env
        .cmd(&["status", "--output", "json"])
        .output()
        .unwrap()
        .into();
    let id = json.json()["run_id"].as_str().unwrap().to_string();
    let logs = env.run(&["logs", &id]).stdout;
    assert_eq!(
        logs.matches("> GET http://***@127.0.0.1:1/path").count(),
        4,
        "{logs}"
    );
    let mut surfaces = vec![
        ("plan".to_string(), plan),
        ("stdout (table)".to_string(), run.stdout.clone()),
        ("stderr".to_string(), run.stderr.clone()),
        ("status json".to_string(), json.stdout.clone()),
        ("logs".to_string(), logs),
        (
            "junit".to_string(),
            std::fs::read_to_string(&report).unwrap(),
        ),
    ];
    // run.json, events.jsonl, task logs; run.json's copy of the DAG file is kept
    // as written, for `dag retry` (documented).
    for (name, text) in files_under(&env.path().join("state")) {
        if name.ends_with("run.json") {
            let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(doc["definition"].as_str().unwrap().contains("PASS1"));
            doc["definition"] = serde_json::Value::Null;
            surfaces.push((name, doc.to_string()));
        } else {
            surfaces.push((name, text));
        }
    }
    assert!(surfaces.iter().any(|(n, _)| n.ends_with("events.jsonl")));
    for (name, text) in &surfaces {
        for (_, pass) in urls {
            assert!(!text.contains(pass), "{pass} leaked into {name}: {text}");
        }
    }
}

/// Issue 13 attack pass, finding 6: a URL that is not http(s) once params are
/// substituted is refused before the run, its user information masked in the
/// message (the source line shows only the expression).
#[test]
fn issue_13_a_non_http_url_from_a_param_is_refused_with_its_password_masked() {
    let env = Env::new();
    env.write(
        "v.yaml",
        "name: v\nparams: { u: \"http://h/\" }\ntasks:\n  t:\n    type: http\n    url: \"${{ params.u }}\"\n",
    );
    let r = env.run(&["run", "v.yaml", "--param", "u=ftp://user:SECRETX@h/"]);
    r.code(2);
    assert!(
        r.stderr
            .contains("`ftp://***@h/` is not an http:// or https:// URL"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("SECRETX"), "{}", r.stderr);
}

/// A task that leaves a FIFO or a symbolic link to `/dev/zero` at `$DAG_OUTPUT`.
pub const HOSTILE_OUTPUTS: &str = r#"name: hostile-outputs
tasks:
  fifo:
    command: mkfifo "$DAG_OUTPUT"
    timeout: 60s
  zero:
    command: ln -s /dev/zero "$DAG_OUTPUT"
    timeout: 60s
  fine:
    command: echo "ok=1" >> "$DAG_OUTPUT"
"#;

/// Issue 13, item 6: a FIFO at `$DAG_OUTPUT` made `dag run` block in `read` forever
/// after the task exited (signals ignored, other completions stopped), and a link to
/// `/dev/zero` was read without bound. Each fails its task at once, with the reason.
#[test]
fn a_fifo_or_dev_zero_at_dag_output_fails_the_task_not_the_runner() {
    let env = Env::new();
    env.write("h.yaml", HOSTILE_OUTPUTS);
    let child = env.spawn(&["run", "h.yaml", "--output", "json"]);
    let run = crate::common::finish_within(child, Duration::from_secs(30), "dag run");
    run.code(1);
    let doc = run.json();
    assert_eq!(task_state(&doc, "fifo"), "failed");
    assert!(
        task(&doc, "fifo")["error"]
            .as_str()
            .unwrap()
            .contains("$DAG_OUTPUT is a FIFO, not a regular file"),
        "{doc}"
    );
    assert_eq!(task_state(&doc, "zero"), "failed");
    assert!(
        task(&doc, "zero")["error"]
            .as_str()
            .unwrap()
            .contains("$DAG_OUTPUT is a symbolic link, not a regular file"),
        "{doc}"
    );
    assert_eq!(task_state(&doc, "fine"), "success");
    assert_eq!(task(&doc, "fine")["outputs"]["ok"], "1");
}

/// Issue 13, item 12: with a low `ulimit -n`, 500 tasks at once failed 481 of them
/// with "too many open files", a fault of the host. The soft limit is raised to the
/// hard one, and starts are held to what the hard limit allows (with a warning).
#[test]
fn a_low_open_file_limit_throttles_starts_instead_of_failing_tasks() {
    let env = Env::new();
    let mut dag = String::from("name: many\ntasks:\n");
    for i in 0..300 {
        dag.push_str(&format!("  t{i}: {{ command: 'echo hi; sleep 0.05' }}\n"));
    }
    env.write("many.yaml", dag);
    let bin = crate::common::dag_bin();
    // A low hard limit: starts are throttled. A low soft limit only: it is raised.
    for (ulimit, throttled) in [("-n 128", true), ("-Sn 128", false)] {
        let script = format!(
            "ulimit {ulimit} || exit 99; exec {} run many.yaml --parallel 300 --output json",
            bin.display()
        );
        let mut sh = std::process::Command::new("sh");
        sh.args(["-c", &script])
            .current_dir(env.path())
            .env("DAG_HOME", env.path().join("state"))
            .env("NO_COLOR", "1")
            .env_remove("CI")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let run =
            crate::common::finish_within(sh.spawn().unwrap(), Duration::from_secs(60), "dag run");
        run.code(0);
        let doc = run.json();
        let ok = doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["state"] == "success")
            .count();
        assert_eq!(ok, 300, "{ulimit}: {}", run.stderr);
        assert_eq!(
            run.stderr.contains("--parallel 300 lowered to 16"),
            throttled,
            "{ulimit}: {}",
            run.stderr
        );
    }
}

/// Attack pass on issue 13: a missing TMPDIR failed every task one by one (each
/// could not make its output file) and `dag worker` served anyway. It is a fault
/// of the host, told before anything runs; a relative TMPDIR is a usage error.
#[test]
fn an_unusable_or_relative_tmpdir_stops_before_anything_runs() {
    let env = Env::new();
    let marker = env.path().join("ran");
    env.write(
        "t.yaml",
        format!(
            "name: t\ntasks:\n  a: {{command: 'touch {}'}}\n",
            marker.display()
        ),
    );
    let missing = env.path().join("no-such-dir");
    let run: crate::common::Run = env
        .cmd(&["run", "t.yaml"])
        .env("TMPDIR", &missing)
        .output()
        .unwrap()
        .into();
    run.code(3);
    assert!(
        run.stderr.contains(&missing.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(!marker.exists(), "a task ran");
    let run: crate::common::Run = env
        .cmd(&["run", "t.yaml"])
        .env("TMPDIR", "relative/tmp")
        .output()
        .unwrap()
        .into();
    run.code(2);
    assert!(
        run.stderr.contains("TMPDIR `relative/tmp`"),
        "{}",
        run.stderr
    );
    assert!(!marker.exists(), "a task ran");
    // The worker says so before it would connect and print "serving".
    let run: crate::common::Run = env
        .cmd(&["worker", "--nats", "nats://127.0.0.1:1"])
        .env("TMPDIR", &missing)
        .output()
        .unwrap()
        .into();
    run.code(3);
    assert!(run.stderr.contains("TMPDIR"), "{}", run.stderr);
    assert!(!run.stderr.contains("NATS"), "{}", run.stderr);
}
