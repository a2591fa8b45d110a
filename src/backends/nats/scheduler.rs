//! The scheduler's side of distributed execution: a [`TaskRunner`] that publishes each
//! attempt to the task queue and waits for a worker's result.
//!
//! The engine's local executor drives a distributed run as it drives a local one
//! (same trigger rules, retries and final states); only the runner differs. Results
//! arrive on the run's own durable consumer and are acknowledged only after the
//! engine has saved them. Task output arrives on `dag.logs.<run>.<task>.<attempt>`
//! and is written to the attempt's log, so `dag logs` works as for local runs.
//!
//! Each attempt is published with a fresh token (see [`super::transport`]); a result
//! whose proof does not match the token of the attempt it names is refused with a
//! warning and changes nothing, so the genuine result is still accepted. The run's
//! result consumer is deleted when the run ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer};
use futures_util::StreamExt;
use tokio::sync::{OnceCell, oneshot};
use tokio_util::sync::CancellationToken;

use super::gate::{Gate, Pass};
use super::transport::{self, PROOF_HEADER, SendError, Sent, TOKEN_HEADER};
use super::wire::{
    self, ControlAction, ControlMsg, Heartbeat, PROTOCOL, ResultKind, ResultMsg, TaskMsg,
};
use super::{
    NatsError, RESULTS_STREAM, Replicas, TASKS_STREAM, Timing, eprintln_safe, task_subject,
};
use crate::engine::graph::ReadyKey;
use crate::engine::runner::{
    Acker, BoxFuture, Note, NoteAck, NoteSink, Outcome, Status, StopSignal, TaskContext, TaskLog,
    TaskRunner,
};

/// The longest a best-effort step of stopping or ending a run waits for the server
/// (which may be away).
const STEP: Duration = Duration::from_secs(2);

/// Called with a warning for the user (a queue no worker serves).
pub type Warn = Arc<dyn Fn(&str) + Send + Sync>;

/// Runs every task of a run on `dag worker` processes.
#[derive(Clone)]
pub struct NatsRunner {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    js: jetstream::Context,
    timing: Timing,
    /// Copies of the payload bucket if it must be created again.
    replicas: Replicas,
    warn: Option<Warn>,
    runs: Mutex<HashMap<String, Arc<OnceCell<Arc<RunChannel>>>>>,
    /// Queue consumers this scheduler made sure of (created, or checked).
    consumers: tokio::sync::Mutex<std::collections::HashSet<super::Lane>>,
    /// Per lane (queue, docker or not, GPUs): the task messages let wait for a
    /// worker, and the tasks held back by priority (see [`super::gate`]).
    gates: tokio::sync::Mutex<HashMap<super::Lane, Arc<Gate>>>,
    /// The deployment's pools, opened when a task first takes one.
    pools: tokio::sync::OnceCell<Arc<super::pools::Pools>>,
}

/// What the runner keeps for one run: attempts waiting for their results.
struct RunChannel {
    run_id: String,
    /// The key every attempt's token is derived from (see [`attempt_token`]).
    secret: String,
    js: jetstream::Context,
    replicas: Replicas,
    warn: Option<Warn>,
    /// The loops listening for the run's results and control messages.
    listeners: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    waiting: Mutex<HashMap<(String, u32), Waiter>>,
    /// The lane of every attempt published and not yet started.
    unstarted: Mutex<HashMap<(String, u32), super::Lane>>,
    cancel_sent: AtomicBool,
    /// The finished result taken for each attempt this process saw end:
    /// another one for the same attempt is a duplicate execution.
    accepted: Mutex<HashMap<(String, u32), Accepted>>,
    /// How often this process handed back each result (by stream sequence)
    /// that no attempt waited for, and since when it listens for the run.
    unawaited_seen: Mutex<HashMap<u64, u32>>,
    /// Results (by stream sequence) noted to the engine as duplicate
    /// executions, and whether the engine has saved each count.
    noted: Mutex<HashMap<u64, Arc<AtomicBool>>>,
    listening_since: Instant,
    /// Where notes about attempts nobody waits for go (duplicates): the sink
    /// of the run's latest attempt (each note names its own attempt).
    notes: Mutex<Option<NoteSink>>,
    /// Refused and ignored results said so far, and those left unsaid since the
    /// last summary: anyone allowed to publish results could otherwise flood the
    /// submitter's output.
    refusals: Mutex<Refusals>,
}

/// See [`RunChannel::refusals`].
struct Refusals {
    said: usize,
    unsaid: usize,
    summary: Instant,
}

/// Looks at an unused queue's workers before its gate is forgotten.
const GATE_IDLE_TICKS: u32 = 12;

/// The least time a task message gone from the queue with no result is given
/// before its attempt fails: a result may be held up by a cluster moving a
/// stream's leader (a paused or lost node) for several seconds.
const LEFT_THE_QUEUE_PATIENCE: Duration = Duration::from_secs(15);

/// Times this process hands back a proven result of an attempt nobody waits for
/// here, and how long it has listened for the run at least, before it takes the
/// result as a late one (see [`RunChannel::unawaited`]).
const UNAWAITED_REDELIVERIES: u32 = 3;
const UNAWAITED_PATIENCE: Duration = Duration::from_secs(5);

/// When a result noted to the engine as a duplicate, and not yet saved, comes
/// again.
const NOTED_HAND_BACK: Duration = Duration::from_secs(5);

/// Refused or ignored results said one by one for each run; past that, one summary
/// line every [`REFUSAL_SUMMARY`] at most.
const REFUSALS_SAID: usize = 20;
const REFUSAL_SUMMARY: Duration = Duration::from_secs(10);

/// A finished result handed to the attempt waiting for it. Dropped without
/// being claimed (the attempt stopped waiting just as it came), it is not
/// taken after all: handed back, to come again a second later.
struct Delivered {
    /// The result and its message, until claimed.
    taken: Option<(ResultMsg, jetstream::Message)>,
    /// Set once the engine has saved the result (and acknowledged its message).
    saved: Arc<AtomicBool>,
    /// The run's channel, whose `accepted` holds the result.
    channel: std::sync::Weak<RunChannel>,
}

impl Delivered {
    fn log_bytes(&self) -> u64 {
        self.taken.as_ref().map_or(0, |(r, _)| r.log_bytes)
    }

    /// The result, its message and its `saved` flag, the engine's to save now,
    /// and what undoes its taking if the engine never does.
    #[allow(clippy::type_complexity)]
    fn claim(
        mut self,
    ) -> Option<(
        ResultMsg,
        jetstream::Message,
        Arc<AtomicBool>,
        impl FnOnce() + Send + 'static,
    )> {
        let (result, msg) = self.taken.take()?;
        let (channel, key, saved) = (
            self.channel.clone(),
            (result.task.clone(), result.attempt),
            self.saved.clone(),
        );
        let undo = move || unaccept(&channel, &key, &saved);
        Some((result, msg, self.saved.clone(), undo))
    }
}

