//! Task result caching: a task with `cache:` is skipped when an earlier
//! successful execution had the same key ([`key`]): its log, outputs and output
//! files are put back and it ends `success`, marked cached. The cache check runs
//! where the task would run (this process, or the worker that took it), since
//! that is where its input files are.
//!
//! Entries ([`entry`]) live in a [`CacheStore`]: a directory beside the file
//! store's runs, or a NATS Object Store bucket shared by the workers.

pub mod entry;
pub mod key;
pub mod walk;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::runner::{BoxFuture, Outcome, Runners, Status, TaskContext, TaskLog, TaskRunner};
use super::spec::CacheSpec;
use super::time::Timestamp;

/// One stored entry, as listed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Listed {
    /// The key.
    pub key: String,
    /// The DAG and task that saved it.
    pub dag: String,
    /// The task (instance) id.
    pub task: String,
    /// The run that saved it.
    pub run_id: String,
    /// When it was saved, in milliseconds since the epoch.
    pub created_ms: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

impl From<(&entry::Header, u64)> for Listed {
    fn from((h, bytes): (&entry::Header, u64)) -> Listed {
        Listed {
            key: h.key.clone(),
            dag: h.dag.clone(),
            task: h.task.clone(),
            run_id: h.run_id.clone(),
            created_ms: h.created_ms,
            bytes,
        }
    }
}

/// Where cache entries are kept.
pub trait CacheStore: Send + Sync {
    /// Where new entries are written before [`CacheStore::store`] takes them (for
    /// the directory store, a directory on its file system, so that storing is a
    /// rename).
    fn scratch(&self) -> PathBuf;

    /// The entry stored under `key`, as an open file (a local copy for a remote
    /// store), or None.
    fn fetch(&self, key: &str) -> BoxFuture<'static, Result<Option<std::fs::File>, String>>;

    /// Stores the entry written at `path` (in [`CacheStore::scratch`]) under its
    /// key, replacing any other; `path` is gone afterwards.
    fn store(&self, path: PathBuf, header: entry::Header)
    -> BoxFuture<'static, Result<(), String>>;

    /// Removes the entry under `key`; false when there was none.
    fn remove(&self, key: &str) -> BoxFuture<'static, Result<bool, String>>;

    /// Every entry.
    fn list(&self) -> BoxFuture<'static, Result<Vec<Listed>, String>>;

    /// Where the entries are, for messages.
    fn describe(&self) -> String;
}

impl Runners {
    /// The same runners, each checking the cache in `store` first for tasks
    /// with `cache:` (an attempt with [`TaskContext::no_cache`] ignores hits; its
    /// result still replaces the saved one).
    pub fn cached(&self, store: &Arc<dyn CacheStore>) -> Runners {
        self.map(|runner| {
            Arc::new(CachedRunner {
                inner: runner,
                cache: store.clone(),
            }) as Arc<dyn TaskRunner>
        })
    }
}

/// The directory relative `cache` paths of `ctx`'s task are read from and
/// written to: its `workdir`, else the current directory of the process that
/// runs it. A docker task's `workdir` is inside its container: its paths are the
/// process's.
pub fn base_dir(ctx: &TaskContext) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let in_container = matches!(ctx.task().kind, super::spec::TaskKind::Docker(_));
    match ctx.workdir.as_deref() {
        Some(w) if !in_container => cwd.join(w),
        _ => cwd,
    }
}

/// A runner that serves results from the cache.
struct CachedRunner {
    inner: Arc<dyn TaskRunner>,
    cache: Arc<dyn CacheStore>,
}

impl TaskRunner for CachedRunner {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Outcome> {
        let Some(spec) = ctx.task().cache.clone() else {
            return self.inner.run(ctx);
        };
        let inner = self.inner.clone();
        let cache = self.cache.clone();
        Box::pin(async move { cached_run(inner, cache, *spec, ctx).await })
    }

    fn check(&self) -> BoxFuture<'static, Result<(), String>> {
        self.inner.check()
    }

    fn run_ended(&self, run_id: &str) -> BoxFuture<'static, ()> {
        self.inner.run_ended(run_id)
    }

    fn run_begins(&self, run_id: &str, stop: super::runner::StopSignal) -> BoxFuture<'static, ()> {
        self.inner.run_begins(run_id, stop)
    }

    fn run_left(&self, run_id: &str) -> BoxFuture<'static, ()> {
        self.inner.run_left(run_id)
    }
}

/// How far in the future an entry's time may be (clocks of machines sharing a
/// cache differ a little) before the entry counts as expired.
pub const FUTURE_SLACK_MS: u64 = 5 * 60 * 1000;

/// Sets its flag when dropped.
struct AbandonOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The first 12 digits of a key, as messages show it.
pub fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}

