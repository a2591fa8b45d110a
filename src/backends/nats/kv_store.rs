//! The NATS KV state store (`--state nats`): runs kept in the bucket `dag_runs`, so
//! that any machine can look at, retry and cancel them.
//!
//! | key | value |
//! |---|---|
//! | `<run>.run` | the run record without its tasks (JSON, as in `run.json`), plus `task_ids` and the driver's lease |
//! | `<run>.t.<task>` | the task's record: state, attempts (start, end, exit code, error, host, worker), outputs |
//!
//! Every write is a compare-and-swap on the key's revision: a conflict re-reads the
//! fresh value and applies the change to it again, so two writers never lose an
//! update. The process driving a run holds a lease in the run record, renewed every
//! 5 s and valid 15 s: a run whose lease lapsed is reported interrupted, and only one
//! process at a time can take a run over (`dag retry`).
//!
//! Task output lives in the stream `DAG_LOGS`: workers publish it there, and a run
//! driven locally with `--state nats` publishes each attempt's log when the attempt
//! ends, so `dag logs` works from any machine for as long as the stream keeps it
//! (7 days).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{LOGS_STREAM, NatsError};
use crate::engine::events::Event;
use crate::engine::record::{RunRecord, TaskRecord};
use crate::engine::runner::TaskLog;
use crate::engine::store::{RunWriter, StateStore, StoreError, check_links, check_record_version};
use crate::engine::time::Timestamp;

/// The bucket of runs.
pub const RUNS_BUCKET: &str = "dag_runs";
/// The object store of task outputs too large for a value of [`RUNS_BUCKET`] (over
/// the server's max payload); kept as long as their run.
pub const OUTPUTS_BUCKET: &str = "dag_outputs";

/// A task record as kept under `<run>.t.<task>`: outputs too large for one value are
/// in [`OUTPUTS_BUCKET`] instead, and the record says where.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredTask {
    #[serde(flatten)]
    record: TaskRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outputs_object: Option<OutputsObject>,
}

/// Where a task's outputs are when they are not in its record.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct OutputsObject {
    bucket: String,
    name: String,
    /// SHA-256 of the object (the outputs as a JSON object).
    sha256: String,
}

async fn outputs_bucket(
    js: &jetstream::Context,
    replicas: super::Replicas,
) -> Result<jetstream::object_store::ObjectStore, String> {
    super::object_store(
        js,
        jetstream::object_store::Config {
            bucket: OUTPUTS_BUCKET.into(),
            ..Default::default()
        },
        replicas,
    )
    .await
    .map_err(|e| e.to_string())
}

/// The record to write for `t`, its outputs put in [`OUTPUTS_BUCKET`] first when
/// the record would not fit in one message.
async fn stored(
    js: &jetstream::Context,
    client: &async_nats::Client,
    replicas: super::Replicas,
    run_id: &str,
    t: &TaskRecord,
) -> Result<StoredTask, StoreError> {
    let key = task_key(run_id, &t.id);
    let size = serde_json::to_vec(t)
        .map_err(|e| io("encode", &key, e))?
        .len();
    if size <= super::transport::inline_limit(client) {
        return Ok(StoredTask {
            record: t.clone(),
            outputs_object: None,
        });
    }
    let outputs = serde_json::to_vec(&t.outputs).map_err(|e| io("encode", &key, e))?;
    let name = format!("{run_id}.{}", t.id);
    let store = outputs_bucket(js, replicas)
        .await
        .map_err(|e| io("write", &name, e))?;
    super::transport::put_object(client, &store, &name, &outputs)
        .await
        .map_err(|e| io("write", format!("{OUTPUTS_BUCKET}: {name}"), e))?;
    Ok(StoredTask {
        record: TaskRecord {
            outputs: Default::default(),
            ..t.clone()
        },
        outputs_object: Some(OutputsObject {
            bucket: OUTPUTS_BUCKET.into(),
            name,
            sha256: super::transport::digest(&outputs),
        }),
    })
}

/// The task record kept as `stored`, with its outputs read back.
async fn restored(js: &jetstream::Context, stored: StoredTask) -> Result<TaskRecord, StoreError> {
    let mut record = stored.record;
    let Some(object) = stored.outputs_object else {
        return Ok(record);
    };
    // Outputs are capped at 32 MiB (a list a `for_each` reads; others at 1 MiB);
    // their JSON, escapes included, at most 6 times.
    let cap = 6 * crate::engine::runner::MAX_LIST_OUTPUT_BYTES as u64 + 1024;
    record.outputs = read_object(js, &object, cap, "the outputs").await?;
    Ok(record)
}

/// The JSON value kept in `object`, read up to `cap` bytes and checked against its
/// digest; `what` names it in errors.
async fn read_object<T: for<'de> Deserialize<'de>>(
    js: &jetstream::Context,
    object: &OutputsObject,
    cap: u64,
    what: &str,
) -> Result<T, StoreError> {
    let where_ = format!("nats object store {}: {}", object.bucket, object.name);
    let corrupt = |detail: String| StoreError::Corrupt {
        path: where_.clone(),
        detail,
    };
    let store = js
        .get_object_store(&object.bucket)
        .await
        .map_err(|e| io("read", &where_, e))?;
    // A link is refused before the client follows it (without end, for a link
    // to itself).
    let info = store
        .info(&object.name)
        .await
        .map_err(|e| io("read", &where_, e))?;
    if super::transport::is_link(&info) {
        return Err(corrupt("a link to another object".into()));
    }
    let mut bytes = Vec::new();
    {
        use tokio::io::AsyncReadExt;
        let found = store
            .get(&object.name)
            .await
            .map_err(|e| io("read", &where_, e))?;
        // Its size is known before a byte is read: one replaced by something huge
        // is refused, not read up to the cap.
        if found.info.size as u64 > cap {
            return Err(corrupt(format!(
                "{what} take {} bytes, more than the {cap} they can",
                found.info.size
            )));
        }
        found
            .take(cap)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| io("read", &where_, e))?;
    }
    if super::transport::digest(&bytes) != object.sha256 {
        return Err(corrupt(format!(
            "{what} do not match the digest the record holds"
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))
}
/// How long a lease lasts without renewal: 15 s (`DAG_NATS_LEASE` shortens it for
/// tests); it is renewed every third of that.
pub fn lease() -> Duration {
    std::env::var("DAG_NATS_LEASE")
        .ok()
        .and_then(|v| crate::engine::text::parse_duration(&v).ok())
        .unwrap_or(Duration::from_secs(15))
}

fn lease_until() -> Timestamp {
    Timestamp(Timestamp::now().0 + lease().as_millis() as u64)
}

/// The run record as kept under `<run>.run`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Header {
    #[serde(flatten)]
    record: RunRecord,
    task_ids: Vec<String>,
    #[serde(default)]
    lease: Option<Lease>,
    /// Where the DAG file's text and the task ids are when they would make the
    /// record larger than the server's max payload (then `definition` is absent
    /// and `task_ids` empty here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_object: Option<OutputsObject>,
}