/// Forgets the result taken for the attempt `key`, if it is still the one
/// whose flag is `saved`: it was not saved after all.
fn unaccept(channel: &std::sync::Weak<RunChannel>, key: &(String, u32), saved: &Arc<AtomicBool>) {
    if let Some(channel) = channel.upgrade()
        && let Ok(mut a) = channel.accepted.lock()
        && a.get(key).is_some_and(|t| Arc::ptr_eq(&t.saved, saved))
    {
        a.remove(key);
    }
}

impl Drop for Delivered {
    fn drop(&mut self) {
        let Some((result, msg)) = self.taken.take() else {
            return;
        };
        unaccept(&self.channel, &(result.task, result.attempt), &self.saved);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = msg
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                    .await;
            });
        }
    }
}

/// The finished result taken for an attempt: which execution it came from, and
/// whether the engine has saved it yet. Until it has, the result is not this
/// process's to keep: when the engine cannot save it (another process took the
/// run over meanwhile), its message comes again, and must reach that process.
#[derive(Clone)]
struct Accepted {
    worker: String,
    delivery: u64,
    message: u64,
    saved: Arc<AtomicBool>,
}

struct Waiter {
    /// The token sent with the attempt's task message.
    token: String,
    notes: Option<NoteSink>,
    done: Option<oneshot::Sender<Delivered>>,
    /// Cancelled once a worker is known to have taken the attempt (its
    /// "started" or "finished" result came): an attempt held back at its
    /// queue's gate is then not held any longer.
    placed: CancellationToken,
    /// When the last proven "started" result came, and from which worker: the
    /// attempt's deadline counts from there (a redelivery restarts it).
    picked: Option<(Instant, String)>,
    /// The attempt's place among the messages waiting in its queue, given back
    /// once a worker took it.
    pass: Option<Pass>,
}

impl NatsRunner {
    /// A runner over an open connection whose layout exists (see
    /// [`super::ensure_layout`]).
    pub fn new(
        client: async_nats::Client,
        timing: Timing,
        replicas: Replicas,
        warn: Option<Warn>,
    ) -> NatsRunner {
        let js = jetstream::new(client.clone());
        NatsRunner {
            inner: Arc::new(Inner {
                client,
                js,
                timing,
                replicas,
                warn,
                runs: Mutex::new(HashMap::new()),
                consumers: Default::default(),
                gates: Default::default(),
                pools: Default::default(),
            }),
        }
    }

    async fn channel(&self, ctx: &TaskContext) -> Result<Arc<RunChannel>, NatsError> {
        self.channel_of(&ctx.run_id, &ctx.stop).await
    }

    /// The run's channel, started on first use with the run's stop signal (which
    /// a `dag cancel` fires).
    async fn channel_of(
        &self,
        run_id: &str,
        stop: &StopSignal,
    ) -> Result<Arc<RunChannel>, NatsError> {
        let cell = {
            let mut runs = self
                .inner
                .runs
                .lock()
                .map_err(|_| NatsError::Op("poisoned lock".into()))?;
            runs.entry(run_id.to_string()).or_default().clone()
        };
        let inner = self.inner.clone();
        cell.get_or_try_init(|| async move { start_run(inner, run_id, stop.clone()).await })
            .await
            .cloned()
    }
}

/// What the scheduler answers a cancel request with (a run's driver is there).
pub const CANCEL_ACK: &str = "cancelling";

/// Starts listening for a run's results and control messages.
async fn start_run(
    inner: Arc<Inner>,
    run_id: &str,
    stop: StopSignal,
) -> Result<Arc<RunChannel>, NatsError> {
    let stream = inner
        .js
        .get_stream(RESULTS_STREAM)
        .await
        .map_err(|e| NatsError::Op(format!("cannot open stream {RESULTS_STREAM}: {e}")))?;
    let name = results_consumer(run_id);
    // Waited out while a replicated stream elects its leader.
    let consumer: consumer::PullConsumer = super::kv_store::patiently(|| {
        stream.get_or_create_consumer(
            &name,
            consumer::pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: format!("dag.results.{run_id}"),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: inner.timing.ack_wait,
                // A run nobody drives any more does not keep its consumer forever.
                inactive_threshold: Duration::from_secs(24 * 3600),
                ..Default::default()
            },
        )
    })
    .await
    .map_err(|e| NatsError::Op(format!("cannot create consumer {name}: {e}")))?;
    let secret = super::kv_store::run_secret(&inner.js, inner.replicas, run_id).await?;
    let mut control = inner
        .client
        .subscribe(format!("dag.control.{run_id}"))
        .await
        .map_err(|e| NatsError::Op(format!("cannot subscribe to control messages: {e}")))?;
    let channel = Arc::new(RunChannel {
        run_id: run_id.to_string(),
        secret,
        js: inner.js.clone(),
        replicas: inner.replicas,
        warn: inner.warn.clone(),
        listeners: Mutex::new(Vec::new()),
        waiting: Mutex::new(HashMap::new()),
        unstarted: Mutex::new(HashMap::new()),
        accepted: Mutex::new(HashMap::new()),
        unawaited_seen: Mutex::new(HashMap::new()),
        noted: Mutex::new(HashMap::new()),
        listening_since: Instant::now(),
        notes: Mutex::new(None),
        cancel_sent: AtomicBool::new(false),
        refusals: Mutex::new(Refusals {
            said: 0,
            unsaid: 0,
            summary: Instant::now(),
        }),
    });
    // Results: routed to the attempt waiting for them.
    let results = channel.clone();
    let listen_results = tokio::spawn(async move {
        loop {
            let mut messages = match consumer.messages().await {
                Ok(m) => m,
                Err(_) => {
                    // The server is away; the consumer is durable, so nothing is
                    // lost while we wait.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            while let Some(next) = messages.next().await {
                let Ok(msg) = next else { break };
                // A payload in the object store is read beside the loop (within a
                // bound), so one slow or missing object delays no other result.
                if transport::header(msg.headers.as_ref(), transport::OBJECT_HEADER).is_some() {
                    tokio::spawn(handle_result(results.clone(), msg));
                } else {
                    handle_result(results.clone(), msg).await;
                }
            }
        }
    });
    // `dag cancel RUN_ID` from anywhere stops the run as Ctrl-C would.
    let control_client = inner.client.clone();
    let listen_control = tokio::spawn(async move {
        while let Some(msg) = control.next().await {
            if let Ok(c) = wire::decode::<ControlMsg>("control", &msg.payload)
                && c.action == ControlAction::Cancel
            {
                stop.graceful.cancel();
                // `dag cancel` of a run it found in no store asks who drives it.
                if let Some(reply) = msg.reply {
                    let _ = control_client.publish(reply, CANCEL_ACK.into()).await;
                }
            }
        }
    });
    let mut listeners = vec![listen_results, listen_control];
    // Warn about queues that no live worker serves.
    if let Some(warn) = inner.warn.clone() {
        let (channel, inner) = (channel.clone(), inner.clone());
        listeners.push(tokio::spawn(async move {
            watch_queues(inner, channel, warn).await
        }));
    }
    if let Ok(mut l) = channel.listeners.lock() {
        *l = listeners;
    }
    Ok(channel)
}

