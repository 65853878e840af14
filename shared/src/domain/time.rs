//! Timestamps as the stores index them: microseconds since the epoch, zero-padded so that
//! string order equals time order (DynamoDB sort keys, cursors).

use chrono::{DateTime, TimeZone, Utc};

pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The sortable position of a record: `{micros:016}#{id}`. Unique per record because ids are.
pub fn position(t: DateTime<Utc>, id: &str) -> String {
    format!("{:016}#{id}", to_micros(t).max(0))
}

/// The bare time prefix: sorts before every position at that microsecond.
pub fn time_prefix(t: DateTime<Utc>) -> String {
    format!("{:016}", to_micros(t).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_times_differ_should_order_positions_like_times() {
        let a = from_micros(999);
        let b = from_micros(1_000_000_000_000);
        assert!(position(a, "z") < position(b, "a"));
        assert!(time_prefix(b) < position(b, "a"));
        assert_eq!(from_micros(to_micros(b)), b);
    }
}
