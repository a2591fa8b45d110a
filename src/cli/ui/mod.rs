//! `dag ui`: a web view of the state store, served by the one `dag` binary.
//!
//! Pages are HTML made here (every run fact escaped with [`esc`]); the one style
//! sheet and the one script are embedded and served from `/assets/`, and the
//! Content-Security-Policy of every answer lets a page load nothing from any other
//! host (nor run inline script). Live views poll the store on the server and push
//! "changed" over server-sent events; the page then fetches the part that
//! changed. Retry and cancel run `dag retry` and `dag cancel` themselves, with the
//! store options this server was given.
//!
//! Access: bound to loopback, any local program may read (the `Host` header must
//! name loopback, against DNS rebinding); bound elsewhere, a token is required on
//! every request. Actions are POSTs that must come from the page itself (a custom
//! header no other site can send without the server's consent).

mod actions;
mod dags;
mod pages;
mod request;
mod server;
mod workers;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::args::{NatsArgs, StateArg, UiArgs};
use super::exit::{self, CliError};
use super::setup;
use crate::engine::graph::Dag;
use crate::engine::record::RunRecord;
use crate::engine::runner::Runners;
use crate::engine::store::{StateStore, StoreError};

pub use super::html::esc;

/// The shortest token accepted.
pub const MIN_TOKEN: usize = 16;

/// `dag ui`.
pub fn ui(
    args: UiArgs,
    state: Option<StateArg>,
    state_dir: Option<&Path>,
    nats: &NatsArgs,
    runners: Runners,
) -> Result<u8, CliError> {
    let token = args.token.clone().filter(|t| !t.is_empty());
    if let Some(t) = &token
        && t.chars().count() < MIN_TOKEN
    {
        return Err(CliError::usage(
            format!(
                "the token is {} characters long; it must have at least {MIN_TOKEN}",
                t.chars().count()
            ),
            Some("make one with `openssl rand -hex 16`".into()),
        ));
    }
    if let Some(t) = &token
        && let Some(c) = t
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-._~".contains(*c)))
    {
        return Err(CliError::usage(
            format!(
                "the token holds `{}`; a token is made of letters, digits and - . _ ~ only (it goes in addresses and cookies as it is)",
                c.escape_default()
            ),
            Some("make one with `openssl rand -hex 16`".into()),
        ));
    }
    if !args.bind.ip().is_loopback() && token.is_none() {
        return Err(CliError::usage(
            format!(
                "dag ui bound to {} (not loopback) needs a token",
                args.bind
            ),
            Some(
                "give --token (or DAG_UI_TOKEN) of at least 16 characters, e.g. from `openssl rand -hex 16`; every request must then carry it".into(),
            ),
        ));
    }
    let state = state.unwrap_or(StateArg::File);
    let store = match state {
        StateArg::File => {
            let dir = setup::state_dir(state_dir)?;
            setup::Store::File(crate::backends::file_store::FileStore::open(&dir)?)
        }
        StateArg::Nats => setup::history_store(Some(StateArg::Nats), state_dir, nats)?,
    };
    let runtime = setup::runtime(None)?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(args.bind))
        .map_err(|e| CliError::Infrastructure(format!("cannot listen on {}: {e}", args.bind)))?;
    let bound = listener
        .local_addr()
        .map_err(|e| CliError::Infrastructure(format!("cannot listen on {}: {e}", args.bind)))?;
    let mut global = Vec::new();
    if let StateArg::Nats = state {
        global.extend(["--state".into(), "nats".into()]);
    } else {
        global.extend(["--state".into(), "file".into()]);
        global.push("--state-dir".into());
        global.push(setup::state_dir(state_dir)?.into_os_string());
    }
    global.extend(["--nats".into(), nats.url.clone().into()]);
    if let Some(c) = &nats.creds {
        global.extend(["--nats-creds".into(), c.clone().into_os_string()]);
    }
    if let Some(c) = &nats.ca {
        global.extend(["--nats-ca".into(), c.clone().into_os_string()]);
    }
    let app = Arc::new(App {
        store,
        nats: setup::nats_options(nats),
        token,
        read_only: args.read_only,
        runners,
        exe: std::env::current_exe()
            .map_err(|e| CliError::Infrastructure(format!("cannot find the dag binary: {e}")))?,
        global,
        loads: tokio::sync::Semaphore::new(2),
        records: Mutex::new(Vec::new()),
        dags: Mutex::new(Vec::new()),
        summaries: Mutex::new(crate::engine::Map::default()),
        nats_client: tokio::sync::Mutex::new(None),
    });
    let url = format!("http://{bound}/");
    // The address on standard output (a port of 0 picks a free one), what it
    // serves on standard error.
    super::output::print(&format!("{url}\n"))?;
    super::output::eprint(&format!(
        "dag ui: serving the runs of {} at {url}{}{} (Ctrl-C stops)\n",
        match &app.store {
            setup::Store::File(_) =>
                format!("the file store {}", setup::state_dir(state_dir)?.display()),
            setup::Store::Nats(_) => format!(
                "the NATS store at {}",
                crate::backends::nats::redact(&nats.url)
            ),
        },
        if app.token.is_some() {
            " (open it once with ?token=TOKEN)"
        } else {
            ""
        },
        if app.read_only { ", read-only" } else { "" },
    ));
    runtime.block_on(server::serve(app, listener))?;
    Ok(exit::SUCCESS)
}