/// Reads, checks and routes one message of a run's result consumer.
async fn handle_result(results: Arc<RunChannel>, msg: jetstream::Message) {
    let decoded = match transport::receive(
        &results.js,
        msg.headers.as_ref(),
        &msg.payload,
        results.replicas,
    )
    .await
    {
        Ok(payload) => {
            wire::decode::<ResultMsg>("result", &payload).map(|result| (result, payload))
        }
        Err(SendError::Retry(why)) => {
            // Its payload cannot be read now: it comes back later.
            results.say(&format!(
                "cannot read a message on dag.results.{} yet: {why}; it comes back in 1 s",
                results.run_id
            ));
            let _ = msg
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
            return;
        }
        Err(SendError::Never(e)) => Err(e),
    };
    match decoded {
        Ok((result, payload)) => results.deliver(result, &payload, msg).await,
        Err(e) => {
            // The object it names (if any) is left alone: an unproven message may
            // name another attempt's object.
            results.say_refusal(&format!(
                "refused a message on dag.results.{}: {e}",
                results.run_id
            ));
            let _ = msg.ack().await;
        }
    }
}

/// The token of an attempt: an HMAC of the run, task and attempt under the run's
/// secret, so that any process driving the run (the one that handed the attempt
/// out, or one that took the run over since) can check the attempt's results,
/// and nobody without the secret can make one. As long as a fresh token.
pub fn attempt_token(secret: &str, run_id: &str, task: &str, attempt: u32) -> String {
    let mut token = transport::proof(secret, format!("{run_id}\n{task}\n{attempt}").as_bytes());
    token.truncate(transport::new_token().len());
    token
}

/// The name of a run's result consumer.
pub fn results_consumer(run_id: &str) -> String {
    format!("results-{run_id}")
}

impl RunChannel {
    /// Says why a result was refused or ignored, unless many were already: then
    /// counts it, and says how many went unsaid now and then.
    fn say_refusal(&self, text: &str) {
        let line = {
            let Ok(mut r) = self.refusals.lock() else {
                return;
            };
            if r.said < REFUSALS_SAID {
                r.said += 1;
                Some(text.to_string())
            } else {
                r.unsaid += 1;
                (r.summary.elapsed() >= REFUSAL_SUMMARY).then(|| {
                    let n = std::mem::take(&mut r.unsaid);
                    r.summary = Instant::now();
                    format!(
                        "{n} more results on dag.results.{} refused or ignored (not shown one by one)",
                        self.run_id
                    )
                })
            }
        };
        if let Some(line) = line {
            self.say(&line);
        }
    }

    fn say(&self, text: &str) {
        match &self.warn {
            Some(warn) => warn(text),
            None => eprintln_safe(&format!("dag: warning: {text}")),
        }
    }

    /// Stops waiting for an attempt.
    fn forget(&self, key: &(String, u32)) {
        if let Ok(mut w) = self.waiting.lock() {
            w.remove(key);
        }
        if let Ok(mut u) = self.unstarted.lock() {
            u.remove(key);
        }
    }

    /// Routes a result to the attempt waiting for it, if its proof holds.
    async fn deliver(self: &Arc<Self>, result: ResultMsg, payload: &[u8], msg: jetstream::Message) {
        let key = (result.task.clone(), result.attempt);
        let token = self
            .waiting
            .lock()
            .ok()
            .and_then(|w| w.get(&key).map(|w| w.token.clone()));
        let kind = match result.kind {
            ResultKind::Started => "started",
            ResultKind::Finished => "finished",
        };
        let waited = token.is_some();
        // An attempt nobody waits for here: its token is derived all the same,
        // so that a late result of it can be checked (and counted) too.
        let token = token.unwrap_or_else(|| {
            attempt_token(&self.secret, &self.run_id, &result.task, result.attempt)
        });
        let proof = transport::header(msg.headers.as_ref(), PROOF_HEADER);
        if !proof.is_some_and(|p| transport::verify(&token, payload, p)) {
            self.say_refusal(&format!(
                "refused a {kind} result for task {} (attempt {}) that claims to come from worker {} on {}: {}; it changes nothing",
                result.task,
                result.attempt,
                result.worker,
                wire::excerpt(&result.host),
                if proof.is_some() {
                    "its proof does not match the task message handed out (forged, or meant for another attempt)"
                } else {
                    "it carries no proof of the task message handed out"
                }
            ));
            // Never delete what an unproven message names: it may be the genuine
            // object of this or another attempt.
            let _ = msg.ack().await;
            return;
        }
        if !waited {
            self.unawaited(result, msg).await;
            return;
        }
        if let Ok(mut seen) = self.unawaited_seen.lock()
            && !seen.is_empty()
        {
            seen.remove(&msg.info().map_or(0, |i| i.stream_sequence));
        }
        match result.kind {
            ResultKind::Started => {
                // Taken: the next held task of its queue may be published.
                let pass = match self.waiting.lock() {
                    Ok(mut w) => w.get_mut(&key).and_then(|w| {
                        w.picked = Some((Instant::now(), result.worker.clone()));
                        w.placed.cancel();
                        w.pass.take()
                    }),
                    Err(_) => None,
                };
                drop(pass);
                // After `placed`: see `run_remote`.
                if let Ok(mut u) = self.unstarted.lock() {
                    u.remove(&key);
                }
                let notes = self
                    .waiting
                    .lock()
                    .ok()
                    .and_then(|w| w.get(&key).and_then(|w| w.notes.clone()));
                if let Some(notes) = notes {
                    notes(Note::Placed {
                        host: result.host.clone(),
                        worker: result.worker.clone(),
                        delivery: result.delivery,
                    });
                }
                let _ = msg.ack().await;
            }
            ResultKind::Finished => {
                let saved = Arc::new(AtomicBool::new(false));
                // Taken, and recorded as taken, at once (under the waiting
                // lock): another result of the attempt handled meanwhile finds
                // it, and the same message coming again is known.
                let (done, unplaced) = self
                    .waiting
                    .lock()
                    .ok()
                    .and_then(|mut w| {
                        w.get_mut(&key).map(|w| {
                            let unplaced = w.picked.is_none().then(|| w.notes.clone()).flatten();
                            w.placed.cancel();
                            let done = w.done.take();
                            if done.is_some()
                                && let Ok(mut a) = self.accepted.lock()
                            {
                                a.insert(
                                    key.clone(),
                                    Accepted {
                                        worker: result.worker.clone(),
                                        delivery: result.delivery,
                                        message: result.message,
                                        saved: saved.clone(),
                                    },
                                );
                            }
                            (done, unplaced)
                        })
                    })
                    .unwrap_or((None, None));
                // The started report may be handled after this one (or was never
                // sent): the attempt was placed all the same, by the worker that
                // finished it, and the engine hears so before it hears the end.
                if done.is_some()
                    && let Some(notes) = unplaced
                {
                    notes(Note::Placed {
                        host: result.host.clone(),
                        worker: result.worker.clone(),
                        delivery: result.delivery,
                    });
                }
                match done {
                    // Acknowledged by the engine once the result is saved.
                    Some(tx) => {
                        // Nobody waits any more (the attempt was dropped: its
                        // driver stops driving the run): dropped, it is handed
                        // back, not taken, for whoever drives the run next.
                        let _ = tx.send(Delivered {
                            taken: Some((result, msg)),
                            saved,
                            channel: Arc::downgrade(self),
                        });
                    }
                    // A second finished result of the same attempt: already taken.
                    None => self.late(result, msg).await,
                }
            }
        }
    }

