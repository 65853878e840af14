//! Rollups: what analytics reads instead of the leads. Per tenant, per day a lead was created
//! and per one dimension (its source, its owner, or its campaign), a fixed vector of counts: how many leads,
//! how many sit in each status, how many were answered, and histograms of the time to the
//! first response and to conversion; beside it, the converted deals' value per currency.
//!
//! A lead's contribution is a function of its current state alone (`contribution`), so the
//! rollups always equal the sum over the stored leads, which is how `recompute` rebuilds
//! them and how the property test checks them. Every lead write moves them by
//! `delta(before, after)` in the same atomic write (both stores), so a count never disagrees
//! with the leads it counts.
//!
//! Cohorts, not events: a lead created on 1 March and converted on 9 April counts as a
//! conversion of 1 March, which is what "which source converts best" asks. The day is the
//! UTC date of `created_at`.

use super::lead::Lead;
use super::status::LeadStatus;
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// The dimension a rollup row is kept by. Keeping one row per (day, source), one per
/// (day, owner) and one per (day, campaign), rather than one per combination, keeps a 90-day
/// read at days × sources rows instead of days × sources × owners × campaigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    Source,
    Owner,
    Campaign,
}

impl Dim {
    pub const ALL: [Dim; 3] = [Dim::Source, Dim::Owner, Dim::Campaign];

    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Source => "source",
            Dim::Owner => "owner",
            Dim::Campaign => "campaign",
        }
    }

    pub fn parse(s: &str) -> Option<Dim> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// The key of an unassigned lead's owner row (rep ids are slugs, never `-`), and of the
/// campaign row of leads that name no campaign.
pub const UNASSIGNED: &str = "-";

/// The campaign a lead counts under: its ad platform's campaign (`google:12345678901`), else
/// its ad set when the platform does not name the campaign (`meta:adset:4444`), else the UTM
/// campaign its form was posted with (`utm:spring-sale`), else none (`-`).
pub fn campaign_key(lead: &Lead) -> String {
    let p = &lead.provenance;
    let channel = if p.channel.is_empty() {
        "api"
    } else {
        p.channel.as_str()
    };
    if let Some(c) = &p.ad.campaign_id {
        format!("{channel}:{c}")
    } else if let Some(s) = &p.ad.ad_set_id {
        format!("{channel}:adset:{s}")
    } else if let Some(u) = p.utm.campaign.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        format!("utm:{u}")
    } else {
        UNASSIGNED.to_owned()
    }
}

/// One rollup row: a dimension's value on a day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub dim: Dim,
    pub day: NaiveDate,
    pub key: String,
}

/// Upper bounds (seconds, inclusive) of the first-response histogram; the last is open.
pub const RESPONSE_BOUNDS: [i64; 11] = [
    300,
    900,
    1_800,
    3_600,
    7_200,
    14_400,
    28_800,
    86_400,
    172_800,
    604_800,
    i64::MAX,
];
/// Upper bounds (seconds, inclusive) of the time-to-convert histogram; the last is open.
pub const CONVERT_BOUNDS: [i64; 8] = [
    86_400,
    3 * 86_400,
    7 * 86_400,
    14 * 86_400,
    30 * 86_400,
    60 * 86_400,
    90 * 86_400,
    i64::MAX,
];

const STATUS_AT: usize = 1;
const RESPONDED: usize = STATUS_AT + LeadStatus::ALL.len();
const RESPONSE_AT: usize = RESPONDED + 1;
const CONVERT_AT: usize = RESPONSE_AT + RESPONSE_BOUNDS.len();
/// How many counts a row holds.
pub const METRICS: usize = CONVERT_AT + CONVERT_BOUNDS.len();

/// The name of each count, as the stores keep it (a DynamoDB attribute, a SQLite JSON
/// array's order): stable, since stored rows are read by it.
pub fn metric_name(i: usize) -> String {
    match i {
        0 => "leads".into(),
        i if i < RESPONDED => LeadStatus::ALL[i - STATUS_AT].as_str().into(),
        i if i == RESPONDED => "responded".into(),
        i if i < CONVERT_AT => format!("response_{}", i - RESPONSE_AT),
        i => format!("convert_{}", i - CONVERT_AT),
    }
}

