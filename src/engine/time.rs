//! Wall-clock timestamps as stored in run records: milliseconds since the Unix epoch,
//! written as RFC 3339 in UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in wall-clock time, millisecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The last millisecond RFC 3339 can write (9999-12-31T23:59:59.999Z): later
    /// times are written as it, and a stored time past it is refused.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);

    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp::from_system(SystemTime::now())
    }

    /// Converts a `SystemTime`; times before 1970 clamp to the epoch.
    pub fn from_system(t: SystemTime) -> Timestamp {
        Timestamp(
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        )
    }

    /// As a `SystemTime`.
    pub fn to_system(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }

    /// Time from `self` to `later`, zero if `later` is earlier.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(later.0.saturating_sub(self.0))
    }

    /// RFC 3339 with milliseconds, e.g. `2026-11-26T04:48:02.123Z`.
    pub fn rfc3339(self) -> String {
        humantime::format_rfc3339_millis(self.min(Timestamp::MAX).to_system()).to_string()
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        humantime::parse_rfc3339(&s)
            .map(Timestamp::from_system)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attack pass on issue 14: a time past what RFC 3339 writes is written as
    /// the last one it can, never a panic.
    #[test]
    fn the_latest_times_are_written_as_the_last_one_rfc3339_has() {
        assert_eq!(Timestamp(u64::MAX).rfc3339(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::MAX.rfc3339(), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn round_trips_through_json() {
        let t = Timestamp(1_764_132_482_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2025-11-26T04:48:02.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }
}
