//! `type: wasm`: WebAssembly modules under WASI, written here as WAT text (no
//! WebAssembly toolchain needed), run by the local executor and by a worker.

use crate::common::nats::NatsServer;
use crate::common::{Env, task, task_state};

/// Writes "hello from wasm" on stdout.
const HELLO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 8) "hello from wasm\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 8))
    (i32.store (i32.const 4) (i32.const 16))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 100)))))
"#;

/// Prints its arguments (with its name), one per line, then its environment,
/// then copies its stdin to stdout.
const ECHO: &str = r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $n))
  (func $print_all (local $i i32) (local $p i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 16))))
      (local.set $p (i32.load (i32.add (i32.const 1024) (i32.mul (local.get $i) (i32.const 4)))))
      (call $write (local.get $p) (call $strlen (local.get $p)))
      (call $write (i32.const 12) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
  (func (export "_start") (local $n i32)
    (i32.store8 (i32.const 12) (i32.const 10))
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 1024) (i32.const 8192)))
    (call $print_all)
    (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $environ_get (i32.const 1024) (i32.const 8192)))
    (call $print_all)
    (block $eof (loop $l
      (i32.store (i32.const 0) (i32.const 65536))
      (i32.store (i32.const 4) (i32.const 4096))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.load (i32.const 8)))
      (br_if $eof (i32.eqz (local.get $n)))
      (call $write (i32.const 65536) (local.get $n))
      (br $l)))))
"#;

/// Writes two outputs into `$DAG_OUTPUT` (`output` in descriptor 3, the
/// output directory); exits with the error number when it cannot.
const OUTPUTS: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "output")
  (data (i32.const 200) "answer=42\nnote<<END\nfrom wasm\nEND\n")
  (func (export "_start") (local $err i32)
    (local.set $err (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 6)
      (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))
    (if (local.get $err) (then (call $proc_exit (local.get $err))))
    (i32.store (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 34))
    (drop (call $fd_write (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#;

/// Prints `data.txt` of its first granted directory (descriptor 4); exits with
/// the error number when it cannot open it.
const CAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "data.txt")
  (func (export "_start") (local $err i32)
    (local.set $err (call $path_open (i32.const 4) (i32.const 0) (i32.const 100) (i32.const 8)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)))
    (if (local.get $err) (then (call $proc_exit (local.get $err))))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#;

/// Creates `made.txt` in its first granted directory; exits with the error
/// number when it cannot.
const MAKE: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "made.txt")
  (data (i32.const 200) "made\n")
  (func (export "_start") (local $err i32)
    (local.set $err (call $path_open (i32.const 4) (i32.const 0) (i32.const 100) (i32.const 8)
      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))
    (if (local.get $err) (then (call $proc_exit (local.get $err))))
    (i32.store (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 5))
    (drop (call $fd_write (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#;

/// Never ends.
const SPIN: &str = r#"(module (func (export "_start") (loop $l (br $l))))"#;

/// Sleeps for an hour in one host call (`poll_oneoff` on a relative clock).
const SLEEP: &str = r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200)))))
"#;

/// Grows its memory by 100 pages (6.25 MiB), trapping if it cannot.
const GROW: &str = r#"(module
  (memory 1)
  (func (export "_start")
    (if (i32.eq (memory.grow (i32.const 100)) (i32.const -1)) (then unreachable))))
"#;

/// Exits 3.
const EXIT3: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $proc_exit (i32.const 3))))
"#;

fn log(env: &Env, doc: &serde_json::Value, id: &str) -> String {
    let run_id = doc["run_id"].as_str().unwrap();
    env.run(&["logs", run_id, id]).stdout
}

