//! Business hours: when a tenant's response SLA runs (seed 000's "leads contacted within the
//! first hour" means a working hour to a team that is closed at night). With them, a lead
//! created on Friday evening is overdue an hour into Monday morning, not on Friday night.
//!
//! Times are local to the tenant's IANA time zone (jiff, with its own copy of the time zone
//! database: a Lambda image need not carry one), so opening hours stay at 09:00 across
//! daylight-saving changes.

use crate::domain::error::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Opening time, local, `HH:MM`.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub opens: String,
    /// Closing time, local, `HH:MM`, after opening.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub closes: String,
    /// Open days, ISO numbers (1 Monday … 7 Sunday); Monday to Friday when left out.
    #[serde(default = "weekdays")]
    #[schema(min_items = 1, max_items = 7)]
    pub days: Vec<u8>,
}

fn weekdays() -> Vec<u8> {
    vec![1, 2, 3, 4, 5]
}

/// `HH:MM`, exactly: hour 00-23, minute 00-59.
fn hour_minute(raw: &str) -> Option<(i8, i8)> {
    let (h, m) = raw.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m) = (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some((h, m))
}

fn invalid(field: &str, message: &str) -> FieldError {
    FieldError::new(format!("business_hours.{field}"), "invalid", message.to_owned())
}

impl BusinessHours {
    pub fn validate(&self) -> Result<(), FieldError> {
        if jiff::tz::TimeZone::get(&self.time_zone).is_err() {
            return Err(invalid(
                "time_zone",
                "time_zone must be an IANA time zone, e.g. Europe/Berlin",
            ));
        }
        let (Some(opens), Some(closes)) = (hour_minute(&self.opens), hour_minute(&self.closes)) else {
            return Err(invalid("opens", "opens and closes are times of day, HH:MM"));
        };
        if closes <= opens {
            return Err(invalid("closes", "closes must be after opens, the same day"));
        }
        let mut days = self.days.clone();
        days.sort_unstable();
        days.dedup();
        if days.is_empty() || days.len() != self.days.len() || days.iter().any(|d| !(1..=7).contains(d)) {
            return Err(invalid(
                "days",
                "days are distinct ISO weekdays, 1 (Monday) to 7 (Sunday), at least one",
            ));
        }
        Ok(())
    }

    /// The instant `minutes` of open time before `now`: the start of a lead's SLA that ends
    /// now. Walks back a day at a time through the open windows; settings that do not
    /// resolve (never stored: `validate` refuses them) count wall-clock minutes instead.
    pub fn minutes_before(&self, now: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
        let wall = now - chrono::Duration::minutes(i64::from(minutes));
        let (Ok(tz), Some(opens), Some(closes)) = (
            jiff::tz::TimeZone::get(&self.time_zone),
            hour_minute(&self.opens),
            hour_minute(&self.closes),
        ) else {
            return wall;
        };
        let Ok(now_ts) = jiff::Timestamp::from_second(now.timestamp()) else {
            return wall;
        };
        let at = |date: jiff::civil::Date, (h, m): (i8, i8)| {
            date.at(h, m, 0, 0)
                .to_zoned_datetime(tz.clone())
                .map(|z| z.timestamp().as_second())
        };
        let mut remaining = i64::from(minutes) * 60;
        let mut until = now.timestamp();
        let mut date = now_ts.to_zoned_datetime(tz.clone()).date();
        // A week holds at least one open minute, and an SLA is at most a week of open time:
        // 10,080 weeks of days bounds the walk.
        for _ in 0..70_560 {
            let open_day = self.days.contains(&(date.weekday().to_monday_one_offset() as u8));
            if open_day && let (Ok(start), Ok(end)) = (at(date, opens), at(date, closes)) {
                let end = end.min(until);
                if end > start {
                    if end - start >= remaining {
                        return DateTime::from_timestamp(end - remaining, 0).unwrap_or(wall);
                    }
                    remaining -= end - start;
                }
            }
            until = i64::MAX;
            let Ok(before) = date.yesterday() else {
                return wall;
            };
            date = before;
        }
        wall
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn berlin() -> BusinessHours {
        BusinessHours {
            time_zone: "Europe/Berlin".into(),
            opens: "09:00".into(),
            closes: "17:00".into(),
            days: weekdays(),
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn when_the_sla_spans_a_closed_night_or_weekend_should_count_only_open_time() {
        let b = berlin();
        // Wednesday 2026-12-02 12:00 in Berlin (11:00 UTC): an hour back is 11:00 local.
        assert_eq!(
            b.minutes_before(utc(2026, 12, 2, 11, 0), 60),
            utc(2026, 12, 2, 10, 0)
        );
        // Monday 09:30 local: half an hour on Monday, half an hour before Friday's close.
        assert_eq!(
            b.minutes_before(utc(2026, 11, 30, 8, 30), 60),
            utc(2026, 11, 27, 15, 30)
        );
        // Saturday noon: closed all day, so the hour is Friday 16:00-17:00 local.
        assert_eq!(
            b.minutes_before(utc(2026, 12, 5, 11, 0), 60),
            utc(2026, 12, 4, 15, 0)
        );
        // Before Monday's opening it is the same as at Sunday noon.
        assert_eq!(
            b.minutes_before(utc(2026, 11, 30, 6, 0), 60),
            b.minutes_before(utc(2026, 11, 29, 11, 0), 60)
        );
    }

    #[test]
    fn when_clocks_change_should_keep_opening_at_local_nine() {
        // Berlin leaves summer time on Sunday 2026-10-25. Monday 09:30 local is 08:30 UTC;
        // Friday 16:30 local was 14:30 UTC (summer time).
        assert_eq!(
            berlin().minutes_before(utc(2026, 10, 26, 8, 30), 60),
            utc(2026, 10, 23, 14, 30)
        );
    }

    #[test]
    fn when_settings_are_wrong_should_say_which() {
        let mut b = berlin();
        assert!(b.validate().is_ok());
        b.time_zone = "Mars/Olympus".into();
        assert_eq!(b.validate().unwrap_err().field, "business_hours.time_zone");
        b = berlin();
        b.closes = "08:00".into();
        assert_eq!(b.validate().unwrap_err().field, "business_hours.closes");
        b = berlin();
        b.opens = "9:00".into();
        assert_eq!(b.validate().unwrap_err().field, "business_hours.opens");
        b = berlin();
        b.days = vec![1, 1];
        assert_eq!(b.validate().unwrap_err().field, "business_hours.days");
        b.days = vec![0];
        assert!(b.validate().is_err());
        b.days = vec![];
        assert!(b.validate().is_err());
    }
}
