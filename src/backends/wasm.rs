//! The `wasm` task runner: a WebAssembly module run under WASI (preview 1) by an
//! embedded wasmtime, in this process, on one of its long-lived module threads.
//!
//! A module gets what the task grants and nothing else: its `args`, the task's
//! `env` and the `DAG_*` variables (never this process's environment), its `stdin`
//! text, stdout and stderr into the task's log (secrets masked, as for any task),
//! the directories of `dirs`, and a private directory at [`OUTPUT_DIR`] holding the
//! `$DAG_OUTPUT` file. It has no network. Its linear memory is capped by
//! `memory_mb`, and it is interrupted at its timeout or when the run stops by
//! wasmtime's epoch interruption: a clock thread advances the engine's epoch every
//! [`TICK`], and the store checks its deadline at each tick, so a module in a
//! `loop {}` ends on time without a thread of dag's runtime waiting on it.
//!
//! Compiled modules are kept by the SHA-256 of the module file: in memory for the
//! life of the process (the [`MEMORY_CACHE`] most recent ones), and on disk in the
//! compiled-module cache ([`crate::embed::default_module_cache_dir`]), so a module
//! is compiled once per machine, not once per task.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wasmtime::{Engine, InstancePre, Linker, Module, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{DirPerms, FilePerms, I32Exit, WasiCtxBuilder};

use super::outputs::{self, OutputDir};
use crate::engine::runner::{BoxFuture, LineSink, Outcome, TaskContext, TaskLog, TaskRunner};
use crate::engine::spec::{GrantedDir, TaskKind, WasmSpec, read_module, sha256_hex};

/// The `type:` of wasm tasks.
pub const TYPE: &str = "wasm";

/// Where a module finds its `$DAG_OUTPUT` file (descriptor 3, its first
/// preopened directory).
pub const OUTPUT_DIR: &str = crate::engine::spec::WASM_OUTPUT_DIR;

/// How often the engine's epoch advances: the precision of timeouts and stops.
pub const TICK: Duration = Duration::from_millis(10);

/// How many compiled modules a process keeps in memory.
pub const MEMORY_CACHE: usize = 64;

/// How long a module stuck in a host call (reading a FIFO in a granted
/// directory) is waited for past its deadline before the attempt ends without it.
const STUCK_GRACE: Duration = Duration::from_secs(2);

/// The stack of the thread a module runs on (wasmtime's own stack limit for
/// the module, 512 KiB, and the host calls under it).
const MODULE_THREAD_STACK: usize = 4 << 20;

/// The most elements a module's tables may hold, all tables together (a table
/// of a billion entries would take gigabytes outside `memory_mb`, and so would
/// ten thousand tables of ten million).
const MAX_TABLE_ELEMENTS: usize = 10_000_000;

/// Where a worker gets a module it has not got, by SHA-256 (the NATS object
/// store): the bytes, not yet checked.
pub type ModuleFetch =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<Vec<u8>, String>> + Send + Sync>;

/// Runs `wasm` tasks.
#[derive(Clone)]
pub struct WasmRunner {
    inner: Arc<Inner>,
}

struct Inner {
    /// Compiled modules by SHA-256, with the order they came in (oldest first).
    modules: Mutex<(HashMap<String, Prepared>, VecDeque<String>)>,
    /// Makes tasks that need the same module wait for one compilation (by
    /// SHA-256, while one is under way).
    compiling: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The compiled-module cache on disk, if any.
    disk: Option<PathBuf>,
    /// Host directories `dirs` may grant (resolved); `None`: any.
    allowed: Option<Vec<PathBuf>>,
    /// Where modules not given inline come from, on a worker.
    fetch: Option<ModuleFetch>,
    outputs: OutputDir,
}

/// A module compiled and linked, ready to start.
#[derive(Clone)]
struct Prepared {
    pre: InstancePre<State>,
    /// Whether it can open files (imports `path_open`): only then is its
    /// output directory made (a directory per attempt costs more than running
    /// a small module).
    opens_files: bool,
}

