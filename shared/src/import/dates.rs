//! Dates in import cells, as other systems export them: ISO 8601 and RFC 3339
//! (`2026-01-05`, `2026-01-05 10:00`, `2026-01-05T10:00:00Z`), day-month-year and
//! month-day-year with `/`, `.` or `-` (`05.01.2026`, `1/5/2026, 10:00 AM`), and month names
//! (`5 Jan 2026`, `Jan 5, 2026`). A time without an offset is UTC.
//!
//! Hand-written over chrono's parsers (not a crate) because the day/month order is decided
//! per cell: unambiguous cells (`25/01/2026`) read the same under either order; only cells
//! whose day and month could swap need the profile's `date_order`.

use super::mapping::RowDates;
use crate::domain::data_quality::DataWarning;
use crate::domain::lead::NewLead;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// How to read a date whose day and month could both be either (`03/04/2026`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DateOrder {
    /// Day, month, year (Europe, Latin America, most of the world).
    Dmy,
    /// Month, day, year (United States).
    Mdy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateError {
    Unparseable,
    /// Day and month could swap and no order was given.
    Ambiguous,
    /// A date, but not one a lead was made or worked on (before 1970: a spreadsheet's zero
    /// date, a typo).
    Implausible,
}

/// The earliest year a lead's date may have.
const FIRST_YEAR: i32 = 1970;

const ISO_TIMES: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
];
const NAMED_DATES: &[&str] = &[
    "%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y", "%d-%b-%Y", "%d-%b-%y",
];
const TIMES: &[&str] = &[
    "%H:%M:%S",
    "%H:%M",
    "%I:%M:%S %p",
    "%I:%M %p",
    "%I:%M:%S%p",
    "%I:%M%p",
];

/// Reads a date cell. `order` settles only cells whose day and month could swap; dotted
/// dates (`05.01.2026`) are day first wherever they are written.
pub fn parse_date(cell: &str, order: Option<DateOrder>) -> Result<DateTime<Utc>, DateError> {
    use chrono::Datelike;
    let t = parse_any(cell, order)?;
    if t.year() < FIRST_YEAR {
        return Err(DateError::Implausible);
    }
    Ok(t)
}

fn parse_any(cell: &str, order: Option<DateOrder>) -> Result<DateTime<Utc>, DateError> {
    let s = cell.trim();
    // chrono reads signed and longer years (`-4000-01-01`, `20260-01-01`); no export writes them.
    if s.len() > 64
        || s.starts_with(['-', '+'])
        || s.len() >= 5 && s.as_bytes()[..5].iter().all(u8::is_ascii_digit)
    {
        return Err(DateError::Unparseable);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ISO_TIMES {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc());
        }
    }
    // "1/5/2026, 10:00 AM" (Salesforce) reads like "1/5/2026 10:00 AM".
    let s = s.replacen(", ", " ", 1).replace(',', "");
    let (date_part, time_part) = match s.split_once(' ') {
        Some((d, t)) if d.chars().any(|c| c.is_ascii_digit()) && t.contains(':') => {
            (d.to_owned(), Some(t.trim()))
        }
        _ => (s.clone(), None),
    };
    let time = match time_part {
        None => NaiveTime::MIN,
        Some(t) => {
            let t = t.to_uppercase();
            TIMES
                .iter()
                .find_map(|f| NaiveTime::parse_from_str(&t, f).ok())
                .ok_or(DateError::Unparseable)?
        }
    };
    let date = numeric_date(&date_part, order)?
        .or_else(|| {
            NAMED_DATES
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(&s, f).ok())
        })
        .ok_or(DateError::Unparseable)?;
    Ok(date.and_time(time).and_utc())
}

/// Gives a new lead the row's created and last-activity dates. A date that cannot be read,
/// whose day and month could swap without a `date_order`, or that lies after `now` (the job's
/// start) is not taken: the lead is dated now and the cell is kept in its `data_warnings`.
pub fn apply_row_dates(new: &mut NewLead, dates: &RowDates, order: Option<DateOrder>, now: DateTime<Utc>) {
    let mut read = |field: &str, cell: &Option<String>| -> Option<DateTime<Utc>> {
        let cell = cell.as_deref()?;
        let (code, message) = match parse_date(cell, order) {
            Ok(t) if t <= now => return Some(t),
            Ok(_) => ("future_date", format!("{field} is after the import started")),
            Err(DateError::Ambiguous) => (
                "ambiguous_date",
                format!("{field}: day and month could be either; set the import's date_order (dmy or mdy)"),
            ),
            Err(DateError::Implausible) => ("implausible_date", format!("{field} is before {FIRST_YEAR}")),
            Err(DateError::Unparseable) => (
                "invalid_date",
                format!("{field} is not a date (YYYY-MM-DD, DD.MM.YYYY, MM/DD/YYYY, 5 Jan 2026…)"),
            ),
        };
        new.data_warnings
            .push(DataWarning::new(field, cell, code, message));
        None
    };
    let created_at = read("created_at", &dates.created_at);
    let last_activity_at = read("last_activity_at", &dates.last_activity_at);
    new.created_at = created_at;
    new.last_activity_at = last_activity_at;
}

