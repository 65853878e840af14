//! Input files: realistic leads (names with accents, mixed-case emails, phones written the
//! way people type them), the same rows for CSV and XLSX.

use std::path::Path;

const FIRST: [&str; 8] = ["Anna", "Jürgen", "Renée", "Mohammed", "Li", "José", "Olga", "Sam"];
const ASCII_FIRST: [&str; 8] = [
    "Anna", "Juergen", "Renee", "Mohammed", "Li", "Jose", "Olga", "Sam",
];
const LAST: [&str; 8] = [
    "Müller", "Dubois", "Smith", "García", "Nowak", "O'Brien", "Khan", "Lee",
];
const CITY: [&str; 6] = ["Berlin", "Köln", "Paris", "Madrid", "London", "Boston"];

/// One generated lead: 12 cells.
pub fn row(i: usize) -> [String; 12] {
    let first = FIRST[i % FIRST.len()];
    let last = LAST[(i / 8) % LAST.len()];
    // Every lead its own number (below 8M leads), so a file of new leads has no duplicates.
    let phone = match i % 3 {
        0 => format!("+49 30 {}", 20_000_000 + i % 70_000_000),
        1 => format!("+44 20 7{:03} {:04}", (i / 10_000) % 1_000, i % 10_000),
        _ => format!("+1 (212) {}-{:04}", 200 + (i / 10_000) % 800, i % 10_000),
    };
    [
        first.to_owned(),
        last.to_owned(),
        format!(
            "{}.{}{i}@Example{}.com",
            ASCII_FIRST[i % FIRST.len()],
            "x",
            i % 100
        ),
        phone,
        format!("Company {} GmbH", i % 5_000),
        ["CEO", "Head of Sales", "Buyer", "CTO"][i % 4].to_owned(),
        format!("{} Main Street", 1 + i % 300),
        CITY[i % CITY.len()].to_owned(),
        format!("{:05}", 10_000 + i % 89_999),
        ["DE", "GB", "US"][i % 3].to_owned(),
        ["Website form", "Referral", "Trade show / event"][i % 3].to_owned(),
        if i.is_multiple_of(5) {
            "vip; q4".into()
        } else {
            "q4".into()
        },
    ]
}

pub const HEADERS: [&str; 12] = [
    "First Name",
    "Last Name",
    "Email",
    "Phone",
    "Company",
    "Title",
    "Street",
    "City",
    "Postal Code",
    "Country",
    "Lead Source",
    "Tags",
];

/// The seeded sources' names, for files whose leads spread over all of them.
const ALL_SOURCES: [&str; 7] = [
    "Website form",
    "Phone call",
    "Referral",
    "Social media",
    "Trade show / event",
    "Cold outreach",
    "Partner",
];

/// Leads number `leads` as CSV (`retitled`: another title each, see `GenCsv`). With
/// `created_over_days`, a 13th column `Created Date` spreads the leads over that many days
/// up to today, and their sources over every seeded source: a migrated history, which is
/// what analytics over a date range read.
pub fn csv(
    leads: std::ops::Range<usize>,
    retitled: bool,
    created_over_days: Option<u32>,
    out: &Path,
) -> Result<serde_json::Value, String> {
    let mut w = csv::Writer::from_path(out).map_err(|e| e.to_string())?;
    let mut headers: Vec<&str> = HEADERS.to_vec();
    if created_over_days.is_some() {
        headers.push("Created Date");
    }
    w.write_record(&headers).map_err(|e| e.to_string())?;
    let rows = leads.len();
    let today = chrono::Utc::now().date_naive();
    for i in leads {
        let mut r = row(i).to_vec();
        if retitled {
            r[5] = format!("{} (new)", r[5]);
        }
        if let Some(days) = created_over_days {
            r[10] = ALL_SOURCES[(i / 3) % ALL_SOURCES.len()].to_owned();
            let back = (i as u64 * 7_919) % u64::from(days.max(1));
            r.push((today - chrono::Days::new(back)).format("%Y-%m-%d").to_string());
        }
        w.write_record(r).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())?;
    Ok(serde_json::json!({"generated": out, "rows": rows}))
}

/// The CSV's first `columns` columns, so `rows` rows are `columns × rows` cells. With 10 (no
/// source: the import's default source applies, and no tags).
pub fn xlsx(rows: usize, columns: usize, out: &Path) -> Result<serde_json::Value, String> {
    if !(1..=HEADERS.len()).contains(&columns) {
        return Err(format!("columns is 1 to {}", HEADERS.len()));
    }
    let err = |e: rust_xlsxwriter::XlsxError| e.to_string();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet_with_constant_memory().map_err(err)?;
    for (c, h) in HEADERS[..columns].iter().enumerate() {
        ws.write_string(0, c as u16, *h).map_err(err)?;
    }
    for i in 0..rows {
        for (c, v) in row(i)[..columns].iter().enumerate() {
            ws.write_string(i as u32 + 1, c as u16, v).map_err(err)?;
        }
    }
    wb.save(out).map_err(err)?;
    Ok(serde_json::json!({"generated": out, "rows": rows, "cells": rows * columns}))
}