/// The record format of this store (version 4 changed only the file store's):
/// a task's record is created by its first change.
const KV_RECORD_VERSION: u32 = 2;

/// The record format that brought `body_object`: a record with one is this
/// version, so that an older dag refuses it by name.
const BODY_OBJECT_VERSION: u32 = 3;

/// The part of a run record moved to [`OUTPUTS_BUCKET`] (under the run id) when
/// the record would not fit in one message.
#[derive(Serialize, Deserialize)]
struct Body {
    definition: Option<std::sync::Arc<str>>,
    task_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    sub_dags: crate::engine::graph::SubSources,
}

impl Header {
    /// This header with `run`'s fields; the definition stays where it is kept.
    fn with_record(self, mut run: RunRecord, lease: Option<Lease>) -> Header {
        run.version = KV_RECORD_VERSION;
        if self.body_object.is_some() {
            run.definition = None;
            run.sub_dags.clear();
            run.version = BODY_OBJECT_VERSION;
        }
        Header {
            record: run,
            lease,
            ..self
        }
    }
}

/// Deletes the object holding `header`'s DAG text and task ids, if it has one.
async fn delete_body(js: &jetstream::Context, header: &Header) {
    if let Some(object) = &header.body_object
        && let Ok(store) = js.get_object_store(&object.bucket).await
    {
        let _ = store.delete(&object.name).await;
    }
}

/// The header of a new run, its definition and task ids put in [`OUTPUTS_BUCKET`]
/// first when the record would not fit in one message.
async fn new_header(
    js: &jetstream::Context,
    client: &async_nats::Client,
    replicas: super::Replicas,
    mut header: Header,
) -> Result<(bytes::Bytes, Header), StoreError> {
    let run_id = header.record.run_id.clone();
    let encode = |h: &Header| {
        serde_json::to_vec(h)
            .map(bytes::Bytes::from)
            .map_err(|e| io("encode", &run_id, e))
    };
    let bytes = encode(&header)?;
    let limit = super::transport::inline_limit(client);
    if bytes.len() <= limit {
        return Ok((bytes, header));
    }
    let body = Body {
        definition: header.record.definition.take(),
        task_ids: std::mem::take(&mut header.task_ids),
        sub_dags: std::mem::take(&mut header.record.sub_dags),
    };
    let body = serde_json::to_vec(&body).map_err(|e| io("encode", &run_id, e))?;
    let store = outputs_bucket(js, replicas)
        .await
        .map_err(|e| io("write", &run_id, e))?;
    // Named apart from every other run's (an id drawn twice by two processes
    // must not overwrite the other's) and from task outputs (`<run>.<task>`).
    let name = format!("{run_id}#{}", super::transport::new_token());
    super::transport::put_object(client, &store, &name, &body)
        .await
        .map_err(|e| io("write", format!("{OUTPUTS_BUCKET}: {name}"), e))?;
    header.record.version = BODY_OBJECT_VERSION;
    header.body_object = Some(OutputsObject {
        bucket: OUTPUTS_BUCKET.into(),
        name,
        sha256: super::transport::digest(&body),
    });
    let bytes = encode(&header)?;
    if bytes.len() > limit {
        delete_body(js, &header).await;
        return Err(io(
            "create",
            &run_id,
            std::io::Error::other(format!(
                "the run record is {} bytes even without the DAG file's text and task ids, over what the NATS server takes in one message ({limit} bytes, from its max_payload); raise max_payload in the server's configuration, or keep this run with --state file",
                bytes.len()
            )),
        ));
    }
    Ok((bytes, header))
}

/// What the record of a run says of who may drive it (see
/// [`KvStore::watch_runs`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RunLease {
    /// The run.
    pub run_id: String,
    /// Its state; None once it was deleted.
    pub state: Option<crate::engine::state::RunState>,
    /// Whether any scheduler may take it over (its record keeps how it is driven).
    pub failover: bool,
    /// Who holds its lease, and until when.
    pub lease: Option<(String, Timestamp)>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Lease {
    holder: String,
    until: Timestamp,
}

impl Lease {
    fn live(&self) -> bool {
        self.until > Timestamp::now()
    }
}

/// Runs kept in NATS KV.
#[derive(Clone)]
pub struct KvStore {
    inner: Arc<Inner>,
}

struct Inner {
    rt: tokio::runtime::Runtime,
    kv: kv::Store,
    js: jetstream::Context,
    client: async_nats::Client,
    /// Copies of the buckets this store creates (`--replicas`).
    replicas: super::Replicas,
    /// Whether workers publish task output (distributed runs): then a local writer
    /// must not publish it again.
    remote_logs: bool,
    /// Where attempts driven here write their output before it is published.
    cache: std::path::PathBuf,
    holder: String,
    /// Logs read so far, by subject: the last stream sequence read and the bytes up
    /// to it. A later read (`dag logs --follow` polls) fetches only what is newer.
    logs: Arc<Mutex<HashMap<String, ReadLog>>>,
}

/// What has been read of one attempt's log.
#[derive(Default)]
struct ReadLog {
    last_seq: u64,
    bytes: Vec<u8>,
}

/// Logs kept in [`Inner::logs`] at most; past it, the cache starts afresh.
const CACHED_LOGS: usize = 256;

fn io(action: &'static str, what: impl std::fmt::Display, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io {
        action,
        path: format!("nats kv {RUNS_BUCKET}: {what}"),
        source: std::io::Error::other(e.to_string()),
    }
}

/// The bucket of runs, created with `replicas` copies if it is missing (an
/// existing one's count is checked, see [`super::Replicas`]).
pub async fn runs_bucket(
    js: &jetstream::Context,
    replicas: super::Replicas,
) -> Result<kv::Store, NatsError> {
    let kv = match js.get_key_value(RUNS_BUCKET).await {
        Ok(kv) => {
            let shown = format!("bucket {RUNS_BUCKET}");
            let stream = format!("KV_{RUNS_BUCKET}");
            super::check_bucket_replicas(js, &shown, &stream, replicas).await;
            kv
        }
        Err(_) => match js
            .create_key_value(kv::Config {
                bucket: RUNS_BUCKET.into(),
                history: 5,
                storage: jetstream::stream::StorageType::File,
                num_replicas: replicas.count(),
                ..Default::default()
            })
            .await
        {
            Ok(kv) => kv,
            Err(e) => js
                .get_key_value(RUNS_BUCKET)
                .await
                .map_err(|_| super::creating(&format!("bucket {RUNS_BUCKET}"), replicas, e))?,
        },
    };
    Ok(kv)
}

