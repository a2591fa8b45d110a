//! How a scheduler keeps the priority order of its tasks across workers.
//!
//! A queue on the server is first in, first out: a task published behind others
//! waits for all of them, whatever its priority. So a scheduler does not publish
//! every ready task at once: per queue, it keeps at most as many task messages
//! waiting for a worker as the live workers serving the queue have slots (at
//! least one), and holds the rest itself, by priority, then declaration order.
//! Each time a worker takes a message (its "started" report comes), the best
//! task held is published. A task that becomes ready behind lower-priority ones
//! then waits for at most that many of them, and no worker waits for work while
//! tasks are held (it finds as many messages as it has free slots).

use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::engine::graph::ReadyKey;

/// The messages one queue may have waiting, and the tasks held back for it.
pub struct Gate {
    state: Mutex<State>,
}

struct State {
    /// Messages published and not yet taken by a worker.
    out: usize,
    /// The most that may wait in the queue.
    limit: usize,
    waiting: BinaryHeap<Held>,
    /// Arrival order, among tasks of the same key (another run's, say).
    arrivals: u64,
}

/// A task held back: the best one goes first.
struct Held {
    key: ReadyKey,
    arrival: u64,
    pass: oneshot::Sender<Pass>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Held) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    fn cmp(&self, other: &Held) -> std::cmp::Ordering {
        self.key
            .cmp(&other.key)
            .then_with(|| other.arrival.cmp(&self.arrival))
    }
}

/// Leave to publish one task message; given back (by drop) once a worker took
/// it, or the attempt ended without one.
pub struct Pass {
    gate: Option<Arc<Gate>>,
}

impl Drop for Pass {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            let mut st = gate.lock();
            st.out = st.out.saturating_sub(1);
            Gate::admit(&gate, &mut st);
        }
    }
}

impl Gate {
    /// A gate letting `limit` messages wait at once (at least one).
    pub fn new(limit: usize) -> Arc<Gate> {
        Arc::new(Gate {
            state: Mutex::new(State {
                out: 0,
                limit: limit.max(1),
                waiting: BinaryHeap::new(),
                arrivals: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the task keyed `key` may be published: at once while fewer
    /// than the limit wait in the queue and no better task is held, else when
    /// its turn comes.
    pub async fn enter(self: &Arc<Self>, key: ReadyKey) -> Pass {
        let rx = {
            let mut st = self.lock();
            if st.out < st.limit && st.waiting.is_empty() {
                st.out += 1;
                return Pass {
                    gate: Some(self.clone()),
                };
            }
            let (tx, rx) = oneshot::channel();
            st.arrivals += 1;
            let arrival = st.arrivals;
            st.waiting.push(Held {
                key,
                arrival,
                pass: tx,
            });
            rx
        };
        match rx.await {
            Ok(pass) => pass,
            // The gate went away with its runner: nothing holds the task back.
            Err(_) => Pass { gate: None },
        }
    }

    /// Sets the limit (the live workers' slots for the queue, at least one).
    pub fn set_limit(self: &Arc<Self>, limit: usize) {
        let mut st = self.lock();
        st.limit = limit.max(1);
        Gate::admit(self, &mut st);
    }

    /// Lets the best held tasks through while there is room.
    fn admit(gate: &Arc<Gate>, st: &mut State) {
        while st.out < st.limit {
            let Some(held) = st.waiting.pop() else { return };
            st.out += 1;
            // A task whose attempt went away meanwhile (cancelled) gives its
            // pass back when the pass is dropped with the channel.
            let pass = Pass {
                gate: Some(gate.clone()),
            };
            if let Err(mut pass) = held.pass.send(pass) {
                // Given back here, under the lock already held.
                pass.gate = None;
                st.out -= 1;
            }
        }
    }

    /// Messages waiting in the queue and tasks held back now.
    pub fn counts(&self) -> (usize, usize) {
        let st = self.lock();
        (st.out, st.waiting.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn held_tasks_go_by_priority_then_declaration_order() {
        let gate = Gate::new(1);
        let first = gate.enter(ReadyKey::new(0, 0)).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (priority, index) in [(0, 1), (0, 2), (100, 9), (5, 3), (100, 4)] {
            let (g, o) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let pass = g.enter(ReadyKey::new(priority, index)).await;
                o.lock().unwrap().push(index);
                drop(pass);
            }));
            // Each is held before the next comes.
            while gate.counts().1 < tasks.len() {
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(gate.counts(), (1, 5));
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [4, 9, 3, 1, 2]);
        assert_eq!(gate.counts(), (0, 0));
    }

    #[tokio::test]
    async fn a_cancelled_held_task_gives_its_place_back() {
        let gate = Gate::new(1);
        let first = gate.enter(ReadyKey::new(0, 0)).await;
        let gone = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter(ReadyKey::new(9, 1)).await }
        });
        while gate.counts().1 < 1 {
            tokio::task::yield_now().await;
        }
        gone.abort();
        let _ = gone.await;
        drop(first);
        // The aborted task's pass went nowhere: the next one gets through.
        let next = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            gate.enter(ReadyKey::new(0, 2)),
        )
        .await;
        assert!(next.is_ok());
        drop(next);
        assert_eq!(gate.counts(), (0, 0));
    }

    #[tokio::test]
    async fn a_higher_limit_lets_held_tasks_through() {
        let gate = Gate::new(1);
        let _a = gate.enter(ReadyKey::new(0, 0)).await;
        let b = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter(ReadyKey::new(0, 1)).await }
        });
        while gate.counts().1 < 1 {
            tokio::task::yield_now().await;
        }
        gate.set_limit(2);
        let _b = b.await.unwrap();
        assert_eq!(gate.counts(), (2, 0));
    }
}