#[test]
fn a_module_prints_reads_its_args_env_and_stdin_and_publishes_outputs() {
    let env = Env::new();
    env.write("hello.wat", HELLO);
    env.write("echo.wat", ECHO);
    env.write("outputs.wat", OUTPUTS);
    env.write(
        "w.yaml",
        "name: w\nparams: { who: world }\ntasks:\n  hello: { type: wasm, module: hello.wat }\n  echo:\n    type: wasm\n    module: echo.wat\n    args: [first, 'second arg', '${{ params.who }}']\n    env: { GREETING: hi }\n    stdin: \"line one\\nline two\\n\"\n  out: { type: wasm, module: outputs.wat }\n  use:\n    depends_on: out\n    command: 'echo \"got ${{ tasks.out.outputs.answer }} ${{ tasks.out.outputs.note }}\"'\n",
    );
    let (run, doc) = env.run_json("w.yaml", &[]);
    run.code(0);
    assert_eq!(
        log(&env, &doc, "hello").lines().last(),
        Some("hello from wasm")
    );
    let echo = log(&env, &doc, "echo");
    for line in [
        "echo.wat",
        "first",
        "second arg",
        "world",
        "GREETING=hi",
        "DAG_TASK_ID=echo",
        "DAG_OUTPUT=/.dag/output",
        "line one",
        "line two",
    ] {
        assert!(echo.lines().any(|l| l == line), "{line:?} in:\n{echo}");
    }
    // Not this process's environment: only what the task is given.
    assert!(!echo.contains("PATH="), "{echo}");
    assert_eq!(task(&doc, "out")["outputs"]["answer"], "42", "{doc}");
    assert_eq!(task(&doc, "out")["outputs"]["note"], "from wasm", "{doc}");
    assert!(log(&env, &doc, "use").contains("got 42 from wasm"), "{doc}");
}

