//! `dag worker`: takes task attempts from the queues it serves, runs them with the
//! local runners, and reports results.
//!
//! - `--workers N` slots: the worker fetches only as many messages as it has free
//!   slots, so no message waits in a worker while its AckWait runs.
//! - A taken message gets a progress ack every AckWait/3, from the moment it is
//!   fetched (its payload may take a while to read), so a long task is never
//!   delivered again while its worker lives. A worker that dies stops those
//!   acks; the message is delivered again after AckWait and another worker runs the
//!   attempt anew (at-least-once). Past the delivery limit the task fails with that
//!   reason instead.
//! - A heartbeat every 10 s in the `dag_workers` bucket says who serves what. A name
//!   is held by one live worker: a second worker with the name of a live one is
//!   refused, every heartbeat is a compare-and-swap on the revision this worker
//!   wrote last, and on exit the worker deletes its key only at that revision, never
//!   another process's.
//! - A task message is checked before anything runs: one that cannot be decoded, or
//!   whose identifiers are not valid, is terminated with the reason in the log, and
//!   the slot serves the next message at once. Reports are retried while the server
//!   is away, each failure logged, until the attempt's deadline; an error that
//!   cannot pass is not retried.
//! - On shutdown (SIGTERM): stop fetching, let running tasks finish within the
//!   shutdown timeout, then stop the rest and hand their messages back (NAK) so other
//!   workers take them at once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer};
use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::transport::{self, PROOF_HEADER, SendError, TOKEN_HEADER};
use super::wire::{
    self, ControlAction, ControlMsg, Heartbeat, PROTOCOL, ResultKind, ResultMsg, TaskMsg,
};
use super::{
    NatsError, Timing, consumer_difference, ensure_layout, eprintln_safe, queue_consumer,
    queue_consumer_config, workers_bucket,
};
use crate::engine::graph::Dag;
use crate::engine::runner::{Outcome, Runners, Status, StopSignal, TaskContext, TaskLog};
use crate::engine::secrets::Secrets;
use crate::engine::spec::{DagSpec, TaskKind};
use crate::engine::time::Timestamp;

/// The most task slots a worker may have (`dag worker --workers`).
pub const MAX_SLOTS: u32 = 100_000;

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Worker id; `<host>-<pid>-<random>` when not given.
    pub name: Option<String>,
    /// This machine's host name.
    pub host: String,
    /// Tasks run at once.
    pub slots: usize,
    /// Timeout of tasks that set none.
    pub default_timeout: Duration,
    /// Whether docker tasks are run.
    pub docker: bool,
    /// Queues served.
    pub queues: Vec<String>,
    /// How long running tasks may take to finish on shutdown.
    pub shutdown_timeout: Duration,
    /// Shut down (as on SIGTERM) once no task has run for this long.
    pub exit_when_idle: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when a task is stopped.
    pub grace: Duration,
    /// Task types this worker runs; others fail with the reason.
    pub allow_types: Vec<String>,
    /// Host path prefixes docker tasks may bind-mount; empty: any.
    pub allow_volumes: Vec<PathBuf>,
    /// Networks docker tasks may name (`--allow-network`, else
    /// [`DEFAULT_NETWORKS`](crate::backends::docker::DEFAULT_NETWORKS) and the
    /// worker's own `--docker-network`).
    pub allow_networks: Vec<String>,
    /// Copies of each stream and bucket this worker creates when missing
    /// (`--replicas`).
    pub replicas: super::Replicas,
    /// The ids of the GPUs this worker gives to tasks with `gpus:` (`--gpus`).
    pub gpus: Vec<String>,
}

impl WorkerConfig {
    /// What docker tasks may ask for here, enforced again by the docker runner
    /// when it mounts.
    pub fn docker_policy(&self) -> crate::backends::docker::DockerPolicy {
        crate::backends::docker::DockerPolicy {
            volumes: (!self.allow_volumes.is_empty()).then(|| self.allow_volumes.clone()),
            networks: Some(self.allow_networks.clone()),
        }
    }
}

/// Why a worker refuses a task under its `--allow-types`, `--allow-volume` and
/// `--allow-network` settings, if it does.
pub fn refusal(config: &WorkerConfig, task: &crate::engine::spec::TaskSpec) -> Option<String> {
    let t = task.kind.type_name();
    if !config.allow_types.iter().any(|a| a == t) {
        return Some(format!(
            "this worker does not run {t} tasks (--allow-types {})",
            config.allow_types.join(",")
        ));
    }
    if let TaskKind::Docker(d) = &task.kind {
        return config.docker_policy().admit(d).err();
    }
    None
}

struct State {
    id: String,
    config: WorkerConfig,
    timing: Timing,
    client: async_nats::Client,
    js: jetstream::Context,
    runners: Runners,
    active: AtomicUsize,
    /// Stops of running attempts, by run id.
    running: Mutex<HashMap<String, Vec<(u64, StopSignal)>>>,
    /// Runs cancelled while this worker lives.
    cancelled: Mutex<HashMap<String, Instant>>,
    /// Set when shutdown stops tasks: their messages go back to the queue.
    returning: AtomicBool,
    logs_dir: PathBuf,
    next: AtomicUsize,
    /// What `--metrics-addr` serves.
    metrics: Arc<crate::metrics::Registry>,
    /// Which of this worker's GPUs are free (taken only with permits of `gpu_permits`).
    gpus: Mutex<crate::engine::gpu::Devices>,
    /// One permit per free GPU: a lane's loop waits for as many as its tasks
    /// need before it fetches one (fairly: a loop waiting for 2 is not overtaken
    /// by loops wanting 1).
    gpu_permits: Arc<Semaphore>,
}