/// What a module's store holds: its WASI context and its limits.
struct State {
    wasi: WasiP1Ctx,
    limits: Limits,
}

impl Default for WasmRunner {
    fn default() -> Self {
        WasmRunner::new()
    }
}

impl WasmRunner {
    /// A runner keeping compiled modules in the default cache directory.
    pub fn new() -> WasmRunner {
        WasmRunner::with_cache_dir(crate::embed::default_module_cache_dir())
    }

    /// A runner keeping compiled modules in `dir` (`None`: in memory only).
    pub fn with_cache_dir(dir: Option<PathBuf>) -> WasmRunner {
        WasmRunner::made(dir, None, None)
    }

    fn made(
        disk: Option<PathBuf>,
        allowed: Option<Vec<PathBuf>>,
        fetch: Option<ModuleFetch>,
    ) -> WasmRunner {
        WasmRunner {
            inner: Arc::new(Inner {
                modules: Mutex::default(),
                compiling: Mutex::default(),
                disk,
                allowed,
                fetch,
                outputs: OutputDir::default(),
            }),
        }
    }

    /// The same runner granting only directories under `prefixes` (resolved, as
    /// [`crate::backends::docker::DockerPolicy::resolve_prefixes`] makes them;
    /// empty: any), and getting modules that do not come inline from `fetch`.
    pub fn for_worker(self, prefixes: Vec<PathBuf>, fetch: Option<ModuleFetch>) -> WasmRunner {
        WasmRunner::made(
            self.inner.disk.clone(),
            (!prefixes.is_empty()).then_some(prefixes),
            fetch,
        )
    }
}

impl TaskRunner for WasmRunner {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Outcome> {
        let runner = self.clone();
        Box::pin(async move { run_wasm(&runner, ctx).await })
    }
}

/// The process's engine, with its epoch clock started; an error says why there
/// is none (this CPU is not supported, say).
fn engine() -> Result<&'static Engine, String> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = wasmtime::Config::new();
            config.epoch_interruption(true);
            // Host calls are futures: one that waits (a sleep in `poll_oneoff`)
            // is dropped at the deadline, and its thread is free.
            config.async_support(true);
            let engine = Engine::new(&config)
                .map_err(|e| format!("cannot start the WebAssembly engine: {e:#}"))?;
            let clock = engine.clone();
            std::thread::Builder::new()
                .name("dag-wasm-epoch".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(TICK);
                        clock.increment_epoch();
                    }
                })
                .map_err(|e| format!("cannot start the WebAssembly clock thread: {e}"))?;
            Ok(engine)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The linker of WASI preview 1, made once.
fn linker() -> Result<&'static Linker<State>, String> {
    static LINKER: OnceLock<Result<Linker<State>, String>> = OnceLock::new();
    LINKER
        .get_or_init(|| {
            let mut linker = Linker::new(engine()?);
            wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut State| &mut s.wasi)
                .map_err(|e| format!("cannot set up WASI: {e:#}"))?;
            Ok(linker)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// An attempt's end as the module thread saw it.
enum Ended {
    /// `_start` returned, or the module called `proc_exit`.
    Exit(i32),
    /// The module trapped or could not start.
    Failed(String),
    /// The deadline passed.
    TimedOut,
    /// The run stopped it.
    Stopped,
}

#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// The memory limit was reached.
#[derive(Debug)]
struct OverLimit {
    limit_mb: u64,
    wanted: usize,
}

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "memory limit reached: the module asked for {} MiB of linear memory, over its memory_mb of {}",
            self.wanted.div_ceil(1 << 20),
            self.limit_mb
        )
    }
}

impl std::error::Error for OverLimit {}

