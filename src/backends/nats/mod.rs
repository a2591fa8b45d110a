//! Distributed execution over NATS JetStream: the layout of streams, consumers and
//! buckets, connecting (URL credentials, token, user/password, creds file, TLS), and
//! creating that layout idempotently.
//!
//! | thing | layout |
//! |---|---|
//! | task queue | stream `DAG_TASKS`, subjects `dag.tasks.<queue>` (`dag.tasks.<queue>.docker` for docker tasks), work-queue retention, file storage, max age 24h, `Nats-Msg-Id` = `<run>.<task>.<attempt>`, `Dag-Token` = the attempt's token |
//! | worker consumers | durable pull consumer `dag-worker-<queue>` (and `dag-worker-<queue>-docker`), explicit ack, AckWait 30s |
//! | results | stream `DAG_RESULTS`, subjects `dag.results.<run>`, `Dag-Proof` = HMAC of the payload keyed by the attempt's token, durable consumer `results-<run>` per run, deleted when the run ends |
//! | heartbeats | KV bucket `dag_workers`, key = worker id |
//! | large payloads | object store `dag_payloads`: a task message or result over the server's max payload, named by the message's `Dag-Object` header |
//! | pools | KV bucket `dag_pools`, key = pool name: its holders and waiters, each with a lease |
//! | cache | object store `dag_cache`: one object per saved task result (`cache:`), named by its key |
//! | logs | stream `DAG_LOGS`, subjects `dag.logs.<run>.<task>.<attempt>` |
//! | cancel | `dag.control.<run>` |

pub mod cache;
pub mod gate;
pub mod kv_store;
pub mod modules;
pub mod pools;
pub mod scheduler;
pub mod transport;
pub mod wire;
pub mod worker;

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};

/// The object store `config.bucket`, made with `config` (and `replicas` copies)
/// when missing; made by another process at the same moment is found too.
pub async fn object_store(
    js: &jetstream::Context,
    config: jetstream::object_store::Config,
    replicas: Replicas,
) -> Result<jetstream::object_store::ObjectStore, NatsError> {
    let bucket = config.bucket.clone();
    if let Ok(store) = js.get_object_store(&bucket).await {
        return Ok(store);
    }
    let created = js
        .create_object_store(jetstream::object_store::Config {
            storage: stream::StorageType::File,
            num_replicas: replicas.count(),
            ..config
        })
        .await;
    match created {
        Ok(store) => Ok(store),
        Err(e) => js
            .get_object_store(&bucket)
            .await
            .map_err(|_| creating(&format!("the {bucket} bucket"), replicas, e)),
    }
}

/// This process as leases and holders name it: `<host>-<pid>-<random>`.
pub fn process_name() -> String {
    format!(
        "{}-{}-{:04x}",
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default(),
        std::process::id(),
        fastrand::u16(..)
    )
}

/// Stream of task messages.
pub const TASKS_STREAM: &str = "DAG_TASKS";
/// Stream of results.
pub const RESULTS_STREAM: &str = "DAG_RESULTS";
/// Stream of task output.
pub const LOGS_STREAM: &str = "DAG_LOGS";
/// Bucket of worker heartbeats.
pub const WORKERS_BUCKET: &str = "dag_workers";
/// How long messages stay in the task and result streams.
pub const QUEUE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long task output stays in `DAG_LOGS`.
pub const LOGS_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The environment variable naming this process's inbox prefix (default `_INBOX`).
pub const INBOX_PREFIX_VAR: &str = "DAG_NATS_INBOX_PREFIX";

/// Where and how to connect.
#[derive(Clone, Debug, Default)]
pub struct NatsOptions {
    /// Server URL(s), comma-separated: `nats://`, `tls://`, with optional
    /// `user:password@` or `token@`.
    pub url: String,
    /// A `.creds` file (JWT and NKey seed).
    pub creds: Option<PathBuf>,
    /// A CA certificate (PEM) to trust for TLS.
    pub ca: Option<PathBuf>,
    /// `--replicas`: the copies a JetStream cluster keeps of each stream and bucket
    /// dag creates (see [`Replicas`]).
    pub replicas: Replicas,
}

/// The most copies JetStream keeps of a stream.
pub const MAX_REPLICAS: usize = 5;

/// How many copies of each stream, consumer and bucket dag creates (`--replicas`,
/// `DAG_NATS_REPLICAS`, config key `nats_replicas`), and whether that was asked
/// for. Consumers inherit their stream's count. An existing stream or bucket
/// keeps the count it has: dag never changes it, because processes of one
/// deployment started with different settings would otherwise change it back
/// and forth, and because moving copies between servers is an operator's
/// decision. When the count was asked for and an existing one differs, dag warns
/// once per process, naming the stream and the command that changes it; with
/// the default (not asked for) any existing count is taken as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replicas {
    /// The count asked for, 1 to [`MAX_REPLICAS`]; `None`: the default, 1.
    pub asked: Option<usize>,
}

impl Replicas {
    /// The count asked for.
    pub fn new(count: usize) -> Replicas {
        Replicas { asked: Some(count) }
    }

    /// The count new streams and buckets are created with.
    pub fn count(&self) -> usize {
        self.asked.unwrap_or(1)
    }
}

/// Checks a replica count given as text: a whole number from 1 to
/// [`MAX_REPLICAS`].
pub fn parse_replicas(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_REPLICAS).contains(&n) => Ok(n),
        _ => Err(format!(
            "a replica count is a whole number from 1 to {MAX_REPLICAS} (JetStream keeps at most {MAX_REPLICAS} copies; 1 for a single server, 3 for a 3-node cluster)"
        )),
    }
}

/// Timing of the protocol. The defaults are the documented ones; tests shorten
/// them through `DAG_NATS_ACK_WAIT` and `DAG_NATS_HEARTBEAT`.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How long a delivered task may go without an ack or a progress ack before it
    /// is delivered again.
    pub ack_wait: Duration,
    /// How often a worker writes its heartbeat.
    pub heartbeat: Duration,
    /// Deliveries after which a task fails instead of being delivered again.
    pub max_deliveries: u64,
}

