//! The DAG file parser and validator: any bytes give a DAG or a list of problems
//! that renders, never a panic.
#![no_main]

use dag::engine::validate::{LoadError, LoadOptions, load_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = LoadOptions {
        params: vec![("day".into(), "2025-01-01".into())],
        functions: Some(vec!["noop".into(), "sleep".into()]),
        task_types: None,
    };
    match load_bytes("fuzz.yaml", data, &options) {
        Ok(dag) => {
            let _ = dag.topological_order();
        }
        Err(LoadError::Invalid(invalid)) => {
            let _ = dag::cli::output::render_invalid(&invalid, false);
        }
        Err(_) => {}
    }
});