/// Runs a worker until `shutdown` fires, then shuts down as described above.
pub async fn run(
    client: async_nats::Client,
    config: WorkerConfig,
    runners: Runners,
    timing: Timing,
    shutdown: CancellationToken,
    metrics: Arc<crate::metrics::Registry>,
) -> Result<(), NatsError> {
    let js = jetstream::new(client.clone());
    set_up("cannot set up the streams", &shutdown, || {
        ensure_layout(&js, config.replicas)
    })
    .await?;
    let mut consumers = Vec::new();
    for queue in &config.queues {
        for docker in [false, true] {
            if docker && !config.docker {
                continue;
            }
            // A lane per number of GPUs a task may need that this worker has.
            for gpus in 0..=config.gpus.len() as u32 {
                let lane = super::Lane {
                    queue: queue.clone(),
                    docker,
                    gpus,
                };
                let ready = set_up("cannot open the queue", &shutdown, || {
                    queue_consumer(&js, &lane, &timing, true)
                })
                .await;
                consumers.push(match ready {
                    Ok(c) => Queue::Ready(Box::new(c), lane),
                    // Served as soon as a run using the queue creates its consumer.
                    Err(NatsError::Uncreatable(why)) => {
                        eprintln_safe(&format!(
                            "dag worker: {why}; waiting for it (checked every second)"
                        ));
                        Queue::Awaited(lane)
                    }
                    Err(e) => return Err(e),
                });
            }
        }
    }
    let mut config = config;
    if !wire::valid_host(&config.host) {
        // Every result names the host: one the scheduler would refuse is replaced.
        config.host = "localhost".into();
    }
    let id = config
        .name
        .clone()
        .unwrap_or_else(|| default_name(&config.host));
    // Private (0700), and removed by the reaper if this worker is SIGKILLed.
    let logs_dir = crate::backends::process::reaper::private_temp_dir("worker").map_err(|e| {
        NatsError::Op(format!(
            "cannot create a private temp directory in {}: {e}",
            std::env::temp_dir().display()
        ))
    })?;
    // Tasks with `cache:` are checked against the deployment's cache, so that a
    // result saved by one worker serves every other.
    let cache = super::cache::ObjectCache::new(js.clone(), config.replicas, logs_dir.join("cache"));
    let cache: Arc<dyn crate::engine::cache::CacheStore> = Arc::new(cache);
    let runners = runners.cached(&cache);
    let state = Arc::new(State {
        id,
        timing,
        client: client.clone(),
        js: js.clone(),
        runners,
        active: AtomicUsize::new(0),
        running: Mutex::new(HashMap::new()),
        cancelled: Mutex::new(HashMap::new()),
        returning: AtomicBool::new(false),
        logs_dir,
        next: AtomicUsize::new(0),
        metrics,
        gpus: Mutex::new(crate::engine::gpu::Devices::new(config.gpus.clone())),
        gpu_permits: Arc::new(Semaphore::new(config.gpus.len())),
        config,
    });
    state.count_running();

    let kv = workers_bucket(&js, state.config.replicas).await?;
    let started_at = Timestamp::now();
    let heartbeat = {
        let state = state.clone();
        move || Heartbeat {
            v: PROTOCOL,
            id: state.id.clone(),
            hostname: state.config.host.clone(),
            queues: state.config.queues.clone(),
            docker: state.config.docker,
            slots: state.config.slots,
            active: state.active.load(Ordering::SeqCst),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at,
            updated_at: Timestamp::now(),
            types: state.config.allow_types.clone(),
            gpus: state.config.gpus.len(),
        }
    };
    let hb = heartbeat();
    let claimed = set_up("cannot claim the worker name", &shutdown, || {
        claim_name(&kv, &state.id, &hb, &state.timing, &shutdown)
    })
    .await;
    let claimed = match claimed {
        Ok(revision) => revision,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&state.logs_dir);
            // Stopped before it served: nothing to hand back.
            if shutdown.is_cancelled() {
                return Ok(());
            }
            return Err(e);
        }
    };
    let revision = Arc::new(Mutex::new(claimed));
    let beat = {
        let (state, kv, shutdown, revision) = (
            state.clone(),
            kv.clone(),
            shutdown.clone(),
            revision.clone(),
        );
        tokio::spawn(async move {
            // When this worker last wrote its heartbeat: a name can only be taken
            // from a worker silent for longer than the dead-after time.
            let mut written_at = Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(state.timing.heartbeat) => {}
                    _ = shutdown.cancelled() => return,
                }
                let last = revision.lock().map(|r| *r).unwrap_or(0);
                // A write counts from when it was sent: a reply that waited out a
                // stop (SIGSTOP, a frozen VM) must not make a stale heartbeat new.
                let sent = Instant::now();
                match beat_once(&kv, &state.id, &heartbeat(), last).await {
                    Beat::Written(r) => {
                        written_at = sent;
                        if let Ok(mut rev) = revision.lock() {
                            *rev = r;
                        }
                    }
                    Beat::Later => {}
                    Beat::Taken(theirs) if written_at.elapsed() < state.timing.dead_after() => {
                        // No worker may take a live worker's name, so this write came
                        // from someone else (anyone who may write `dag_workers`): the
                        // heartbeat is written back over it, and this worker goes on.
                        eprintln_safe(&format!(
                            "dag worker: warning: the heartbeat of `{}` was overwritten while this worker was alive (not by a worker taking the name); writing it back",
                            state.id
                        ));
                        let sent = Instant::now();
                        if let Ok(r) = kv
                            .update(&state.id, wire::encode(&heartbeat()), theirs)
                            .await
                        {
                            written_at = sent;
                            if let Ok(mut rev) = revision.lock() {
                                *rev = r;
                            }
                        }
                    }
                    Beat::Taken(_) => {
                        eprintln_safe(&format!(
                            "dag worker: another worker wrote the heartbeat of `{}` (this worker was silent longer than the dead-after time and its name was taken): shutting down",
                            state.id
                        ));
                        if let Ok(mut rev) = revision.lock() {
                            *rev = 0;
                        }
                        shutdown.cancel();
                        return;
                    }
                }
            }
        })
    };

    let mut control = client
        .subscribe("dag.control.>")
        .await
        .map_err(|e| NatsError::Op(format!("cannot subscribe to control messages: {e}")))?;
    {
        let state = state.clone();
        tokio::spawn(async move {
            while let Some(msg) = control.next().await {
                if let Ok(c) = wire::decode::<ControlMsg>("control", &msg.payload)
                    && c.action == ControlAction::Cancel
                {
                    state.cancel_run(&c.run_id);
                }
            }
        });
    }

    let slots = Arc::new(Semaphore::new(state.config.slots.max(1)));
    let mut loops = Vec::new();
    for queue in consumers {
        let (state, slots, shutdown) = (state.clone(), slots.clone(), shutdown.clone());
        let js = js.clone();
        loops.push(tokio::spawn(async move {
            let lane = queue.lane().clone();
            let want = queue_consumer_config(&lane, &timing);
            let mut queue = queue;
            loop {
                let consumer = tokio::select! {
                    c = queue.ready(&js, &timing) => c,
                    _ = shutdown.cancelled() => return,
                };
                let Some(why) =
                    fetch_loop(&state, consumer, &want, &slots, lane.gpus, &shutdown).await
                else {
                    return;
                };
                // Deleted, or changed by someone else (a shorter AckWait would have
                // the server hand running tasks to another worker): stop taking
                // tasks from it until it is as dag needs again.
                eprintln_safe(&format!(
                    "dag worker: the consumer of queue `{}` {why}: not taking tasks from it until it is back as dag needs it",
                    lane.shown()
                ));
                queue = Queue::Awaited(lane.clone());
            }
        }));
    }

    if let Some(idle) = state.config.exit_when_idle {
        let (state, shutdown) = (state.clone(), shutdown.clone());
        loops.push(tokio::spawn(async move {
            exit_when_idle(&state, idle, &shutdown).await;
        }));
    }

    shutdown.cancelled().await;
    for l in &loops {
        l.abort();
    }
    // Let running tasks finish, then stop the rest and hand their messages back.
    let deadline = Instant::now() + state.config.shutdown_timeout;
    while state.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if state.active.load(Ordering::SeqCst) > 0 {
        state.returning.store(true, Ordering::SeqCst);
        state.stop_all();
        let deadline = Instant::now() + state.config.grace + Duration::from_secs(5);
        while state.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    beat.abort();
    // Only the revision this worker wrote: a key another process holds stays.
    let last = revision.lock().map(|r| *r).unwrap_or(0);
    if last > 0 {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            kv.delete_expect_revision(&state.id, Some(last)),
        )
        .await;
    }
    // With the server away a flush waits for it to come back: not for ever.
    let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
    let _ = std::fs::remove_dir_all(&state.logs_dir);
    Ok(())
}