/// `Y-M-D`, `D/M/Y`, `M/D/Y`, `D.M.Y`: `Ok(None)` when the text is not three numbers.
fn numeric_date(s: &str, order: Option<DateOrder>) -> Result<Option<NaiveDate>, DateError> {
    let Some(sep) = ['/', '.', '-'].into_iter().find(|c| s.contains(*c)) else {
        return Ok(None);
    };
    let parts: Vec<&str> = s.split(sep).collect();
    let nums: Option<Vec<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
    let (Some(nums), 3) = (nums, parts.len()) else {
        return Ok(None);
    };
    let year = |raw: &str, n: u32| match raw.len() {
        4 => Some(n as i32),
        2 => Some(if n < 70 { 2000 + n as i32 } else { 1900 + n as i32 }),
        _ => None,
    };
    if parts[0].len() == 4 {
        return NaiveDate::from_ymd_opt(nums[0] as i32, nums[1], nums[2])
            .map(Some)
            .ok_or(DateError::Unparseable);
    }
    let y = year(parts[2], nums[2]).ok_or(DateError::Unparseable)?;
    let (a, b) = (nums[0], nums[1]);
    let order = if a > 12 {
        DateOrder::Dmy
    } else if b > 12 {
        DateOrder::Mdy
    } else if a == b || sep == '.' {
        order.unwrap_or(DateOrder::Dmy)
    } else {
        order.ok_or(DateError::Ambiguous)?
    };
    let (d, m) = match order {
        DateOrder::Dmy => (a, b),
        DateOrder::Mdy => (b, a),
    };
    NaiveDate::from_ymd_opt(y, m, d)
        .map(Some)
        .ok_or(DateError::Unparseable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn when_systems_write_dates_their_way_should_read_each() {
        let cases = [
            ("2026-01-05", None, "2026-01-05T00:00:00Z"),
            ("2026-01-05 10:30", None, "2026-01-05T10:30:00Z"),
            ("2026-01-05T10:30:00+02:00", None, "2026-01-05T08:30:00Z"),
            ("2026-01-05 10:30:15", None, "2026-01-05T10:30:15Z"),
            ("05.01.2026", None, "2026-01-05T00:00:00Z"),
            ("25/01/2026", None, "2026-01-25T00:00:00Z"),
            ("1/25/2026", None, "2026-01-25T00:00:00Z"),
            ("1/5/2026, 10:00 AM", Some(DateOrder::Mdy), "2026-01-05T10:00:00Z"),
            ("1/5/2026 3:15 PM", Some(DateOrder::Mdy), "2026-01-05T15:15:00Z"),
            ("03/04/2026", Some(DateOrder::Dmy), "2026-04-03T00:00:00Z"),
            ("03/04/26", Some(DateOrder::Mdy), "2026-03-04T00:00:00Z"),
            ("5 Jan 2026", None, "2026-01-05T00:00:00Z"),
            ("Jan 5, 2026", None, "2026-01-05T00:00:00Z"),
            ("05-Jan-2026", None, "2026-01-05T00:00:00Z"),
        ];
        for (cell, order, want) in cases {
            assert_eq!(parse_date(cell, order), Ok(at(want)), "{cell}");
        }
        assert_eq!(parse_date("03/04/2026", None), Err(DateError::Ambiguous));
        for bad in [
            "yesterday",
            "31/02/2026",
            "2026-13-01",
            "1/5",
            "",
            "-4000-01-01 00:00",
            "20260-01-01",
            "+2026-01-01",
        ] {
            assert_eq!(parse_date(bad, None), Err(DateError::Unparseable), "{bad}");
        }
        for old in ["1899-12-31", "0001-01-01", "01/01/1900"] {
            assert_eq!(
                parse_date(old, Some(DateOrder::Dmy)),
                Err(DateError::Implausible),
                "{old}"
            );
        }
    }
}