#[test]
fn exit_codes_traps_and_bad_modules_fail_their_task_with_the_reason() {
    let env = Env::new();
    env.write("exit3.wat", EXIT3);
    env.write("garbage.wasm", "this is not WebAssembly");
    env.write(
        "imports.wat",
        r#"(module (import "env" "launch_missiles" (func)) (func (export "_start")))"#,
    );
    env.write("reactor.wat", "(module (func (export \"work\")))");
    env.write(
        "trap.wat",
        "(module (func (export \"_start\") unreachable))",
    );
    env.write(
        "w.yaml",
        "name: w\ntasks:\n  exit3: { type: wasm, module: exit3.wat }\n  skipped: { type: wasm, module: exit3.wat, skip_exit_code: 3 }\n  garbage: { type: wasm, module: garbage.wasm }\n  imports: { type: wasm, module: imports.wat }\n  reactor: { type: wasm, module: reactor.wat }\n  trap: { type: wasm, module: trap.wat }\n",
    );
    let (run, doc) = env.run_json("w.yaml", &[]);
    run.code(1);
    assert_eq!(task_state(&doc, "exit3"), "failed");
    assert_eq!(task(&doc, "exit3")["exit_code"], 3, "{doc}");
    assert_eq!(task_state(&doc, "skipped"), "skipped", "{doc}");
    let error = |id: &str| {
        task(&doc, id)["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        error("garbage").contains("is not valid WebAssembly"),
        "{doc}"
    );
    assert!(error("imports").contains("cannot be linked"), "{doc}");
    assert!(error("imports").contains("launch_missiles"), "{doc}");
    assert!(error("reactor").contains("exports no `_start`"), "{doc}");
    assert!(error("trap").contains("the module trapped"), "{doc}");
    assert!(error("trap").contains("unreachable"), "{doc}");
}

#[test]
fn memory_limits_and_timeouts_are_enforced_inside_the_runtime() {
    let env = Env::new();
    env.write("grow.wat", GROW);
    env.write("sleep.wat", SLEEP);
    env.write("spin.wat", SPIN);
    env.write(
        "big.wat",
        "(module (memory 100) (func (export \"_start\")))",
    );
    env.write(
        "w.yaml",
        "name: w\ntasks:\n  small: { type: wasm, module: grow.wat, memory_mb: 2 }\n  roomy: { type: wasm, module: grow.wat, memory_mb: 8 }\n  big: { type: wasm, module: big.wat, memory_mb: 1 }\n  spin: { type: wasm, module: spin.wat, timeout: 1s }\n  sleep: { type: wasm, module: sleep.wat, timeout: 1s }\n  after: { type: wasm, module: grow.wat, depends_on: [spin, sleep], trigger_rule: all_done }\n",
    );
    let (run, doc) = env.run_json("w.yaml", &[]);
    run.code(1);
    let error = |id: &str| {
        task(&doc, id)["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(task_state(&doc, "small"), "failed", "{doc}");
    assert!(error("small").contains("memory limit reached"), "{doc}");
    assert!(error("small").contains("memory_mb of 2"), "{doc}");
    assert_eq!(task_state(&doc, "roomy"), "success", "{doc}");
    assert!(error("big").contains("memory limit reached"), "{doc}");
    assert_eq!(task_state(&doc, "spin"), "failed", "{doc}");
    assert_eq!(error("spin"), "timed out after 1s", "{doc}");
    // A host call that waits is dropped at the timeout, not waited for.
    assert_eq!(error("sleep"), "timed out after 1s", "{doc}");
    // The runtime went on: the next module ran.
    assert_eq!(task_state(&doc, "after"), "success", "{doc}");
}

#[test]
fn ctrl_c_stops_a_spinning_module() {
    let env = Env::new();
    env.write("spin.wat", SPIN);
    env.write(
        "w.yaml",
        "name: w\ntasks:\n  spin: { type: wasm, module: spin.wat }\n",
    );
    let child = env.spawn(&["run", "w.yaml", "--output", "json"]);
    let pid = child.id();
    std::thread::sleep(std::time::Duration::from_millis(700));
    crate::common::kill(pid, "INT");
    let run = crate::common::finish_within(child, std::time::Duration::from_secs(15), "dag run");
    assert_eq!(run.code, 130, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(task_state(&doc, "spin"), "cancelled", "{doc}");
}

#[test]
fn granted_directories_are_all_a_module_can_reach() {
    let env = Env::new();
    env.write("cat.wat", CAT);
    env.write("make.wat", MAKE);
    env.write("data/data.txt", "granted content\n");
    env.write("secret.txt", "secret content\n");
    std::fs::create_dir_all(env.path().join("out")).unwrap();
    std::fs::create_dir_all(env.path().join("links")).unwrap();
    std::os::unix::fs::symlink(
        env.path().join("secret.txt"),
        env.path().join("links/data.txt"),
    )
    .unwrap();
    std::fs::create_dir_all(env.path().join("up")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", env.path().join("up/data.txt")).unwrap();
    env.write(
        "w.yaml",
        "name: w\ntasks:\n  read: { type: wasm, module: cat.wat, dirs: ['data:/data:ro'] }\n  none: { type: wasm, module: cat.wat }\n  absolute_link: { type: wasm, module: cat.wat, dirs: ['links:/data:ro'] }\n  relative_link: { type: wasm, module: cat.wat, dirs: ['up:/data:ro'] }\n  write: { type: wasm, module: make.wat, dirs: ['out:/out'] }\n  read_only: { type: wasm, module: make.wat, dirs: ['data:/data:ro'] }\n",
    );
    let (run, doc) = env.run_json("w.yaml", &[]);
    run.code(1);
    assert_eq!(task_state(&doc, "read"), "success", "{doc}");
    assert!(log(&env, &doc, "read").contains("granted content"));
    for id in ["none", "absolute_link", "relative_link", "read_only"] {
        assert_eq!(task_state(&doc, id), "failed", "{id}: {doc}");
        assert!(!log(&env, &doc, id).contains("secret content"), "{id}");
    }
    assert_eq!(task_state(&doc, "write"), "success", "{doc}");
    assert_eq!(
        std::fs::read_to_string(env.path().join("out/made.txt")).unwrap(),
        "made\n"
    );
    assert!(!env.path().join("data/made.txt").exists());
}

#[test]
fn a_module_is_compiled_once_and_then_loaded_from_the_cache() {
    let env = Env::new();
    env.write("hello.wat", HELLO);
    env.write(
        "w.yaml",
        "name: w\ntasks:\n  first: { type: wasm, module: hello.wat }\n  second: { type: wasm, module: hello.wat, depends_on: first }\n",
    );
    let (run, doc) = env.run_json("w.yaml", &[]);
    run.code(0);
    let first = log(&env, &doc, "first");
    assert!(
        first.contains("read from hello.wat, compiled in"),
        "{first}"
    );
    // The second task of the run found it compiled in memory: nothing said.
    assert_eq!(log(&env, &doc, "second"), "hello from wasm\n");
    // A new process loads the compiled module from the disk cache.
    let (run, doc) = env.run_json("w.yaml", &[]);
    run.code(0);
    let first = log(&env, &doc, "first");
    assert!(
        first.contains("loaded from the compiled-module cache"),
        "{first}"
    );
    assert!(!first.contains("compiled in"), "{first}");
    // A damaged cache file is compiled anew.
    for entry in std::fs::read_dir(env.path().join("state/modules")).unwrap() {
        std::fs::write(entry.unwrap().path(), b"damaged").unwrap();
    }
    let (run, doc) = env.run_json("w.yaml", &[]);
    run.code(0);
    assert!(log(&env, &doc, "first").contains("compiled in"));
}

#[test]
fn a_pinned_module_that_changed_is_refused() {
    let env = Env::new();
    env.write("hello.wat", HELLO);
    let sha = {
        use std::fmt::Write;
        let d = sha256sum(HELLO.as_bytes());
        d.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    env.write(
        "w.yaml",
        format!("name: w\ntasks:\n  hello: {{ type: wasm, module: hello.wat, sha256: 'sha256:{sha}' }}\n"),
    );
    env.run(&["validate", "w.yaml"]).code(0);
    env.write("hello.wat", HELLO.replace("hello", "HELLO"));
    let run = env.run(&["run", "w.yaml"]);
    run.code(2);
    assert!(run.stderr.contains("not the one pinned"), "{}", run.stderr);
}

/// SHA-256 by the system's `sha256sum`.
fn sha256sum(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_worker_runs_wasm_tasks_with_their_modules_sent_inline_or_through_the_bucket() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let env = Env::new();
    env.write("hello.wat", HELLO);
    env.write("spin.wat", SPIN);
    env.write("cat.wat", CAT);
    // Over the inline limit: the module goes through the modules bucket.
    let filler = "x".repeat(100_000);
    env.write(
        "big.wat",
        HELLO.replace(
            "(memory (export \"memory\") 1)",
            &format!("(memory (export \"memory\") 3)\n  (data (i32.const 1000) \"{filler}\")"),
        ),
    );
    env.write("allowed/data.txt", "allowed content\n");
    env.write("other/data.txt", "other content\n");
    env.write(
        "w.yaml",
        "name: w\ntasks:\n  small: { type: wasm, module: hello.wat }\n  big: { type: wasm, module: big.wat }\n  spin: { type: wasm, module: spin.wat, timeout: 1s }\n  allowed: { type: wasm, module: cat.wat, dirs: ['allowed:/d:ro'], depends_on: spin, trigger_rule: all_done }\n  refused: { type: wasm, module: cat.wat, dirs: ['other:/d:ro'] }\n",
    );
    let allowed = env.path().join("allowed");
    let _w = env.worker(
        &nats,
        "wasm-worker",
        &["--allow-volume", allowed.to_str().unwrap()],
    );
    let (code, doc, stderr) = env.run_distributed(&nats, "w.yaml", &[]);
    assert_eq!(code, 1, "{doc}\n{stderr}");
    assert_eq!(task_state(&doc, "small"), "success", "{doc}");
    assert_eq!(task(&doc, "small")["worker"], "wasm-worker", "{doc}");
    assert!(log(&env, &doc, "small").contains("sent with the task"));
    assert_eq!(task_state(&doc, "big"), "success", "{doc}");
    let big = log(&env, &doc, "big");
    assert!(big.contains("fetched from the module store"), "{big}");
    assert!(big.contains("hello from wasm"), "{big}");
    assert_eq!(task(&doc, "spin")["error"], "timed out after 1s", "{doc}");
    // The worker lived on past the spinning module.
    assert_eq!(task_state(&doc, "allowed"), "success", "{doc}");
    assert!(log(&env, &doc, "allowed").contains("allowed content"));
    assert_eq!(task_state(&doc, "refused"), "failed", "{doc}");
    assert!(
        task(&doc, "refused")["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not under an allowed path"),
        "{doc}"
    );
}

/// Grows two tables by 6,000,000 elements each (trapping when it cannot).
const TWO_TABLES: &str = r#"(module
  (table $a 1 funcref)
  (table $b 1 funcref)
  (func (export "_start")
    (if (i32.eq (table.grow $a (ref.null func) (i32.const 6000000)) (i32.const -1)) (then unreachable))
    (if (i32.eq (table.grow $b (ref.null func) (i32.const 6000000)) (i32.const -1)) (then unreachable))))
"#;

#[test]
fn the_bound_on_table_elements_counts_all_tables_together() {
    let env = Env::new();
    env.write("two.wat", TWO_TABLES);
    env.write(
        "one.wat",
        "(module (table 1 funcref) (func (export \"_start\") (if (i32.eq (table.grow 0 (ref.null func) (i32.const 6000000)) (i32.const -1)) (then unreachable))))",
    );
    env.write(
        "w.yaml",
        "name: w\ntasks:\n  one: { type: wasm, module: one.wat, memory_mb: 1 }\n  two: { type: wasm, module: two.wat, memory_mb: 1 }\n",
    );
    let (run, doc) = env.run_json("w.yaml", &[]);
    run.code(1);
    assert_eq!(task_state(&doc, "one"), "success", "{doc}");
    // Tables outside `memory_mb`: thousands of tables of millions of elements
    // each would take gigabytes.
    assert_eq!(task_state(&doc, "two"), "failed", "{doc}");
    assert!(
        task(&doc, "two")["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unreachable"),
        "{doc}"
    );
}

#[test]
fn a_module_cannot_be_granted_the_compiled_module_cache_for_writing() {
    let env = Env::new();
    env.write("hello.wat", HELLO);
    let state = env.path().join("state");
    std::fs::create_dir_all(state.join("modules")).unwrap();
    env.write(
        "w.yaml",
        format!(
            "name: w\ntasks:\n  cache: {{ type: wasm, module: hello.wat, dirs: ['{cache}:/m'] }}\n  home: {{ type: wasm, module: hello.wat, dirs: ['{home}:/m'] }}\n  read_only: {{ type: wasm, module: hello.wat, dirs: ['{cache}:/m:ro'] }}\n",
            cache = state.join("modules").display(),
            home = state.display()
        ),
    );
    let (run, doc) = env.run_json("w.yaml", &[]);
    run.code(1);
    // Compiled code there is loaded as it is: a module that could write there
    // could replace the code another module runs.
    for id in ["cache", "home"] {
        assert_eq!(task_state(&doc, id), "failed", "{id}: {doc}");
        assert!(
            task(&doc, id)["error"]
                .as_str()
                .unwrap_or_default()
                .contains("holds the compiled-module cache"),
            "{id}: {doc}"
        );
    }
    assert_eq!(task_state(&doc, "read_only"), "success", "{doc}");
}
