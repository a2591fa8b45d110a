//! Task runners (bash, fn) and state stores (file) that plug into the engine's
//! traits.

pub mod bash;
pub mod file_store;
pub mod function;
pub mod process;