impl Timing {
    /// The defaults (AckWait 30s, heartbeat 10s, 5 deliveries), with environment
    /// overrides.
    pub fn from_env() -> Timing {
        let duration = |var: &str, default: u64| {
            std::env::var(var)
                .ok()
                .and_then(|v| crate::engine::text::parse_duration(&v).ok())
                .unwrap_or(Duration::from_secs(default))
        };
        Timing {
            ack_wait: duration("DAG_NATS_ACK_WAIT", 30),
            heartbeat: duration("DAG_NATS_HEARTBEAT", 10),
            max_deliveries: std::env::var("DAG_NATS_MAX_DELIVERIES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(5),
        }
    }

    /// A worker whose heartbeat is older than this is dead.
    pub fn dead_after(&self) -> Duration {
        self.heartbeat * 3
    }

    /// How often a running task's message gets a progress ack.
    pub fn progress_every(&self) -> Duration {
        (self.ack_wait / 3).max(Duration::from_millis(100))
    }
}

/// A problem with the NATS server: unreachable, refused, or misconfigured.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// Cannot connect.
    #[error("cannot connect to NATS at {url}: {detail}")]
    Connect {
        /// The URL, without credentials.
        url: String,
        /// Why.
        detail: String,
    },
    /// A JetStream or KV operation failed.
    #[error("NATS: {0}")]
    Op(String),
    /// A stream, consumer or bucket exists with another configuration.
    #[error("NATS: {0}")]
    Mismatch(String),
    /// A queue's consumer does not exist and this identity may not create it.
    #[error("NATS: {0}")]
    Uncreatable(String),
    /// The server refused a request (a permission violation).
    #[error("NATS: {0}")]
    Refused(String),
    /// A worker name held by a live worker.
    #[error("{0}")]
    InUse(String),
    /// A setting of the environment is invalid (a usage error).
    #[error("{0}")]
    Setting(String),
    /// The server URL is malformed (a usage error, not an unreachable server).
    #[error("invalid NATS URL `{url}`: {detail}")]
    Url {
        /// The URL, without credentials.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
}

/// Checks an inbox prefix from [`INBOX_PREFIX_VAR`]: subject tokens separated by
/// dots, none empty, with no wildcard (`*`, `>`) or white space.
pub fn check_inbox_prefix(prefix: &str) -> Result<(), NatsError> {
    let bad = prefix.split('.').find(|t| {
        t.is_empty()
            || t.chars()
                .any(|c| c == '*' || c == '>' || c.is_whitespace() || c.is_control())
    });
    match bad {
        None => Ok(()),
        Some(token) => Err(NatsError::Setting(format!(
            "{INBOX_PREFIX_VAR}=`{}` is not a valid subject prefix: {} (use dot-separated tokens without wildcards or spaces, e.g. `_INBOX_worker`)",
            wire::excerpt(prefix),
            if token.is_empty() {
                "it has an empty token".to_string()
            } else {
                format!("token `{}` has a wildcard or a space", wire::excerpt(token))
            }
        ))),
    }
}

/// Checks every comma-separated server URL of `--nats` (`nats://`, `tls://`,
/// `ws://`, `wss://`, or a bare `host:port`) before connecting.
pub fn check_url(url: &str) -> Result<(), NatsError> {
    for u in url.split(',') {
        if u.trim().is_empty() {
            return Err(NatsError::Url {
                url: redact(url),
                detail: "a server URL is empty".into(),
            });
        }
        let addr = u
            .trim()
            .parse::<async_nats::ServerAddr>()
            .map_err(|e| NatsError::Url {
                url: redact(u.trim()),
                detail: e.to_string(),
            })?;
        if addr.host().is_empty() {
            return Err(NatsError::Url {
                url: redact(u.trim()),
                detail: "no host".into(),
            });
        }
    }
    Ok(())
}

/// The URL with any password or token removed, for messages.
pub fn redact(url: &str) -> String {
    url.split(',')
        .map(crate::engine::secrets::redact_url)
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether this process's last connection event was losing a connection to
/// NATS (not yet connected again): a request that timed out is then not tried
/// again (see [`kv_store::patiently`]).
static CONNECTION_LOST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn connection_lost() -> bool {
    CONNECTION_LOST.load(std::sync::atomic::Ordering::SeqCst)
}

/// How many times this process's connections to NATS came back after being
/// lost.
static RECONNECTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times this process's connections to NATS came back after being
/// lost (the `dag_nats_reconnects_total` metric).
pub fn reconnects() -> u64 {
    RECONNECTS.load(std::sync::atomic::Ordering::SeqCst)
}

/// Connects, failing fast (5 s) when the server is unreachable.
pub async fn connect(options: &NatsOptions, name: &str) -> Result<async_nats::Client, NatsError> {
    connect_watched(options, name, None).await
}

/// Connects, and reports losing and regaining the connection to `warn` (the client
/// reconnects by itself, with backoff).
pub async fn connect_watched(
    options: &NatsOptions,
    name: &str,
    warn: Option<scheduler::Warn>,
) -> Result<async_nats::Client, NatsError> {
    check_url(&options.url)?;
    let fail = |detail: String| NatsError::Connect {
        url: redact(&options.url),
        detail,
    };
    let mut connect = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None);
    let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = redact(&options.url);
    connect = connect.event_callback(move |event| {
        let (warn, lost, url) = (warn.clone(), lost.clone(), url.clone());
        let dropped = dropped.clone();
        async move {
            use std::sync::atomic::Ordering;
            let say = |message: &str| match &warn {
                Some(warn) => warn(message),
                None => eprintln_safe(&format!("dag: warning: {message}")),
            };
            match event {
                async_nats::Event::Disconnected => {
                    CONNECTION_LOST.store(true, Ordering::SeqCst);
                    dropped.store(true, Ordering::SeqCst);
                }
                async_nats::Event::Connected => {
                    CONNECTION_LOST.store(false, Ordering::SeqCst);
                    if dropped.swap(false, Ordering::SeqCst) {
                        RECONNECTS.fetch_add(1, Ordering::SeqCst);
                    }
                }
                _ => {}
            }
            match event {
                async_nats::Event::Disconnected if warn.is_some() => {
                    lost.store(true, Ordering::SeqCst);
                    say(&format!(
                        "lost the connection to NATS at {url}; reconnecting"
                    ));
                }
                async_nats::Event::Connected
                    if warn.is_some() && lost.swap(false, Ordering::SeqCst) =>
                {
                    say(&format!("connected to NATS at {url} again"));
                }
                async_nats::Event::ServerError(async_nats::ServerError::Other(e)) => {
                    if let Some(refusal) = refused(&e) {
                        say(&refusal);
                    }
                }
                _ => {}
            }
        }
    });
    // Credentials and CA files are read capped, and only when they are regular
    // files: `/dev/zero` or a FIFO named there must be an error, not a hang.
    const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;
    let read_key_file = |path: &std::path::PathBuf, what: &str| {
        let path = path.clone();
        let what = what.to_string();
        async move {
            let shown = path.display().to_string();
            tokio::task::spawn_blocking(move || {
                crate::engine::capped_read::read_file_capped(&path, MAX_KEY_FILE_BYTES)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| format!("cannot read {what} {shown}: {e}"))
        }
    };
    // Replies (request answers, fetched messages) come to the client's inbox; with
    // a prefix of its own, an identity may be allowed to subscribe to its own
    // replies only, not to every client's (`_INBOX.>`).
    if let Some(prefix) = std::env::var(INBOX_PREFIX_VAR)
        .ok()
        .filter(|p| !p.is_empty())
    {
        check_inbox_prefix(&prefix)?;
        connect = connect.custom_inbox_prefix(prefix);
    }
    if let Some(creds) = &options.creds {
        let bytes = read_key_file(creds, "credentials file")
            .await
            .map_err(fail)?;
        let text = String::from_utf8_lossy(&bytes);
        connect = connect.credentials(&text).map_err(|e| {
            fail(format!(
                "cannot read credentials file {}: {e}",
                creds.display()
            ))
        })?;
    }
    if let Some(ca) = &options.ca {
        read_key_file(ca, "CA file").await.map_err(fail)?;
        connect = connect.add_root_certificates(ca.clone()).require_tls(true);
    }
    if options.url.starts_with("tls://") {
        connect = connect.require_tls(true);
    }
    // Credentials in the URL: `user:password@` or `token@`.
    if let Some(userinfo) = options
        .url
        .split(',')
        .next()
        .and_then(|u| u.split_once("://"))
        .and_then(|(_, rest)| rest.rsplit_once('@'))
        .map(|(info, _)| info)
    {
        connect = match userinfo.split_once(':') {
            Some((user, pass)) => connect.user_and_password(
                crate::engine::text::percent_decode(user),
                crate::engine::text::percent_decode(pass),
            ),
            None => connect.token(crate::engine::text::percent_decode(userinfo)),
        };
    }
    let urls: Vec<async_nats::ServerAddr> = options
        .url
        .split(',')
        .map(|u| {
            u.trim()
                .parse::<async_nats::ServerAddr>()
                .map_err(|e| fail(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    connect.connect(urls).await.map_err(|e| fail(e.to_string()))
}

/// Writes a line to stderr, ignoring a closed stream (no panic, unlike `eprintln!`).
pub(crate) fn eprintln_safe(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// The permission violations the server reported to this process, in order.
static REFUSALS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// How many permission violations the server has reported, repeats included.
static REFUSED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs `op`, but ends it with the refusal as the error if the server reports a
/// permission violation meanwhile: the refused request gets no reply and would
/// otherwise wait for its timeout (10 s a request). For setup steps that nothing
/// refused would be tolerated in.
pub async fn unless_refused<T>(
    op: impl Future<Output = Result<T, NatsError>>,
) -> Result<T, NatsError> {
    use std::sync::atomic::Ordering;
    let before = REFUSED.load(Ordering::SeqCst);
    let refused = async {
        while REFUSED.load(Ordering::SeqCst) == before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        result = op => result,
        // The refusal itself is named as the cause when the error is shown.
        () = refused => Err(NatsError::Refused(
            "the server refused a request this step needs".into(),
        )),
    }
}

/// Records a permission violation the server reported (the operation behind it then
/// waits for its timeout, as the server sends no reply) and returns the warning to
/// show, once per distinct violation; other server errors give `None`.
fn refused(server_error: &str) -> Option<String> {
    if !server_error
        .to_ascii_lowercase()
        .contains("permissions violation")
    {
        return None;
    }
    let mut seen = REFUSALS.lock().unwrap_or_else(|e| e.into_inner());
    REFUSED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if seen.iter().any(|s| s == server_error) {
        return None;
    }
    seen.push(server_error.to_string());
    Some(format!("{}; {REFUSAL_HELP}", refusal_cause(server_error)))
}

/// What to do about a refused permission.
pub const REFUSAL_HELP: &str = "give it the permissions deploy/nats-server.conf shows";

/// A permission violation the server reported, as a cause.
pub fn refusal_cause(server_error: &str) -> String {
    format!("the NATS server refused this user: {server_error}")
}

/// The last permission violation the server reported, if any: the likely cause of
/// a NATS operation that timed out.
pub fn last_refusal() -> Option<String> {
    REFUSALS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .last()
        .cloned()
}

fn op<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> NatsError + '_ {
    move |e| NatsError::Op(format!("{what}: {e}"))
}

/// The streams and buckets dag uses, created if missing with `replicas` copies; an
/// existing one with a configuration dag cannot work with is reported, never
/// changed (one with another replica count is warned about, see [`Replicas`]).
pub async fn ensure_layout(js: &jetstream::Context, replicas: Replicas) -> Result<(), NatsError> {
    // Task messages are de-duplicated by id for as long as they may be queued,
    // so that a driver taking a run over publishes again every attempt it did
    // not see handed out, and only those never published go out (see
    // `scheduler`); results need the default window only.
    let queue = |name: &str, subjects: &str, window: Duration| stream::Config {
        name: name.into(),
        subjects: vec![subjects.into()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        max_age: QUEUE_MAX_AGE,
        duplicate_window: window,
        num_replicas: replicas.count(),
        ..Default::default()
    };
    let wanted = [
        queue(TASKS_STREAM, "dag.tasks.>", QUEUE_MAX_AGE),
        queue(RESULTS_STREAM, "dag.results.>", Duration::from_secs(120)),
        stream::Config {
            name: LOGS_STREAM.into(),
            subjects: vec!["dag.logs.>".into()],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            max_age: LOGS_MAX_AGE,
            num_replicas: replicas.count(),
            ..Default::default()
        },
    ];
    for config in wanted {
        let name = config.name.clone();
        // Waited out while a replicated stream elects its leader.
        let mut s = kv_store::patiently(|| js.get_or_create_stream(config.clone()))
            .await
            .map_err(|e| creating(&format!("stream {name}"), replicas, e))?;
        let info = s
            .info()
            .await
            .map_err(op(&format!("cannot read stream {name}")))?;
        let have = &info.config;
        let mut diffs = Vec::new();
        if have.subjects != config.subjects {
            diffs.push(format!(
                "subjects {:?} (dag needs {:?})",
                have.subjects, config.subjects
            ));
        }
        if have.retention != config.retention {
            diffs.push(format!(
                "retention {:?} (dag needs {:?})",
                have.retention, config.retention
            ));
        }
        if have.storage != config.storage {
            diffs.push(format!(
                "storage {:?} (dag needs {:?})",
                have.storage, config.storage
            ));
        }
        if !diffs.is_empty() {
            return Err(NatsError::Mismatch(format!(
                "stream {name} exists with another configuration: {}; dag does not change it: fix or delete the stream",
                diffs.join(", ")
            )));
        }
        warn_replicas(
            &format!("stream {name}"),
            &name,
            have.num_replicas,
            replicas,
        );
    }
    workers_bucket(js, replicas).await?;
    transport::payloads_bucket(js, replicas).await?;
    for (shown, stream) in [
        (
            format!("bucket {WORKERS_BUCKET}"),
            format!("KV_{WORKERS_BUCKET}"),
        ),
        (
            format!("object store {}", transport::PAYLOADS_BUCKET),
            format!("OBJ_{}", transport::PAYLOADS_BUCKET),
        ),
    ] {
        check_bucket_replicas(js, &shown, &stream, replicas).await;
    }
    Ok(())
}

/// The error of creating `what` with `replicas` copies: a count the server cannot
/// give (more than its cluster has, or more than 1 on a single server) is
/// explained.
pub(crate) fn creating(what: &str, replicas: Replicas, e: impl std::fmt::Display) -> NatsError {
    let e = e.to_string();
    let n = replicas.count();
    let hint = if n > 1
        && (e.contains("10074")
            || e.contains("insufficient resources")
            || e.contains("replicas > 1 not supported")
            || e.contains("no suitable peers"))
    {
        format!(
            " (--replicas {n} needs a JetStream cluster of at least {n} servers; see \"Distributed runs\" in the README)"
        )
    } else {
        String::new()
    };
    NatsError::Op(format!(
        "cannot create {what} with {n} replica{}: {e}{hint}",
        if n == 1 { "" } else { "s" }
    ))
}

/// Streams already warned about by [`warn_replicas`] in this process (a `dag run`
/// with `--state nats` ensures the layout twice).
static REPLICA_WARNINGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The warning about an existing stream (`shown`: it, or the bucket it holds) whose
/// replica count is not the one asked for, if it differs and was asked for.
pub fn replicas_warning(
    shown: &str,
    stream: &str,
    has: usize,
    replicas: Replicas,
) -> Option<String> {
    let asked = replicas.asked?;
    // The server reports 0 for a stream created without a count: one copy.
    let has = has.max(1);
    if has == asked {
        return None;
    }
    Some(format!(
        "{shown} exists with {has} replica{}, not the {asked} --replicas asks for; dag does not change it (`nats stream edit {stream} --replicas {asked}` does, on a cluster of at least {asked} servers)",
        if has == 1 { "" } else { "s" }
    ))
}

/// Warns once per process about a stream with another replica count than asked.
fn warn_replicas(shown: &str, stream: &str, has: usize, replicas: Replicas) {
    let Some(warning) = replicas_warning(shown, stream, has, replicas) else {
        return;
    };
    let mut said = REPLICA_WARNINGS.lock().unwrap_or_else(|e| e.into_inner());
    if said.iter().any(|s| s == stream) {
        return;
    }
    said.push(stream.to_string());
    eprintln_safe(&format!("dag: warning: {warning}"));
}

/// Checks the replica count of the stream behind an existing bucket (`KV_<bucket>`
/// or `OBJ_<bucket>`), warning when it is not the one asked for. A stream that
/// cannot be read is not an error here: using the bucket will say what is wrong.
pub(crate) async fn check_bucket_replicas(
    js: &jetstream::Context,
    shown: &str,
    stream: &str,
    replicas: Replicas,
) {
    if replicas.asked.is_none() {
        return;
    }
    if let Ok(mut s) = js.get_stream(stream).await
        && let Ok(info) = s.info().await
    {
        warn_replicas(shown, stream, info.config.num_replicas, replicas);
    }
}

/// How long a heartbeat stays in the bucket. `dag workers` shows a worker dead once
/// its heartbeat is older than the dead-after time (30 s by default) and stops
/// listing it at twice that.
pub const HEARTBEAT_MAX_AGE: Duration = Duration::from_secs(60);

/// The heartbeat bucket, created with `replicas` copies if missing.
pub async fn workers_bucket(
    js: &jetstream::Context,
    replicas: Replicas,
) -> Result<jetstream::kv::Store, NatsError> {
    if let Ok(kv) = js.get_key_value(WORKERS_BUCKET).await {
        return Ok(kv);
    }
    let created = js
        .create_key_value(jetstream::kv::Config {
            bucket: WORKERS_BUCKET.into(),
            history: 1,
            max_age: HEARTBEAT_MAX_AGE,
            storage: stream::StorageType::File,
            num_replicas: replicas.count(),
            ..Default::default()
        })
        .await;
    match created {
        Ok(kv) => Ok(kv),
        // Another process created it at the same moment.
        Err(e) => js
            .get_key_value(WORKERS_BUCKET)
            .await
            .map_err(|_| creating(&format!("the {WORKERS_BUCKET} bucket"), replicas, e)),
    }
}

/// One lane's depth, as its shared worker consumer tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueDepth {
    /// The queue's name.
    pub queue: String,
    /// Whether it is the queue's Docker half (`dag worker --docker` takes it).
    pub docker: bool,
    /// The GPUs each of its tasks needs (0: none; see [`Lane`]).
    pub gpus: u32,
    /// Messages no worker took yet.
    pub waiting: u64,
    /// Messages taken and not yet acknowledged (running).
    pub running: u64,
}

impl QueueDepth {
    /// Its lane.
    pub fn lane(&self) -> Lane {
        Lane {
            queue: self.queue.clone(),
            docker: self.docker,
            gpus: self.gpus,
        }
    }

    /// `queue`, or `queue (docker, 2 GPUs)`.
    pub fn shown(&self) -> String {
        self.lane().shown()
    }
}

/// Tasks waiting in and running from each queue (per durable worker consumer).
pub async fn queue_depths(js: &jetstream::Context) -> Result<Vec<QueueDepth>, NatsError> {
    let stream = js
        .get_stream(TASKS_STREAM)
        .await
        .map_err(|e| NatsError::Op(format!("cannot open {TASKS_STREAM}: {e}")))?;
    let mut out = Vec::new();
    let mut consumers = stream.consumers();
    while let Some(info) = futures_util::StreamExt::next(&mut consumers).await {
        let Ok(info) = info else { continue };
        let Some(lane) = Lane::of_consumer(&info.name) else {
            continue;
        };
        out.push(QueueDepth {
            queue: lane.queue,
            docker: lane.docker,
            gpus: lane.gpus,
            waiting: info.num_pending,
            running: info.num_ack_pending as u64,
        });
    }
    out.sort_by_key(QueueDepth::lane);
    Ok(out)
}

/// One queue's figures for operators and autoscalers (`dag queues`, the
/// `dag_queue_*` metrics): its depth and the live workers that serve it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueFigures {
    /// Its depth.
    pub depth: QueueDepth,
    /// Live workers serving it (for a Docker half, those started with `--docker`;
    /// for tasks needing N GPUs, those with at least N).
    pub workers: usize,
    /// Their slots.
    pub slots: usize,
}

impl QueueFigures {
    /// Tasks waiting that no live worker can take: all of those waiting when
    /// none serves the queue.
    pub fn unserved(&self) -> u64 {
        if self.workers == 0 {
            self.depth.waiting
        } else {
            0
        }
    }
}

/// Every queue's figures: each queue a worker consumer exists for (a queue
/// some worker served once), and each queue a live worker serves.
pub async fn queue_figures(
    js: &jetstream::Context,
    timing: &Timing,
) -> Result<Vec<QueueFigures>, NatsError> {
    let mut depths = queue_depths(js).await?;
    let live = scheduler::live_workers(js, timing).await;
    for w in &live {
        for q in &w.queues {
            for docker in [false, true] {
                if (docker && !w.docker)
                    || depths
                        .iter()
                        .any(|d| d.queue == *q && d.docker == docker && d.gpus == 0)
                {
                    continue;
                }
                depths.push(QueueDepth {
                    queue: q.clone(),
                    docker,
                    gpus: 0,
                    waiting: 0,
                    running: 0,
                });
            }
        }
    }
    depths.sort_by_key(QueueDepth::lane);
    Ok(depths
        .into_iter()
        .map(|depth| {
            let lane = depth.lane();
            let serving: Vec<_> = live.iter().filter(|w| lane.served_by(w)).collect();
            QueueFigures {
                workers: serving.len(),
                slots: serving.iter().map(|w| w.slots).sum(),
                depth,
            }
        })
        .collect())
}

/// Sets the `dag_queue_*` gauges of `metrics` to `figures` (queues gone are
/// forgotten).
pub fn queue_metrics(metrics: &crate::metrics::Registry, figures: &[QueueFigures]) {
    const WAITING: &str = "dag_queue_waiting_tasks";
    const RUNNING: &str = "dag_queue_running_tasks";
    const WORKERS: &str = "dag_queue_live_workers";
    const UNSERVED: &str = "dag_queue_unserved_tasks";
    for name in [WAITING, RUNNING, WORKERS, UNSERVED] {
        metrics.clear(name);
    }
    for f in figures {
        let docker = if f.depth.docker { "true" } else { "false" };
        let gpus = f.depth.gpus.to_string();
        // A lane of GPU tasks is told by a `gpus` label; the others keep the
        // labels they always had.
        let mut labels = vec![("queue", f.depth.queue.as_str()), ("docker", docker)];
        if f.depth.gpus > 0 {
            labels.push(("gpus", gpus.as_str()));
        }
        let labels = labels.as_slice();
        metrics.set(
            WAITING,
            "Task messages waiting in the queue for a worker.",
            labels,
            f.depth.waiting as f64,
        );
        metrics.set(
            RUNNING,
            "Task messages taken by workers and not yet acknowledged.",
            labels,
            f.depth.running as f64,
        );
        metrics.set(
            WORKERS,
            "Live workers serving the queue.",
            labels,
            f.workers as f64,
        );
        metrics.set(
            UNSERVED,
            "Tasks waiting in a queue no live worker serves (they wait until one comes).",
            labels,
            f.unserved() as f64,
        );
    }
}

/// The message id a task message is published under: one per attempt, so that
/// the task stream drops the same attempt handed out again (by a retried
/// publish, or by a driver that took the run over) as a duplicate.
pub fn task_message_id(run_id: &str, task: &str, attempt: u32) -> String {
    format!("{run_id}.{task}.{attempt}")
}

/// Whether a task message id (see [`task_message_id`]) is one of `run_id`'s.
pub fn is_task_message_of(id: &str, run_id: &str) -> bool {
    id.strip_prefix(run_id)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// Takes a run's task messages out of the task queue (those waiting, and those
/// a worker holds: its result is not wanted), with the payloads they keep in
/// the object store; returns how many. For a run that ends while no process
/// drives it (`dag cancel`), whose messages no driver takes back. Reads the
/// queue one message at a time, so it stops after `limit`.
pub async fn withdraw_run_tasks(
    js: &jetstream::Context,
    run_id: &str,
    limit: Duration,
) -> Result<usize, NatsError> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut withdrawn = 0;
    let scan = async {
        let stream = js
            .get_stream(TASKS_STREAM)
            .await
            .map_err(|e| NatsError::Op(format!("cannot open {TASKS_STREAM}: {e}")))?;
        let mut next = 1;
        loop {
            let msg = match stream
                .get_first_raw_message_by_subject("dag.tasks.>", next)
                .await
            {
                Ok(m) => m,
                Err(e) if e.kind() == jetstream::stream::RawMessageErrorKind::NoMessageFound => {
                    return Ok(());
                }
                Err(e) => return Err(NatsError::Op(format!("cannot read {TASKS_STREAM}: {e}"))),
            };
            next = msg.sequence + 1;
            let id = msg
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .map(|v| v.as_str());
            if !id.is_some_and(|id| is_task_message_of(id, run_id)) {
                continue;
            }
            match stream.delete_message(msg.sequence).await {
                Ok(_) => {}
                // Gone meanwhile (a worker finished it): as good.
                Err(e)
                    if matches!(e.kind(), jetstream::stream::DeleteMessageErrorKind::JetStream(j)
                        if j.error_code() == jetstream::ErrorCode::NO_MESSAGE_FOUND) =>
                {
                    continue;
                }
                Err(e) => {
                    return Err(NatsError::Op(format!(
                        "cannot delete message {} of {TASKS_STREAM}: {e}",
                        msg.sequence
                    )));
                }
            }
            transport::discard(js, Some(&msg.headers)).await;
            withdrawn += 1;
        }
    };
    let scanned = tokio::time::timeout_at(deadline, scan).await;
    let partly = |e: String| {
        NatsError::Op(format!(
            "{e} (after taking {withdrawn} of its messages out)"
        ))
    };
    match scanned {
        Ok(Ok(())) => Ok(withdrawn),
        Ok(Err(NatsError::Op(e))) => Err(partly(e)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(partly(format!(
            "reading {TASKS_STREAM} took longer than {}",
            humantime::format_duration(limit)
        ))),
    }
}

pub fn task_subject(lane: &Lane) -> String {
    let mut s = format!("dag.tasks.{}", lane.queue);
    if lane.docker {
        s.push_str(".docker");
    }
    if lane.gpus > 0 {
        s.push_str(&format!(".gpus{}", lane.gpus));
    }
    s
}

/// Durable consumer name of `lane`.
pub fn consumer_name(lane: &Lane) -> String {
    let mut s = format!("dag-worker-{}", lane.queue);
    if lane.docker {
        s.push_str("-docker");
    }
    if lane.gpus > 0 {
        s.push_str(&format!("-gpus{}", lane.gpus));
    }
    s
}

/// The part of a queue a task message goes to, each with its own subject and
/// shared worker consumer: docker tasks apart (only `dag worker --docker` takes
/// them), and tasks with `gpus: N` apart by N (only workers with at least N GPUs
/// take them, each only while N of its GPUs are free: so no worker takes a task
/// it cannot run, and none is handed back).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane {
    /// The queue's name.
    pub queue: String,
    /// Docker tasks.
    pub docker: bool,
    /// GPUs each of its tasks needs (0: none).
    pub gpus: u32,
}

impl Lane {
    /// The lane of `task`.
    pub fn of(task: &crate::engine::spec::TaskSpec) -> Lane {
        Lane {
            queue: task.queue.clone(),
            docker: matches!(task.kind, crate::engine::spec::TaskKind::Docker(_)),
            gpus: task.gpus,
        }
    }

    /// The lane whose consumer is named `name` (see [`consumer_name`]).
    pub fn of_consumer(name: &str) -> Option<Lane> {
        let mut rest = name.strip_prefix("dag-worker-")?;
        let mut gpus = 0;
        if let Some((head, n)) = rest.rsplit_once("-gpus")
            && let Ok(n) = n.parse::<u32>()
            && n > 0
        {
            gpus = n;
            rest = head;
        }
        let (queue, docker) = match rest.strip_suffix("-docker") {
            Some(q) => (q, true),
            None => (rest, false),
        };
        Some(Lane {
            queue: queue.to_string(),
            docker,
            gpus,
        })
    }

    /// Whether the worker whose heartbeat is `w` takes this lane's tasks.
    pub fn served_by(&self, w: &wire::Heartbeat) -> bool {
        w.queues.contains(&self.queue) && (w.docker || !self.docker) && w.gpus >= self.gpus as usize
    }

    /// What the worker flags that serve it are: `--queue q --docker --gpus 2`.
    pub fn flags(&self) -> String {
        let mut s = format!("--queue {}", self.queue);
        if self.docker {
            s.push_str(" --docker");
        }
        if self.gpus > 0 {
            s.push_str(&format!(" --gpus {}", self.gpus));
        }
        s
    }

    /// `queue`, or `queue (docker, 2 GPUs)`.
    pub fn shown(&self) -> String {
        let mut parts = Vec::new();
        if self.docker {
            parts.push("docker".to_string());
        }
        if self.gpus > 0 {
            parts.push(format!(
                "{} GPU{}",
                self.gpus,
                if self.gpus == 1 { "" } else { "s" }
            ));
        }
        if parts.is_empty() {
            self.queue.clone()
        } else {
            format!("{} ({})", self.queue, parts.join(", "))
        }
    }
}

/// The configuration of a lane's shared pull consumer.
pub fn queue_consumer_config(lane: &Lane, timing: &Timing) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(consumer_name(lane)),
        filter_subject: task_subject(lane),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: timing.ack_wait,
        // Deliveries are counted by the worker, which fails the task past the limit
        // with a reason; the server must not drop the message silently first.
        max_deliver: -1,
        max_ack_pending: QUEUE_MAX_ACK_PENDING,
        ..Default::default()
    }
}

/// The most task messages of one queue handed out and not yet acknowledged (the
/// server's default, set explicitly so that it can be checked).
pub const QUEUE_MAX_ACK_PENDING: i64 = 1000;

/// The first field of an existing queue consumer's configuration that differs from
/// what dag relies on, as `field (has X, dag needs Y)`.
pub fn consumer_difference(
    have: &consumer::Config,
    want: &consumer::pull::Config,
) -> Option<String> {
    let differs = |field: &str, have: &dyn std::fmt::Debug, want: &dyn std::fmt::Debug| {
        Some(format!("{field} (it has {have:?}, dag needs {want:?})"))
    };
    if have.ack_policy != want.ack_policy {
        return differs("ack_policy", &have.ack_policy, &want.ack_policy);
    }
    if have.ack_wait != want.ack_wait {
        return differs("ack_wait", &have.ack_wait, &want.ack_wait);
    }
    if have.filter_subject != want.filter_subject || !have.filter_subjects.is_empty() {
        return differs(
            "filter_subject",
            &(&have.filter_subject, &have.filter_subjects),
            &want.filter_subject,
        );
    }
    if have.max_deliver != want.max_deliver && !(have.max_deliver <= 0 && want.max_deliver <= 0) {
        return differs("max_deliver", &have.max_deliver, &want.max_deliver);
    }
    if have.headers_only {
        return differs("headers_only", &true, &false);
    }
    if have.deliver_policy != consumer::DeliverPolicy::All {
        return differs(
            "deliver_policy",
            &have.deliver_policy,
            &consumer::DeliverPolicy::All,
        );
    }
    if have.max_ack_pending != want.max_ack_pending {
        return differs(
            "max_ack_pending",
            &have.max_ack_pending,
            &want.max_ack_pending,
        );
    }
    if !have.backoff.is_empty() {
        return differs("backoff", &have.backoff, &Vec::<Duration>::new());
    }
    if have.rate_limit != 0 {
        return differs("rate_limit", &have.rate_limit, &0);
    }
    if have.inactive_threshold != Duration::ZERO {
        return differs(
            "inactive_threshold",
            &have.inactive_threshold,
            &Duration::ZERO,
        );
    }
    if have.replay_policy != consumer::ReplayPolicy::Instant {
        return differs(
            "replay_policy",
            &have.replay_policy,
            &consumer::ReplayPolicy::Instant,
        );
    }
    if have.max_batch != 0 || have.max_bytes != 0 {
        return differs(
            "max_batch/max_bytes",
            &(have.max_batch, have.max_bytes),
            &(0, 0),
        );
    }
    None
}

/// Creates a queue's shared pull consumer if it is missing (what the submitter's
/// `dag run` does for workers that may not). An existing one is left
/// as it is: workers check it.
pub async fn create_queue_consumer(
    js: &jetstream::Context,
    lane: &Lane,
    timing: &Timing,
) -> Result<(), NatsError> {
    let stream = js
        .get_stream(TASKS_STREAM)
        .await
        .map_err(op("cannot open stream DAG_TASKS"))?;
    let name = consumer_name(lane);
    if stream
        .get_consumer::<consumer::pull::Config>(&name)
        .await
        .is_ok()
    {
        return Ok(());
    }
    let created = stream
        .create_consumer(queue_consumer_config(lane, timing))
        .await;
    match created {
        Ok(_) => Ok(()),
        // Created by another process at the same moment.
        Err(_)
            if stream
                .get_consumer::<consumer::pull::Config>(&name)
                .await
                .is_ok() =>
        {
            Ok(())
        }
        Err(e) => Err(NatsError::Op(format!("cannot create consumer {name}: {e}"))),
    }
}

/// The shared pull consumer of a queue, created if missing and `create` says so (by
/// an identity allowed to: the submitter's `dag run` creates them; the example
/// configuration's worker identity may not; a missing one not created is
/// [`NatsError::Uncreatable`]); an existing one whose configuration differs in any
/// field dag relies on is refused, naming the field.
pub async fn queue_consumer(
    js: &jetstream::Context,
    lane: &Lane,
    timing: &Timing,
    create: bool,
) -> Result<consumer::PullConsumer, NatsError> {
    let stream = js
        .get_stream(TASKS_STREAM)
        .await
        .map_err(op("cannot open stream DAG_TASKS"))?;
    let queue = &lane.queue;
    let name = consumer_name(lane);
    let config = queue_consumer_config(lane, timing);
    let c: consumer::PullConsumer = match stream.get_consumer(&name).await {
        Ok(c) => c,
        Err(e) if !create => {
            return Err(NatsError::Uncreatable(format!(
                "consumer {name} of queue `{queue}`: {e}"
            )));
        }
        // A refused creation gets no reply: the refusal ends the wait.
        Err(_) => unless_refused(async {
            stream.get_or_create_consumer(&name, config.clone()).await.map_err(|e| NatsError::Op(e.to_string()))
        }).await.map_err(|e| match e {
            NatsError::Refused(e) => NatsError::Uncreatable(format!(
                "cannot create consumer {name} of queue `{queue}`: {e} (an identity that may not create consumers, such as the worker of deploy/nats-server.conf, needs it created first, by a run using the queue)"
            )),
            e => NatsError::Op(format!("cannot create consumer {name} of queue `{queue}`: {e}")),
        })?,
    };
    checked_consumer(c, &config).await
}

/// `c`, if every field dag relies on is as `want` says.
async fn checked_consumer(
    mut c: consumer::PullConsumer,
    want: &consumer::pull::Config,
) -> Result<consumer::PullConsumer, NatsError> {
    let name = want.durable_name.clone().unwrap_or_default();
    let info = c
        .info()
        .await
        .map_err(op(&format!("cannot read consumer {name}")))?;
    if let Some(field) = consumer_difference(&info.config, want) {
        return Err(NatsError::Mismatch(format!(
            "consumer {name} exists with another {field}: delete the consumer (`nats consumer rm DAG_TASKS {name}`), or run every worker with the same settings"
        )));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_task_message_id_names_its_run() {
        use super::{is_task_message_of, task_message_id};
        let id = task_message_id("20261130T210043976Z-5d4f", "load.part", 3);
        assert!(is_task_message_of(&id, "20261130T210043976Z-5d4f"));
        assert!(!is_task_message_of(&id, "20261130T210043976Z-5d4"));
        assert!(!is_task_message_of(&id, "20261130T210043976Z-5d4f0"));
        assert!(!is_task_message_of("", "r"));
    }

    #[test]
    fn inbox_prefixes_are_subject_prefixes() {
        use super::check_inbox_prefix;
        for good in ["_INBOX", "_INBOX_worker", "a.b"] {
            assert!(check_inbox_prefix(good).is_ok(), "{good}");
        }
        for bad in [">", "a b", ".", "_INBOX.*", "a..b", "a."] {
            let e = check_inbox_prefix(bad).unwrap_err().to_string();
            assert!(e.starts_with("DAG_NATS_INBOX_PREFIX=`"), "{e}");
        }
    }

    #[test]
    fn every_consumer_field_dag_relies_on_is_checked() {
        use super::{Timing, consumer, consumer_difference, queue_consumer_config};
        use std::time::Duration;
        let timing = Timing {
            ack_wait: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            max_deliveries: 5,
        };
        let want = queue_consumer_config(
            &super::Lane {
                queue: "hq".into(),
                docker: false,
                gpus: 0,
            },
            &timing,
        );
        // As the server reports the consumer dag created.
        let created = consumer::Config {
            durable_name: want.durable_name.clone(),
            filter_subject: want.filter_subject.clone(),
            ack_policy: want.ack_policy,
            ack_wait: want.ack_wait,
            max_deliver: -1,
            max_ack_pending: want.max_ack_pending,
            ..Default::default()
        };
        assert_eq!(consumer_difference(&created, &want), None);
        let changed: Vec<(&str, consumer::Config)> = vec![
            (
                "headers_only",
                consumer::Config {
                    headers_only: true,
                    ..created.clone()
                },
            ),
            (
                "ack_wait",
                consumer::Config {
                    ack_wait: Duration::from_secs(60),
                    ..created.clone()
                },
            ),
            (
                "filter_subject",
                consumer::Config {
                    filter_subject: "dag.tasks.>".into(),
                    ..created.clone()
                },
            ),
            (
                "max_deliver",
                consumer::Config {
                    max_deliver: 1,
                    ..created.clone()
                },
            ),
            (
                "max_ack_pending",
                consumer::Config {
                    max_ack_pending: 1,
                    ..created.clone()
                },
            ),
            (
                "backoff",
                consumer::Config {
                    backoff: vec![Duration::from_secs(3600)],
                    ..created.clone()
                },
            ),
            (
                "deliver_policy",
                consumer::Config {
                    deliver_policy: consumer::DeliverPolicy::New,
                    ..created.clone()
                },
            ),
            (
                "ack_policy",
                consumer::Config {
                    ack_policy: consumer::AckPolicy::None,
                    ..created.clone()
                },
            ),
            (
                "inactive_threshold",
                consumer::Config {
                    inactive_threshold: Duration::from_secs(1),
                    ..created.clone()
                },
            ),
        ];
        for (field, config) in changed {
            let why = consumer_difference(&config, &want).unwrap_or_default();
            assert!(why.starts_with(field), "{field}: {why}");
        }
    }

    #[test]
    fn replica_counts_are_1_to_5_and_differences_are_told_only_when_asked() {
        use super::{Replicas, parse_replicas, replicas_warning};
        assert_eq!(parse_replicas("3"), Ok(3));
        assert_eq!(parse_replicas("5"), Ok(5));
        for bad in ["0", "6", "-1", "three", ""] {
            assert!(parse_replicas(bad).is_err(), "{bad}");
        }
        assert_eq!(Replicas::default().count(), 1);
        // The default takes any existing count as it is.
        assert_eq!(
            replicas_warning("stream S", "S", 3, Replicas::default()),
            None
        );
        assert_eq!(replicas_warning("stream S", "S", 3, Replicas::new(3)), None);
        // A stream created without a count has one copy.
        assert_eq!(replicas_warning("stream S", "S", 0, Replicas::new(1)), None);
        let w = replicas_warning("bucket b", "KV_b", 1, Replicas::new(3)).unwrap();
        assert!(
            w.starts_with("bucket b exists with 1 replica, not the 3 --replicas asks for")
                && w.contains("`nats stream edit KV_b --replicas 3`"),
            "{w}"
        );
    }

    #[test]
    fn credentials_are_kept_out_of_messages() {
        assert_eq!(
            redact("nats://alice:secret@host:4222"),
            "nats://***@host:4222"
        );
        assert_eq!(
            redact("nats://tok@h:1,nats://h2:2"),
            "nats://***@h:1,nats://h2:2"
        );
        assert_eq!(redact("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    }
}