/// What every request handler shares.
pub struct App {
    store: setup::Store,
    nats: crate::backends::nats::NatsOptions,
    token: Option<String>,
    read_only: bool,
    runners: Runners,
    /// This program, for `dag retry` and `dag cancel`.
    exe: PathBuf,
    /// The store options those commands are given.
    global: Vec<std::ffi::OsString>,
    /// Records loaded at once (a run of a million tasks takes hundreds of MB).
    loads: tokio::sync::Semaphore,
    /// The records loaded last, newest last, with what they were loaded at.
    records: Mutex<Vec<Cached>>,
    /// The DAGs of runs, by run id and task count (a mapped task's expansion
    /// changes the count).
    dags: Mutex<Vec<(String, usize, RunDag)>>,
    /// What the runs page shows of each run, by id.
    summaries: Mutex<crate::engine::Map<String, Summary>>,
    /// The NATS connection of the workers page, once made, or when and why it
    /// could not be.
    nats_client:
        tokio::sync::Mutex<Option<Result<async_nats::Client, (std::time::Instant, String)>>>,
}

/// The DAG a run ran, or why it cannot be shown.
type RunDag = Arc<Result<Dag, String>>;

/// A loaded record.
struct Cached {
    record: Arc<RunRecord>,
    /// Whether a process drove the run when it was loaded: a run nobody drives
    /// does not change, and is not read again while its version is the same.
    driven: bool,
    /// [`StateStore::run_version`] when it was loaded.
    version: u64,
    /// When it was loaded.
    at: std::time::Instant,
}

/// A run being driven is read at most once in this long, however many pages
/// watch it (a little less than the live views' poll).
const SHARED_FOR: std::time::Duration = std::time::Duration::from_millis(500);

/// At most this many records are kept loaded.
const CACHED_RECORDS: usize = 6;
/// At most this many DAGs are kept parsed.
const CACHED_DAGS: usize = 6;

/// What the runs page shows of a run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    id: String,
    dag: String,
    state: &'static str,
    /// Milliseconds since the Unix epoch.
    created: u64,
    started: Option<u64>,
    ended: Option<u64>,
    tasks: usize,
    /// Task counts by state, in the states' order.
    counts: Vec<(&'static str, usize)>,
    /// A run left unfinished by a process that is gone.
    interrupted: bool,
    #[serde(skip)]
    driven: bool,
    #[serde(skip)]
    version: u64,
}

impl Summary {
    fn of(record: &RunRecord, driven: bool, version: u64) -> Summary {
        let mut counts = super::text::StateCounts::default();
        for t in &record.tasks {
            counts.add(t.state);
        }
        Summary {
            id: record.run_id.clone(),
            dag: record.dag.clone(),
            state: record.state.as_str(),
            created: record.created_at.0,
            started: record.started_at.map(|t| t.0),
            ended: record.ended_at.map(|t| t.0),
            tasks: record.tasks.len(),
            counts: counts.iter().map(|(s, n)| (s.as_str(), n)).collect(),
            // A run a scheduler may take over waits for one: not interrupted.
            interrupted: !record.state.is_terminal() && !driven && record.drive.is_none(),
            driven,
            version,
        }
    }
}

/// A failure to answer: the status and what to say.
pub struct Refusal {
    status: u16,
    message: String,
}

