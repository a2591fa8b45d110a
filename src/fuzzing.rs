//! The bodies of the fuzz targets in `fuzz/`, kept in the library so the normal test
//! suite replays the committed corpus through exactly the code the fuzzer runs.
//! Each function takes any bytes and must return without panicking.

use crate::backends::nats::wire::{ControlMsg, Heartbeat, ResultMsg, TaskMsg, decode};
use crate::engine::validate::{LoadError, LoadOptions, load_bytes};

/// The DAG file parser and validator: any bytes give a DAG (whose order is then
/// computed) or a list of problems (which is then rendered).
pub fn dag_file(data: &[u8]) {
    let options = LoadOptions {
        params: vec![("day".into(), "2025-01-01".into())],
        functions: Some(vec!["noop".into(), "sleep".into()]),
        task_types: None,
        docker_image_optional: false,
        pools: vec![("db".into(), 2)],
        calls: Vec::new(),
        sub_sources: None,
    };
    match load_bytes("fuzz.yaml", data, &options) {
        Ok(dag) => {
            let _ = dag.topological_order();
        }
        Err(LoadError::Invalid(invalid)) => {
            let _ = crate::cli::output::render_invalid(&invalid, false);
        }
        Err(_) => {}
    }
}

/// Every wire message decoder (task, result, heartbeat, control).
pub fn wire(data: &[u8]) {
    let _ = decode::<TaskMsg>("task", data);
    let _ = decode::<ResultMsg>("result", data);
    let _ = decode::<Heartbeat>("heartbeat", data);
    let _ = decode::<ControlMsg>("control", data);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Runs every input of `fuzz/corpus/TARGET` through `body`; returns how many.
    fn replay(target: &str, body: fn(&[u8])) -> usize {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            body(&data);
            // Every prefix too: truncated input is the commonest malformed input.
            for cut in (0..data.len()).step_by(data.len() / 16 + 1) {
                body(&data[..cut]);
            }
            count += 1;
        }
        count
    }

    #[test]
    fn the_dag_file_corpus_replays_without_a_panic() {
        assert!(replay("dag_file", super::dag_file) >= 30);
    }

    #[test]
    fn the_wire_corpus_replays_without_a_panic() {
        assert!(replay("wire", super::wire) >= 4);
    }
}