/// Waits for `phase` of the cache's work within the attempt's time limit
/// (`deadline`) and until the attempt is stopped: the outcome of the attempt
/// otherwise, as a runner would give it.
async fn bounded<T>(
    ctx: &TaskContext,
    deadline: tokio::time::Instant,
    phase: impl std::future::Future<Output = T>,
) -> Result<T, Outcome> {
    tokio::select! {
        done = phase => Ok(done),
        _ = tokio::time::sleep_until(deadline) => Err(Outcome::failed(
            None,
            format!(
                "timed out after {} (checking the cache)",
                humantime::format_duration(ctx.timeout)
            ),
        )),
        _ = ctx.stop.graceful.cancelled() => Err(Outcome::cancelled("cancelled")),
        _ = ctx.stop.hard.cancelled() => Err(Outcome::cancelled("killed")),
    }
}

async fn cached_run(
    inner: Arc<dyn TaskRunner>,
    cache: Arc<dyn CacheStore>,
    spec: CacheSpec,
    ctx: TaskContext,
) -> Outcome {
    let base = base_dir(&ctx);
    // The key and the lookup count against the attempt's time limit and obey its
    // stop signal, as the runner's own work does: an input that takes long to
    // read, or a store that does not answer, never holds the attempt for ever.
    let deadline = tokio::time::Instant::now() + ctx.timeout;
    match bounded(&ctx, deadline, check(cache.as_ref(), &spec, &ctx, &base)).await {
        Ok(Checked::Hit(outcome)) => outcome,
        Ok(Checked::Run(key)) => run_and_save(inner, cache.as_ref(), spec, ctx, key, base).await,
        Ok(Checked::Uncached) => inner.run(ctx).await,
        Err(outcome) => {
            if let Some(e) = &outcome.error {
                ctx.log.line(&format!("dag: {e}"));
            }
            outcome
        }
    }
}

/// What the cache check found.
enum Checked {
    /// A saved result, put back.
    Hit(Outcome),
    /// Run the task and save its result under this key.
    Run(String),
    /// Run the task without the cache (its key could not be made).
    Uncached,
}