impl Refusal {
    fn new(status: u16, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Refusal {
        Refusal::new(404, message)
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Refusal {
        match e {
            StoreError::NotFound(_) | StoreError::Empty => Refusal::not_found(e.to_string()),
            // With its cause (`is a FIFO`, ...), as the command line says it.
            e => {
                let mut text = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    text.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                Refusal::new(500, text)
            }
        }
    }
}

impl App {
    fn state(&self) -> &dyn StateStore {
        self.store.state()
    }

    /// Runs `f` (which reads the store) off the server's threads.
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&App) -> T + Send + 'static,
    ) -> Result<T, Refusal> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || f(&app))
            .await
            .map_err(|_| Refusal::new(500, "the store read stopped"))
    }

    /// The current record of a run: the one loaded last when nobody drove the run
    /// then nor now and its version is the same, else read again.
    async fn record(self: &Arc<Self>, run_id: &str) -> Result<Arc<RunRecord>, Refusal> {
        if !crate::engine::record::valid_run_id(run_id) {
            return Err(Refusal::not_found(format!(
                "no run `{}`",
                printable_id(run_id)
            )));
        }
        let id = run_id.to_string();
        // The version first: when the store cannot be reached, one timeout (not
        // two) answers.
        let (driven, version) = {
            let id = id.clone();
            self.blocking(move |app| {
                app.state()
                    .run_version(&id)
                    .map(|v| (app.store.is_driven(&id), v))
            })
            .await??
        };
        if let Some(r) = self.cached(run_id, version, driven) {
            return Ok(r);
        }
        let _permit = self
            .loads
            .acquire()
            .await
            .map_err(|_| Refusal::new(500, "shutting down"))?;
        // Loaded by another request while this one waited.
        if let Some(r) = self.cached(run_id, version, driven) {
            return Ok(r);
        }
        let record = {
            let id = id.clone();
            self.blocking(move |app| app.state().load_run(&id))
                .await??
        };
        let record = Arc::new(record);
        if let Ok(mut c) = self.records.lock() {
            c.retain(|x| x.record.run_id != id);
            c.push(Cached {
                record: record.clone(),
                driven,
                version,
                at: std::time::Instant::now(),
            });
            while c.len() > CACHED_RECORDS {
                c.remove(0);
            }
        }
        self.keep_summary(&record, driven, version);
        Ok(record)
    }

    /// The record loaded last, if it is still the run's: loaded when nobody drove
    /// the run and at `version`; or, while a process drives it, loaded less than
    /// [`SHARED_FOR`] ago (all the live views of a run share one read).
    fn cached(&self, run_id: &str, version: u64, driven: bool) -> Option<Arc<RunRecord>> {
        let c = self.records.lock().ok()?;
        c.iter()
            .find(|x| {
                x.record.run_id == run_id
                    && if driven {
                        x.at.elapsed() < SHARED_FOR
                    } else {
                        !x.driven && x.version == version
                    }
            })
            .map(|x| x.record.clone())
    }

    /// The DAG a run ran (from the copy its record keeps), or why it cannot be
    /// shown.
    async fn dag_of(self: &Arc<Self>, record: &Arc<RunRecord>) -> RunDag {
        let key = (record.run_id.clone(), record.tasks.len());
        if let Ok(d) = self.dags.lock()
            && let Some((_, _, dag)) = d.iter().find(|(id, n, _)| *id == key.0 && *n == key.1)
        {
            return dag.clone();
        }
        let r = record.clone();
        let dag = match self
            .blocking(move |app| super::report::dag_of_run(&r, app.runners.clone()))
            .await
        {
            Ok(d) => Arc::new(d),
            Err(e) => Arc::new(Err(e.message)),
        };
        if let Ok(mut d) = self.dags.lock() {
            d.retain(|(id, _, _)| *id != key.0);
            d.push((key.0, key.1, dag.clone()));
            while d.len() > CACHED_DAGS {
                d.remove(0);
            }
        }
        dag
    }

    /// The newest `limit` runs' summaries, newest first: a run is read again only
    /// while a process drives it (or drove it when last read).
    async fn summaries(self: &Arc<Self>, limit: usize) -> Result<Vec<Summary>, Refusal> {
        self.blocking(move |app| app.summaries_now(limit)).await?
    }

    /// Keeps what the runs page shows of a record just read.
    fn remember(&self, record: &RunRecord) {
        let id = &record.run_id;
        if let Ok(version) = self.state().run_version(id) {
            self.keep_summary(record, self.store.is_driven(id), version);
        }
    }

    /// Keeps, and gives, the summary of a record read when its run was `driven`
    /// or not, at `version`.
    fn keep_summary(&self, record: &RunRecord, driven: bool, version: u64) -> Summary {
        let s = Summary::of(record, driven, version);
        if let Ok(mut m) = self.summaries.lock() {
            m.insert(record.run_id.clone(), s.clone());
        }
        s
    }

    /// What is known of a run's summary, without reading the store.
    fn summary_of(&self, run_id: &str) -> Option<Summary> {
        self.summaries.lock().ok()?.get(run_id).cloned()
    }

    fn summaries_now(&self, limit: usize) -> Result<Vec<Summary>, Refusal> {
        let ids = self.state().run_ids()?;
        let mut out = Vec::new();
        for id in ids.iter().rev().take(limit) {
            let known = self
                .summaries
                .lock()
                .ok()
                .and_then(|s| s.get(id.as_str()).cloned());
            let driven = self.store.is_driven(id);
            let Ok(version) = self.state().run_version(id) else {
                continue;
            };
            match known {
                Some(s) if !driven && !s.driven && s.version == version => out.push(s),
                _ => match self.state().load_run(id) {
                    Ok(r) => out.push(self.keep_summary(&r, driven, version)),
                    // One damaged run does not hide the others.
                    Err(_) => continue,
                },
            }
        }
        Ok(out)
    }
}

/// A name from a request, safe to repeat in a message.
fn printable_id(s: &str) -> String {
    crate::engine::text::printable(&super::report::shorten(s, 80))
}