    /// A proven result of an attempt nobody waits for here. It may be the
    /// result of an attempt a driver taking the run over is about to adopt
    /// (its waiter comes within moments): it is handed back to come again in a
    /// second, a few times and for as long as this process has not listened
    /// for the run for [`UNAWAITED_PATIENCE`]; past that, it is a late report
    /// of an attempt that ended before this process took the run (counted if
    /// it was another execution). The times are this process's own: the
    /// server's delivery count also counts the hand-backs of earlier drivers,
    /// which say nothing about this one.
    async fn unawaited(self: &Arc<Self>, result: ResultMsg, msg: jetstream::Message) {
        let taken = self
            .accepted
            .lock()
            .is_ok_and(|a| a.contains_key(&(result.task.clone(), result.attempt)));
        if !taken {
            let seq = msg.info().map_or(0, |i| i.stream_sequence);
            let seen = match self.unawaited_seen.lock() {
                Ok(mut seen) => {
                    let n = seen.entry(seq).or_default();
                    *n += 1;
                    *n
                }
                Err(_) => 0,
            };
            if seen < UNAWAITED_REDELIVERIES || self.listening_since.elapsed() < UNAWAITED_PATIENCE
            {
                let _ = msg
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                    .await;
                return;
            }
            if let Ok(mut seen) = self.unawaited_seen.lock() {
                seen.remove(&seq);
            }
        }
        match result.kind {
            ResultKind::Started => {
                let _ = msg.ack().await;
            }
            ResultKind::Finished => self.late(result, msg).await,
        }
    }

    /// A proven finished result of an attempt whose result was taken already:
    /// the same one delivered again changes nothing; another execution's is
    /// noted as a duplicate (the engine counts it) and changes nothing else.
    ///
    /// While the result taken is not saved yet, any other result of the attempt
    /// comes again a second later: the engine may fail to save it (the run was
    /// taken over meanwhile), and then the process driving the run now needs
    /// the message.
    async fn late(self: &Arc<Self>, result: ResultMsg, msg: jetstream::Message) {
        let key = (result.task.clone(), result.attempt);
        let taken = self.accepted.lock().ok().and_then(|a| a.get(&key).cloned());
        if taken
            .as_ref()
            .is_some_and(|t| !t.saved.load(Ordering::SeqCst))
        {
            let _ = msg
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
            return;
        }
        let same = taken.as_ref().is_some_and(|t| {
            t.worker == result.worker
                && t.delivery == result.delivery
                && t.message == result.message
        });
        if !same {
            // Noted already (this message came again before the engine saved
            // the count, or the engine left it for an attempt it has not
            // recorded yet): not noted twice.
            let seq = msg.info().map_or(0, |i| i.stream_sequence);
            let noted = self.noted.lock().ok().and_then(|n| n.get(&seq).cloned());
            if let Some(saved) = noted {
                if !saved.load(Ordering::SeqCst) {
                    let _ = msg.ack_with(AckKind::Nak(Some(NOTED_HAND_BACK))).await;
                    return;
                }
            } else {
                let notes = self.notes.lock().ok().and_then(|n| n.clone());
                let Some(notes) = notes else {
                    // No attempt of the run has started here yet (a run taken
                    // over waits out a retry delay): nothing to count it with.
                    let _ = msg.ack_with(AckKind::Nak(Some(NOTED_HAND_BACK))).await;
                    return;
                };
                let saved = Arc::new(AtomicBool::new(false));
                if seq != 0
                    && let Ok(mut n) = self.noted.lock()
                {
                    n.insert(seq, saved.clone());
                }
                let channel = Arc::downgrade(self);
                // Acknowledged once the engine has saved the count: a driver
                // that stops before leaves the message to the next one.
                return notes(Note::Duplicate {
                    task: result.task.clone(),
                    attempt: result.attempt,
                    worker: result.worker.clone(),
                    delivery: result.delivery,
                    known: taken.is_some(),
                    ack: NoteAck(Some(acker(
                        &self.js,
                        msg,
                        saved,
                        move || {
                            // Not counted (the engine left it for an attempt
                            // it has not recorded, or stopped): noted anew
                            // when it comes again.
                            if let Some(channel) = channel.upgrade()
                                && let Ok(mut n) = channel.noted.lock()
                            {
                                n.remove(&seq);
                            }
                        },
                        NOTED_HAND_BACK,
                    ))),
                });
            }
        }
        transport::discard(&self.js, msg.headers.as_ref()).await;
        let _ = msg.ack().await;
    }

    /// Tells every worker to stop this run's tasks (once).
    async fn send_cancel(&self, client: &async_nats::Client) {
        if self.cancel_sent.swap(true, Ordering::SeqCst) {
            return;
        }
        let msg = ControlMsg {
            v: PROTOCOL,
            run_id: self.run_id.clone(),
            action: ControlAction::Cancel,
        };
        let _ = client
            .publish(format!("dag.control.{}", self.run_id), wire::encode(&msg))
            .await;
        // With the server away a flush waits for it to come back: not for ever.
        let _ = tokio::time::timeout(STEP, client.flush()).await;
    }
}

async fn watch_queues(inner: Arc<Inner>, channel: Arc<RunChannel>, warn: Warn) {
    let dead_after = inner.timing.dead_after();
    let mut unserved_since: HashMap<super::Lane, Instant> = HashMap::new();
    let mut warned: HashMap<super::Lane, Instant> = HashMap::new();
    loop {
        tokio::time::sleep(inner.timing.heartbeat.min(Duration::from_secs(5))).await;
        let waiting: HashMap<super::Lane, usize> = match channel.unstarted.lock() {
            Ok(u) => u.values().fold(HashMap::new(), |mut m, q| {
                *m.entry(q.clone()).or_default() += 1;
                m
            }),
            Err(_) => return,
        };
        if waiting.is_empty() {
            unserved_since.clear();
            continue;
        }
        let live = live_workers(&inner.js, &inner.timing).await;
        for (key, count) in waiting {
            let served = live.iter().any(|w| key.served_by(w));
            if served {
                unserved_since.remove(&key);
                continue;
            }
            let since = *unserved_since
                .entry(key.clone())
                .or_insert_with(Instant::now);
            let due = warned.get(&key).is_none_or(|w| w.elapsed() >= dead_after);
            if since.elapsed() >= dead_after && due {
                let kind = match (key.docker, key.gpus) {
                    (false, 0) => String::new(),
                    (true, 0) => " with --docker".into(),
                    (false, n) => format!(" with at least {n} GPU(s)"),
                    (true, n) => format!(" with --docker and at least {n} GPU(s)"),
                };
                let queue = &key.queue;
                warn(&format!(
                    "no live worker{kind} serves queue `{queue}` for {}s: {count} task(s) waiting (start one with `dag worker {}`)",
                    since.elapsed().as_secs(),
                    key.flags()
                ));
                warned.insert(key, Instant::now());
            }
        }
    }
}

