//! Opening the file and finding its header row.

use super::*;

/// Rows above the header that a file may carry (a report title, a date, a blank line).
pub(super) const MAX_TITLE_ROWS: usize = 10;

/// Opens the file and finds its header: the first row when it names any lead field, else the
/// first of the next `MAX_TITLE_ROWS` rows that names at least two (the rows above it are a
/// title, and are skipped). Returns the table positioned after the header, its columns, and
/// the header's row number; or why the file cannot be imported (no header, or headers the
/// explicit mapping names that the file lacks).
pub(super) fn open_table(
    path: &Path,
    scratch: &Path,
    ctx: &LeadContext,
    mapping: &Mapping,
) -> Result<(Table, Vec<Column>, usize), String> {
    let found = |table: Table, columns: Vec<Column>, line: usize| {
        let missing = mapping.missing_headers(&table.headers);
        if missing.is_empty() {
            Ok((table, columns, line))
        } else {
            Err(format!(
                "the mapping names columns this file does not have: {}",
                missing.join(", ")
            ))
        }
    };
    // Spreadsheets pad rows to the sheet's width: empty cells after the last header name
    // are no columns (a value under one is an extra cell of its row).
    pub(super) fn header_of(cells: &[String]) -> Vec<String> {
        let mut h: Vec<String> = cells.iter().map(|c| c.trim().to_owned()).collect();
        while h.last().is_some_and(|c| c.is_empty()) {
            h.pop();
        }
        h
    }
    let mut table = table::open(path, scratch).map_err(|e| e.to_string())?;
    table.headers = header_of(&table.headers);
    let columns = map_headers(&table.headers, &ctx.custom_fields, mapping);
    if known_columns(&columns) > 0 {
        return found(table, columns, 1);
    }
    for _ in 0..MAX_TITLE_ROWS {
        let Some(row) = table.next() else { break };
        let (line, cells) = row.map_err(|e| e.to_string())?;
        let cells = header_of(&cells);
        let columns = map_headers(&cells, &ctx.custom_fields, mapping);
        if known_columns(&columns) >= 2 {
            table.headers = cells;
            return found(table, columns, line);
        }
    }
    Err(format!(
        "no header row: neither the first row nor the {MAX_TITLE_ROWS} after it names the lead \
         fields (columns such as Name, Email, Phone, Company, Lead Source); put the column \
         names in one row above the data"
    ))
}

/// Removes a scratch file when dropped.
pub(super) struct RemoveOnDrop(pub(super) std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
