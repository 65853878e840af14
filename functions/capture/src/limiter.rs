//! Per-form rate limits: a fixed one-minute window per (tenant, form), in this process.
//! On Lambda each warm instance counts on its own, so the effective limit is per instance;
//! API Gateway throttling caps the total (see the stack template).

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    /// Counts one request at `now_unix`; `Err(seconds)` until the window resets when over.
    pub fn check(&self, key: &str, per_minute: u32, now_unix: i64) -> Result<(), u64> {
        let minute = now_unix.div_euclid(60);
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if w.len() > 10_000 {
            w.retain(|_, (m, _)| *m == minute);
        }
        let entry = w.entry(key.to_owned()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= per_minute {
            return Err((60 - now_unix.rem_euclid(60)).max(1) as u64);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_over_the_limit_should_refuse_until_the_next_minute() {
        let l = RateLimiter::default();
        let t = 1_800_000_020;
        assert!(l.check("a", 2, t).is_ok());
        assert!(l.check("a", 2, t + 1).is_ok());
        assert_eq!(l.check("a", 2, t + 2), Err(38));
        assert!(l.check("b", 2, t + 2).is_ok(), "forms count separately");
        assert!(l.check("a", 2, t + 40).is_ok(), "a new minute");
    }
}