/// The key of a run's secret: the key its attempts' tokens are derived from
/// (see [`run_secret`]).
fn secret_key(run_id: &str) -> String {
    format!("{run_id}.secret")
}

/// The secret of a run's attempts, made on first use: 256 bits from the
/// system's secure random source, kept in [`RUNS_BUCKET`] beside the run (which
/// only the submitter identity may read), so that a process taking the run over
/// derives the tokens of the attempts handed out before and can check their
/// results.
pub async fn run_secret(
    js: &jetstream::Context,
    replicas: super::Replicas,
    run_id: &str,
) -> Result<String, NatsError> {
    let kv = runs_bucket(js, replicas).await?;
    let key = secret_key(run_id);
    let fresh = format!(
        "{}{}",
        super::transport::new_token(),
        super::transport::new_token()
    );
    for _ in 0..10 {
        // From the leader: a replica may not have the secret another process
        // made a moment ago.
        match read_from_leader::<String>(&kv, &key).await {
            Ok(Some((secret, _))) if !secret.is_empty() => return Ok(secret),
            Ok(_) => {}
            Err(e) => {
                return Err(NatsError::Op(format!(
                    "cannot read the secret of run {run_id}: {e}"
                )));
            }
        }
        let value = serde_json::to_vec(&fresh).unwrap_or_default();
        match patiently(|| kv.create(&key, value.clone().into())).await {
            Ok(_) => return Ok(fresh),
            // Made meanwhile by another process: read it.
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(NatsError::Op(format!(
                    "cannot keep the secret of run {run_id}: {e}"
                )));
            }
        }
    }
    Err(NatsError::Op(format!(
        "cannot read or make the secret of run {run_id}"
    )))
}

/// Forgets a run's secret (its run ended, or is deleted).
pub async fn forget_run_secret(js: &jetstream::Context, run_id: &str) {
    if let Ok(kv) = js.get_key_value(RUNS_BUCKET).await {
        let _ = kv.purge(secret_key(run_id)).await;
    }
}

fn run_key(run_id: &str) -> String {
    format!("{run_id}.run")
}

fn task_key(run_id: &str, task: &str) -> String {
    format!("{run_id}.t.{task}")
}

