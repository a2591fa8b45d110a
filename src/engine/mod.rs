//! The engine: the DAG file model and its validation, the graph, the state machine,
//! the executors and the traits through which they run tasks and keep state. It
//! knows nothing of the command line, terminals, NATS, HTTP or Docker.

pub mod capped_read;
pub mod compact;
pub mod condition;
pub mod events;
pub mod executor;
pub mod expr;
pub mod fanout;
pub mod format;
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
