//! Integration tests: the real `dag` binary, run in temporary directories.

mod common;

mod autoscale;
mod cache;
mod chaos;

mod cli;

mod http;
mod language;

mod deploy;
mod docker;
mod examples;
mod exit_codes;
mod failover;
mod gpus;
mod history;
mod multihost;
mod nats;
mod nats_cluster;
mod nats_hardening;
mod pools;
mod report;
mod retry;
mod run;
mod signals;
mod state;
mod subdag;
mod subdag_views;
mod terminal;
mod ui;
mod validate;
mod wasm;
