//! Task runners and state stores.