/// Fires `shutdown` once no task has run for `idle`: none running, and none
/// started since (tasks are counted as they start, so a burst of short ones
/// between two looks still counts).
async fn exit_when_idle(state: &State, idle: Duration, shutdown: &CancellationToken) {
    let look = (idle / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut seen = state.next.load(Ordering::SeqCst);
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(look).await;
        let started = state.next.load(Ordering::SeqCst);
        if started != seen || state.active.load(Ordering::SeqCst) > 0 {
            seen = started;
            since = Instant::now();
            continue;
        }
        if since.elapsed() >= idle {
            eprintln_safe(&format!(
                "dag worker: no task for {} (--exit-when-idle): shutting down",
                humantime::format_duration(idle)
            ));
            shutdown.cancel();
            return;
        }
    }
}

impl State {
    /// The running-tasks and free-slots gauges, as they are now: the count is
    /// read under the registry's lock, so that of two attempts ending at once
    /// the one setting the gauges last sets the latest count (a count read
    /// earlier and set last would show a task running on an idle worker).
    fn count_running(&self) {
        self.metrics.set_now(
            "dag_worker_running_tasks",
            "Attempts running on this worker.",
            &[],
            || self.active.load(Ordering::SeqCst) as f64,
        );
        self.metrics.set_now(
            "dag_worker_free_slots",
            "Slots of this worker (--workers) no attempt holds.",
            &[],
            || {
                let active = self.active.load(Ordering::SeqCst);
                self.config.slots.saturating_sub(active) as f64
            },
        );
    }

    fn cancel_run(&self, run_id: &str) {
        if let Ok(mut c) = self.cancelled.lock() {
            c.retain(|_, at| at.elapsed() < Duration::from_secs(24 * 3600));
            c.insert(run_id.to_string(), Instant::now());
        }
        if let Ok(r) = self.running.lock()
            && let Some(stops) = r.get(run_id)
        {
            for (_, stop) in stops {
                stop.graceful.cancel();
            }
        }
    }

    fn is_cancelled(&self, run_id: &str) -> bool {
        self.cancelled.lock().is_ok_and(|c| c.contains_key(run_id))
    }

    fn stop_all(&self) {
        if let Ok(r) = self.running.lock() {
            for (_, stop) in r.values().flatten() {
                stop.graceful.cancel();
            }
        }
    }

