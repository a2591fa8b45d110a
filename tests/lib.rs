//! Integration tests: the real `dag` binary, run in temporary directories.

mod common;

mod http;

mod examples;
mod history;
mod run;
mod signals;
mod validate;
