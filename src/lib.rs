//! `dag` runs pipelines written as YAML DAG files: shell commands, HTTP calls, Docker
//! containers and Rust functions, in one process, on a local pool, or across
//! machines.
//!
//! The crate has three layers, with dependencies pointing one way
//! (`cli -> engine <- backends`):
//! - [`engine`]: file format, validation, graph, state machine, executors, traits;
//! - [`backends`]: task runners and state stores;
//! - [`cli`]: the `dag` command line, terminal output and reports;
//! - [`embed`]: running DAG files from your own program, with your own functions.

pub mod backends;
pub mod cli;
pub mod embed;
pub mod engine;

#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