    /// Publishes a result with its proof under the attempt's `token`, retrying
    /// while the server is away until `deadline`, and logging each failure. Returns
    /// why it was not sent, if it was not.
    async fn report(
        &self,
        result: &ResultMsg,
        token: &str,
        deadline: Instant,
    ) -> Result<(), SendError> {
        let payload = wire::encode(result);
        let subject = format!("dag.results.{}", result.run_id);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(PROOF_HEADER, transport::proof(token, &payload).as_str());
        let object = format!(
            "{}.{}.{}.{}.{:016x}",
            result.run_id,
            result.task,
            result.attempt,
            match result.kind {
                ResultKind::Started => "started",
                ResultKind::Finished => "finished",
            },
            fastrand::u64(..)
        );
        // Each try of this report carries the same id: one that seemed to fail
        // (the server went away before it answered) and landed all the same is
        // dropped as a duplicate when it is tried again, not counted twice.
        headers.insert(async_nats::header::NATS_MESSAGE_ID, object.as_str());
        let what = format!(
            "the {} result of task {} (attempt {}) of run {}",
            match result.kind {
                ResultKind::Started => "started",
                ResultKind::Finished => "finished",
            },
            result.task,
            result.attempt,
            result.run_id
        );
        let mut delay = Duration::from_millis(100);
        loop {
            let sent = transport::send(
                &self.js,
                &self.client,
                &subject,
                headers.clone(),
                payload.clone(),
                &object,
                self.config.replicas,
            )
            .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(SendError::Never(e)) => {
                    eprintln_safe(&format!(
                        "dag worker: cannot publish {what}: {e}; not trying again"
                    ));
                    return Err(SendError::Never(e));
                }
                Err(SendError::Retry(e)) => {
                    if Instant::now() + delay > deadline {
                        eprintln_safe(&format!(
                            "dag worker: cannot publish {what}: {e}; giving up at the attempt's deadline"
                        ));
                        return Err(SendError::Retry(e));
                    }
                    eprintln_safe(&format!(
                        "dag worker: cannot publish {what}: {e}; trying again in {} ms",
                        delay.as_millis()
                    ));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn result(&self, msg: &TaskMsg, kind: ResultKind, delivery: Delivery) -> ResultMsg {
        self.result_of(&msg.run_id, &msg.task.id, msg.attempt, kind, delivery)
    }

    fn result_of(
        &self,
        run_id: &str,
        task: &str,
        attempt: u32,
        kind: ResultKind,
        delivery: Delivery,
    ) -> ResultMsg {
        ResultMsg {
            v: PROTOCOL,
            run_id: run_id.to_string(),
            task: task.to_string(),
            attempt,
            kind,
            worker: self.id.clone(),
            host: self.config.host.clone(),
            delivery: delivery.count,
            message: delivery.message,
            at: Timestamp::now(),
            status: None,
            exit_code: None,
            error: None,
            outputs: Default::default(),
            log_bytes: 0,
            cached: false,
        }
    }
}

/// Which delivery of which task message a worker runs: its results say both,
/// so that two executions of one attempt (a message handed out again, or a
/// second message for it) are told apart.
#[derive(Clone, Copy, Debug)]
struct Delivery {
    /// How many times the message has been delivered.
    count: u64,
    /// The message's sequence in the task queue (0 when the server does not
    /// say).
    message: u64,
}

impl Delivery {
    fn of(msg: &jetstream::Message) -> Delivery {
        let info = msg.info().ok();
        Delivery {
            count: info.as_ref().map_or(1, |i| i.delivered.max(1) as u64),
            message: info.map_or(0, |i| i.stream_sequence),
        }
    }
}

/// The consumer a worker takes one lane's task messages from.
enum Queue {
    Ready(Box<consumer::PullConsumer>, super::Lane),
    /// Not created yet, and this worker's identity may not create it (the run that
    /// first uses the lane does).
    Awaited(super::Lane),
}

impl Queue {
    /// Its lane.
    fn lane(&self) -> &super::Lane {
        match self {
            Queue::Ready(_, lane) | Queue::Awaited(lane) => lane,
        }
    }

    /// The consumer, once it exists; one created with other settings meanwhile is
    /// reported once and waited out like a missing one.
    async fn ready(self, js: &jetstream::Context, timing: &Timing) -> consumer::PullConsumer {
        let lane = match self {
            Queue::Ready(c, _) => return *c,
            Queue::Awaited(lane) => lane,
        };
        let mut said = None;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Never tries to create it again: a refused request every second would
            // fill the server's log.
            match queue_consumer(js, &lane, timing, false).await {
                Ok(c) => {
                    eprintln_safe(&format!(
                        "dag worker: the consumer of queue `{}` exists now: serving it",
                        lane.shown()
                    ));
                    return c;
                }
                Err(NatsError::Uncreatable(_)) => {}
                Err(e) => {
                    let e = e.to_string();
                    if said.as_ref() != Some(&e) {
                        eprintln_safe(&format!("dag worker: {e}; trying again every second"));
                        said = Some(e);
                    }
                }
            }
        }
    }
}

/// How often a worker checks that its queue's consumer is still as dag needs it.
const CONSUMER_CHECK: Duration = Duration::from_secs(5);

/// How often a lane of GPU tasks with none waiting looks again.
const IDLE_GPU_LANE: Duration = Duration::from_millis(500);

/// Takes tasks from `consumer` until shutdown (`None`), or until the consumer is
/// gone or no longer as `want` says (why, as a phrase). A lane of tasks that
/// need `gpus` GPUs takes one task at a time, once that many are free here.
async fn fetch_loop(
    state: &Arc<State>,
    mut consumer: consumer::PullConsumer,
    want: &consumer::pull::Config,
    slots: &Arc<Semaphore>,
    gpus: u32,
    shutdown: &CancellationToken,
) -> Option<String> {
    let mut checked = Instant::now();
    loop {
        if checked.elapsed() >= CONSUMER_CHECK {
            checked = Instant::now();
            match consumer.info().await {
                Ok(info) => {
                    if let Some(field) = consumer_difference(&info.config, want) {
                        return Some(format!("now has another {field}"));
                    }
                }
                Err(e) if e.to_string().contains("not found") => {
                    return Some("was deleted".into());
                }
                // The server is away: the fetch below finds out too.
                Err(_) => {}
            }
        }
        // GPUs first: a loop holding them waits for a slot, rather than
        // slots waiting for GPUs that other lanes hold.
        let gpu_permit = if gpus > 0 {
            // Only a lane with tasks waiting waits for its GPUs (fairly): an
            // empty lane in line for all of them would keep every smaller
            // lane from taking a GPU until all were free, and then hold them
            // through a fetch that brings nothing.
            let (waiting, taken) = match consumer.info().await {
                Ok(info) => (info.num_pending, info.num_ack_pending),
                Err(_) => (0, 0),
            };
            let permit = if waiting > 0 {
                tokio::select! {
                    p = state.gpu_permits.clone().acquire_many_owned(gpus) => match p { Ok(p) => Some(p), Err(_) => return None },
                    _ = shutdown.cancelled() => return None,
                }
            } else if taken > 0 {
                // Tasks taken by workers may come back (a worker lost): taken
                // here when the GPUs are free now, never ahead of lanes with
                // tasks waiting.
                state.gpu_permits.clone().try_acquire_many_owned(gpus).ok()
            } else {
                None
            };
            if permit.is_none() {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_GPU_LANE) => {}
                    _ = shutdown.cancelled() => return None,
                }
                continue;
            }
            permit
        } else {
            None
        };
        let first = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return None },
            _ = shutdown.cancelled() => return None,
        };
        let mut permits = vec![first];
        while gpus == 0 && permits.len() < 256 {
            match slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let batch = consumer
            .fetch()
            .max_messages(permits.len())
            .expires(Duration::from_secs(2))
            .messages()
            .await;
        let mut batch = match batch {
            Ok(b) => b,
            Err(_) => {
                // The server is away; the next fetch tries again.
                drop(permits);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut gpu_permit = gpu_permit;
        while let Some(next) = batch.next().await {
            let Ok(msg) = next else { break };
            let Some(permit) = permits.pop() else {
                // More than asked for: give it back at once.
                let _ = msg.ack_with(AckKind::Nak(None)).await;
                continue;
            };
            // The permits say that many are free: the ids are taken with them.
            let held = match gpu_permit.take() {
                Some(p) => {
                    let ids = state
                        .gpus
                        .lock()
                        .ok()
                        .and_then(|mut g| g.take(gpus))
                        .unwrap_or_default();
                    Some((p, ids))
                }
                None => None,
            };
            let state = state.clone();
            state.active.fetch_add(1, Ordering::SeqCst);
            state.count_running();
            tokio::spawn(async move {
                let ids = held
                    .as_ref()
                    .map(|(_, ids)| ids.clone())
                    .unwrap_or_default();
                execute(&state, msg, gpus, ids.clone()).await;
                if let Ok(mut g) = state.gpus.lock() {
                    g.give_back(&ids);
                }
                drop(held);
                state.active.fetch_sub(1, Ordering::SeqCst);
                state.count_running();
                drop(permit);
            });
        }
    }
}

/// A task message refused before anything runs: terminated (it can never run), the
/// reason logged.
async fn refuse(msg: &jetstream::Message, why: &str) {
    let seq = msg
        .info()
        .map(|i| format!(" (stream sequence {})", i.stream_sequence))
        .unwrap_or_default();
    eprintln_safe(&format!(
        "dag worker: refusing a message on {}{seq}: {why}",
        wire::excerpt(msg.subject.as_str())
    ));
    let _ = msg.ack_with(AckKind::Term).await;
}

/// A task message whose payload (in the object store) can never be read: the
/// attempt it names (by its message id, `<run>.<task>.<attempt>`) is reported failed
/// with the reason, so the run does not wait for it; the message is terminated.
async fn unreadable(state: &Arc<State>, msg: &jetstream::Message, delivery: Delivery, why: &str) {
    let id = transport::header(
        msg.headers.as_ref(),
        async_nats::header::NATS_MESSAGE_ID.as_ref(),
    );
    let token = transport::header(msg.headers.as_ref(), TOKEN_HEADER);
    let attempt = id.and_then(|id| {
        let (run, rest) = id.split_once('.')?;
        let (task, attempt) = rest.rsplit_once('.')?;
        let attempt: u32 = attempt.parse().ok()?;
        (wire::valid_run_id(run) && wire::valid_task_id(task)).then_some((run, task, attempt))
    });
    if let (Some((run, task, attempt)), Some(token)) = (attempt, token) {
        let mut result = state.result_of(run, task, attempt, ResultKind::Finished, delivery);
        result.status = Some("failed".into());
        result.error = Some(format!(
            "worker {} cannot read the task message: {why}",
            state.id
        ));
        let deadline = Instant::now() + state.timing.ack_wait;
        let _ = state.report(&result, token, deadline).await;
    }
    refuse(msg, why).await
}

/// Progress acks for a taken message, every AckWait/3 until dropped: the message
/// stays this worker's while its payload is read (a large one from the object
/// store, on a loaded machine, can take longer than an AckWait), while the task
/// runs, and while it is reported.
struct ProgressAcks(tokio::task::JoinHandle<()>);

impl ProgressAcks {
    fn start(msg: &Arc<jetstream::Message>, every: Duration) -> ProgressAcks {
        let msg = msg.clone();
        ProgressAcks(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let _ = msg.ack_with(AckKind::Progress).await;
            }
        }))
    }
}

