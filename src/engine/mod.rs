//! The engine: the DAG file model and its validation, the graph, the state machine,
//! the executors and the traits through which they run tasks and keep state. It
//! knows nothing of the command line, terminals, NATS, HTTP or Docker.

pub mod cache;
pub mod capped_read;
pub mod compact;
pub mod condition;
pub mod events;
pub mod executor;
pub mod expr;
pub mod fanout;
pub mod format;
pub mod gpu;
pub mod graph;
pub mod record;
pub mod retry;
pub mod runner;
pub mod secrets;
pub mod spec;
pub mod state;
pub mod store;
pub mod suggest;
pub mod text;
pub mod time;
pub mod trigger;
pub mod validate;
pub mod yaml;

/// Hash maps keyed by task ids and the like: a fast hash, seeded per process
/// (std's SipHash took a fifth of the time of validating a million instances).
pub type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Hash sets of task ids and the like (see [`Map`]).
pub type Set<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