/// Converted value per currency: ISO 4217 code → hundredths (`Money::cents`). Money in
/// different currencies is never added together; a tenant selling in two sees two sums.
pub type Values = BTreeMap<String, i64>;

/// A row's counts, and the value of its converted leads' deals. Signed, because a delta
/// takes a lead out of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts(pub [i64; METRICS], pub Values);

impl Default for Counts {
    fn default() -> Self {
        Counts([0; METRICS], Values::new())
    }
}

impl Counts {
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|&n| n == 0) && self.1.values().all(|&v| v == 0)
    }

    pub fn add(&mut self, other: &Counts, sign: i64) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += sign * b;
        }
        for (currency, v) in &other.1 {
            let sum = self.1.entry(currency.clone()).or_default();
            // Saturating: a sum past 9.2 × 10^16 hundredths stops there rather than wrap.
            *sum = sum.saturating_add(v.saturating_mul(sign));
            if *sum == 0 {
                self.1.remove(currency);
            }
        }
    }

    /// The converted deals' value per currency, in hundredths.
    pub fn converted_value(&self) -> &Values {
        &self.1
    }

    pub fn leads(&self) -> i64 {
        self.0[0]
    }

    pub fn status(&self, s: LeadStatus) -> i64 {
        let i = LeadStatus::ALL.iter().position(|x| *x == s).unwrap_or(0);
        self.0[STATUS_AT + i]
    }

    pub fn responded(&self) -> i64 {
        self.0[RESPONDED]
    }

    pub fn response_histogram(&self) -> &[i64] {
        &self.0[RESPONSE_AT..CONVERT_AT]
    }

    pub fn convert_histogram(&self) -> &[i64] {
        &self.0[CONVERT_AT..]
    }
}

/// Which histogram bucket a duration falls in.
fn bucket(bounds: &[i64], seconds: i64) -> usize {
    bounds
        .iter()
        .position(|&b| seconds <= b)
        .unwrap_or(bounds.len() - 1)
}

/// The rows a lead counts in: its source's, its owner's and its campaign's, on the day it
/// was created.
pub fn cells(lead: &Lead) -> [Cell; 3] {
    let day = lead.created_at.date_naive();
    [
        Cell {
            dim: Dim::Source,
            day,
            key: lead.source.as_str().to_owned(),
        },
        Cell {
            dim: Dim::Owner,
            day,
            key: lead
                .owner
                .as_ref()
                .map_or(UNASSIGNED.to_owned(), |o| o.as_str().to_owned()),
        },
        Cell {
            dim: Dim::Campaign,
            day,
            key: campaign_key(lead),
        },
    ]
}

/// What one lead adds to each of its rows.
pub fn contribution(lead: &Lead) -> Counts {
    let mut c = Counts::default();
    c.0[0] = 1;
    let status = LeadStatus::ALL
        .iter()
        .position(|s| *s == lead.status)
        .unwrap_or(0);
    c.0[STATUS_AT + status] = 1;
    if let Some(secs) = lead.response_time_seconds {
        c.0[RESPONDED] = 1;
        c.0[RESPONSE_AT + bucket(&RESPONSE_BOUNDS, secs)] = 1;
    }
    if lead.status == LeadStatus::Converted
        && let Some(conv) = &lead.conversion
    {
        let secs = (conv.converted_at - lead.created_at).num_seconds().max(0);
        c.0[CONVERT_AT + bucket(&CONVERT_BOUNDS, secs)] = 1;
        if let Some(m) = &conv.value
            && let Some(cents) = m.cents().filter(|&n| n != 0)
        {
            c.1.insert(m.currency.clone(), cents);
        }
    }
    c
}

/// How a set of lead writes moves the rollups: per row, the counts to add (zero rows left
/// out). The same value both stores apply inside the write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta(BTreeMap<Cell, Counts>);

impl Delta {
    /// Adds a lead's contribution (`sign` 1) or takes it away (`sign` -1).
    pub fn add_lead(&mut self, lead: &Lead, sign: i64) {
        let counts = contribution(lead);
        for cell in cells(lead) {
            self.0.entry(cell).or_default().add(&counts, sign);
        }
    }