/// The slots of the live workers that serve `lane` (docker tasks: only those
/// started with `--docker`; GPU tasks: those with enough GPUs, each as many
/// of its slots as its GPUs can hold tasks of the lane at once).
async fn serving_slots(js: &jetstream::Context, timing: &Timing, lane: &super::Lane) -> usize {
    live_workers(js, timing)
        .await
        .iter()
        .filter(|w| lane.served_by(w))
        .map(|w| match lane.gpus {
            0 => w.slots,
            n => w.slots.min(w.gpus / n as usize),
        })
        .sum()
}

/// Workers whose heartbeat is recent and believable.
pub async fn live_workers(js: &jetstream::Context, timing: &Timing) -> Vec<Heartbeat> {
    all_workers(js)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|w| heartbeat_age(w) < timing.dead_after() && suspicion(w, timing).is_none())
        .collect()
}

/// Time since a worker's heartbeat.
pub fn heartbeat_age(w: &Heartbeat) -> Duration {
    w.updated_at.until(crate::engine::time::Timestamp::now())
}

/// Why a heartbeat is not to be trusted, if it is not: stamped in the future (past
/// the clock skew a dead-after time allows), or claiming slots no worker can have.
pub fn suspicion(w: &Heartbeat, timing: &Timing) -> Option<String> {
    let now = crate::engine::time::Timestamp::now();
    let ahead = now.until(w.updated_at);
    if ahead > timing.dead_after() {
        return Some(format!(
            "heartbeat stamped {} in the future",
            humantime::format_duration(Duration::from_secs(ahead.as_secs()))
        ));
    }
    let max = super::worker::MAX_SLOTS as usize;
    if w.slots == 0 || w.slots > max {
        return Some(format!("claims {} slots (from 1 to {max})", w.slots));
    }
    if w.active > w.slots {
        return Some(format!(
            "claims {} tasks running in {} slots",
            w.active, w.slots
        ));
    }
    None
}

/// Every heartbeat in the bucket, live or not.
pub async fn all_workers(js: &jetstream::Context) -> Result<Vec<Heartbeat>, NatsError> {
    // Opened, never created: the layout was made sure of when this process
    // started, and a missing bucket holds no worker.
    let kv = js
        .get_key_value(super::WORKERS_BUCKET)
        .await
        .map_err(|e| NatsError::Op(format!("cannot open bucket {}: {e}", super::WORKERS_BUCKET)))?;
    let mut keys = kv
        .keys()
        .await
        .map_err(|e| NatsError::Op(format!("cannot list workers: {e}")))?;
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        let Ok(key) = key else { continue };
        if let Ok(Some(value)) = kv.get(&key).await
            && let Ok(hb) = wire::decode::<Heartbeat>("heartbeat", &value)
        {
            out.push(hb);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

impl TaskRunner for NatsRunner {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Outcome> {
        let runner = self.clone();
        Box::pin(async move { runner.run_remote(ctx).await })
    }

    fn run_ended(&self, run_id: &str) -> BoxFuture<'static, ()> {
        let (inner, run_id) = (self.inner.clone(), run_id.to_string());
        Box::pin(async move { end_run(&inner, &run_id).await })
    }

    fn run_left(&self, run_id: &str) -> BoxFuture<'static, ()> {
        let (inner, run_id) = (self.inner.clone(), run_id.to_string());
        Box::pin(async move { stop_listening(&inner, &run_id) })
    }

    fn run_begins(&self, run_id: &str, stop: StopSignal) -> BoxFuture<'static, ()> {
        // Listening for the run's results and control messages from the start,
        // not from its first attempt: a `dag cancel` of a run taken over while
        // its tasks wait (a retry delay) must be heard.
        let (runner, run_id) = (self.clone(), run_id.to_string());
        Box::pin(async move {
            let _ = runner.channel_of(&run_id, &stop).await;
        })
    }
}

/// Stops this process's listening for a run: results left unacknowledged come
/// again to whoever drives the run next.
fn stop_listening(inner: &Inner, run_id: &str) {
    let cell = inner.runs.lock().ok().and_then(|mut r| r.remove(run_id));
    if let Some(channel) = cell.and_then(|c| c.get().cloned())
        && let Ok(mut listeners) = channel.listeners.lock()
    {
        for l in listeners.drain(..) {
            l.abort();
        }
    }
}

/// Stops listening for a run and deletes its result consumer: the run's results are
/// all saved. A result still on its way stays in the stream (a retried run's new
/// consumer reads it) until the stream's max age.
async fn end_run(inner: &Inner, run_id: &str) {
    stop_listening(inner, run_id);
    // Also when this process never listened (a `dag retry` of a killed run with
    // nothing left to hand out): the consumer the killed process made goes too.
    let _ = tokio::time::timeout(STEP, async {
        if let Ok(stream) = inner.js.get_stream(RESULTS_STREAM).await {
            let _ = stream.delete_consumer(&results_consumer(run_id)).await;
        }
        super::kv_store::forget_run_secret(&inner.js, run_id).await;
    })
    .await;
}

impl NatsRunner {
    /// The slots of the task's pool, taken in the deployment's `dag_pools` (so
    /// that runs sharing it keep to its size together); None for a task without
    /// a pool. Waiting is told to the run (`waiting for pool NAME`).
    async fn pool_slots(&self, ctx: &TaskContext) -> Result<Option<super::pools::Held>, Outcome> {
        let task = ctx.task();
        let Some(pool) = task.pool.clone() else {
            return Ok(None);
        };
        let Some(&(_, size)) = ctx.dag.spec.pools.iter().find(|(n, _)| *n == pool) else {
            return Ok(None);
        };
        let pools = self
            .inner
            .pools
            .get_or_try_init(|| {
                super::pools::Pools::open(
                    &self.inner.js,
                    self.inner.replicas,
                    super::process_name(),
                )
            })
            .await
            .map_err(|e| Outcome::failed(None, format!("pool {pool}: {e}")))?
            .clone();
        let slot = super::pools::Slot {
            id: format!("{}.{}.{}", ctx.run_id, task.id, ctx.attempt),
            run: ctx.run_id.clone(),
            task: task.id.to_string(),
            slots: task.pool_slots,
            by: String::new(),
            until: 0,
            since: 0,
        };
        let notes = ctx.notes.clone();
        let reason = format!("waiting for pool {pool}");
        let waited = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let told = waited.clone();
        let waiting = move || {
            told.store(true, std::sync::atomic::Ordering::Relaxed);
            if let Some(notes) = &notes {
                notes(Note::Waiting {
                    reason: reason.clone(),
                });
            }
        };
        // An attempt the earlier driver handed out (a worker may run it) keeps
        // its slots, whatever the pool holds now; one it still held back for the
        // pool waits in its place.
        let force = ctx.adopted.as_ref().is_some_and(|a| !a.waiting);
        match pools
            .acquire(&pool, size, slot, force, &ctx.stop.graceful, waiting)
            .await
        {
            Ok(held) => {
                // It waits for nothing any more (but a worker).
                if waited.load(std::sync::atomic::Ordering::Relaxed)
                    && let Some(notes) = &ctx.notes
                {
                    notes(Note::Waiting {
                        reason: String::new(),
                    });
                }
                Ok(Some(held))
            }
            Err(super::pools::NoSlots::Stopped) => Err(Outcome::cancelled(format!(
                "cancelled while waiting for pool {pool}"
            ))),
            Err(super::pools::NoSlots::Store(e)) => {
                Err(Outcome::failed(None, format!("pool {pool}: {e}")))
            }
        }
    }