impl KvStore {
    /// Opens (creating if needed) the bucket on the server `options` name.
    /// `remote_logs`: workers publish task output (a distributed run).
    pub fn open(options: &super::NatsOptions, remote_logs: bool) -> Result<KvStore, NatsError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dag-nats-kv")
            .enable_all()
            .build()
            .map_err(|e| NatsError::Op(e.to_string()))?;
        let options = options.clone();
        let replicas = options.replicas;
        let (client, js, kv) = std::thread::scope(|s| {
            s.spawn(|| {
                rt.block_on(super::unless_refused(async {
                    let client = super::connect(&options, "dag state").await?;
                    let js = jetstream::new(client.clone());
                    super::ensure_layout(&js, replicas).await?;
                    let kv = runs_bucket(&js, replicas).await?;
                    let (shown, stream) = (
                        format!("object store {OUTPUTS_BUCKET}"),
                        format!("OBJ_{OUTPUTS_BUCKET}"),
                    );
                    // Created when a record first needs it; checked when it exists.
                    super::check_bucket_replicas(&js, &shown, &stream, replicas).await;
                    Ok::<_, NatsError>((client, js, kv))
                }))
            })
            .join()
            .unwrap_or_else(|_| Err(NatsError::Op("the NATS state thread panicked".into())))
        })?;
        let cache = std::env::temp_dir().join(format!("dag-state-logs-{}", std::process::id()));
        Ok(KvStore {
            inner: Arc::new(Inner {
                rt,
                kv,
                js,
                client,
                replicas,
                remote_logs,
                cache,
                logs: Arc::default(),
                holder: super::process_name(),
            }),
        })
    }

    /// Runs `fut` on the store's own runtime and waits for it, from sync code or
    /// from inside another runtime alike.
    fn call<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        self.inner.rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        match tokio::runtime::Handle::try_current() {
            // Blocking a worker thread of the caller's runtime: let it hand its
            // other work to the other workers meanwhile.
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| rx.recv())
            }
            _ => rx.recv(),
        }
        .expect("the NATS state runtime stopped")
    }

    /// Whether a live process holds the run's lease.
    pub fn is_driven(&self, run_id: &str) -> bool {
        let kv = self.inner.kv.clone();
        let key = run_key(run_id);
        self.call(async move { read::<Header>(&kv, &key).await })
            .ok()
            .flatten()
            .and_then(|(h, _)| h.lease)
            .is_some_and(|l| l.live())
    }

    /// Gives up this process's lease on a run, if it holds it: another process
    /// may take the run over at once.
    pub fn release_run(&self, run_id: &str) -> Result<(), StoreError> {
        let kv = self.inner.kv.clone();
        let holder = self.inner.holder.clone();
        let key = run_key(run_id);
        self.call(async move {
            update::<Header, _>(&kv, &key, |h| {
                let mut h = h.ok_or_else(|| StoreError::NotFound(key.clone()))?;
                if h.lease.as_ref().is_some_and(|l| l.holder == holder) {
                    h.lease = None;
                }
                Ok(h)
            })
            .await
            .map(|_| ())
        })
    }

    /// Follows the runs of the bucket: what each run's record says of its state
    /// and lease now, then at each change, until the receiver is dropped (the
    /// watch starts again after the server was away).
    pub fn watch_runs(&self) -> tokio::sync::mpsc::UnboundedReceiver<RunLease> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let kv = self.inner.kv.clone();
        self.inner.rt.spawn(async move {
            while !tx.is_closed() {
                let Ok(mut watch) = kv.watch_with_history("*.run").await else {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                };
                while let Some(Ok(entry)) = watch.next().await {
                    let Some(run_id) = entry.key.strip_suffix(".run") else {
                        continue;
                    };
                    let view = match entry.operation {
                        kv::Operation::Put => {
                            match serde_json::from_slice::<Header>(&entry.value) {
                                Ok(h) => RunLease {
                                    run_id: run_id.to_string(),
                                    state: Some(h.record.state),
                                    failover: h.record.drive.is_some(),
                                    lease: h.lease.map(|l| (l.holder, l.until)),
                                },
                                Err(_) => continue,
                            }
                        }
                        // Deleted or purged: nothing to drive.
                        _ => RunLease {
                            run_id: run_id.to_string(),
                            state: None,
                            failover: false,
                            lease: None,
                        },
                    };
                    if tx.send(view).is_err() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        rx
    }

    /// The JetStream context the store reaches NATS through.
    pub fn jetstream(&self) -> jetstream::Context {
        self.inner.js.clone()
    }

    /// The id this process holds leases under.
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// Deletes a run and its task records (`dag runs prune`).
    pub fn delete_run(&self, run_id: &str) -> Result<(), StoreError> {
        if self.is_driven(run_id) {
            return Err(StoreError::Locked(run_id.to_string()));
        }
        let record = self.load_run(run_id)?;
        let kv = self.inner.kv.clone();
        let js = self.inner.js.clone();
        let run_id = run_id.to_string();
        self.call(async move {
            if let Some((header, _)) = read::<Header>(&kv, &run_key(&run_id)).await? {
                // The DAG file's text and task ids of a large run.
                delete_body(&js, &header).await;
            }
            let outputs = js.get_object_store(OUTPUTS_BUCKET).await.ok();
            for t in &record.tasks {
                if let Some(store) = &outputs {
                    // Only large outputs are there; a missing object is no error.
                    let _ = store.delete(format!("{run_id}.{}", t.id)).await;
                }
                kv.purge(task_key(&run_id, &t.id))
                    .await
                    .map_err(|e| io("delete", &run_id, e))?;
            }
            let _ = kv.purge(secret_key(&run_id)).await;
            kv.purge(run_key(&run_id))
                .await
                .map_err(|e| io("delete", &run_id, e))
        })
    }
}

/// How long a read or write of the store waits out a server that cannot answer
/// for now: a JetStream cluster electing a new leader for the bucket after a node
/// was lost (a few seconds).
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// Whether an error of a request to the bucket may pass by itself: nobody answers
/// the bucket's subject yet, or no stream takes it for now, as while a cluster
/// moves the bucket's leader. A time-out is not waited out (it is tried again
/// once, see [`patiently`]): it is what a server that is gone gives, and a run
/// whose store is gone must end (or stop on Ctrl-C) without waiting long on top
/// of the request's own time-out.
pub(crate) fn passing(e: &str) -> bool {
    let e = e.to_ascii_lowercase();
    [
        "no responders",
        "no stream found",
        // JetStream while a replicated stream elects its leader (error 10008).
        "temporarily unavailable",
        "10008",
    ]
    .iter()
    .any(|p| e.contains(p))
}

/// `op` again, with growing pauses, while it fails with an error that may pass
/// ([`passing`]) and [`PATIENCE`] lasts. A retried write that had landed after
/// all makes the compare-and-swap writes of this store see the new revision and
/// start again from the value now stored (every change they apply gives the
/// same value applied twice).
///
/// A time-out is tried again once while the connection is up: a request sent
/// on a connection to a node that died (the client is on another node by
/// then), or to a stream whose leader died, is answered when tried again; a
/// server that is gone is not waited for.
pub(crate) async fn patiently<T, E, Fut>(mut op: impl FnMut() -> Fut) -> Result<T, E>
where
    E: std::fmt::Display,
    Fut: Future<Output = Result<T, E>>,
{
    let start = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(50);
    let mut timed_out = false;
    loop {
        match op().await {
            Err(e) if start.elapsed() < PATIENCE => {
                let text = e.to_string();
                if passing(&text) {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(1));
                } else if !timed_out
                    && !super::connection_lost()
                    && text.to_ascii_lowercase().contains("timed out")
                {
                    timed_out = true;
                } else {
                    return Err(e);
                }
            }
            result => return result,
        }
    }
}

/// How long a write waits for a lost connection to the server to come back
/// before it fails: a server restarted within a few seconds is back within it,
/// the client's reconnection tries (up to 4 s apart) included.
const UNREACHABLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether the client is connected, or connects again within `patience`.
async fn reachable(client: &async_nats::Client, patience: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    loop {
        if client.connection_state() == async_nats::connection::State::Connected {
            return true;
        }
        if start.elapsed() >= patience {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A stored value, or why it cannot be read.
fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        path: format!("nats kv {RUNS_BUCKET}: {key}"),
        detail: err.to_string(),
    })
}

/// A value and its revision.
pub async fn read<T: for<'de> Deserialize<'de>>(
    kv: &kv::Store,
    key: &str,
) -> Result<Option<(T, u64)>, StoreError> {
    let entry = patiently(|| kv.entry(key))
        .await
        .map_err(|e| io("read", key, e))?;
    match entry {
        Some(e) if e.operation == kv::Operation::Put => {
            Ok(Some((decode(key, &e.value)?, e.revision)))
        }
        _ => Ok(None),
    }
}

/// A value and its revision as the bucket's leader has them. A plain read may be
/// answered by any replica of a replicated bucket (direct get), which may not
/// have applied a write just made: what is read to be changed, or right after
/// it was written, is read from the leader.
pub async fn read_from_leader<T: for<'de> Deserialize<'de>>(
    kv: &kv::Store,
    key: &str,
) -> Result<Option<(T, u64)>, StoreError> {
    let subject = format!("{}{key}", kv.prefix);
    let got = patiently(|| kv.stream.get_last_raw_message_by_subject(&subject)).await;
    match got {
        Ok(m) => {
            let op = m
                .headers
                .get("KV-Operation")
                .map(|v| v.as_str().to_string());
            if matches!(op.as_deref(), Some("DEL" | "PURGE")) {
                return Ok(None);
            }
            Ok(Some((decode(key, &m.payload)?, m.sequence)))
        }
        Err(e) if e.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound => {
            Ok(None)
        }
        Err(e) => Err(io("read", key, e)),
    }
}

/// Read-modify-write by compare-and-swap: `change` is applied to the freshest value
/// (read from the bucket's leader) until the write lands; it may refuse (return an
/// error) after seeing the value. Every record of the store is written this way.
pub async fn update<T, F>(kv: &kv::Store, key: &str, mut change: F) -> Result<(T, u64), StoreError>
where
    T: Serialize + for<'de> Deserialize<'de>,
    F: FnMut(Option<T>) -> Result<T, StoreError>,
{
    for _ in 0..100 {
        let current = read_from_leader::<T>(kv, key).await?;
        let revision = current.as_ref().map(|(_, r)| *r);
        let next = change(current.map(|(v, _)| v))?;
        let bytes =
            bytes::Bytes::from(serde_json::to_vec(&next).map_err(|e| io("encode", key, e))?);
        let written = match revision {
            Some(r) => patiently(|| kv.update(key, bytes.clone(), r))
                .await
                .map_err(|e| {
                    (
                        e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                        e.to_string(),
                    )
                }),
            None => patiently(|| kv.create(key, bytes.clone()))
                .await
                .map_err(|e| {
                    (
                        e.kind() == kv::CreateErrorKind::AlreadyExists,
                        e.to_string(),
                    )
                }),
        };
        match written {
            Ok(revision) => return Ok((next, revision)),
            // Someone wrote in between: start again from the fresh value.
            Err((true, _)) => continue,
            Err((false, e)) => {
                return Err(io(
                    "write",
                    key,
                    format!("the server refused the write: {e}"),
                ));
            }
        }
    }
    Err(io("write", key, "too many concurrent writers"))
}

async fn load(
    kv: &kv::Store,
    js: &jetstream::Context,
    run_id: &str,
) -> Result<RunRecord, StoreError> {
    let Some((header, _)) = read::<Header>(kv, &run_key(run_id)).await? else {
        return Err(StoreError::NotFound(run_id.to_string()));
    };
    let mut header = header;
    check_record_version(&header.record, &format!("nats kv {RUNS_BUCKET}: {run_id}"))?;
    check_links(
        &header.record,
        run_id,
        &format!("nats kv {RUNS_BUCKET}: {run_id}"),
    )?;
    if let Some(object) = &header.body_object {
        // The DAG file is capped at 256 MiB; its text as JSON and the ids, at most
        // 6 times that.
        let body: Body = read_object(
            js,
            object,
            6 * (256 << 20),
            "the DAG file's text and task ids",
        )
        .await?;
        header.record.definition = body.definition;
        header.task_ids = body.task_ids;
        header.record.sub_dags = body.sub_dags;
    }
    let mut record = header.record;
    record.tasks = read_tasks(kv, js, run_id, header.task_ids).await?;
    // The instances of mapped tasks expanded at run time come after the tasks of
    // the file, each mapped task's in turn.
    if let Some(t) = record.tasks.iter().find(|t| {
        t.instances
            .is_some_and(|n| n > crate::engine::fanout::MAX_INSTANCES)
    }) {
        return Err(StoreError::Corrupt {
            path: format!("nats kv {RUNS_BUCKET}: {}", task_key(run_id, &t.id)),
            detail: format!(
                "says it has more than the {} instances a task may have",
                crate::engine::fanout::MAX_INSTANCES
            ),
        });
    }
    let total: usize = record.tasks.iter().filter_map(|t| t.instances).sum();
    if total > crate::engine::fanout::MAX_RUN_TASKS {
        return Err(StoreError::Corrupt {
            path: format!("nats kv {RUNS_BUCKET}: {run_id}"),
            detail: format!(
                "its mapped tasks say they have {total} instances, more than a run may hold"
            ),
        });
    }
    let instances: Vec<crate::engine::spec::TaskId> = record
        .tasks
        .iter()
        .filter_map(|t| t.instances.map(|n| (t.id.clone(), n)))
        .flat_map(|(id, n)| (0..n).map(move |i| crate::engine::fanout::instance_id(&id, i)))
        .collect();
    if !instances.is_empty() {
        let more = read_tasks(kv, js, run_id, instances).await?;
        record.tasks.extend(more);
    }
    Ok(record)
}

/// The records of the tasks `ids` of a run, in that order (pending where none
/// was written yet).
async fn read_tasks(
    kv: &kv::Store,
    js: &jetstream::Context,
    run_id: &str,
    ids: Vec<impl Into<crate::engine::spec::TaskId> + AsRef<str> + Default>,
) -> Result<Vec<TaskRecord>, StoreError> {
    let keys: Vec<String> = ids.iter().map(|id| task_key(run_id, id.as_ref())).collect();
    let mut tasks = Vec::with_capacity(keys.len());
    let mut reads = futures_util::stream::iter(keys.into_iter().map(|key| {
        let kv = kv.clone();
        async move {
            match read::<StoredTask>(&kv, &key).await? {
                Some((t, rev)) => Ok(Some((restored(js, t).await?, rev))),
                None => Ok(None),
            }
        }
    }))
    .buffered(64);
    let mut ids = ids.into_iter();
    while let Some(task) = reads.next().await {
        let id = ids.next().unwrap_or_default();
        match task? {
            Some((t, _)) => tasks.push(t),
            // Task records are written from a task's first change: none yet is
            // pending.
            None => tasks.push(TaskRecord::pending(id)),
        }
    }
    Ok(tasks)
}

impl StateStore for KvStore {
    fn create_run(&self, record: &RunRecord) -> Result<Box<dyn RunWriter>, StoreError> {
        let kv = self.inner.kv.clone();
        let lease = Lease {
            holder: self.inner.holder.clone(),
            until: lease_until(),
        };
        let header = Header {
            record: RunRecord {
                tasks: Vec::new(),
                version: KV_RECORD_VERSION,
                ..record.clone()
            },
            task_ids: record.tasks.iter().map(|t| t.id.to_string()).collect(),
            lease: Some(lease),
            body_object: None,
        };
        let run_id = record.run_id.clone();
        let (js, client) = (self.inner.js.clone(), self.inner.client.clone());
        let replicas = self.inner.replicas;
        let holder = self.inner.holder.clone();
        let asked = std::time::Instant::now();
        self.call(async move {
            let (bytes, header) = new_header(&js, &client, replicas, header).await?;
            // Waited out while the bucket elects its leader.
            if let Err(e) = patiently(|| kv.create(run_key(&run_id), bytes.clone())).await {
                // A try that landed although its answer was lost: the record is
                // there, under this process's lease.
                if e.kind() == kv::CreateErrorKind::AlreadyExists
                    && let Ok(Some((stored, _))) =
                        read_from_leader::<Header>(&kv, &run_key(&run_id)).await
                    && stored.lease.is_some_and(|l| l.holder == holder)
                {
                    return Ok(());
                }
                // Nothing refers to the object now.
                delete_body(&js, &header).await;
                return Err(if e.kind() == kv::CreateErrorKind::AlreadyExists {
                    StoreError::Exists(run_id.clone())
                } else {
                    io("create", &run_id, e)
                });
            }
            Ok::<(), StoreError>(())
        })?;
        // No task record is written up front (a missing one reads as pending), so
        // each is created by its first change: revision 0 expects no record yet.
        let writer = KvRunWriter::new(self.clone(), record.clone(), asked);
        if let Ok(mut r) = writer.revisions.lock() {
            r.iter_mut().for_each(|rev| *rev = Some(0));
        }
        Ok(Box::new(writer))
    }

    fn open_run(&self, run_id: &str) -> Result<(RunRecord, Box<dyn RunWriter>), StoreError> {
        crate::engine::store::check_run_id(run_id)?;
        let kv = self.inner.kv.clone();
        let js = self.inner.js.clone();
        let holder = self.inner.holder.clone();
        let id = run_id.to_string();
        let asked = std::time::Instant::now();
        let record = self.call(async move {
            // Take the lease, unless a live process holds it.
            update::<Header, _>(&kv, &run_key(&id), |h| {
                let Some(mut h) = h else {
                    return Err(StoreError::NotFound(id.clone()));
                };
                if h.lease
                    .as_ref()
                    .is_some_and(|l| l.live() && l.holder != holder)
                {
                    return Err(StoreError::Locked(id.clone()));
                }
                h.lease = Some(Lease {
                    holder: holder.clone(),
                    until: lease_until(),
                });
                Ok(h)
            })
            .await?;
            load(&kv, &js, &id).await
        })?;
        Ok((
            record.clone(),
            Box::new(KvRunWriter::new(self.clone(), record, asked)),
        ))
    }

    fn load_run(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        crate::engine::store::check_run_id(run_id)?;
        let kv = self.inner.kv.clone();
        let js = self.inner.js.clone();
        let id = run_id.to_string();
        self.call(async move { load(&kv, &js, &id).await })
    }

    fn run_version(&self, run_id: &str) -> Result<u64, StoreError> {
        crate::engine::store::check_run_id(run_id)?;
        let kv = self.inner.kv.clone();
        let key = run_key(run_id);
        // The run's header is rewritten when it starts (again) and ends.
        self.call(async move {
            match kv.entry(&key).await {
                Ok(Some(e)) => Ok(e.revision),
                Ok(None) => Err(StoreError::NotFound(
                    key.trim_end_matches(".run").to_string(),
                )),
                Err(e) => Err(io("read", &key, e)),
            }
        })
    }

    fn run_ids(&self) -> Result<Vec<String>, StoreError> {
        let js = self.inner.js.clone();
        let kv = self.inner.kv.clone();
        self.call(async move {
            let stream = js
                .get_stream(format!("KV_{RUNS_BUCKET}"))
                .await
                .map_err(|e| io("list", "runs", e))?;
            let mut subjects = stream
                .info_with_subjects(format!("$KV.{RUNS_BUCKET}.*.run"))
                .await
                .map_err(|e| io("list", "runs", e))?;
            let mut ids = Vec::new();
            while let Some(item) = subjects.next().await {
                let (subject, _) = item.map_err(|e| io("list", "runs", e))?;
                if let Some(id) = subject
                    .strip_prefix(&format!("$KV.{RUNS_BUCKET}."))
                    .and_then(|k| k.strip_suffix(".run"))
                    && kv.get(run_key(id)).await.ok().flatten().is_some()
                {
                    ids.push(id.to_string());
                }
            }
            ids.sort();
            Ok(ids)
        })
    }

    fn read_log(
        &self,
        run_id: &str,
        task: &str,
        attempt: u32,
        offset: u64,
        max: usize,
    ) -> Result<Vec<u8>, StoreError> {
        let subject = self.read_new_log(run_id, task, attempt)?;
        let logs = self.inner.logs.lock().unwrap_or_else(|e| e.into_inner());
        let all = logs.get(&subject).map_or(&[][..], |l| &l.bytes[..]);
        let start = (offset as usize).min(all.len());
        let end = start.saturating_add(max).min(all.len());
        Ok(all[start..end].to_vec())
    }

    fn log_size(&self, run_id: &str, task: &str, attempt: u32) -> Result<u64, StoreError> {
        let subject = self.read_new_log(run_id, task, attempt)?;
        let logs = self.inner.logs.lock().unwrap_or_else(|e| e.into_inner());
        Ok(logs.get(&subject).map_or(0, |l| l.bytes.len() as u64))
    }
}

impl KvStore {
    /// Reads what is new of an attempt's output in `DAG_LOGS` into the cache (only
    /// messages after the last one read); returns the cache key.
    fn read_new_log(&self, run_id: &str, task: &str, attempt: u32) -> Result<String, StoreError> {
        crate::engine::store::check_run_id(run_id)?;
        let js = self.inner.js.clone();
        let subject = format!("dag.logs.{run_id}.{task}.{attempt}");
        let after = self
            .inner
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&subject)
            .map_or(0, |l| l.last_seq);
        let filter = subject.clone();
        let new: Vec<(u64, bytes::Bytes)> = self.call(async move {
            let subject = filter;
            let stream = js
                .get_stream(LOGS_STREAM)
                .await
                .map_err(|e| io("read logs of", &subject, e))?;
            let deliver_policy = if after == 0 {
                jetstream::consumer::DeliverPolicy::All
            } else {
                jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: after + 1,
                }
            };
            let consumer = stream
                .create_consumer(jetstream::consumer::pull::OrderedConfig {
                    filter_subject: subject.clone(),
                    deliver_policy,
                    ..Default::default()
                })
                .await
                .map_err(|e| io("read logs of", &subject, e))?;
            let pending = consumer.cached_info().num_pending;
            let mut out = Vec::new();
            if pending == 0 {
                return Ok(out);
            }
            let mut messages = consumer
                .messages()
                .await
                .map_err(|e| io("read logs of", &subject, e))?;
            while (out.len() as u64) < pending {
                match tokio::time::timeout(Duration::from_secs(5), messages.next()).await {
                    Ok(Some(Ok(m))) => {
                        let seq = m
                            .info()
                            .map_err(|e| io("read logs of", &subject, e))?
                            .stream_sequence;
                        out.push((seq, m.payload.clone()));
                    }
                    _ => break,
                }
            }
            Ok::<_, StoreError>(out)
        })?;
        let mut logs = self.inner.logs.lock().unwrap_or_else(|e| e.into_inner());
        if logs.len() >= CACHED_LOGS && !logs.contains_key(&subject) {
            logs.clear();
        }
        let log = logs.entry(subject.clone()).or_default();
        // Only what follows on from the cached part: if the cache was cleared or
        // another read moved it meanwhile, the next read fetches again.
        if log.last_seq == after {
            for (seq, payload) in new {
                log.bytes.extend_from_slice(&payload);
                log.last_seq = seq;
            }
        }
        Ok(subject)
    }
}

