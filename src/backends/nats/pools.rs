//! Pools across the runs of a deployment: a semaphore per pool in the KV bucket
//! [`POOLS_BUCKET`] (key: the pool's name), changed only by compare-and-set. Its
//! value lists the holders (attempts that hold slots) and the waiters (attempts
//! waiting for slots, in the order they came), each with a lease: the process
//! driving the attempt renews it every third of [`lease`], so the slots of a
//! driver that died come back once its lease lapses (a worker that dies holds
//! none: its attempt goes to another worker and keeps its slots). A waiter gets
//! slots when the holders and the waiters ahead of it leave room: first come,
//! first served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::engine::time::Timestamp;

/// KV bucket of the pools shared by distributed runs.
pub const POOLS_BUCKET: &str = "dag_pools";

/// How long a holder or waiter stays without being renewed:
/// `$DAG_NATS_POOL_LEASE` (a duration), else 30 s.
pub fn lease() -> Duration {
    std::env::var("DAG_NATS_POOL_LEASE")
        .ok()
        .and_then(|v| crate::engine::text::parse_duration(&v).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(30))
        .min(MAX_LEASE)
}

/// The longest lease: an entry whose lease ends later than this from now was not
/// written by a driver (a damaged or forged value) and is dropped, or it would
/// hold the pool's slots forever.
pub const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);

/// How long a pool's bucket may answer with errors before the attempts waiting
/// for it fail (as long as a NATS state write waits for a lost connection).
const STORE_PATIENCE: Duration = Duration::from_secs(10);

/// The most holders and waiters one pool's value lists.
const MAX_ENTRIES: usize = 10_000;

/// The most bytes one pool's value takes: a message over the server's payload
/// limit (1 MiB by default) cannot be written, so attempts past this wait in
/// their process, not in the value, until it has room.
const MAX_BYTES: usize = 768 * 1024;

/// An attempt holding, or waiting for, a pool's slots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// `<run>.<task>.<attempt>`.
    pub id: String,
    /// The run.
    pub run: String,
    /// The task.
    pub task: String,
    /// How many slots.
    pub slots: u32,
    /// The process that renews it.
    pub by: String,
    /// When its lease ends (ms since the epoch).
    pub until: u64,
    /// When it came (ms since the epoch): waiters are served in this order.
    pub since: u64,
}

/// One pool's value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolValue {
    /// The size the last run to change it gave the pool (each run admits by the
    /// size it was given; this one is shown by `dag pools`).
    pub size: u32,
    /// Attempts holding slots.
    #[serde(default)]
    pub holders: Vec<Slot>,
    /// Attempts waiting for slots.
    #[serde(default)]
    pub waiters: Vec<Slot>,
}

impl PoolValue {
    /// Drops holders and waiters whose lease ended.
    fn expire(&mut self, now: u64) {
        // A minute of leeway for the clocks of other machines.
        let latest = now.saturating_add(MAX_LEASE.as_millis() as u64 + 60_000);
        let live = |s: &Slot| s.until > now && s.until <= latest;
        self.holders.retain(live);
        self.waiters.retain(live);
    }

    fn used(&self) -> u64 {
        self.holders.iter().map(|h| u64::from(h.slots)).sum()
    }
}