    async fn run_remote(&self, ctx: TaskContext) -> Outcome {
        // Held until the attempt's outcome is known.
        let _slots = match self.pool_slots(&ctx).await {
            Ok(held) => held,
            Err(outcome) => return outcome,
        };
        let channel = match self.channel(&ctx).await {
            Ok(c) => c,
            Err(e) => return Outcome::failed(None, e.to_string()),
        };
        let task = ctx.task().clone();
        let lane = super::Lane::of(&task);
        let key = (task.id.to_string(), ctx.attempt);
        let (tx, rx) = oneshot::channel();
        let token = attempt_token(&channel.secret, &ctx.run_id, &task.id, ctx.attempt);
        if let Some(notes) = &ctx.notes
            && let Ok(mut n) = channel.notes.lock()
        {
            *n = Some(notes.clone());
        }
        // An attempt handed out by the run's earlier driver and taken by a worker:
        // its clock starts again now (this process cannot know when it began).
        let taken_by = ctx.adopted.as_ref().and_then(|a| a.worker.clone());
        let placed = CancellationToken::new();
        if taken_by.is_some() {
            placed.cancel();
        }
        // Waited for from now on, before the gate: an adopted attempt the
        // earlier driver handed out may be taken, and may end, while it is held
        // there, and its results must find it.
        if let Ok(mut w) = channel.waiting.lock() {
            w.insert(
                key.clone(),
                Waiter {
                    token: token.clone(),
                    notes: ctx.notes.clone(),
                    done: Some(tx),
                    placed: placed.clone(),
                    picked: taken_by.clone().map(|w| (Instant::now(), w)),
                    pass: None,
                },
            );
        }
        // Held back while its queue has enough messages waiting, and let through
        // by priority (an adopted attempt a worker took is out already).
        if taken_by.is_none() {
            let gate = self.gate(&lane).await;
            let pass = tokio::select! {
                pass = gate.enter(ReadyKey::new(task.priority, ctx.index)) => Some(pass),
                // A worker took the message the earlier driver handed out.
                _ = placed.cancelled() => None,
                _ = ctx.stop.graceful.cancelled() => {
                    channel.forget(&key);
                    // The earlier driver's message may wait in the queue: the
                    // workers settle it as cancelled when they take it.
                    if ctx.adopted.is_some() {
                        channel.send_cancel(&self.inner.client).await;
                    }
                    return Outcome::cancelled("cancelled before a worker took it");
                }
            };
            // Kept until a worker takes the attempt (given back at once if one
            // took it meanwhile).
            if let Some(pass) = pass
                && let Ok(mut w) = channel.waiting.lock()
                && let Some(w) = w.get_mut(&key)
                && !w.placed.is_cancelled()
            {
                w.pass = Some(pass);
            }
        }
        // Output first, so none is missed.
        let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let logs = match self
            .inner
            .client
            .subscribe(format!(
                "dag.logs.{}.{}.{}",
                ctx.run_id, task.id, ctx.attempt
            ))
            .await
        {
            Ok(sub) => Some(tokio::spawn(copy_logs(
                sub,
                ctx.log.clone(),
                received.clone(),
            ))),
            Err(_) => None,
        };
        let mut msg = TaskMsg {
            v: PROTOCOL,
            run_id: ctx.run_id.clone(),
            dag: ctx.dag.spec.name.clone(),
            task: task.clone(),
            attempt: ctx.attempt,
            env: ctx.env.clone(),
            timeout_ms: task.timeout.map(|t| t.as_millis() as u64),
            params: ctx.dag.spec.params.clone(),
            upstream: ctx.upstream.clone(),
            output_cap: ctx.output_cap,
            secret_params: ctx.secret_params.to_vec(),
            no_cache: ctx.no_cache,
        };
        let subject = task_subject(&lane);
        // Waiting for a worker from now on, unless one took it already (checked
        // after the entry is made: the started result sets `placed` before it
        // clears the entry).
        if let Ok(mut u) = channel.unstarted.lock() {
            u.insert(key.clone(), lane.clone());
        }
        if placed.is_cancelled()
            && let Ok(mut u) = channel.unstarted.lock()
        {
            u.remove(&key);
        }
        // A message the workers would refuse is never sent: the attempt fails here,
        // saying why, instead of waiting for a result that cannot come.
        let hand_out = async {
            // A wasm task's module goes with it, or into the modules bucket.
            if let Err(e) =
                super::modules::attach(&self.inner.js, self.inner.replicas, &mut msg.task).await
            {
                return Err(Outcome::failed(
                    None,
                    format!("cannot hand the task to the workers: {e}"),
                ));
            }
            match wire::Message::check(&msg) {
                Ok(()) => match self.ensure_consumer(&lane).await {
                    Ok(()) => self.publish(&subject, &ctx, &msg, &token).await,
                    Err(e) => Err(Outcome::failed(
                        None,
                        format!("cannot hand the task to the workers: {e}"),
                    )),
                },
                Err(why) => Err(Outcome::failed(
                    None,
                    format!("cannot hand the task to the workers: {why}"),
                )),
            }
        };
        // A result in hand already (a worker took and finished the message the
        // run's earlier driver handed out while this attempt was held back), or
        // coming while the message is handed out, is the attempt's outcome: no
        // message is (or need be) sent.
        let mut rx = rx;
        let handed = tokio::select! {
            biased;
            early = &mut rx => Err(early),
            published = hand_out => Ok(published),
        };
        let (outcome, log_bytes, stored) = match handed {
            // An adopted attempt's output went to the driver that handed the
            // message out: none is waited for here. A payload in the object
            // store is the attempt's, whoever handed it out.
            Err(Ok(delivered)) => {
                let bytes = if ctx.adopted.is_some() {
                    0
                } else {
                    delivered.log_bytes()
                };
                (
                    outcome_of(&self.inner.js, delivered, ctx.output_cap),
                    bytes,
                    true,
                )
            }
            Err(Err(_)) => (
                Outcome::failed(None, "the result listener stopped"),
                0,
                false,
            ),
            Ok(Err(outcome)) => {
                // Stopped while handing it out: a message may wait in the queue
                // (the earlier driver's, or one a try landed whose answer was
                // lost; the workers settle it as cancelled), and a payload
                // this one stored may be left.
                if ctx.stop.graceful.is_cancelled() {
                    channel.send_cancel(&self.inner.client).await;
                }
                (outcome, 0, true)
            }
            Ok(Ok(sent)) => {
                let (outcome, bytes) = self.wait(&channel, &ctx, rx, sent.sequence).await;
                (outcome, bytes, sent.stored)
            }
        };
        channel.forget(&key);
        // The task message's payload, if it went through the object store, is no
        // longer needed.
        if stored {
            let _ = tokio::time::timeout(
                STEP,
                transport::delete_object(&self.inner.js, &task_object(&msg)),
            )
            .await;
        }
        if let Some(logs) = logs {
            // Output published just before the result may still be on its way: wait
            // for all of it (the result says how much), but not for ever.
            let deadline = Instant::now() + Duration::from_secs(2);
            while received.load(Ordering::SeqCst) < log_bytes && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            logs.abort();
        }
        outcome
    }