/// Records a run's events in KV: each commit writes the records that changed.
struct KvRunWriter {
    store: KvStore,
    record: RunRecord,
    /// The last revision written of each task record, by index: this process is
    /// the only writer while it holds the lease, so a write can go straight to the
    /// expected revision (one round trip); a conflict falls back to read-modify-write.
    revisions: Arc<Mutex<Vec<Option<u64>>>>,
    dirty_tasks: Vec<usize>,
    dirty_run: bool,
    /// Attempts whose log is to be published (local runs).
    finished_logs: Vec<(String, u32)>,
    renewal: tokio::task::JoinHandle<()>,
    tenure: Tenure,
}

/// What a process knows of its hold on a run's lease: until when it may write
/// without asking the server again, and whether another process took the run.
/// A process that did not renew its lease for two thirds of its length (cut off
/// from the server, or stalled) asks the server before its next write, and
/// stops if the lease is another's: with clocks apart by less than a third of
/// the lease (5 s by default), the new driver takes the run only once the lease
/// lapsed by its own clock, after this process stopped writing.
#[derive(Clone)]
struct Tenure(Arc<Mutex<TenureState>>);

struct TenureState {
    sure_until: std::time::Instant,
    lost: bool,
    /// Fired when the tenure is lost.
    lost_signal: tokio_util::sync::CancellationToken,
}

