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
}

/// The most holders and waiters one pool's value lists.
const MAX_ENTRIES: usize = 10_000;

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
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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
        self.holders.retain(|s| s.until > now);
        self.waiters.retain(|s| s.until > now);
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
pub async fn all(js: &jetstream::Context) -> Result<Vec<(String, PoolValue)>, String> {
    let Ok(kv) = js.get_key_value(POOLS_BUCKET).await else {
        return Ok(Vec::new());
    };
    let mut keys = kv.keys().await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let now = Timestamp::now().0;
    while let Some(key) = keys.next().await {
        let Ok(key) = key else { continue };
        if let Ok(Some(bytes)) = kv.get(&key).await
            && let Ok(mut value) = serde_json::from_slice::<PoolValue>(&bytes)
        {
            value.expire(now);
            out.push((key, value));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The pools as one driving process uses them.
pub struct Pools {
    kv: kv::Store,
    /// This process, as holders and waiters name it.
    me: String,
    lease: Duration,
    /// What this process holds or waits for: slot id by pool.
    mine: Mutex<HashMap<String, Vec<String>>>,
    renewing: tokio::task::JoinHandle<()>,
}

impl Drop for Pools {
    fn drop(&mut self) {
        self.renewing.abort();
    }
}

/// Slots held for an attempt: given back when dropped.
pub struct Held {
    pools: Arc<Pools>,
    pool: String,
    id: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        let (pools, pool, id) = (self.pools.clone(), self.pool.clone(), self.id.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { pools.leave(&pool, &id).await });
        }
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

impl Pools {
    /// The pools of the deployment `js` reaches, for the process `me`.
    pub async fn open(
        js: &jetstream::Context,
        replicas: super::Replicas,
        me: String,
    ) -> Result<Arc<Pools>, String> {
        let kv = bucket(js, replicas).await?;
        let lease = lease();
        Ok(Arc::new_cyclic(|weak: &std::sync::Weak<Pools>| {
            let weak = weak.clone();
            let renewing = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    let Some(pools) = weak.upgrade() else { return };
                    pools.renew().await;
                }
            });
            Pools {
                kv,
                me,
                lease,
                mine: Mutex::new(HashMap::new()),
                renewing,
            }
        }))
    }

    fn note_mine(&self, pool: &str, id: &str, keep: bool) {
        if let Ok(mut m) = self.mine.lock() {
            let ids = m.entry(pool.to_string()).or_default();
            ids.retain(|i| i != id);
            if keep {
                ids.push(id.to_string());
            }
            if ids.is_empty() {
                m.remove(pool);
            }
        }
    }

    /// Reads a pool's value and revision (revision 0: no value yet).
    async fn read(&self, pool: &str) -> Result<(PoolValue, u64), String> {
        match self.kv.entry(pool).await.map_err(|e| e.to_string())? {
            Some(e) if e.operation == kv::Operation::Put => {
                let value = serde_json::from_slice(&e.value).unwrap_or_default();
                Ok((value, e.revision))
            }
            Some(e) => Ok((PoolValue::default(), e.revision)),
            None => Ok((PoolValue::default(), 0)),
        }
    }

    /// Writes `value` if the pool is still at `revision`; false when another
    /// process changed it first.
    async fn write(&self, pool: &str, value: &PoolValue, revision: u64) -> Result<bool, String> {
        let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        let done = if revision == 0 {
            self.kv
                .create(pool, bytes.into())
                .await
                .map(|_| ())
                .map_err(|e| {
                    (
                        e.kind() == kv::CreateErrorKind::AlreadyExists,
                        e.to_string(),
                    )
                })
        } else {
            self.kv
                .update(pool, bytes.into(), revision)
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

    /// Takes `slot.slots` of `pool` (of `size`) for the attempt `slot.id`, waiting
    /// (first come, first served) while they are taken; `waiting` is called once
    /// when it has to wait. An attempt that holds them already (a run taken over)
    /// keeps them: with `force`, it takes them whatever the pool holds (an
    /// attempt a worker runs already).
    pub async fn acquire(
        self: &Arc<Pools>,
        pool: &str,
        size: u32,
        mut slot: Slot,
        force: bool,
        stop: &CancellationToken,
        mut waiting: impl FnMut(),
    ) -> Result<Held, NoSlots> {
        slot.by = self.me.clone();
        let mut told = false;
        let mut since = Timestamp::now().0;
        loop {
            let (mut value, revision) = self.read(pool).await.map_err(NoSlots::Store)?;
            let now = Timestamp::now().0;
            value.expire(now);
            value.size = size;
            slot.until = now + self.lease.as_millis() as u64;
            if let Some(w) = value.waiters.iter().find(|w| w.id == slot.id) {
                since = w.since;
            }
            slot.since = since;
            let ahead: u64 = value
                .waiters
                .iter()
                .filter(|w| w.id != slot.id && (w.since, &w.id) < (since, &slot.id))
                .map(|w| u64::from(w.slots))
                .sum();
            let holds = value.holders.iter().any(|h| h.id == slot.id);
            let fits = value.used() + ahead + u64::from(slot.slots) <= u64::from(size);
            value.waiters.retain(|w| w.id != slot.id);
            let granted = holds || fits || force;
            if granted {
                value.holders.retain(|h| h.id != slot.id);
                value.holders.push(slot.clone());
            } else {
                value.waiters.push(slot.clone());
            }
            if value.holders.len() + value.waiters.len() > MAX_ENTRIES {
                return Err(NoSlots::Store(format!(
                    "pool {pool} lists more than {MAX_ENTRIES} holders and waiters"
                )));
            }
            if !self
                .write(pool, &value, revision)
                .await
                .map_err(NoSlots::Store)?
            {
                continue;
            }
            self.note_mine(pool, &slot.id, true);
            if granted {
                return Ok(Held {
                    pools: self.clone(),
                    pool: pool.to_string(),
                    id: slot.id,
                });
            }
            if !told {
                told = true;
                waiting();
            }
            // Woken by any change of the pool, or after a while (a lease that
            // lapses changes nothing in the bucket).
            let mut watch = self.kv.watch(pool).await.ok();
            let change = async {
                match watch.as_mut() {
                    Some(w) => {
                        let _ = w.next().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = change => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.cancelled() => {
                    self.leave(pool, &slot.id).await;
                    return Err(NoSlots::Stopped);
                }
            }
        }
    }

    /// Takes `id` out of `pool`'s holders and waiters.
    async fn leave(&self, pool: &str, id: &str) {
        self.note_mine(pool, id, false);
        for _ in 0..20 {
            let Ok((mut value, revision)) = self.read(pool).await else {
                return;
            };
            if revision == 0 {
                return;
            }
            let before = value.holders.len() + value.waiters.len();
            value.holders.retain(|h| h.id != id);
            value.waiters.retain(|w| w.id != id);
            if value.holders.len() + value.waiters.len() == before {
                return;
            }
            match self.write(pool, &value, revision).await {
                Ok(true) | Err(_) => return,
                Ok(false) => continue,
            }
        }
    }

    /// Pushes back the lease of everything this process holds or waits for.
    async fn renew(&self) {
        let mine: Vec<(String, Vec<String>)> = match self.mine.lock() {
            Ok(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Err(_) => return,
        };
        for (pool, ids) in mine {
            for _ in 0..5 {
                let Ok((mut value, revision)) = self.read(&pool).await else {
                    break;
                };
                let until = Timestamp::now().0 + self.lease.as_millis() as u64;
                for s in value.holders.iter_mut().chain(value.waiters.iter_mut()) {
                    if ids.contains(&s.id) {
                        s.until = until;
                        s.by = self.me.clone();
                    }
                }
                if !matches!(self.write(&pool, &value, revision).await, Ok(false)) {
                    break;
                }
            }
        }
    }
}