    /// Publishes the task message, retrying while the server is away; returns its
    /// stream sequence. An error that cannot pass (a message too large, a permission
    /// the server refuses) fails the attempt at once, saying why.
    async fn publish(
        &self,
        subject: &str,
        ctx: &TaskContext,
        msg: &TaskMsg,
        token: &str,
    ) -> Result<Sent, Outcome> {
        let mut headers = HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            super::task_message_id(&msg.run_id, &msg.task.id, msg.attempt).as_str(),
        );
        headers.insert(TOKEN_HEADER, token);
        let payload = wire::encode(msg);
        let object = task_object(msg);
        let mut delay = Duration::from_millis(100);
        let mut tries = 0u32;
        loop {
            let attempt = transport::send(
                &self.inner.js,
                &self.inner.client,
                subject,
                headers.clone(),
                payload.clone(),
                &object,
                self.inner.replicas,
            );
            tokio::select! {
                r = attempt => match r {
                    Ok(sent) => return Ok(sent),
                    Err(SendError::Never(why)) => {
                        return Err(Outcome::failed(None, format!(
                            "cannot hand the task to the workers on {subject}: {why}"
                        )));
                    }
                    Err(SendError::Retry(why)) => {
                        // The server is away: try again; the message id de-duplicates.
                        // Said once per attempt, then every 10th try.
                        if tries.is_multiple_of(10) {
                            let text = format!(
                                "cannot hand task {} (attempt {}) to the workers on {subject} yet (try {}): {why}; trying again",
                                msg.task.id, msg.attempt, tries + 1
                            );
                            match &self.inner.warn {
                                Some(warn) => warn(&text),
                                None => eprintln_safe(&format!("dag: warning: {text}")),
                            }
                        }
                        tries += 1;
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                },
                _ = ctx.stop.graceful.cancelled() => return Err(Outcome::cancelled("cancelled before a worker took it")),
            }
        }
    }

    async fn wait(
        &self,
        channel: &RunChannel,
        ctx: &TaskContext,
        mut rx: oneshot::Receiver<Delivered>,
        seq: u64,
    ) -> (Outcome, u64) {
        let key = (ctx.task().id.to_string(), ctx.attempt);
        let timing = self.inner.timing;
        let every = timing
            .ack_wait
            .clamp(Duration::from_millis(500), Duration::from_secs(5));
        // When the task message was first seen gone from the queue with no result.
        let mut gone_since: Option<Instant> = None;
        // A failure found after an await: a result that came meanwhile wins.
        let unless_result_came =
            |rx: &mut oneshot::Receiver<Delivered>, failure: Outcome| match rx.try_recv() {
                Ok(delivered) => {
                    let bytes = delivered.log_bytes();
                    (outcome_of(&self.inner.js, delivered, ctx.output_cap), bytes)
                }
                Err(_) => (failure, 0),
            };
        loop {
            tokio::select! {
                r = &mut rx => return match r {
                    Ok(delivered) => {
                        let bytes = delivered.log_bytes();
                        (outcome_of(&self.inner.js, delivered, ctx.output_cap), bytes)
                    }
                    Err(_) => (Outcome::failed(None, "the result listener stopped"), 0),
                },
                _ = ctx.stop.graceful.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
            let picked = channel
                .waiting
                .lock()
                .ok()
                .and_then(|w| w.get(&key).and_then(|w| w.picked.clone()));
            if let Some((at, worker)) = &picked
                && let Some(limit) = remote_deadline(ctx.task().timeout, ctx.grace, &timing)
                && at.elapsed() >= limit
            {
                self.take_back(seq).await;
                return unless_result_came(
                    &mut rx,
                    Outcome::failed(
                        None,
                        format!(
                            "no result from worker {} within {} of its taking the task (timeout {} + grace {} + 2 × AckWait {}); the worker was lost or its result refused",
                            wire::excerpt(worker),
                            humantime::format_duration(limit),
                            humantime::format_duration(ctx.task().timeout.unwrap_or_default()),
                            humantime::format_duration(ctx.grace),
                            humantime::format_duration(timing.ack_wait),
                        ),
                    ),
                );
            }
            // A message no longer in the queue with no result: taken by a consumer
            // that never reports, deleted, or expired. A genuine worker publishes its
            // result before its ack removes the message, so the result had time to
            // arrive.
            match message_present(&self.inner.js, seq).await {
                Some(false) => {
                    let since = *gone_since.get_or_insert_with(Instant::now);
                    let patience = (timing.ack_wait * 2).max(LEFT_THE_QUEUE_PATIENCE);
                    // Results still on their way to the run (being read, or behind
                    // others) may hold this one: not yet.
                    if since.elapsed() >= patience
                        && results_backlog(&self.inner.js, &ctx.run_id).await == Some(0)
                    {
                        let by = match &picked {
                            Some((_, worker)) => format!("worker {}", wire::excerpt(worker)),
                            None => "a consumer that never reported taking it".to_string(),
                        };
                        return unless_result_came(
                            &mut rx,
                            Outcome::failed(
                                None,
                                format!(
                                    "the task message left the queue (taken by {by}, deleted or expired) and no result came within {} of that",
                                    humantime::format_duration(patience)
                                ),
                            ),
                        );
                    }
                }
                Some(true) => gone_since = None,
                None => {}
            }
        }
        // Stopped: tell the workers, take the message out of the queue if no worker
        // has it yet, and give a running attempt the grace period to report.
        channel.send_cancel(&self.inner.client).await;
        self.take_back(seq).await;
        let started = channel
            .unstarted
            .lock()
            .is_ok_and(|u| !u.contains_key(&key));
        let patience = if !started {
            // No worker reported it started: it was still queued.
            Duration::from_millis(500)
        } else if ctx.stop.hard.is_cancelled() {
            Duration::from_secs(2)
        } else {
            ctx.grace + Duration::from_secs(5)
        };
        match tokio::time::timeout(patience, &mut rx).await {
            Ok(Ok(delivered)) => {
                let bytes = delivered.log_bytes();
                let mut outcome = outcome_of(&self.inner.js, delivered, ctx.output_cap);
                if outcome.status != Status::Success {
                    outcome.status = Status::Cancelled;
                }
                (outcome, bytes)
            }
            _ => (Outcome::cancelled("cancelled"), 0),
        }
    }
}

impl NatsRunner {
    /// Creates the queue's shared consumer if it is missing (workers may not be
    /// allowed to), once per queue.
    async fn ensure_consumer(&self, lane: &super::Lane) -> Result<(), NatsError> {
        let mut done = self.inner.consumers.lock().await;
        if done.contains(lane) {
            return Ok(());
        }
        super::create_queue_consumer(&self.inner.js, lane, &self.inner.timing).await?;
        done.insert(lane.clone());
        Ok(())
    }

