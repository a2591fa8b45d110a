//! Task runners (bash, http, docker, fn, wasm) and state stores (file) that plug into the engine's
//! traits.

pub mod bash;
pub mod cache_dir;
pub mod docker;
pub mod file_store;
pub mod function;
pub mod gpu;
pub mod http;
pub mod nats;
pub mod outputs;
pub mod process;
pub mod subdag;
pub mod wasm;
