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
    /// Closing time, local, `HH:MM`, after opening; `24:00` for midnight.
    #[schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    pub closes: String,
    /// Open days, ISO numbers (1 Monday … 7 Sunday); Monday to Friday when left out.
    #[serde(default = "weekdays")]
    #[schema(min_items = 1, max_items = 7)]
    pub days: Vec<u8>,
}

fn weekdays() -> Vec<u8> {
    vec![1, 2, 3, 4, 5]
}

/// `HH:MM`, exactly: two digits each (no sign), hour 00-23, minute 00-59; `24:00` (midnight
/// at the end of the day) only where `end_of_day` may be named.
fn hour_minute(raw: &str, end_of_day: bool) -> Option<(i8, i8)> {
    let (h, m) = raw.split_once(':')?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return None;
    }
    let (h, m) = (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?);
    let in_day = (0..24).contains(&h) && (0..60).contains(&m);
    (in_day || (end_of_day && (h, m) == (24, 0))).then_some((h, m))
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
        let Some(opens) = hour_minute(&self.opens, false) else {
            return Err(invalid("opens", "opens is a time of day, HH:MM (00:00-23:59)"));
        };
        let Some(closes) = hour_minute(&self.closes, true) else {
            return Err(invalid("closes", "closes is a time of day, HH:MM (00:01-24:00)"));
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
            hour_minute(&self.opens, false),
            hour_minute(&self.closes, true),
        ) else {
            return wall;
        };
        let Ok(now_ts) = jiff::Timestamp::from_second(now.timestamp()) else {
            return wall;
        };
        // A local time of a day as an instant. One a spring-forward gap skips is taken as
        // the same wall time after the jump (02:30 → 03:30); one an autumn overlap repeats
        // is taken at its first occurrence. `24:00` is the next day's midnight.
        let at = |date: jiff::civil::Date, (h, m): (i8, i8)| {
            let (date, h) = if h == 24 { (date.tomorrow()?, 0) } else { (date, h) };
            date.at(h, m, 0, 0)
                .to_zoned_datetime(tz.clone())
                .map(|z| z.timestamp().as_second())
        };
        let mut remaining = i64::from(minutes) * 60;
        let mut until = now.timestamp();
        let mut date = now_ts.to_zoned_datetime(tz.clone()).date();
        // A week holds at least one open minute, and an SLA is at most a week of open time:
        // 10,080 weeks of days, and the rest of the first week, bound the walk. That worst
        // case (open one minute a week) costs milliseconds; a real week of hours, a few days.
        for _ in 0..70_560 + 7 {
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
    fn when_a_window_starts_in_a_skipped_hour_or_ends_at_midnight_should_hold() {
        // Berlin skips 02:00-03:00 on Sunday 2026-03-29: a 02:30 opening is 03:30 local
        // (01:30 UTC), so a 30-minute SLA ending at 04:00 local (02:00 UTC) starts then.
        let sunday = BusinessHours {
            time_zone: "Europe/Berlin".into(),
            opens: "02:30".into(),
            closes: "04:00".into(),
            days: vec![7],
        };
        assert!(sunday.validate().is_ok());
        assert_eq!(
            sunday.minutes_before(utc(2026, 3, 29, 2, 0), 30),
            utc(2026, 3, 29, 1, 30)
        );
        // Open until midnight: the last hour of Tuesday is open time.
        let late = BusinessHours {
            time_zone: "UTC".into(),
            opens: "18:00".into(),
            closes: "24:00".into(),
            days: vec![2],
        };
        assert!(late.validate().is_ok());
        // Wednesday 2026-12-02 10:00: the hour is Tuesday 23:00-24:00.
        assert_eq!(
            late.minutes_before(utc(2026, 12, 2, 10, 0), 60),
            utc(2026, 12, 1, 23, 0)
        );
    }

    #[test]
    fn when_the_only_open_minute_is_weekly_should_still_find_a_weeks_sla() {
        // One minute a week, and an SLA of a week of open time: 10,080 weeks back.
        let rare = BusinessHours {
            time_zone: "UTC".into(),
            opens: "12:00".into(),
            closes: "12:01".into(),
            days: vec![3],
        };
        // Wednesday 12:00:30, inside the minute: half of it counts today.
        let now = utc(2026, 12, 2, 12, 0) + chrono::Duration::seconds(30);
        let start = rare.minutes_before(now, 10_080);
        assert_eq!(now - start, chrono::Duration::weeks(10_080), "{start}");
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
        b.opens = "+9:00".into();
        assert_eq!(b.validate().unwrap_err().field, "business_hours.opens");
        b.opens = "24:00".into();
        assert_eq!(b.validate().unwrap_err().field, "business_hours.opens");
        b = berlin();
        b.closes = "17:60".into();
        assert_eq!(b.validate().unwrap_err().field, "business_hours.closes");
        b = berlin();
        b.days = vec![1, 1];
        assert_eq!(b.validate().unwrap_err().field, "business_hours.days");
        b.days = vec![0];
        assert!(b.validate().is_err());
        b.days = vec![];
        assert!(b.validate().is_err());
    }
}