impl Drop for ProgressAcks {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs one task message; `gpus` is how many GPUs its lane's tasks need, and
/// `devices` the ids of those this worker holds for it.
async fn execute(state: &Arc<State>, msg: jetstream::Message, gpus: u32, devices: Vec<String>) {
    let msg = Arc::new(msg);
    let progress = ProgressAcks::start(&msg, state.timing.progress_every());
    let delivery = Delivery::of(&msg);
    let payload = match transport::receive(
        &state.js,
        msg.headers.as_ref(),
        &msg.payload,
        state.config.replicas,
    )
    .await
    {
        Ok(p) => p,
        Err(SendError::Never(why)) => return unreadable(state, &msg, delivery, &why).await,
        Err(SendError::Retry(why)) => {
            eprintln_safe(&format!(
                "dag worker: cannot read a task message now: {why}; it goes back to the queue"
            ));
            // No progress ack may follow the nak (it would hold the message for a
            // whole AckWait).
            drop(progress);
            let _ = msg
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
            return;
        }
    };
    let task_msg = match wire::decode::<TaskMsg>("task", &payload) {
        Ok(t) => t,
        // Nothing can run it: keep it from coming back, and say why.
        Err(e) => return refuse(&msg, &e).await,
    };
    let Some(token) = transport::header(msg.headers.as_ref(), TOKEN_HEADER).map(str::to_string)
    else {
        return refuse(
            &msg,
            &format!(
                "the task message of task {} (attempt {}) of run {} carries no attempt token ({TOKEN_HEADER} header), so no result of it could be accepted",
                task_msg.task.id, task_msg.attempt, task_msg.run_id
            ),
        )
        .await;
    };
    let timeout = task_msg
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(state.config.default_timeout);
    // Reports give up past the attempt's own deadline (the server has been away all
    // that time); the message then goes back to the queue.
    let deadline = Instant::now() + timeout + state.config.grace + state.timing.ack_wait;
    let finished = |status: &str, error: Option<String>| {
        let mut r = state.result(&task_msg, ResultKind::Finished, delivery);
        r.status = Some(status.to_string());
        r.error = error;
        r
    };
    // A report of an attempt that never ran: the message is done once it is sent,
    // and goes back to the queue when it cannot be.
    let settle = |result: ResultMsg| {
        let (msg, token) = (&msg, &token);
        async move {
            match state.report(&result, token, deadline).await {
                Ok(()) | Err(SendError::Never(_)) => {
                    let _ = msg.ack_with(AckKind::Term).await;
                }
                Err(SendError::Retry(_)) => {
                    let _ = msg.ack_with(AckKind::Nak(None)).await;
                }
            }
        }
    };
    if delivery.count > state.timing.max_deliveries {
        let reason = format!(
            "the task was delivered {} times without finishing (the workers running it were lost); giving up",
            delivery.count
        );
        return settle(finished("failed", Some(reason))).await;
    }
    if state.is_cancelled(&task_msg.run_id) {
        return settle(finished("cancelled", Some("run cancelled".into()))).await;
    }
    let is_docker = matches!(task_msg.task.kind, TaskKind::Docker(_));
    let type_name = task_msg.task.kind.type_name();
    if task_msg.task.gpus != gpus || devices.len() != gpus as usize {
        // Sent to another lane than its own (by a dag that does not know
        // `gpus:`, or forged): it must not run with GPUs it does not hold.
        return settle(finished(
            "failed",
            Some(format!(
                "worker {} refused the task: it needs {} GPU(s) and came on a queue of tasks needing {gpus}",
                state.id, task_msg.task.gpus
            )),
        ))
        .await;
    }
    if let Some(why) = refusal(&state.config, &task_msg.task) {
        return settle(finished(
            "failed",
            Some(format!("worker {} refused the task: {why}", state.id)),
        ))
        .await;
    }
    let runner = match state.runners.get(type_name) {
        Some(r) if !is_docker || state.config.docker => r.clone(),
        _ => {
            let why = format!("worker {} does not run {type_name} tasks", state.id);
            return settle(finished("failed", Some(why))).await;
        }
    };
    let labels = [("type", type_name), ("queue", task_msg.task.queue.as_str())];
    state.metrics.add(
        "dag_worker_tasks_started_total",
        "Attempts this worker started, by task type and queue.",
        &labels,
        1.0,
    );
    if delivery.count > 1 {
        state.metrics.add(
            "dag_worker_tasks_redelivered_total",
            "Attempts this worker started whose task message was delivered before (a lost worker's, or one handed back).",
            &labels,
            1.0,
        );
    }
    if let Some(waited) = msg.info().ok().and_then(|i| {
        let published = i.published.unix_timestamp_nanos();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos() as i128;
        u64::try_from(now - published)
            .ok()
            .map(Duration::from_nanos)
    }) {
        state.metrics.observe(
            "dag_worker_queue_wait_seconds",
            "Time from an attempt's task message entering its queue to its start here.",
            &labels,
            waited,
        );
    }
    let began = Instant::now();
    // The scheduler shows where the attempt runs; the attempt runs even when this
    // report cannot be sent (the finished report is the one that counts).
    let _ = state
        .report(
            &state.result(&task_msg, ResultKind::Started, delivery),
            &token,
            deadline,
        )
        .await;

    let stop = StopSignal::new();
    let slot = state.next.fetch_add(1, Ordering::SeqCst) as u64;
    if let Ok(mut r) = state.running.lock() {
        r.entry(task_msg.run_id.clone())
            .or_default()
            .push((slot, stop.clone()));
    }
    let mut task = task_msg.task.clone();
    task.depends_on.clear();
    let dag = Arc::new(Dag::new(DagSpec {
        name: task_msg.dag.clone(),
        description: None,
        params: task_msg.params.clone(),
        env: Vec::new(),
        tasks: vec![task.clone()],
        timeout: None,
        outcome: Default::default(),
        pools: Vec::new(),
        outputs: Vec::new(),
    }));
    let log_path = state.logs_dir.join(format!(
        "{}.{}.{}.{slot}.log",
        task_msg.run_id, task.id, task_msg.attempt
    ));
    let log_faults = crate::engine::runner::LogFaults::default();
    // Built once: the log, the output stream, the outputs and the error share it.
    let secrets = Secrets::new(&crate::engine::secrets::attempt_secrets(
        task.secret_values(&task_msg.env),
        &task_msg.params,
        &task_msg.secret_params,
    ));
    let log = TaskLog::at(log_path.clone())
        .with_secrets(secrets.clone())
        .reporting_faults_to(log_faults.clone());
    let ctx = TaskContext {
        dag,
        index: 0,
        run_id: task_msg.run_id.clone(),
        attempt: task_msg.attempt,
        env: task_msg.env.clone(),
        workdir: task.workdir.as_ref().map(PathBuf::from),
        timeout,
        grace: state.config.grace,
        log,
        lines: None,
        stop,
        resolved: None,
        upstream: task_msg.upstream.clone(),
        output_cap: task_msg
            .output_cap
            .min(crate::engine::runner::MAX_LIST_OUTPUT_BYTES),
        unrunnable: None,
        notes: None,
        secret_params: task_msg.secret_params.clone().into(),
        adopted: None,
        no_cache: task_msg.no_cache,
        rerun: false,
        gpus: devices,
    };
    let subject = format!(
        "dag.logs.{}.{}.{}",
        task_msg.run_id, task.id, task_msg.attempt
    );
    let done = CancellationToken::new();
    let forward = tokio::spawn(forward_log(
        state.client.clone(),
        subject,
        log_path.clone(),
        done.clone(),
    ));

    // A log that cannot be written (this machine's disk is full) is a fault of this
    // worker, not of the task: the task is stopped (dropping its future kills its
    // process group) and handed back for another worker, spending no retry (only
    // one of its deliveries).
    let outcome = tokio::select! {
        outcome = runner.run(ctx) => Some(outcome),
        _ = log_faults.reported() => None,
    };
    done.cancel();
    let Some(outcome) = outcome else {
        let _ = forward.await;
        let _ = std::fs::remove_file(&log_path);
        if let Some((path, e)) = log_faults.first() {
            eprintln_safe(&format!(
                "dag worker: warning: cannot write the task log {}: {e}; handing task {} of run {} back",
                path.display(),
                task.id,
                task_msg.run_id
            ));
        }
        forget_running(state, &task_msg.run_id, slot);
        drop(progress);
        // After an AckWait, as for a lost worker: other workers get their chance
        // before this one, whose disk may still be full, takes it again.
        let _ = msg
            .ack_with(AckKind::Nak(Some(state.timing.ack_wait)))
            .await;
        return;
    };
    let log_bytes = forward.await.unwrap_or(0);
    // Bounded: with the server away, the report below retries and logs instead.
    let _ = tokio::time::timeout(state.timing.ack_wait, state.client.flush()).await;
    let _ = std::fs::remove_file(&log_path);
    forget_running(state, &task_msg.run_id, slot);
    if state.returning.load(Ordering::SeqCst)
        && outcome.status == Status::Cancelled
        && !state.is_cancelled(&task_msg.run_id)
    {
        // Stopped by this worker's shutdown: another worker runs it now.
        drop(progress);
        let _ = msg.ack_with(AckKind::Nak(None)).await;
        return;
    }
    state.metrics.add(
        "dag_worker_tasks_finished_total",
        "Attempts this worker ran to an end, by task type, queue and state (success, failed, cancelled, skipped).",
        &[
            ("type", type_name),
            ("queue", task_msg.task.queue.as_str()),
            ("state", outcome.status.as_str()),
        ],
        1.0,
    );
    state.metrics.observe(
        "dag_worker_task_duration_seconds",
        "How long attempts ran here, by task type and queue.",
        &labels,
        began.elapsed(),
    );
    let mut result = state.result(&task_msg, ResultKind::Finished, delivery);
    let Outcome {
        status,
        exit_code,
        error,
        outputs,
        cached,
        ..
    } = outcome;
    result.cached = cached;
    result.status = Some(status.as_str().to_string());
    result.exit_code = exit_code;
    // Secrets this worker's environment provides are masked here: the scheduler
    // does not know them.
    result.error = error.map(|e| secrets.mask(&e));
    result.outputs = secrets.mask_outputs(outputs);
    result.log_bytes = log_bytes;
    // However long the task took, the report gets at least an AckWait.
    let deadline = deadline.max(Instant::now() + state.timing.ack_wait);
    let reported = match state.report(&result, &token, deadline).await {
        Err(SendError::Never(why)) => {
            // The result itself cannot be sent (a permission refused, say): the
            // scheduler still learns that the attempt ended, and why.
            result.status = Some("failed".into());
            result.cached = false;
            result.outputs = Default::default();
            result.error = Some(format!(
                "worker {} could not report the attempt's result: {why}",
                state.id
            ));
            state.report(&result, &token, deadline).await
        }
        other => other,
    };
    drop(progress);
    if reported.is_err() {
        // Not reported: the message goes back to the queue and the attempt runs
        // again elsewhere (at-least-once).
        let _ = msg.ack_with(AckKind::Nak(None)).await;
        return;
    }
    for _ in 0..20 {
        if msg.double_ack().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Takes an attempt off the list of those running here.
fn forget_running(state: &State, run_id: &str, slot: u64) {
    if let Ok(mut r) = state.running.lock()
        && let Some(list) = r.get_mut(run_id)
    {
        list.retain(|(t, _)| *t != slot);
        if list.is_empty() {
            r.remove(run_id);
        }
    }
}

/// The worker id when `--name` is not given: `<host>-<pid>-<random>`, the host name's
/// characters a worker name may not hold replaced by `-`.
fn default_name(host: &str) -> String {
    let host: String = host
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{host}-{}-{:04x}", std::process::id(), fastrand::u16(..))
}

/// Takes the name `id` in the heartbeat bucket with a first heartbeat: refused while
/// another worker's heartbeat under that name is live; a dead one is replaced with a
/// compare-and-swap. Returns the revision written.
async fn claim_name(
    kv: &jetstream::kv::Store,
    id: &str,
    hb: &Heartbeat,
    timing: &Timing,
    shutdown: &CancellationToken,
) -> Result<u64, NatsError> {
    let op = |e: &dyn std::fmt::Display| {
        NatsError::Op(format!("cannot write the heartbeat of worker {id}: {e}"))
    };
    let in_use = |holder: Option<Heartbeat>| {
        NatsError::InUse(match holder {
            Some(h) => format!(
                "worker name `{id}` is in use by a live worker (on host {}, started {}): give this worker another --name, or stop that one first",
                wire::excerpt(&h.hostname),
                h.started_at.rfc3339()
            ),
            None => format!(
                "worker name `{id}` is in use by a live worker: give this worker another --name, or stop that one first"
            ),
        })
    };
    let value = wire::encode(hb);
    // The revision of the heartbeat waited out once.
    let mut waited: Option<u64> = None;
    loop {
        return match kv.entry(id).await.map_err(|e| op(&e))? {
            // This worker's own heartbeat: a try that landed although its
            // answer was lost.
            Some(entry)
                if entry.operation == jetstream::kv::Operation::Put && is_own(&entry.value, hb) =>
            {
                Ok(entry.revision)
            }
            Some(entry) if entry.operation == jetstream::kv::Operation::Put => {
                let holder = wire::decode::<Heartbeat>("heartbeat", &entry.value).ok();
                // A heartbeat this dag cannot read counts by the time it was written.
                let written = Timestamp::from_system(entry.created.into());
                let at = holder
                    .as_ref()
                    .map_or(written, |h| h.updated_at.min(written));
                let age = at.until(Timestamp::now());
                // Not written again since it was waited out: lapsed, whatever
                // the clocks say.
                let lapsed = waited == Some(entry.revision);
                if age < timing.dead_after() && !lapsed {
                    // A worker of this name on this host: most likely this
                    // worker's previous run, killed and restarted (a container
                    // or a service restarting it): its heartbeat lapses
                    // within dead-after, and is waited out once. One that
                    // beats on is a live worker.
                    if let Some(h) = holder.as_ref().filter(|h| h.hostname == hb.hostname)
                        && waited.is_none()
                    {
                        let wait = timing.dead_after() - age + Duration::from_millis(200);
                        eprintln_safe(&format!(
                            "dag worker: a worker named `{id}` on this host (started {}) beat {} ago: waiting {} for its heartbeat to lapse",
                            h.started_at.rfc3339(),
                            humantime::format_duration(Duration::from_millis(
                                age.as_millis() as u64
                            )),
                            humantime::format_duration(Duration::from_millis(
                                wait.as_millis() as u64
                            )),
                        ));
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = shutdown.cancelled() => return Err(NatsError::Op(
                                "stopped while waiting for the worker name".into(),
                            )),
                        }
                        waited = Some(entry.revision);
                        continue;
                    }
                    return Err(in_use(holder));
                }
                kv.update(id, value, entry.revision)
                    .await
                    .map_err(|e| match e.kind() {
                        jetstream::kv::UpdateErrorKind::WrongLastRevision => in_use(None),
                        _ => op(&e),
                    })
            }
            _ => kv.create(id, value).await.map_err(|e| match e.kind() {
                jetstream::kv::CreateErrorKind::AlreadyExists => in_use(None),
                _ => op(&e),
            }),
        };
    }
}

/// How long a worker starting retries a setup step that fails with an error
/// that may pass.
const SETUP_PATIENCE: Duration = Duration::from_secs(60);

/// A setup step of a starting worker, run again while it fails with an error
/// that may pass (a replicated stream electing its leader; a request to a
/// frozen or restarting node timing out), saying so, for up to
/// [`SETUP_PATIENCE`]: a worker restarted while the cluster is unsettled
/// waits for it instead of exiting. Stops when `shutdown` fires.
async fn set_up<T, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    mut step: impl FnMut() -> Fut,
) -> Result<T, NatsError>
where
    Fut: std::future::Future<Output = Result<T, NatsError>>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let e = match step().await {
            Err(e @ NatsError::Op(_)) => e,
            done => return done,
        };
        let text = e.to_string().to_ascii_lowercase();
        let may_pass = super::kv_store::passing(&text) || text.contains("timed out");
        if !may_pass || start.elapsed() >= SETUP_PATIENCE {
            return Err(e);
        }
        eprintln_safe(&format!(
            "dag worker: {what} yet: {e}; trying again in {} ms",
            pause.as_millis()
        ));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => return Err(e),
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// What writing a heartbeat did.
enum Beat {
    /// Written at this revision.
    Written(u64),
    /// Not written (the server is away): try again at the next beat.
    Later,
    /// Another process wrote the key since (at this revision).
    Taken(u64),
}

async fn beat_once(kv: &jetstream::kv::Store, id: &str, hb: &Heartbeat, last: u64) -> Beat {
    let value = wire::encode(hb);
    if let Ok(r) = kv.update(id, value.clone(), last).await {
        return Beat::Written(r);
    }
    match kv.entry(id).await {
        Err(_) => Beat::Later,
        // Expired (the bucket's max age) or deleted: written anew.
        Ok(None) => kv
            .create(id, value)
            .await
            .map_or(Beat::Later, Beat::Written),
        Ok(Some(e)) if e.operation != jetstream::kv::Operation::Put => kv
            .create(id, value)
            .await
            .map_or(Beat::Later, Beat::Written),
        Ok(Some(e)) if e.revision == last => Beat::Later,
        // A write of this worker's that seemed to fail (the server went away
        // before it answered) and landed after all: its own heartbeat, at a
        // revision it did not learn. Written again over it, not taken for
        // another worker's (which would make this one shut down after any
        // outage of the server longer than the dead-after time).
        Ok(Some(e)) if is_own(&e.value, hb) => kv
            .update(id, value, e.revision)
            .await
            .map_or(Beat::Later, Beat::Written),
        Ok(Some(e)) => Beat::Taken(e.revision),
    }
}

/// Whether a stored heartbeat is one this worker process wrote: the same id,
/// host and start time.
fn is_own(stored: &[u8], hb: &Heartbeat) -> bool {
    wire::decode::<Heartbeat>("heartbeat", stored)
        .is_ok_and(|s| s.id == hb.id && s.hostname == hb.hostname && s.started_at == hb.started_at)
}

/// Publishes what the task writes to its log, as it writes it; returns the bytes
/// published.
async fn forward_log(
    client: async_nats::Client,
    subject: String,
    path: PathBuf,
    done: CancellationToken,
) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    let mut offset = 0u64;
    // Chunks fit the server's max payload, however small it is set.
    let mut buf = vec![0u8; (64 * 1024).min(transport::inline_limit(&client)).max(1024)];
    loop {
        let finished = done.is_cancelled();
        // Never a FIFO or a device the task put there: opening it could block.
        if let Ok(mut f) =
            crate::engine::capped_read::open_regular(&path, std::fs::File::options().read(true))
            && f.seek(SeekFrom::Start(offset)).is_ok()
        {
            loop {
                let n = match f.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                offset += n as u64;
                let _ = client
                    .publish(subject.clone(), bytes::Bytes::copy_from_slice(&buf[..n]))
                    .await;
            }
        }
        if finished {
            return offset;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = done.cancelled() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::validate::{LoadOptions, load_str};

    fn config(types: &[&str], volumes: &[&str]) -> WorkerConfig {
        WorkerConfig {
            replicas: Default::default(),
            name: None,
            host: "h".into(),
            slots: 1,
            default_timeout: Duration::from_secs(1),
            docker: true,
            queues: vec!["default".into()],
            shutdown_timeout: Duration::from_secs(1),
            exit_when_idle: None,
            grace: Duration::from_secs(1),
            allow_types: types.iter().map(|t| t.to_string()).collect(),
            allow_volumes: volumes.iter().map(PathBuf::from).collect(),
            allow_networks: vec!["bridge".into()],
            gpus: Vec::new(),
        }
    }

    fn task(yaml_task: &str) -> crate::engine::spec::TaskSpec {
        let dag = load_str(
            "t.yaml",
            &format!("name: t\ntasks:\n  t: {yaml_task}\n"),
            &LoadOptions::default(),
        )
        .unwrap();
        dag.spec.tasks[0].clone()
    }

    #[test]
    fn types_and_volumes_are_checked() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir_all(data.join("in")).unwrap();
        std::fs::create_dir_all(root.path().join("database")).unwrap();
        std::os::unix::fs::symlink("/", data.join("esc")).unwrap();
        let d = data.display();
        let c = config(&["bash", "docker"], &[&d.to_string()]);
        assert_eq!(refusal(&c, &task("{ command: 'true' }")), None);
        let why = refusal(&c, &task("{ type: fn, command: noop }")).unwrap();
        assert!(
            why.contains("does not run fn tasks (--allow-types bash,docker)"),
            "{why}"
        );
        let ok = task(&format!(
            "{{ type: docker, image: x, volumes: ['{d}/in:/in:ro'] }}"
        ));
        assert_eq!(refusal(&c, &ok), None);
        for bad in [
            "/etc:/etc".to_string(),
            format!("{d}base:/d"),
            format!("{d}/../../etc:/e"),
            format!("{d}/esc:/x"),
            format!("{d}/esc/etc:/x"),
            "named:/v".to_string(),
        ] {
            let t = task(&format!("{{ type: docker, image: x, volumes: ['{bad}'] }}"));
            assert!(
                refusal(&c, &t)
                    .unwrap()
                    .contains("is not under an allowed path"),
                "{bad}"
            );
        }
        let host = task("{ type: docker, image: x, network: host }");
        assert!(
            refusal(&c, &host)
                .unwrap()
                .contains("network `host` is not allowed on this worker (--allow-network bridge)")
        );
        let any = config(&["docker"], &[]);
        assert_eq!(
            refusal(
                &any,
                &task("{ type: docker, image: x, volumes: ['/etc:/etc'] }")
            ),
            None
        );
    }
}