    /// Adds counts to one row (`sign` 1) or takes them away (`sign` -1): a rebuild's move
    /// from the rows kept to the rows recomputed.
    pub fn add_row(&mut self, cell: Cell, counts: &Counts, sign: i64) {
        self.0.entry(cell).or_default().add(counts, sign);
    }

    /// The rows that change, with their non-zero deltas, in key order (so two writers touch
    /// rows in the same order).
    pub fn rows(&self) -> impl Iterator<Item = (&Cell, &Counts)> {
        self.0.iter().filter(|(_, c)| !c.is_zero())
    }
}

/// The rollup move of one lead write: `before` (none for a new lead) out, `after` (none for
/// a deleted one) in.
pub fn delta(before: Option<&Lead>, after: Option<&Lead>) -> Delta {
    let mut d = Delta::default();
    if let Some(b) = before {
        d.add_lead(b, -1);
    }
    if let Some(a) = after {
        d.add_lead(a, 1);
    }
    d
}

/// The rollups of these leads from scratch: what `analytics rebuild` writes and what the
/// property test compares the maintained rows with.
pub fn recompute<'a>(leads: impl IntoIterator<Item = &'a Lead>) -> BTreeMap<Cell, Counts> {
    let mut d = Delta::default();
    for l in leads {
        d.add_lead(l, 1);
    }
    d.0.into_iter().filter(|(_, c)| !c.is_zero()).collect()
}

/// The estimated `q`-quantile (0..1) of a histogram, in seconds: the bucket holding it,
/// interpolated linearly between its bounds (the open last bucket answers its lower bound).
/// `None` when the histogram is empty. Exact to within a bucket, which is what a count kept
/// in a fixed number of rows can give.
pub fn quantile(histogram: &[i64], bounds: &[i64], q: f64) -> Option<i64> {
    let total: i64 = histogram.iter().sum();
    if total <= 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut seen = 0i64;
    for (i, &n) in histogram.iter().enumerate() {
        if n <= 0 {
            continue;
        }
        if (seen + n) as f64 >= rank {
            let lo = if i == 0 { 0 } else { bounds[i - 1] };
            let hi = bounds[i];
            if hi == i64::MAX {
                return Some(lo);
            }
            let within = ((rank - seen as f64) / n as f64).clamp(0.0, 1.0);
            return Some(lo + ((hi - lo) as f64 * within).round() as i64);
        }
        seen += n;
    }
    bounds.iter().rev().nth(1).copied()
}

/// The first day of the bucket a day falls in: itself, or the Monday of its ISO week.
pub fn bucket_start(day: NaiveDate, weekly: bool) -> NaiveDate {
    use chrono::Datelike;
    if weekly {
        day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()))
    } else {
        day
    }
}

/// A day as the stores key it (`2026-03-01`): sorts as the date does.
pub fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

pub fn parse_day_key(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_metrics_are_named_should_be_distinct_and_stable() {
        let names: Vec<String> = (0..METRICS).map(metric_name).collect();
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), METRICS);
        assert_eq!(names[0], "leads");
        assert_eq!(names[1], "new");
        assert_eq!(names[RESPONDED], "responded");
        assert_eq!(names[METRICS - 1], "convert_7");
    }

    #[test]
    fn when_a_histogram_is_read_should_interpolate_within_the_bucket() {
        // 4 answers within 5 minutes, 4 between 5 and 15.
        let mut h = [0i64; RESPONSE_BOUNDS.len()];
        h[0] = 4;
        h[1] = 4;
        assert_eq!(quantile(&h, &RESPONSE_BOUNDS, 0.5), Some(300));
        assert_eq!(quantile(&h, &RESPONSE_BOUNDS, 0.75), Some(600));
        assert_eq!(quantile(&[0; 11], &RESPONSE_BOUNDS, 0.5), None);
        let mut open = [0i64; RESPONSE_BOUNDS.len()];
        open[10] = 1;
        assert_eq!(quantile(&open, &RESPONSE_BOUNDS, 0.9), Some(604_800));
    }

    #[test]
    fn when_days_are_bucketed_by_week_should_start_on_monday() {
        let thu = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let mon = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert_eq!(bucket_start(thu, true), mon);
        assert_eq!(bucket_start(mon, true), mon);
        assert_eq!(bucket_start(thu, false), thu);
    }
}