async fn check(
    cache: &dyn CacheStore,
    spec: &CacheSpec,
    ctx: &TaskContext,
    base: &Path,
) -> Checked {
    let keyed = {
        let (dag, task, env, upstream, params, secret_params) = (
            ctx.dag.spec.name.clone(),
            ctx.task().clone(),
            ctx.env.clone(),
            ctx.upstream.clone(),
            ctx.dag.spec.params.clone(),
            ctx.secret_params.clone(),
        );
        let (spec, base) = (spec.clone(), base.to_path_buf());
        let abandoned = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Dropped when this attempt stops waiting (a timeout, a stop): the
        // hashing thread then stops too, rather than reading on for nobody.
        let _abandon = AbandonOnDrop(abandoned.clone());
        tokio::task::spawn_blocking(move || {
            key::key(&key::KeyInput {
                abandoned: &abandoned,
                dag: &dag,
                task: &task,
                cache: &spec,
                env: &env,
                upstream: &upstream,
                params: &params,
                secret_params: &secret_params,
                base: &base,
            })
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
    };
    let keyed = match keyed {
        Ok(k) => k,
        Err(e) => {
            ctx.log
                .line(&format!("dag: cache: not used for this attempt: {e}"));
            return Checked::Uncached;
        }
    };
    for w in &keyed.warnings {
        ctx.log.line(&format!("dag: cache: warning: {w}"));
    }
    let key = keyed.key;
    if ctx.no_cache {
        ctx.log.line(&format!(
            "dag: cache: --no-cache: running; the result replaces any saved under {}",
            short(&key)
        ));
    } else {
        match lookup(cache, &key, spec.ttl, base, &ctx.log).await {
            Ok(Some(outcome)) => return Checked::Hit(outcome),
            Ok(None) => ctx.log.line(&format!("dag: cache miss ({})", short(&key))),
            Err(e) => ctx.log.line(&format!(
                "dag: cache: warning: the saved result under {} is unusable ({e}): running the task, its result replaces it",
                short(&key)
            )),
        }
    }
    Checked::Run(key)
}

/// Runs the task and saves a successful result under `key` (until the attempt
/// is stopped: its outcome does not wait for a store that does not answer).
async fn run_and_save(
    inner: Arc<dyn TaskRunner>,
    cache: &dyn CacheStore,
    spec: CacheSpec,
    ctx: TaskContext,
    key: String,
    base: PathBuf,
) -> Outcome {
    let stop = ctx.stop.clone();
    let log = ctx.log.clone();
    let from = std::fs::metadata(log.path()).map_or(0, |m| m.len());
    let (dag, task, run_id) = (
        ctx.dag.spec.name.clone(),
        ctx.task().id.to_string(),
        ctx.run_id.clone(),
    );
    let outcome = inner.run(ctx).await;
    if outcome.status == Status::Success {
        let header = entry::Header {
            key: key.clone(),
            dag,
            task,
            run_id,
            created_ms: Timestamp::now().0,
            exit_code: outcome.exit_code,
            outputs: log.secrets().mask_outputs(outcome.outputs.clone()),
            log: entry::Piece {
                len: 0,
                sha256: String::new(),
            },
            files: Vec::new(),
        };
        let saved = tokio::select! {
            saved = save(cache, header, &spec, &base, &log, from) => saved,
            _ = stop.graceful.cancelled() => Err("stopped while saving".into()),
            _ = stop.hard.cancelled() => Err("stopped while saving".into()),
        };
        match saved {
            Ok(()) => log.line(&format!("dag: cache: result saved ({})", short(&key))),
            Err(e) => log.line(&format!("dag: cache: warning: result not saved: {e}")),
        }
    }
    outcome
}

/// The saved result under `key`, put back: Ok(None) for a miss (none, or
/// expired); an error for an entry that cannot be used (it is then replaced).
async fn lookup(
    cache: &dyn CacheStore,
    key: &str,
    ttl: Option<Duration>,
    base: &Path,
    log: &TaskLog,
) -> Result<Option<Outcome>, String> {
    let Some(mut file) = cache.fetch(key).await? else {
        return Ok(None);
    };
    let (base, log2, want) = (base.to_path_buf(), log.clone(), key.to_string());
    let now = Timestamp::now().0;
    // Dropped when this attempt stops waiting: nothing is put back after that.
    let abandoned = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _abandon = AbandonOnDrop(abandoned.clone());
    let restored = tokio::task::spawn_blocking(move || {
        let header = entry::header(&mut file)?;
        if header.key != want {
            return Err("it is stored under another key".to_string());
        }
        // An entry saved in the future (a clock far ahead) is as good as expired.
        let future = header.created_ms > now.saturating_add(FUTURE_SLACK_MS);
        if future
            || ttl.is_some_and(|ttl| now.saturating_sub(header.created_ms) > ttl.as_millis() as u64)
        {
            return Ok(None);
        }
        entry::verify(&mut file, &header)?;
        if abandoned.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("abandoned".into());
        }
        // The files first, all or none: the log says "hit" only once they are back.
        entry::restore_files(&mut file, &header, &base)?;
        log2.line(&format!(
            "dag: cache hit ({}): the result of run {} (saved {}), not run again",
            short(&header.key),
            header.run_id,
            Timestamp(header.created_ms)
        ));
        entry::restore_log(&mut file, &header, &log2)?;
        Ok(Some(header))
    })
    .await
    .map_err(|e| e.to_string())??;
    let Some(header) = restored else {
        log.line(&format!(
            "dag: cache: the saved result under {} expired",
            short(key)
        ));
        return Ok(None);
    };
    let mut outcome = Outcome::success(header.exit_code).with_outputs(header.outputs);
    outcome.cached = true;
    Ok(Some(outcome))
}

/// Saves a successful execution under its key.
async fn save(
    cache: &dyn CacheStore,
    header: entry::Header,
    spec: &CacheSpec,
    base: &Path,
    log: &TaskLog,
    from: u64,
) -> Result<(), String> {
    let (scratch, patterns, base, log_path) = (
        cache.scratch(),
        spec.outputs.clone(),
        base.to_path_buf(),
        log.path().to_path_buf(),
    );
    let log2 = log.clone();
    let written = tokio::task::spawn_blocking(move || {
        let mut files = Vec::new();
        let mut seen = 0;
        for pattern in &patterns {
            let found = walk::expand(&base, pattern, &mut seen)?;
            if found.is_empty() {
                log2.line(&format!(
                    "dag: cache: warning: `cache.outputs`: `{pattern}` matches no file"
                ));
            }
            for f in found {
                match f {
                    // What a hit could not put back is not saved: a file reached
                    // through a link to a directory (the pattern's fixed part, as
                    // `dist/*` with `dist` a link) would make every hit unusable.
                    // A file a killed restore left half-written is not the task's.
                    walk::Found::File(p)
                        if p.file_name().is_some_and(|n| {
                            n.to_string_lossy().starts_with(entry::SCRATCH_PREFIX)
                        }) => {}
                    walk::Found::File(p) => {
                        match entry::no_links_between(&base, p.parent().unwrap_or(&base)) {
                            Ok(()) => files.push((walk::shown(&base, &p), p)),
                            Err(e) => log2.line(&format!(
                                "dag: cache: warning: {} not saved: {e}",
                                walk::shown(&base, &p)
                            )),
                        }
                    }
                    other => log2.line(&format!(
                        "dag: cache: warning: {} is not a regular file: not saved",
                        walk::shown(&base, other.path())
                    )),
                }
            }
        }
        entry::write(
            &scratch,
            entry::NewEntry {
                header,
                log: Some((&log_path, from)),
                files,
            },
        )
    })
    .await
    .map_err(|e| e.to_string())??;
    let (path, header) = written;
    cache.store(path, header).await
}
