//! The DAG file parser and validator: any bytes give a DAG or a list of problems
//! that renders, never a panic. The body is `dag::fuzzing::dag_file`, which the
//! normal test suite also runs over the committed corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dag::fuzzing::dag_file(data));
