//! Text shared by the displays (progress, the result table, history, workers):
//! short human durations. (Task output is made safe to print by
//! [`crate::engine::text::printable`].)

/// A short human duration: `850ms`, `2.4s`, `3m12s`, `1h05m`.
pub fn format_ms(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}