impl Tenure {
    /// A lease just taken (or renewed) by a request sent at `asked`.
    fn new(asked: std::time::Instant) -> Tenure {
        Tenure(Arc::new(Mutex::new(TenureState {
            sure_until: asked + lease() * 2 / 3,
            lost: false,
            lost_signal: Default::default(),
        })))
    }

    fn with<T>(&self, f: impl FnOnce(&mut TenureState) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn renewed(&self, asked: std::time::Instant) {
        self.with(|t| t.sure_until = t.sure_until.max(asked + lease() * 2 / 3));
    }

    fn lose(&self) {
        self.with(|t| {
            t.lost = true;
            t.lost_signal.cancel();
        });
    }

    fn lost(&self) -> bool {
        self.with(|t| t.lost)
    }

    /// Whether this process may write without asking the server first.
    fn sure(&self) -> bool {
        self.with(|t| !t.lost && std::time::Instant::now() < t.sure_until)
    }
}

/// Renews `holder`'s lease on a run, unless another process holds it (or it was
/// given up): then the tenure is lost and the error says the run was taken over.
async fn renew(
    kv: &kv::Store,
    run_id: &str,
    holder: &str,
    tenure: &Tenure,
) -> Result<(), StoreError> {
    let asked = std::time::Instant::now();
    let renewed = update::<Header, _>(kv, &run_key(run_id), |h| {
        let mut h = h.ok_or_else(|| StoreError::NotFound(run_id.to_string()))?;
        if h.lease.as_ref().is_none_or(|l| l.holder != holder) {
            return Err(StoreError::TakenOver(run_id.to_string()));
        }
        h.lease = Some(Lease {
            holder: holder.to_string(),
            until: lease_until(),
        });
        Ok(h)
    })
    .await;
    match renewed {
        Ok(_) => {
            tenure.renewed(asked);
            Ok(())
        }
        Err(e) => {
            if matches!(e, StoreError::TakenOver(_)) {
                tenure.lose();
            }
            Err(e)
        }
    }
}

/// Fails when another process holds the run's lease now (a write of this one
/// met a newer record): the tenure is lost.
async fn check_holder(
    kv: &kv::Store,
    run_id: &str,
    holder: &str,
    tenure: &Tenure,
) -> Result<(), StoreError> {
    let header = read_from_leader::<Header>(kv, &run_key(run_id)).await?;
    if header.is_none_or(|(h, _)| h.lease.is_none_or(|l| l.holder != holder)) {
        tenure.lose();
        return Err(StoreError::TakenOver(run_id.to_string()));
    }
    Ok(())
}

impl KvRunWriter {
    /// The writer of a run whose lease this process took by a request sent at
    /// `asked`.
    fn new(store: KvStore, record: RunRecord, asked: std::time::Instant) -> KvRunWriter {
        let kv = store.inner.kv.clone();
        let holder = store.inner.holder.clone();
        let tenure = Tenure::new(asked);
        let run_id = record.run_id.clone();
        let renewing = tenure.clone();
        let renewal = store.inner.rt.spawn(async move {
            loop {
                tokio::time::sleep(lease() / 3).await;
                if let Err(StoreError::TakenOver(_)) = renew(&kv, &run_id, &holder, &renewing).await
                {
                    return;
                }
            }
        });
        let revisions = Arc::new(Mutex::new(vec![None; record.tasks.len()]));
        KvRunWriter {
            store,
            record,
            revisions,
            dirty_tasks: Vec::new(),
            dirty_run: true,
            finished_logs: Vec::new(),
            renewal,
            tenure,
        }
    }
}

impl Drop for KvRunWriter {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

impl RunWriter for KvRunWriter {
    fn append(&mut self, event: &Event) -> Result<(), StoreError> {
        self.record.apply(event).map_err(|e| StoreError::Corrupt {
            path: format!("nats kv {RUNS_BUCKET}: {}", self.record.run_id),
            detail: e.to_string(),
        })?;
        match event {
            Event::TaskState { task, .. }
            | Event::TaskWaiting { task, .. }
            | Event::AttemptStarted { task, .. }
            | Event::AttemptPlaced { task, .. }
            | Event::DuplicateResult { task, .. } => {
                self.dirty_tasks.push(*task);
            }
            Event::AttemptFinished { task, attempt, .. } => {
                self.dirty_tasks.push(*task);
                self.finished_logs
                    .push((self.record.tasks[*task].id.to_string(), *attempt));
            }
            Event::RunRetried { tasks, .. } => {
                self.dirty_tasks.extend(tasks);
                self.dirty_run = true;
            }
            // The new instances are pending: their records are created by their
            // first change, as every task's (an earlier run's leftover is replaced).
            Event::TaskMapped { task, .. } => {
                self.dirty_tasks.push(*task);
                if let Ok(mut r) = self.revisions.lock() {
                    r.resize(self.record.tasks.len(), None);
                }
            }
            // Only run-level changes rewrite the run record; the lease is renewed
            // on its own.
            Event::RunStarted { .. } | Event::RunFinished { .. } | Event::ChildRun { .. } => {
                self.dirty_run = true
            }
        }
        Ok(())
    }