    /// The gate of a queue, made on first use with the live workers' slots for
    /// it, then kept up to date with their heartbeats.
    async fn gate(&self, lane: &super::Lane) -> Arc<Gate> {
        let key = lane.clone();
        if let Some(gate) = self.inner.gates.lock().await.get(&key) {
            return gate.clone();
        }
        // Counted without the lock, which every other queue's tasks need.
        let slots = serving_slots(&self.inner.js, &self.inner.timing, lane).await;
        let mut gates = self.inner.gates.lock().await;
        if let Some(gate) = gates.get(&key) {
            return gate.clone();
        }
        let gate = Gate::new(slots);
        gates.insert(key.clone(), gate.clone());
        let (inner, weak) = (Arc::downgrade(&self.inner), Arc::downgrade(&gate));
        tokio::spawn(async move {
            let mut idle = 0;
            loop {
                let Some(timing) = inner.upgrade().map(|i| i.timing) else {
                    return;
                };
                tokio::time::sleep(
                    timing
                        .heartbeat
                        .clamp(Duration::from_millis(500), Duration::from_secs(5)),
                )
                .await;
                let (Some(inner), Some(gate)) = (inner.upgrade(), weak.upgrade()) else {
                    return;
                };
                // A queue no attempt has used for a while is forgotten (its gate
                // is made again, counted afresh, when one comes): a scheduler
                // that served many queues does not keep counting their workers.
                idle = if gate.counts() == (0, 0) { idle + 1 } else { 0 };
                if idle >= GATE_IDLE_TICKS {
                    let mut gates = inner.gates.lock().await;
                    if gate.counts() == (0, 0) {
                        gates.remove(&key);
                        return;
                    }
                    idle = 0;
                }
                gate.set_limit(serving_slots(&inner.js, &inner.timing, &key).await);
            }
        });
        gate
    }

    /// Takes a task message out of the queue (best effort: the server may be away).
    async fn take_back(&self, seq: u64) {
        let _ = tokio::time::timeout(STEP, async {
            if let Ok(stream) = self.inner.js.get_stream(TASKS_STREAM).await {
                let _ = stream.delete_message(seq).await;
            }
        })
        .await;
    }
}

/// How long after a worker took an attempt the scheduler waits for its result: the
/// task's timeout, its grace period, and two AckWaits (a lost worker's message is
/// delivered again within one; the new "started" result restarts the clock). None
/// for a task without a timeout of its own: the worker's `--timeout` applies, which
/// the scheduler does not know.
pub fn remote_deadline(
    timeout: Option<Duration>,
    grace: Duration,
    timing: &Timing,
) -> Option<Duration> {
    timeout.map(|t| t + grace + timing.ack_wait * 2)
}

/// How many results of a run its consumer has not had acknowledged (waiting, or
/// delivered and not yet acknowledged); None when the server does not say.
async fn results_backlog(js: &jetstream::Context, run_id: &str) -> Option<u64> {
    let check = async {
        let stream = js.get_stream(RESULTS_STREAM).await.ok()?;
        let mut consumer: consumer::PullConsumer =
            stream.get_consumer(&results_consumer(run_id)).await.ok()?;
        let info = consumer.info().await.ok()?;
        Some(info.num_pending + info.num_ack_pending as u64)
    };
    tokio::time::timeout(STEP, check).await.ok().flatten()
}

/// Whether the task queue still holds the message `seq`; None when the server
/// does not say (away, or a permission refused).
async fn message_present(js: &jetstream::Context, seq: u64) -> Option<bool> {
    let check = async {
        let stream = js.get_stream(TASKS_STREAM).await.ok()?;
        match stream.get_raw_message(seq).await {
            Ok(_) => Some(true),
            Err(e) if e.kind() == jetstream::stream::RawMessageErrorKind::NoMessageFound => {
                Some(false)
            }
            Err(_) => None,
        }
    };
    tokio::time::timeout(STEP, check).await.ok().flatten()
}

/// The object name of a task message too large for one message.
fn task_object(msg: &TaskMsg) -> String {
    format!("{}.{}.{}.task", msg.run_id, msg.task.id, msg.attempt)
}

/// What acknowledges a result message once the engine has saved what it
/// tells (and marks it `saved`): the object holding its payload, if any, goes
/// too.
///
/// Dropped without acknowledging (the engine stopped before it saved), it
/// runs `unsaved` and hands the message back to come again in `again`, for
/// whoever drives the run then.
fn acker(
    js: &jetstream::Context,
    msg: jetstream::Message,
    saved: Arc<AtomicBool>,
    unsaved: impl FnOnce() + Send + 'static,
    again: Duration,
) -> Arc<Acker> {
    let js = js.clone();
    let msg = Arc::new(msg);
    let back = msg.clone();
    let ack = Acker::new(move || {
        saved.store(true, Ordering::SeqCst);
        tokio::spawn(async move {
            transport::discard(&js, msg.headers.as_ref()).await;
            let _ = msg.ack().await;
        });
    })
    .or_when_dropped(move || {
        unsaved();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = back.ack_with(AckKind::Nak(Some(again))).await;
            });
        }
    });
    Arc::new(ack)
}

/// The outcome a worker's result tells, its outputs held to `cap` (a worker
/// checks them too; this one is not trusted to).
fn outcome_of(js: &jetstream::Context, delivered: Delivered, cap: usize) -> Outcome {
    let Some((result, msg, saved, undo)) = delivered.claim() else {
        return Outcome::failed(None, "the worker's result was lost on its way");
    };
    let ack = acker(js, msg, saved, undo, Duration::from_secs(1));
    let mut outcome = match result.status.as_deref().and_then(Status::from_name) {
        Some(Status::Success) => Outcome::success(result.exit_code),
        Some(Status::Cancelled) => Outcome {
            exit_code: result.exit_code,
            ..Outcome::cancelled(result.error.unwrap_or_else(|| "cancelled".into()))
        },
        Some(Status::Skipped) => Outcome {
            exit_code: result.exit_code,
            ..Outcome::skipped(result.error.unwrap_or_else(|| "skipped".into()))
        },
        _ => Outcome::failed(
            result.exit_code,
            result
                .error
                .unwrap_or_else(|| "failed on the worker".into()),
        ),
    };
    outcome.outputs = result.outputs;
    outcome.cached = result.cached && outcome.status == Status::Success;
    outcome.ack = Some(ack);
    match crate::engine::runner::check_output_size(&outcome.outputs, cap) {
        Ok(()) => outcome,
        Err(e) => Outcome {
            ack: outcome.ack,
            ..Outcome::failed(outcome.exit_code, format!("the worker's result: {e}"))
        },
    }
}

async fn copy_logs(
    mut sub: async_nats::Subscriber,
    log: TaskLog,
    received: Arc<std::sync::atomic::AtomicU64>,
) {
    while let Some(msg) = sub.next().await {
        // A failure stops the run (the log reports it as a fault of the host).
        let _ = log.write(&msg.payload);
        received.fetch_add(msg.payload.len() as u64, Ordering::SeqCst);
    }
}