/// The bucket, made when missing.
pub async fn bucket(
    js: &jetstream::Context,
    replicas: super::Replicas,
) -> Result<kv::Store, String> {
    if let Ok(kv) = js.get_key_value(POOLS_BUCKET).await {
        return Ok(kv);
    }
    match js
        .create_key_value(kv::Config {
            bucket: POOLS_BUCKET.into(),
            description: "dag: pools shared by distributed runs".into(),
            history: 1,
            num_replicas: replicas.count(),
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
    {
        Ok(kv) => Ok(kv),
        Err(e) => js.get_key_value(POOLS_BUCKET).await.map_err(|_| {
            super::creating(&format!("the {POOLS_BUCKET} bucket"), replicas, e).to_string()
        }),
    }
}

/// Every pool's value (for `dag pools`), leases that ended left out.
/// The second list names the keys whose value is damaged (not a pool's).
pub async fn all(
    js: &jetstream::Context,
) -> Result<(Vec<(String, PoolValue)>, Vec<String>), String> {
    let Ok(kv) = js.get_key_value(POOLS_BUCKET).await else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut damaged = Vec::new();
    let mut keys = kv.keys().await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let now = Timestamp::now().0;
    while let Some(key) = keys.next().await {
        let Ok(key) = key else { continue };
        if let Ok(Some(bytes)) = kv.get(&key).await {
            match serde_json::from_slice::<PoolValue>(&bytes) {
                Ok(mut value) => {
                    value.expire(now);
                    out.push((key, value));
                }
                Err(_) => damaged.push(key),
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((out, damaged))
}

/// The pools as one driving process uses them: one task per pool applies every
/// request of this process (slots wanted, slots given back, leases to renew) in
/// one compare-and-set, so that the attempts of a run do not contend with each
/// other for the pool's key.
pub struct Pools {
    kv: kv::Store,
    /// This process, as holders and waiters name it.
    me: String,
    lease: Duration,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
}

/// One pool's requests, and the task that applies them.
struct Pool {
    state: Mutex<PoolState>,
    wake: tokio::sync::Notify,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Ok(Some(t)) = self.task.lock().map(|mut t| t.take()) {
            t.abort();
        }
    }
}

/// What this process asks of one pool.
#[derive(Default)]
struct PoolState {
    /// Attempts waiting for slots (new ones too), in the order they came.
    waiting: Vec<Wanted>,
    /// Ids of the attempts holding slots.
    held: Vec<Slot>,
    /// Ids whose slots (or wait) are given up, to take out of the pool.
    leaving: Vec<String>,
}

/// An attempt that wants slots.
struct Wanted {
    slot: Slot,
    size: u32,
    force: bool,
    /// Told the result: Ok when the slots are its.
    done: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
    /// Called once, when it first has to wait.
    waiting: Option<Box<dyn FnOnce() + Send>>,
}

/// Slots held for an attempt: given back when dropped.
pub struct Held {
    pool: Arc<Pool>,
    id: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.pool.leave(&self.id);
    }
}

/// Why an attempt got no slots.
#[derive(Debug)]
pub enum NoSlots {
    /// The run was stopped while it waited.
    Stopped,
    /// The bucket could not be used.
    Store(String),
}

impl Pool {
    fn leave(&self, id: &str) {
        if let Ok(mut st) = self.state.lock() {
            st.leaving.push(id.to_string());
        }
        self.wake.notify_one();
    }
}

impl Pools {
    /// The pools of the deployment `js` reaches, for the process `me`.
    pub async fn open(
        js: &jetstream::Context,
        replicas: super::Replicas,
        me: String,
    ) -> Result<Arc<Pools>, String> {
        let kv = bucket(js, replicas).await?;
        Ok(Arc::new(Pools {
            kv,
            me,
            lease: lease(),
            pools: Mutex::new(HashMap::new()),
        }))
    }

    /// The pool `name`, its task started on first use.
    fn pool(self: &Arc<Pools>, name: &str) -> Arc<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = pools.get(name) {
            return p.clone();
        }
        let pool = Arc::new(Pool {
            state: Mutex::new(PoolState::default()),
            wake: tokio::sync::Notify::new(),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(apply(self.clone(), name.to_string(), Arc::downgrade(&pool)));
        if let Ok(mut t) = pool.task.lock() {
            *t = Some(task);
        }
        pools.insert(name.to_string(), pool.clone());
        pool
    }

    /// Takes `slot.slots` of `pool` (of `size`) for the attempt `slot.id`, waiting
    /// (first come, first served) while they are taken; `waiting` is called once
    /// when it has to wait. An attempt that holds them already (a run taken over)
    /// keeps them; with `force`, it takes them whatever the pool holds (an
    /// attempt a worker runs already).
    pub async fn acquire(
        self: &Arc<Pools>,
        pool: &str,
        size: u32,
        slot: Slot,
        force: bool,
        stop: &CancellationToken,
        waiting: impl FnOnce() + Send + 'static,
    ) -> Result<Held, NoSlots> {
        let handle = self.pool(pool);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let id = slot.id.clone();
        if let Ok(mut st) = handle.state.lock() {
            st.waiting.push(Wanted {
                slot,
                size,
                force,
                done: Some(tx),
                waiting: Some(Box::new(waiting)),
            });
        }
        handle.wake.notify_one();
        let held = Held { pool: handle, id };
        tokio::select! {
            got = rx => match got {
                Ok(Ok(())) => Ok(held),
                Ok(Err(e)) => Err(NoSlots::Store(e)),
                Err(_) => Err(NoSlots::Store(format!("pool {pool}: its task ended"))),
            },
            // Dropping `held` takes the wait out of the pool.
            _ = stop.cancelled() => Err(NoSlots::Stopped),
        }
    }
}

/// The task of one pool: applies this process's requests to the pool's value,
/// renews its leases, and grants waiting attempts their slots when the pool has
/// room, until the pool is dropped.
async fn apply(pools: Arc<Pools>, name: String, pool: std::sync::Weak<Pool>) {
    let mut watch = pools.kv.watch(&name).await.ok();
    let renew_every = pools.lease / 3;
    let mut renewed = tokio::time::Instant::now();
    // Since when the bucket has answered nothing but errors (a server
    // restarting, an election): waiting attempts fail only once that lasts.
    let mut failing: Option<tokio::time::Instant> = None;
    loop {
        let Some(handle) = pool.upgrade() else { return };
        let (has_waiting, has_any) = match handle.state.lock() {
            Ok(st) => (
                !st.waiting.is_empty(),
                !(st.waiting.is_empty() && st.held.is_empty() && st.leaving.is_empty()),
            ),
            Err(_) => return,
        };
        let renew_due = has_any && renewed.elapsed() >= renew_every;
        if watch.is_none() && has_waiting {
            watch = pools.kv.watch(&name).await.ok();
        }
        let pending = handle
            .state
            .lock()
            .map(|st| !st.leaving.is_empty() || st.waiting.iter().any(|w| w.waiting.is_some()))
            .unwrap_or(false);
        if !pending && !renew_due {
            // Woken by a request, by any change of the pool while attempts wait
            // (another process gave slots back), and for renewals; a lapsed lease
            // changes nothing in the bucket, so waiting attempts look again each
            // second.
            let tick = if has_waiting {
                Duration::from_secs(1).min(renew_every)
            } else {
                renew_every
            };
            // A watch that ended (the server restarted) is made again: one
            // that returns at once would have this task spin.
            let change = async {
                match watch.as_mut() {
                    Some(w) if has_waiting => matches!(w.next().await, Some(Ok(_))),
                    _ => std::future::pending::<bool>().await,
                }
            };
            tokio::select! {
                _ = handle.wake.notified() => {}
                seen = change => if !seen {
                    watch = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                },
                _ = tokio::time::sleep(tick) => {}
            }
        }
        drop(handle);
        let Some(handle) = pool.upgrade() else { return };
        match round(&pools, &name, &handle, renew_due).await {
            Ok(()) if renew_due => {
                renewed = tokio::time::Instant::now();
                failing = None;
            }
            Ok(()) => failing = None,
            Err(e)
                if failing
                    .get_or_insert_with(tokio::time::Instant::now)
                    .elapsed()
                    < STORE_PATIENCE =>
            {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                // Every attempt that waits is told; the next request tries again.
                // Attempts a worker runs already go on: their slots are put in
                // the pool once it can be written again.
                failing = None;
                if let Ok(mut st) = handle.state.lock() {
                    let waiting = std::mem::take(&mut st.waiting);
                    for mut w in waiting {
                        let told = w.done.take().map(|done| {
                            done.send(if w.force { Ok(()) } else { Err(e.clone()) })
                                .is_ok()
                        });
                        if w.force && told == Some(true) {
                            st.held.push(w.slot);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// A slot this process asks for: the slot, the pool's size as its run gives it,
/// and whether it takes the slot whatever the pool holds.
type Asked = (Slot, u32, bool);

/// One compare-and-set of the pool's value with every request of this process;
/// retried from a fresh read when another process changed the value first.
/// Nothing is written when nothing changes but the leases and `renew` is false:
/// every write wakes each process whose attempts wait (this one too), and a
/// write each round would have them write to each other without end.
async fn round(pools: &Pools, name: &str, handle: &Pool, renew: bool) -> Result<(), String> {
    for _ in 0..100 {
        let (mut value, revision) = read(&pools.kv, name).await?;
        let stored = value.clone();
        let now = Timestamp::now().0;
        let until = now + pools.lease.as_millis() as u64;
        value.expire(now);
        // What this process asks, as it stands now (requests that come meanwhile
        // wait for the next round).
        let (leaving, mut held, mut wanted): (Vec<String>, Vec<Slot>, Vec<Asked>) =
            match handle.state.lock() {
                Ok(st) => (
                    st.leaving.clone(),
                    st.held.clone(),
                    st.waiting
                        .iter()
                        .map(|w| (w.slot.clone(), w.size, w.force))
                        .collect(),
                ),
                Err(_) => return Ok(()),
            };
        // What this process gives up goes, unless another process has taken it
        // over since (a driver that took the run over renews it as its own).
        let others = |s: &Slot| s.by != pools.me && !s.by.is_empty();
        value
            .holders
            .retain(|h| !leaving.contains(&h.id) || others(h));
        value
            .waiters
            .retain(|w| !leaving.contains(&w.id) || others(w));
        held.retain(|h| !leaving.contains(&h.id));
        wanted.retain(|(s, ..)| !leaving.contains(&s.id));
        // An attempt of this process that runs holds its slots: one whose entry
        // went (a lease that lapsed through an outage, another driver's leave)
        // is put back.
        for h in &held {
            if !value.holders.iter().any(|x| x.id == h.id) {
                let mut back = h.clone();
                back.until = until;
                back.by = pools.me.clone();
                value.holders.push(back);
            }
        }
        // New waiters join the queue while the value has room; known ones keep
        // their place.
        let mut bytes = serde_json::to_vec(&value).map_or(0, |b| b.len());
        for (slot, _, force) in wanted.iter_mut() {
            slot.by = pools.me.clone();
            slot.until = until;
            match value.waiters.iter_mut().find(|w| w.id == slot.id) {
                Some(w) => slot.since = w.since,
                None if value.holders.iter().any(|h| h.id == slot.id) => {}
                None => {
                    slot.since = now;
                    let more = serde_json::to_vec(&*slot).map_or(0, |b| b.len() + 1);
                    if bytes + more > MAX_BYTES && !*force {
                        continue;
                    }
                    bytes += more;
                    value.waiters.push(slot.clone());
                }
            }
        }
        // Grants, first come first served: a waiter that does not fit keeps every
        // later one waiting (but for attempts that run already).
        let mut order: Vec<usize> = (0..value.waiters.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (&value.waiters[a], &value.waiters[b]);
            (x.since, &x.id).cmp(&(y.since, &y.id))
        });
        // Each of this process's waiters is admitted by the size its own run gave
        // the pool; another process's, by the size the value says.
        let mut taken = value.used();
        let mut blocked = false;
        let mut granted: Vec<String> = Vec::new();
        for i in order {
            let w = &value.waiters[i];
            let mine = wanted.iter().find(|(s, ..)| s.id == w.id);
            let size = mine.map_or(value.size, |m| m.1);
            let fits = !blocked && taken + u64::from(w.slots) <= u64::from(size);
            if fits {
                taken += u64::from(w.slots);
                if mine.is_some() {
                    granted.push(w.id.clone());
                }
            } else if mine.is_some_and(|(_, _, force)| *force) {
                granted.push(w.id.clone());
            } else {
                blocked = true;
            }
        }
        // Attempts that hold their slots already (a run taken over) keep them.
        for (slot, ..) in &wanted {
            if value.holders.iter().any(|h| h.id == slot.id) && !granted.contains(&slot.id) {
                granted.push(slot.id.clone());
            }
        }
        let moved: Vec<Slot> = value
            .waiters
            .iter()
            .filter(|w| granted.contains(&w.id))
            .cloned()
            .collect();
        value.waiters.retain(|w| !granted.contains(&w.id));
        for mut s in moved {
            s.until = until;
            value.holders.retain(|h| h.id != s.id);
            value.holders.push(s);
        }
        // Renewed (when due, or written anyway): what this process holds and
        // waits for. The size shown is this process's, set only when it writes
        // anyway (runs giving a pool different sizes must not write to each other
        // without end).
        if renew || value != stored {
            if let Some((_, size, _)) = wanted.first() {
                value.size = *size;
            }
            for h in value.holders.iter_mut() {
                if held.iter().any(|x| x.id == h.id) || granted.contains(&h.id) {
                    h.until = until;
                    h.by = pools.me.clone();
                }
            }
            for w in value.waiters.iter_mut() {
                if wanted.iter().any(|(s, ..)| s.id == w.id) {
                    w.until = until;
                    w.by = pools.me.clone();
                }
            }
        }
        if value.holders.len() + value.waiters.len() > MAX_ENTRIES {
            return Err(format!(
                "pool {name} lists more than {MAX_ENTRIES} holders and waiters"
            ));
        }
        if value != stored && !write(&pools.kv, name, &value, revision).await? {
            continue;
        }
        // Saved: the granted attempts are told, the others told they wait.
        let Ok(mut st) = handle.state.lock() else {
            return Ok(());
        };
        st.leaving.retain(|id| !leaving.contains(id));
        st.held.retain(|h| !leaving.contains(&h.id));
        let mut still = Vec::new();
        let waiting = std::mem::take(&mut st.waiting);
        for mut w in waiting {
            if leaving.contains(&w.slot.id) {
                continue;
            }
            if granted.contains(&w.slot.id) {
                if let Some(done) = w.done.take()
                    && done.send(Ok(())).is_ok()
                {
                    st.held.push(w.slot.clone());
                } else {
                    // Nobody waits for it any more: given back next round.
                    st.leaving.push(w.slot.id.clone());
                }
                continue;
            }
            if wanted.iter().any(|(s, ..)| s.id == w.slot.id)
                && let Some(told) = w.waiting.take()
            {
                told();
            }
            still.push(w);
        }
        st.waiting = still;
        return Ok(());
    }
    Err(format!("pool {name}: too many writers at once"))
}

/// Reads a pool's value and revision (revision 0: no value yet).
async fn read(kv: &kv::Store, pool: &str) -> Result<(PoolValue, u64), String> {
    match kv.entry(pool).await.map_err(|e| e.to_string())? {
        Some(e) if e.operation == kv::Operation::Put => {
            let value = serde_json::from_slice(&e.value).unwrap_or_default();
            Ok((value, e.revision))
        }
        Some(e) => Ok((PoolValue::default(), e.revision)),
        None => Ok((PoolValue::default(), 0)),
    }
}

/// Writes `value` if the pool is still at `revision`; false when another process
/// changed it first.
async fn write(
    kv: &kv::Store,
    pool: &str,
    value: &PoolValue,
    revision: u64,
) -> Result<bool, String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    let done = if revision == 0 {
        kv.create(pool, bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| {
                (
                    e.kind() == kv::CreateErrorKind::AlreadyExists,
                    e.to_string(),
                )
            })
    } else {
        kv.update(pool, bytes.into(), revision)
            .await
            .map(|_| ())
            .map_err(|e| {
                (
                    e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                    e.to_string(),
                )
            })
    };
    match done {
        Ok(()) => Ok(true),
        Err((true, _)) => Ok(false),
        Err((false, e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(id: &str, until: u64) -> Slot {
        Slot {
            id: id.into(),
            run: "r".into(),
            task: "t".into(),
            slots: 1,
            by: "p".into(),
            until,
            since: 0,
        }
    }

    #[test]
    fn a_lease_past_the_longest_one_is_dropped_as_damaged() {
        let now = 1_000_000;
        let mut v = PoolValue {
            size: 1,
            holders: vec![
                slot("ok", now + 30_000),
                slot("forever", u64::MAX),
                slot("gone", now),
            ],
            waiters: vec![slot("far", now + MAX_LEASE.as_millis() as u64 + 120_000)],
        };
        v.expire(now);
        let ids: Vec<&str> = v.holders.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["ok"]);
        assert!(v.waiters.is_empty());
        assert_eq!(v.used(), 1);
    }
}