    fn commit(&mut self, record: &RunRecord, final_record: bool) -> Result<(), StoreError> {
        self.dirty_tasks.sort_unstable();
        self.dirty_tasks.dedup();
        let run_id = record.run_id.clone();
        let tasks: Vec<(usize, TaskRecord)> = self
            .dirty_tasks
            .drain(..)
            .map(|t| (t, record.tasks[t].clone()))
            .collect();
        let revisions = self.revisions.clone();
        let header = (self.dirty_run || final_record).then(|| RunRecord {
            tasks: Vec::new(),
            ..record.clone()
        });
        self.dirty_run = false;
        let logs: Vec<(String, u32)> = std::mem::take(&mut self.finished_logs);
        let kv = self.store.inner.kv.clone();
        let js = self.store.inner.js.clone();
        let client = self.store.inner.client.clone();
        let publish_logs = !self.store.inner.remote_logs;
        let cache = self.store.inner.cache.clone();
        let holder = self.store.inner.holder.clone();
        let replicas = self.store.inner.replicas;
        let ended = record.state.is_terminal() && final_record;
        let tenure = self.tenure.clone();
        if tenure.lost() {
            return Err(StoreError::TakenOver(run_id));
        }
        self.store.call(async move {
            // A server that is gone would make every request below wait out its
            // time-out in turn (a run stopped with Ctrl-C took 20 s to end).
            if !reachable(&client, UNREACHABLE).await {
                return Err(io(
                    "write",
                    &run_id,
                    format!(
                        "the NATS server has been unreachable for {}s: the run's last changes are not saved (its lease lapses and it shows as interrupted; `dag retry {run_id}` resumes it)",
                        UNREACHABLE.as_secs()
                    ),
                ));
            }
            // Not sure of the lease any more (not renewed for a while): ask first.
            if !tenure.sure() {
                renew(&kv, &run_id, &holder, &tenure).await?;
            }
            // Task records: one writer (the lease holder); CAS all the same.
            let writes = futures_util::stream::iter(tasks.into_iter().map(|(i, t)| {
                let (kv, js, client) = (kv.clone(), js.clone(), client.clone());
                let key = task_key(&run_id, &t.id);
                let revisions = revisions.clone();
                let run_id = run_id.clone();
                let (holder, tenure) = (holder.clone(), tenure.clone());
                async move {
                    let known = revisions.lock().ok().and_then(|r| r[i]);
                    let t = stored(&js, &client, replicas, &run_id, &t).await?;
                    let bytes = bytes::Bytes::from(
                        serde_json::to_vec(&t).map_err(|e| io("encode", &key, e))?,
                    );
                    let revision = match known {
                        Some(rev) => match kv.update(&key, bytes, rev).await {
                            Ok(r) => r,
                            Err(_) => {
                                // Written by someone else since: a process that
                                // took the run over is never overwritten.
                                check_holder(&kv, &run_id, &holder, &tenure).await?;
                                update::<StoredTask, _>(&kv, &key, |_| Ok(t.clone()))
                                    .await?
                                    .1
                            }
                        },
                        None => {
                            update::<StoredTask, _>(&kv, &key, |_| Ok(t.clone()))
                                .await?
                                .1
                        }
                    };
                    if let Ok(mut r) = revisions.lock() {
                        r[i] = Some(revision);
                    }
                    Ok::<(), StoreError>(())
                }
            }))
            .buffer_unordered(128);
            let results: Vec<Result<(), StoreError>> = writes.collect().await;
            results.into_iter().collect::<Result<Vec<()>, _>>()?;
            if let Some(run) = header {
                update::<Header, _>(&kv, &run_key(&run_id), |h| {
                    let h = h.ok_or_else(|| StoreError::NotFound(run_id.clone()))?;
                    // The final write, retried after its answer was lost, finds
                    // itself landed (no lease, the record as written): done.
                    if ended && h.lease.is_none() {
                        let mine = h.clone().with_record(run.clone(), None);
                        if serde_json::to_vec(&mine).ok() == serde_json::to_vec(&h).ok() {
                            return Ok(h);
                        }
                    }
                    if h.lease.as_ref().is_none_or(|l| l.holder != holder) {
                        // Another process took the run over: stop rather than
                        // overwrite what it writes.
                        tenure.lose();
                        return Err(StoreError::TakenOver(run_id.clone()));
                    }
                    let lease = if ended {
                        None
                    } else {
                        Some(Lease {
                            holder: holder.clone(),
                            until: lease_until(),
                        })
                    };
                    Ok(h.with_record(run.clone(), lease))
                })
                .await?;
            }
            if publish_logs {
                for (task, attempt) in logs {
                    let path = cache.join(&run_id).join(format!("{task}.{attempt}.log"));
                    // Chunk by chunk, never the whole log in memory, and only from
                    // a regular file (a FIFO put there could block the open).
                    if let Ok(mut file) = crate::engine::capped_read::open_regular(
                        &path,
                        std::fs::File::options().read(true),
                    ) {
                        // Chunks fit the server's max payload, however small.
                        let size = super::transport::inline_limit(&client).clamp(1024, 64 * 1024);
                        let mut chunk = vec![0u8; size];
                        loop {
                            let n = match std::io::Read::read(&mut file, &mut chunk) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            let _ = client
                                .publish(
                                    format!("dag.logs.{run_id}.{task}.{attempt}"),
                                    bytes::Bytes::copy_from_slice(&chunk[..n]),
                                )
                                .await;
                        }
                        let _ = tokio::time::timeout(Duration::from_secs(5), client.flush()).await;
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
            Ok(())
        })?;
        if ended {
            self.renewal.abort();
        }
        Ok(())
    }

    fn task_log(&mut self, task: &str, attempt: u32) -> Result<TaskLog, StoreError> {
        let dir = self.store.inner.cache.join(&self.record.run_id);
        std::fs::create_dir_all(&dir).map_err(|e| io("create", dir.display(), e))?;
        Ok(TaskLog::at(dir.join(format!("{task}.{attempt}.log"))))
    }

    fn taken_over(&self) -> Option<tokio_util::sync::CancellationToken> {
        Some(self.tenure.with(|t| t.lost_signal.clone()))
    }

    fn check_driving(&mut self) -> Result<(), StoreError> {
        if self.tenure.lost() {
            return Err(StoreError::TakenOver(self.record.run_id.clone()));
        }
        if self.tenure.sure() {
            return Ok(());
        }
        let kv = self.store.inner.kv.clone();
        let holder = self.store.inner.holder.clone();
        let (run_id, tenure) = (self.record.run_id.clone(), self.tenure.clone());
        self.store
            .call(async move { renew(&kv, &run_id, &holder, &tenure).await })
    }

    fn release(&mut self) -> Result<(), StoreError> {
        self.renewal.abort();
        self.tenure.lose();
        self.store.release_run(&self.record.run_id)
    }
}
