//! Every wire message decoder (task, result, heartbeat, control): any bytes decode
//! or give an error, never a panic.
#![no_main]

use dag::backends::nats::wire::{ControlMsg, Heartbeat, ResultMsg, TaskMsg, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode::<TaskMsg>("task", data);
    let _ = decode::<ResultMsg>("result", data);
    let _ = decode::<Heartbeat>("heartbeat", data);
    let _ = decode::<ControlMsg>("control", data);
});