struct Limits {
    memory_mb: u64,
    /// The elements of all the module's tables so far (sizes granted).
    table_elements: usize,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory_mb.saturating_mul(1 << 20) {
            return Err(wasmtime::Error::new(OverLimit {
                limit_mb: self.memory_mb,
                wanted: desired,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Counted over all tables: a module may declare thousands.
        let total = self
            .table_elements
            .saturating_sub(current)
            .saturating_add(desired);
        if total > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_elements = total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }
}

async fn run_wasm(runner: &WasmRunner, ctx: TaskContext) -> Outcome {
    let TaskKind::Wasm(spec) = &ctx.task().kind else {
        return Outcome::failed(None, "not a wasm task");
    };
    let spec = WasmSpec::clone(spec);
    let fail = |message: String| {
        ctx.log.line(&format!("dag: {message}"));
        Outcome::failed(None, message)
    };
    let dirs = match runner.granted(&spec) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    // Validation holds `memory_mb` to its range; a forged task message must not
    // lift it.
    if !(1..=crate::engine::format::WASM_MAX_MEMORY_MB).contains(&spec.memory_mb) {
        return fail(format!(
            "memory_mb {} is out of range (1–{})",
            spec.memory_mb,
            crate::engine::format::WASM_MAX_MEMORY_MB
        ));
    }
    // The SHA-256 names cache files: only ever 64 hex digits (a forged task
    // message must not name a path).
    if !is_sha256(&spec.sha256) {
        return fail(format!(
            "the module's SHA-256 `{}` is not 64 hex digits",
            spec.sha256.escape_debug()
        ));
    }
    let started = Instant::now();
    let deadline = started + ctx.timeout;
    // Compiled on a task of its own: one that outlasts this attempt (its timeout,
    // a stop) still finishes and is kept for the next.
    let preparing = {
        let (runner, spec, log) = (runner.clone(), spec.clone(), ctx.log.clone());
        tokio::spawn(async move { runner.prepared(&spec, &log).await })
    };
    let prepared = tokio::select! {
        p = preparing => match p {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return fail(e),
            Err(e) => return fail(format!("preparing the module failed: {e}")),
        },
        _ = tokio::time::sleep_until(deadline.into()) => {
            return fail(format!(
                "timed out after {} while the module was being compiled",
                humantime::format_duration(ctx.timeout)
            ));
        }
        _ = ctx.stop.graceful.cancelled() => return Outcome::cancelled("cancelled"),
        _ = ctx.stop.hard.cancelled() => return Outcome::cancelled("killed"),
    };
    let task = ctx.task().id.to_string();
    let scratch = match runner.inner.outputs.file(&ctx.run_id, &task, ctx.attempt) {
        Ok(p) => {
            let mut dir = p.into_os_string();
            dir.push(".d");
            PathBuf::from(dir)
        }
        Err(e) => return fail(e),
    };
    // A module that cannot open files cannot write `$DAG_OUTPUT`, nor use a
    // granted directory beyond listing it: it gets none.
    let scratch = (prepared.opens_files || !dirs.is_empty()).then_some(scratch);
    if let Some(scratch) = &scratch
        && let Err(e) = std::fs::create_dir(scratch)
    {
        return fail(format!(
            "cannot create the output directory {}: {e}",
            scratch.display()
        ));
    }
    let output_file = scratch.as_ref().map(|s| s.join("output"));
    let sink = Arc::new(Mutex::new(Sink {
        log: ctx.log.clone(),
        masker: ctx.log.masker(),
        lines: ctx.lines.clone().map(|s| (task.clone(), s)),
        line: Vec::new(),
        overlong: false,
    }));
    let mut env = ctx.env.clone();
    env.push(("DAG_OUTPUT".into(), format!("{OUTPUT_DIR}/output")));
    let halt = CancellationToken::new();
    let job = Job {
        prepared,
        argv: std::iter::once(spec.module.clone())
            .chain(spec.args.iter().cloned())
            .collect(),
        env,
        stdin: spec.stdin.clone().unwrap_or_default(),
        dirs,
        scratch: scratch.clone(),
        memory_mb: spec.memory_mb,
        sink: sink.clone(),
        deadline,
        stop: halt.clone(),
    };
    // On a module thread, not the runtime's blocking pool (see `submit`).
    let mut handle = match submit(job) {
        Ok(h) => h,
        Err(e) => {
            if let Some(scratch) = &scratch {
                let _ = std::fs::remove_dir_all(scratch);
            }
            return fail(format!("cannot start a thread for the module: {e}"));
        }
    };
    let stop = &ctx.stop;
    let timed_out = tokio::time::sleep_until((deadline + STUCK_GRACE).into());
    tokio::pin!(timed_out);
    let mut stopped: Option<&str> = None;
    let ended = tokio::select! {
        r = &mut handle => Some(r),
        _ = stop.graceful.cancelled() => { stopped = Some("cancelled"); None }
        _ = stop.hard.cancelled() => { stopped = Some("killed"); None }
        _ = &mut timed_out => None,
    };
    let ended = match ended {
        Some(r) => Some(r),
        None => {
            halt.cancel();
            tokio::time::timeout(STUCK_GRACE, &mut handle).await.ok()
        }
    };
    let ended = match ended {
        Some(Ok(e)) => e,
        Some(Err(_)) => Ended::Failed("the module's thread failed".into()),
        // Stuck in a host call that never returns: its thread is left to it.
        None if stopped.is_none() => {
            if let Some(scratch) = &scratch {
                let _ = std::fs::remove_dir_all(scratch);
            }
            return fail(format!(
                "timed out after {}, and the module did not stop: it waits in a host call (a FIFO or device in a granted directory?)",
                humantime::format_duration(ctx.timeout)
            ));
        }
        None => Ended::Stopped,
    };
    if let Ok(mut s) = sink.lock() {
        s.finish();
    }
    let outputs = match &output_file {
        Some(file) => outputs::take(file, ctx.output_cap).await,
        None => Ok(crate::engine::runner::Outputs::new()),
    };
    if let Some(scratch) = &scratch {
        let _ = std::fs::remove_dir_all(scratch);
    }
    match (ended, stopped) {
        (_, Some(reason)) => Outcome::cancelled(reason),
        (Ended::Stopped, None) => Outcome::cancelled("cancelled"),
        (Ended::TimedOut, None) => Outcome::failed(
            None,
            format!(
                "timed out after {}",
                humantime::format_duration(ctx.timeout)
            ),
        ),
        (Ended::Failed(e), None) => fail(e),
        (Ended::Exit(0), None) => match outputs {
            Ok(outputs) => Outcome::success(Some(0)).with_outputs(outputs),
            Err(e) => {
                ctx.log.line(&format!("dag: {e}"));
                Outcome::failed(Some(0), e)
            }
        },
        (Ended::Exit(code), None) => Outcome::failed(Some(code), format!("exit code {code}")),
    }
}

/// `path` made absolute and resolved as far as it exists (symbolic links
/// followed, `..` gone), with the components that do not exist yet after it.
fn resolve_existing(path: &Path) -> PathBuf {
    let Ok(path) = std::path::absolute(path) else {
        return path.to_path_buf();
    };
    let mut missing = Vec::new();
    let mut at = path.as_path();
    loop {
        if let Ok(resolved) = std::fs::canonicalize(at) {
            return missing
                .iter()
                .rev()
                .fold(resolved, |p: PathBuf, c| p.join(c));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                at = parent;
            }
            _ => return path.clone(),
        }
    }
}

/// Whether `text` is a SHA-256 as specs hold it: 64 lower-case hex digits.
fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl WasmRunner {
    /// The task's `dirs`, read, each host directory resolved (symbolic links
    /// followed, `..` gone) and, on a worker, checked against `--allow-volume`.
    fn granted(&self, spec: &WasmSpec) -> Result<Vec<(PathBuf, GrantedDir)>, String> {
        let mut out = Vec::new();
        for text in &spec.dirs {
            let dir = GrantedDir::parse(text)?;
            let resolved = std::fs::canonicalize(&dir.host)
                .map_err(|e| format!("dir `{text}`: cannot resolve {}: {e}", dir.host))?;
            if !resolved.is_dir() {
                return Err(format!(
                    "dir `{text}`: {} is not a directory",
                    resolved.display()
                ));
            }
            // The cache holds native code this process loads without checking
            // it: a module that may write there could replace another module's.
            if !dir.read_only
                && let Some(cache) = self.inner.disk.as_deref().map(resolve_existing)
                && (resolved.starts_with(&cache) || cache.starts_with(&resolved))
            {
                return Err(format!(
                    "dir `{text}`: {} holds the compiled-module cache {} (grant it `:ro`, or a directory outside it)",
                    resolved.display(),
                    cache.display()
                ));
            }
            if let Some(prefixes) = &self.inner.allowed
                && !prefixes.iter().any(|p| resolved.starts_with(p))
            {
                return Err(format!(
                    "dir `{text}` is not under an allowed path (--allow-volume {}): it resolves to {}",
                    prefixes
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    resolved.display()
                ));
            }
            out.push((resolved, dir));
        }
        Ok(out)
    }

    /// The task's module, compiled and linked: from memory, else from the disk
    /// cache, else compiled now; the last two are said in the task's log.
    async fn prepared(&self, spec: &WasmSpec, log: &TaskLog) -> Result<Prepared, String> {
        if let Some(p) = self.cached(&spec.sha256) {
            return Ok(p);
        }
        // One compilation of a module at a time: tasks waiting for the same
        // module find it compiled when their turn comes.
        let lock = match self.inner.compiling.lock() {
            Ok(mut c) => c.entry(spec.sha256.clone()).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let _turn = lock.lock().await;
        if let Some(p) = self.cached(&spec.sha256) {
            return Ok(p);
        }
        let prepared = self.prepare(spec, log).await;
        if let Ok(mut c) = self.inner.compiling.lock() {
            c.remove(&spec.sha256);
        }
        prepared
    }

    /// [`WasmRunner::prepared`] once it holds the module's turn.
    async fn prepare(&self, spec: &WasmSpec, log: &TaskLog) -> Result<Prepared, String> {
        let started = Instant::now();
        let file = match (&self.inner.disk, engine()) {
            (Some(d), Ok(engine)) => {
                Some(d.join(format!("{}-{}.cwasm", spec.sha256, fingerprint(engine))))
            }
            _ => None,
        };
        let shown = spec.module.clone();
        let loaded = match file.clone() {
            Some(file) => tokio::task::spawn_blocking(move || load(&file))
                .await
                .ok()
                .flatten(),
            None => None,
        };
        let (module, how) = match loaded {
            Some(m) => (
                m,
                format!(
                    "loaded from the compiled-module cache in {} ms",
                    started.elapsed().as_millis()
                ),
            ),
            None => {
                let (bytes, from) = self.module_bytes(spec).await?;
                let started = Instant::now();
                let module =
                    tokio::task::spawn_blocking(move || compile(&bytes, &shown, file.as_deref()))
                        .await
                        .map_err(|e| format!("compiling the module failed: {e}"))??;
                (
                    module,
                    format!("{from}, compiled in {} ms", started.elapsed().as_millis()),
                )
            }
        };
        let prepared = link(&module, &spec.module)?;
        log.line(&format!(
            "dag: module {} (sha256 {}) {how}",
            spec.module,
            &spec.sha256[..12.min(spec.sha256.len())]
        ));
        if let Ok(mut m) = self.inner.modules.lock() {
            let (map, order) = &mut *m;
            if map.insert(spec.sha256.clone(), prepared.clone()).is_none() {
                order.push_back(spec.sha256.clone());
            }
            while order.len() > MEMORY_CACHE {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
        Ok(prepared)
    }

    fn cached(&self, sha: &str) -> Option<Prepared> {
        self.inner.modules.lock().ok()?.0.get(sha).cloned()
    }

    /// The module's bytes, checked against the task's SHA-256: sent with the
    /// task, fetched from the object store, or read from its file.
    async fn module_bytes(&self, spec: &WasmSpec) -> Result<(Vec<u8>, String), String> {
        let (bytes, from) = if let Some(inline) = &spec.inline {
            (inline.bytes()?, "sent with the task".to_string())
        } else if let Some(fetch) = &self.inner.fetch {
            (
                fetch(spec.sha256.clone()).await?,
                "fetched from the module store".to_string(),
            )
        } else {
            let path = PathBuf::from(&spec.path);
            let bytes = tokio::task::spawn_blocking(move || read_module(&path))
                .await
                .map_err(|e| format!("reading the module failed: {e}"))??
                .0;
            (bytes, format!("read from {}", spec.path))
        };
        let sha = sha256_hex(&bytes);
        if sha != spec.sha256 {
            return Err(format!(
                "the module {} ({from}) has SHA-256 {sha}, not {} as when the run was validated: it changed, or was damaged on the way",
                spec.module, spec.sha256
            ));
        }
        Ok((bytes, from))
    }
}

/// The compiled module in the cache file `file`, if it is there and usable.
fn load(file: &Path) -> Option<Module> {
    let engine = engine().ok()?;
    let compiled = crate::engine::capped_read::read_file_capped(file, 1 << 30).ok()?;
    // SAFETY: the file is one this process's engine wrote into the cache
    // directory (private to this user; its name holds the engine's fingerprint);
    // wasmtime checks its header and the engine it was compiled for, and one it
    // refuses is compiled anew.
    unsafe { Module::deserialize(engine, &compiled) }.ok()
}

/// Compiles `bytes` (WebAssembly binary or text) and keeps the result in the
/// cache file `file`.
fn compile(bytes: &[u8], shown: &str, file: Option<&Path>) -> Result<Module, String> {
    // Only a `.wat` file is read as text: the text parser quotes the line it
    // stopped at, and a module named by mistake (an environment file) must not
    // have its first line copied into the log.
    if !bytes.starts_with(b"\0asm") && !shown.ends_with(".wat") {
        return Err(format!(
            "the module {shown} is not valid WebAssembly: it does not start with the binary format's `\\0asm` (a text module's name ends in .wat)"
        ));
    }
    let module = Module::new(engine()?, bytes)
        .map_err(|e| format!("the module {shown} is not valid WebAssembly: {e:#}"))?;
    if let Some(file) = file {
        save(file, &module);
    }
    Ok(module)
}

/// `module` linked with WASI, ready to start.
fn link(module: &Module, shown: &str) -> Result<Prepared, String> {
    if module.get_export("_start").is_none() {
        return Err(format!(
            "the module {shown} exports no `_start` function: a wasm task runs a WASI command module"
        ));
    }
    let pre = linker()?.instantiate_pre(module).map_err(|e| {
        format!("the module {shown} cannot be linked (it may only import what WASI preview 1 provides): {e:#}")
    })?;
    let opens_files = module
        .imports()
        .any(|i| i.module() == "wasi_snapshot_preview1" && i.name() == "path_open");
    Ok(Prepared { pre, opens_files })
}

/// What the compiled form depends on besides the module: the engine's version
/// and settings and this CPU's features.
fn fingerprint(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Writes a compiled module into the cache: a scratch file renamed into place,
/// so that a reader sees a whole file or none. A failure (a full disk) only
/// costs a compilation next time.
fn save(file: &Path, module: &Module) {
    let Some(dir) = file.parent() else { return };
    let Ok(bytes) = module.serialize() else {
        return;
    };
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let scratch = dir.join(format!(
            ".{}.{}.{}",
            std::process::id(),
            fastrand::u64(..),
            file.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("module")
        ));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&scratch)?;
        let written = f.write_all(&bytes).and_then(|()| f.sync_all());
        if let Err(e) = written.and_then(|()| std::fs::rename(&scratch, file)) {
            let _ = std::fs::remove_file(&scratch);
            return Err(e);
        }
        Ok(())
    };
    let _ = write();
}

/// An attempt for a module thread, and where its end goes.
type Work = (Job, tokio::sync::oneshot::Sender<Ended>);

/// The module threads waiting for work.
static IDLE: Mutex<Vec<std::sync::mpsc::Sender<Work>>> = Mutex::new(Vec::new());

/// Hands `job` to an idle module thread, or to a new one when none is idle.
///
/// Modules run on threads of their own, each with a runtime of its own whose
/// futures are the module's host calls, kept for the life of the process: a
/// thread and a runtime made per attempt cost more than a small module. Every
/// attempt ends by its deadline or a stop (running code by the epoch callback,
/// a waiting host call by being dropped), so a thread always comes back; only
/// a file operation the system blocks (a FIFO in a granted directory) holds a
/// thread of that runtime's blocking pool, not the module thread. The threads
/// are as many as modules ever ran at once.
fn submit(job: Job) -> std::io::Result<tokio::sync::oneshot::Receiver<Ended>> {
    let (reply, ended) = tokio::sync::oneshot::channel();
    let mut work: Work = (job, reply);
    while let Some(thread) = IDLE.lock().ok().and_then(|mut idle| idle.pop()) {
        match thread.send(work) {
            Ok(()) => return Ok(ended),
            // That thread is gone (a panic): the next, or a new one.
            Err(std::sync::mpsc::SendError(w)) => work = w,
        }
    }
    let (to_thread, inbox) = std::sync::mpsc::channel::<Work>();
    let me = to_thread.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    std::thread::Builder::new()
        .name("dag-wasm".into())
        .stack_size(MODULE_THREAD_STACK)
        .spawn(move || {
            while let Ok((job, reply)) = inbox.recv() {
                let _ = reply.send(job.run(&runtime));
                if let Ok(mut idle) = IDLE.lock() {
                    idle.push(me.clone());
                }
            }
        })?;
    let _ = to_thread.send(work);
    Ok(ended)
}

/// One attempt, as the module thread runs it.
struct Job {
    prepared: Prepared,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    stdin: String,
    dirs: Vec<(PathBuf, GrantedDir)>,
    scratch: Option<PathBuf>,
    memory_mb: u64,
    sink: Arc<Mutex<Sink>>,
    deadline: Instant,
    stop: CancellationToken,
}

impl Job {
    /// Runs the module on a runtime of this thread's own: its host calls are
    /// futures of that runtime, dropped at the deadline or a stop.
    /// Runs the module on `runtime`, the module thread's own.
    fn run(self, runtime: &tokio::runtime::Runtime) -> Ended {
        match runtime.block_on(self.start()) {
            Ok(ended) => ended,
            Err(e) => Ended::Failed(e),
        }
    }

    async fn start(self) -> Result<Ended, String> {
        let mut builder = WasiCtxBuilder::new();
        builder
            .args(&self.argv)
            .envs(&self.env)
            .stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(
                self.stdin.into_bytes(),
            ))
            .stdout(LogStream(self.sink.clone()))
            .stderr(LogStream(self.sink.clone()));
        // First, so it is always descriptor 3.
        if let Some(scratch) = &self.scratch {
            builder
                .preopened_dir(scratch, OUTPUT_DIR, DirPerms::all(), FilePerms::all())
                .map_err(|e| format!("cannot grant the output directory: {e:#}"))?;
        }
        for (host, dir) in &self.dirs {
            let (dirs, files) = if dir.read_only {
                (DirPerms::READ, FilePerms::READ)
            } else {
                (DirPerms::all(), FilePerms::all())
            };
            builder
                .preopened_dir(host, &dir.guest, dirs, files)
                .map_err(|e| format!("cannot grant {}: {e:#}", host.display()))?;
        }
        let engine = engine()?;
        let mut store = Store::new(
            engine,
            State {
                wasi: builder.build_p1(),
                limits: Limits {
                    memory_mb: self.memory_mb,
                    table_elements: 0,
                },
            },
        );
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        let (deadline, stop) = (self.deadline, self.stop.clone());
        store.epoch_deadline_callback(move |_| {
            if stop.is_cancelled() || Instant::now() >= deadline {
                Err(wasmtime::Error::new(Interrupted))
            } else {
                Ok(UpdateDeadline::Continue(1))
            }
        });
        let prepared = self.prepared.clone();
        let call = async {
            let instance = prepared.pre.instantiate_async(&mut store).await?;
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call_async(&mut store, ()).await
        };
        // Running code is interrupted by the epoch callback; a host call that
        // waits is dropped here.
        let result = tokio::select! {
            r = call => r,
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(self.deadline)) => {
                return Ok(Ended::TimedOut);
            }
            _ = self.stop.cancelled() => return Ok(Ended::Stopped),
        };
        Ok(match result {
            Ok(()) => Ended::Exit(0),
            Err(e) => {
                if let Some(exit) = find::<I32Exit>(&e) {
                    Ended::Exit(exit.0)
                } else if find::<Interrupted>(&e).is_some() {
                    if self.stop.is_cancelled() {
                        Ended::Stopped
                    } else {
                        Ended::TimedOut
                    }
                } else if let Some(over) = find::<OverLimit>(&e) {
                    Ended::Failed(over.to_string())
                } else if let Some(trap) = find::<wasmtime::Trap>(&e) {
                    Ended::Failed(format!("the module trapped: {trap}"))
                } else {
                    Ended::Failed(format!("the module failed: {}", e.root_cause()))
                }
            }
        })
    }
}

/// The error of type `T` in `e` or among its causes (WASI's exit and the
/// host's own errors come wrapped in the trap's backtrace).
fn find<T: std::error::Error + Send + Sync + 'static>(e: &wasmtime::Error) -> Option<&T> {
    e.chain().find_map(|c| c.downcast_ref::<T>())
}

/// Where a module's stdout and stderr go: one stream into the task's log, as a
/// process's two outputs share one pipe.
struct Sink {
    log: TaskLog,
    masker: crate::engine::secrets::Masker,
    lines: Option<(String, LineSink)>,
    line: Vec<u8>,
    overlong: bool,
}

impl Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let ready = self.masker.push(bytes);
        super::bash::emit(
            &self.log,
            &ready,
            &self.lines,
            &mut self.line,
            &mut self.overlong,
        )
    }

    /// Writes what the masker still holds and hands on the last, unended line.
    fn finish(&mut self) {
        let rest = self.masker.finish();
        let _ = super::bash::emit(
            &self.log,
            &rest,
            &self.lines,
            &mut self.line,
            &mut self.overlong,
        );
        if let Some((task, sink)) = &self.lines
            && !self.line.is_empty()
            && !self.overlong
        {
            sink(task, &String::from_utf8_lossy(&self.line));
        }
        self.line.clear();
    }
}

#[derive(Clone)]
struct LogStream(Arc<Mutex<Sink>>);

impl wasmtime_wasi::cli::IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.write_now(&bytes)
            .map_err(|e| StreamError::LastOperationFailed(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1024 * 1024)
    }
}

impl LogStream {
    fn write_now(&self, bytes: &[u8]) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut sink) => sink.write(bytes),
            Err(_) => Err(std::io::Error::other("the task log is unusable")),
        }
    }
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(self.write_now(buf).map(|()| buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
