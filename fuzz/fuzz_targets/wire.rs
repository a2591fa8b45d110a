//! Every wire message decoder (task, result, heartbeat, control): any bytes decode
//! or give an error, never a panic. The body is `dag::fuzzing::wire`, which the
//! normal test suite also runs over the committed corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dag::fuzzing::wire(data));
