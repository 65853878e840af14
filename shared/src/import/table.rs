//! Opens an import file as a header row plus rows, whatever the format.
//!
//! - Format by content, not by name: a ZIP is XLSX or ODS, a CFB container is XLS, anything
//!   else must be text (a `.xlsx` that is really CSV is read as CSV; binary junk named `.csv`
//!   is refused).
//! - CSV: UTF-8 with or without BOM, UTF-16 LE/BE with BOM, otherwise Windows-1252 (what
//!   European Excel writes); comma, semicolon or tab, guessed from the header line; quoted
//!   newlines and CRLF. The text is transcoded to UTF-8 into a scratch file, streaming, so
//!   memory does not grow with the file.
//!
//! Limits (each a clear error, never a crash or a partial import):
//! `MAX_LINE_BYTES` per physical line, `MAX_COLUMNS` columns, `MAX_CELLS` cells in a sheet
//! (checked against the sheet's declared dimension before anything is read), and for
//! XLSX/ODS archives `MAX_UNZIPPED` bytes in all and no entry over `MAX_RATIO`:1 compression
//! once it is larger than 10 MiB (zip bombs), checked from the archive's directory first.

use calamine::{Data, Reader};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

pub const MAX_LINE_BYTES: usize = 1024 * 1024;
pub const MAX_COLUMNS: usize = 500;
pub const MAX_CELLS: usize = 20_000_000;
pub const MAX_UNZIPPED: u64 = 512 * 1024 * 1024;
pub const MAX_RATIO: u64 = 200;
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a spreadsheet or text CSV (it looks like binary data)")]
    Binary,
    #[error("line {line} is longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong { line: usize },
    #[error("the header has more than {MAX_COLUMNS} columns")]
    TooManyColumns,
    /// A row below the header with a cell past the last column a sheet may have.
    #[error("row {line} has a cell past column {MAX_COLUMNS}")]
    RowTooWide { line: usize },
    #[error("the sheet has more than {MAX_CELLS} cells")]
    TooManyCells,
    #[error("the archive expands to more than allowed (a zip bomb?): {0}")]
    ZipBomb(String),
    #[error("the spreadsheet cannot be read: {0}")]
    Spreadsheet(String),
    #[error("row {line}: {message}")]
    Csv { line: usize, message: String },
    #[error("the file cannot be read: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Xlsx,
    Xls,
    Ods,
}

enum Rows {
    /// Records, the row number of the last one (the header is row 1), and the line breaks
    /// quoted inside the records so far.
    Csv(csv::StringRecordsIntoIter<BufReader<File>>, usize, usize),
    /// Rows of a sheet read whole, with their sheet row numbers.
    Cells(std::vec::IntoIter<(usize, Vec<String>)>),
    /// Rows read by a thread that streams the XLSX sheet, with their sheet row numbers: the
    /// chunk being handed out, then the channel the thread sends chunks on.
    Stream(
        std::vec::IntoIter<(usize, Vec<String>)>,
        std::sync::mpsc::Receiver<StreamedChunk>,
    ),
}

/// Rows in the order of the sheet, or the error that ended it (after the rows before it).
type StreamedChunk = Result<Vec<(usize, Vec<String>)>, TableError>;

/// Rows the XLSX thread sends at once. One row a message cost a contended lock and, on one
/// core, a switch between the two threads per row: about 15% of the parse + validate
/// benchmark's samples (BENCHMARKS.md's notes, "XLSX rows in chunks").
const STREAM_CHUNK: usize = 256;
/// Chunks queued ahead of the import. With the one the thread is filling and the one the
/// table is handing out, at most about 1,000 rows are held: enough that neither side waits
/// on the other at each chunk, and memory stays flat whatever the sheet's size.
const STREAM_AHEAD: usize = 2;

/// A header and its rows; each row comes with its row number as a spreadsheet shows it (the
/// header is row 1), so a CSV record with quoted line breaks is still one row.
pub struct Table {
    pub format: Format,
    pub headers: Vec<String>,
    pub delimiter: Option<char>,
    pub encoding: Option<&'static str>,
    rows: Rows,
}

impl Iterator for Table {
    type Item = Result<(usize, Vec<String>), TableError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.rows {
            // The row a spreadsheet shows the record on: the reader has counted the lines up
            // to the end of the record (its LF included, as transcoding ends every line with
            // one); less the line breaks quoted inside it and inside the records before it,
            // that is its row. Blank lines count as the empty rows they are.
            Rows::Csv(it, n, quoted) => it.by_ref().find(|r| !is_blank(r)).map(|r| {
                let after = it.reader().position().line() as usize;
                match r {
                    Ok(rec) => {
                        let inside: usize = rec.iter().map(|c| c.matches('\n').count()).sum();
                        *n = after.saturating_sub(1 + inside + *quoted).max(*n + 1);
                        *quoted += inside;
                        Ok((*n, rec.iter().map(str::to_owned).collect()))
                    }
                    Err(e) => Err(TableError::Csv {
                        line: e.position().map_or(*n + 1, |p| p.line() as usize),
                        message: e.to_string(),
                    }),
                }
            }),
            Rows::Cells(it) => it.next().map(Ok),
            // The thread ends the stream by dropping its sender.
            Rows::Stream(chunk, rx) => loop {
                if let Some(row) = chunk.next() {
                    return Some(Ok(row));
                }
                match rx.recv().ok()? {
                    Ok(rows) => *chunk = rows.into_iter(),
                    Err(e) => return Some(Err(e)),
                }
            },
        }
    }
}

/// A record of empty cells (",,,," as Excel saves a blank row), skipped like blank sheet rows.
fn is_blank(r: &Result<csv::StringRecord, csv::Error>) -> bool {
    r.as_ref()
        .is_ok_and(|rec| rec.iter().all(|c| c.trim().is_empty()))
}

fn sniff(path: &Path) -> Result<Vec<u8>, TableError> {
    let mut head = Vec::with_capacity(8);
    File::open(path)?.take(8).read_to_end(&mut head)?;
    if head.is_empty() {
        return Err(TableError::Empty);
    }
    Ok(head)
}

/// Opens `path`; `scratch` is a file the CSV path may write its UTF-8 copy to.
pub fn open(path: &Path, scratch: &Path) -> Result<Table, TableError> {
    let head = sniff(path)?;
    if head.starts_with(b"PK\x03\x04") {
        return open_zip_sheet(path);
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        let wb = calamine::Xls::new(BufReader::new(File::open(path)?))
            .map_err(|e| TableError::Spreadsheet(e.to_string()))?;
        return sheet_table(wb, Format::Xls);
    }
    open_csv(path, scratch)
}

/// Checks an XLSX/ODS archive before a spreadsheet reader inflates it: the declared sizes and
/// ratios of its entries. (A worksheet's declared dimension is checked as its reader opens:
/// `read_sheet`.)
fn check_archive(path: &Path) -> Result<(), TableError> {
    let mut zip = zip::ZipArchive::new(BufReader::new(File::open(path)?))
        .map_err(|e| TableError::Spreadsheet(e.to_string()))?;
    if zip.len() > MAX_ENTRIES {
        return Err(TableError::ZipBomb(format!("{} entries", zip.len())));
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let f = zip
            .by_index_raw(i)
            .map_err(|e| TableError::Spreadsheet(e.to_string()))?;
        let name = f.name().map(|n| n.into_owned()).unwrap_or_default();
        total = total.saturating_add(f.size());
        if f.size() > 10 * 1024 * 1024 && f.size() / f.compressed_size().max(1) > MAX_RATIO {
            return Err(TableError::ZipBomb(format!(
                "{name} compresses {}:1",
                f.size() / f.compressed_size().max(1)
            )));
        }
    }
    if total > MAX_UNZIPPED {
        return Err(TableError::ZipBomb(format!("{total} bytes uncompressed")));
    }
    Ok(())
}

fn open_zip_sheet(path: &Path) -> Result<Table, TableError> {
    check_archive(path)?;
    match calamine::Xlsx::new(BufReader::new(File::open(path)?)) {
        Ok(wb) => stream_xlsx(wb),
        Err(xlsx_err) => match calamine::Ods::new(BufReader::new(File::open(path)?)) {
            Ok(wb) => sheet_table(wb, Format::Ods),
            Err(_) => Err(TableError::Spreadsheet(xlsx_err.to_string())),
        },
    }
}

/// A streamed cell's text: text cells (shared strings, nearly all of a sheet's text) are
/// copied once, where going through `Data` and its `Display` made two strings per cell.
fn cell_ref_text(c: &calamine::DataRef<'_>) -> String {
    match c {
        calamine::DataRef::SharedString(s) => (*s).to_owned(),
        calamine::DataRef::String(s) => s.clone(),
        calamine::DataRef::Empty => String::new(),
        other => cell_text(&Data::from(other.clone())),
    }
}

fn cell_text(c: &Data) -> String {
    match c {
        Data::Empty => String::new(),
        // Whole numbers written as numbers ("12500", phone-like ids) read back without ".0".
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::DateTime(d) => d
            .as_datetime()
            .map(|t| {
                if t.time() == chrono::NaiveTime::MIN {
                    t.date().to_string()
                } else {
                    t.to_string()
                }
            })
            .unwrap_or_else(|| c.to_string()),
        other => other.to_string(),
    }
}

/// XLSX rows stream from the first sheet's XML as a thread reads it, so memory does not grow
/// with the sheet (only the shared-strings table is held). XLS and ODS have no streaming
/// reader in calamine and are read a sheet at a time.
fn stream_xlsx(wb: calamine::Xlsx<BufReader<File>>) -> Result<Table, TableError> {
    let name = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| TableError::Spreadsheet("the workbook has no sheet".into()))?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<StreamedChunk>(STREAM_AHEAD);
    std::thread::Builder::new()
        .name("xlsx-rows".into())
        .spawn(move || stream_sheet(wb, &name, &tx))?;
    let mut table = Table {
        format: Format::Xlsx,
        headers: vec![],
        delimiter: None,
        encoding: None,
        rows: Rows::Stream(Vec::new().into_iter(), rx),
    };
    table.headers = match table.next() {
        Some(Ok((_, headers))) => headers,
        // No row came before it, so the wide row is the header.
        Some(Err(TableError::RowTooWide { .. })) => return Err(TableError::TooManyColumns),
        Some(Err(e)) => return Err(e),
        None => return Err(TableError::Empty),
    };
    Ok(table)
}

/// Sends the sheet's non-blank rows, the header first, in chunks, until the reader drops the
/// receiver; an error goes after the rows read before it.
fn stream_sheet(
    mut wb: calamine::Xlsx<BufReader<File>>,
    name: &str,
    tx: &std::sync::mpsc::SyncSender<StreamedChunk>,
) {
    let mut chunk = Vec::with_capacity(STREAM_CHUNK);
    if let Err(e) = read_sheet(&mut wb, name, |row, cells| {
        if cells.iter().all(|c| c.trim().is_empty()) {
            return true;
        }
        chunk.push((row, cells));
        chunk.len() < STREAM_CHUNK
            || tx
                .send(Ok(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(STREAM_CHUNK),
                )))
                .is_ok()
    }) {
        if !chunk.is_empty() && tx.send(Ok(std::mem::take(&mut chunk))).is_err() {
            return;
        }
        let _ = tx.send(Err(e));
        return;
    }
    if !chunk.is_empty() {
        let _ = tx.send(Ok(chunk));
    }
}

/// Reads the sheet's rows in order, each with its sheet row number, handing each to `row`
/// until it answers false (the import stopped listening).
fn read_sheet(
    wb: &mut calamine::Xlsx<BufReader<File>>,
    name: &str,
    mut row: impl FnMut(usize, Vec<String>) -> bool,
) -> Result<(), TableError> {
    let mut reader = wb
        .worksheet_cells_reader(name)
        .map_err(|e| TableError::Spreadsheet(e.to_string()))?;
    // The sheet's declared size, as calamine read it (whatever the XML's namespace prefix), is
    // refused before a cell is read; the cell count below still holds for sheets that lie.
    let d = reader.dimensions();
    let declared =
        u64::from(d.end.0.saturating_sub(d.start.0) + 1) * u64::from(d.end.1.saturating_sub(d.start.1) + 1);
    if declared > MAX_CELLS as u64 {
        return Err(TableError::TooManyCells);
    }
    let (mut current, mut cells, mut count) = (None::<u32>, Vec::<String>::new(), 0usize);
    while let Some(cell) = reader
        .next_cell()
        .map_err(|e| TableError::Spreadsheet(e.to_string()))?
    {
        let (r, c) = cell.get_position();
        // A finished row is handed on before this cell is checked, so an error hands on
        // every row before its own.
        if current != Some(r) {
            // The next row is likely as wide as this one: sized once, not grown cell by cell.
            let next = Vec::with_capacity(cells.len());
            if let Some(prev) = current
                && !row(prev as usize + 1, std::mem::replace(&mut cells, next))
            {
                return Ok(());
            }
            current = Some(r);
        }
        count += 1;
        if count > MAX_CELLS {
            return Err(TableError::TooManyCells);
        }
        if c as usize >= MAX_COLUMNS {
            return Err(TableError::RowTooWide { line: r as usize + 1 });
        }
        let text = cell_ref_text(cell.get_value());
        if cells.len() < c as usize {
            cells.resize(c as usize, String::new());
        }
        if cells.len() == c as usize {
            cells.push(text);
        } else {
            cells[c as usize] = text;
        }
    }
    if let Some(prev) = current {
        row(prev as usize + 1, cells);
    }
    Ok(())
}

fn sheet_table<RS, R>(mut wb: R, format: Format) -> Result<Table, TableError>
where
    RS: std::io::Read + std::io::Seek,
    R: Reader<RS>,
    R::Error: std::fmt::Display,
{
    let range = wb
        .worksheet_range_at(0)
        .ok_or_else(|| TableError::Spreadsheet("the workbook has no sheet".into()))?
        .map_err(|e| TableError::Spreadsheet(e.to_string()))?;
    let (h, w) = range.get_size();
    if h.saturating_mul(w) > MAX_CELLS {
        return Err(TableError::TooManyCells);
    }
    // The range starts at its first non-empty cell; row numbers are the sheet's.
    let first_row = range.start().map_or(0, |(r, _)| r as usize) + 1;
    let mut rows = (first_row..).zip(range.rows().map(|r| r.iter().map(cell_text).collect::<Vec<_>>()));
    let (_, headers) = rows.next().ok_or(TableError::Empty)?;
    if headers.len() > MAX_COLUMNS {
        return Err(TableError::TooManyColumns);
    }
    let rest: Vec<(usize, Vec<String>)> = rows
        .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
        .collect();
    Ok(Table {
        format,
        headers,
        delimiter: None,
        encoding: None,
        rows: Rows::Cells(rest.into_iter()),
    })
}

/// Picks the encoding: a BOM says it; otherwise UTF-8 if every byte is valid UTF-8; else
/// the legacy encoding the bytes look like (`legacy_encoding`).
fn detect_encoding(path: &Path) -> Result<(&'static encoding_rs::Encoding, usize), TableError> {
    let head = sniff(path)?;
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(&head) {
        return Ok((enc, bom));
    }
    let mut dec = encoding_rs::UTF_8.new_decoder_without_bom_handling();
    let mut r = BufReader::new(File::open(path)?);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = String::with_capacity(buf.len() * 2);
    loop {
        let n = r.read(&mut buf)?;
        out.clear();
        let (_, _, bad) = dec.decode_to_string(&buf[..n], &mut out, n == 0);
        if bad {
            return Ok((legacy_encoding(path)?, 0));
        }
        if n == 0 {
            return Ok((encoding_rs::UTF_8, 0));
        }
    }
}

/// How much of a non-UTF-8 file the detector reads: enough text for a confident guess.
const DETECT_BYTES: u64 = 4 * 1024 * 1024;

/// The legacy encoding a file that is not UTF-8 is most likely in: Windows-1252 for Western
/// Europe, but also Windows-1250/1251, ISO-8859-x, Shift_JIS, EUC-KR, GBK, Big5… An export
/// from a Polish, Russian or Japanese Excel is not Windows-1252, and reading it as such turns
/// every name into mojibake. chardetng (Firefox's detector) over the file's first 4 MiB, not a
/// hand-written guess: telling these apart needs its per-language statistics.
fn legacy_encoding(path: &Path) -> Result<&'static encoding_rs::Encoding, TableError> {
    // ISO-2022-JP is 7-bit, so valid UTF-8: it never gets here.
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    let mut r = BufReader::new(File::open(path)?).take(DETECT_BYTES);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        det.feed(&buf[..n], n == 0);
        if n == 0 {
            // No top-level domain to go by; UTF-8 was ruled out already.
            return Ok(det.guess(None, chardetng::Utf8Detection::Deny));
        }
    }
}

/// Streams `src` (in `enc`) into `dst` as UTF-8, refusing binary data and over-long lines.
fn transcode(
    src: &Path,
    skip: usize,
    enc: &'static encoding_rs::Encoding,
    dst: &Path,
) -> Result<(), TableError> {
    let mut r = BufReader::new(File::open(src)?);
    std::io::copy(&mut (&mut r).take(skip as u64), &mut std::io::sink())?;
    let mut w = BufWriter::new(File::create(dst)?);
    let mut dec = enc.new_decoder_without_bom_handling();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = String::with_capacity(buf.len() * 3);
    let (mut line, mut line_len, mut controls, mut seen) = (1usize, 0usize, 0usize, 0usize);
    // NULs are held back until something follows them: a run of NULs at the end of the file
    // (padding some writers leave) is dropped; one inside a cell reaches the row, which
    // reports it, instead of the whole file being called binary.
    let mut nuls = 0usize;
    // Line ends become LF (CRLF, and a lone CR as old Mac files have), and the text ends with
    // one: then the CSV reader's line count gives every record its line as an editor shows
    // it (`Rows::Csv`), whatever mix of line ends the file had.
    let mut cr = false;
    let mut last = '\n';
    let mut clean = String::with_capacity(out.capacity());
    loop {
        let n = r.read(&mut buf)?;
        out.clear();
        clean.clear();
        let _ = dec.decode_to_string(&buf[..n], &mut out, n == 0);
        for ch in out.chars() {
            seen += 1;
            let ch = match ch {
                '\r' => {
                    if std::mem::replace(&mut cr, true) {
                        clean.push('\n');
                        line += 1;
                        line_len = 0;
                    }
                    continue;
                }
                // Counted as control characters only if text follows (below): padding at
                // the end is dropped and does not make the file look binary.
                '\0' => {
                    nuls += 1;
                    continue;
                }
                c => c,
            };
            if std::mem::take(&mut cr) && ch != '\n' {
                clean.push('\n');
                line += 1;
                line_len = 0;
            }
            match ch {
                '\n' => {
                    line += 1;
                    line_len = 0;
                }
                c if c.is_control() && c != '\t' => controls += 1,
                _ => {}
            }
            controls += nuls;
            clean.extend(std::iter::repeat_n('\0', std::mem::take(&mut nuls)));
            clean.push(ch);
            last = ch;
            line_len += ch.len_utf8();
            if line_len > MAX_LINE_BYTES {
                return Err(TableError::LineTooLong { line });
            }
        }
        if n == 0 && (cr || last != '\n') {
            clean.push('\n');
        }
        // Text has almost no control characters; junk has many.
        if (seen >= 512 || n == 0) && controls * 20 > seen {
            return Err(TableError::Binary);
        }
        w.write_all(clean.as_bytes())?;
        if n == 0 {
            break;
        }
    }
    w.flush()?;
    Ok(())
}

/// Comma, semicolon or tab: the one that splits the first lines most consistently. For each,
/// the count per line (outside quotes) that most of the first lines share, and how many share
/// it; the most shared wins, then the larger count. A title line or a data cell with a stray
/// comma ("Müller, Hans" in a semicolon file) does not decide it; the table's shape does.
fn detect_delimiter(path: &Path) -> Result<u8, TableError> {
    const LINES: usize = 12;
    const DELIMS: [u8; 3] = [b',', b';', b'\t'];
    let r = BufReader::new(File::open(path)?);
    let mut counts: Vec<[usize; 3]> = vec![[0; 3]];
    let mut quoted = false;
    for byte in r.bytes() {
        let b = byte?;
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                if counts.len() == LINES {
                    break;
                }
                counts.push([0; 3]);
            }
            b if !quoted => {
                if let Some(i) = DELIMS.iter().position(|d| *d == b) {
                    counts.last_mut().expect("never empty")[i] += 1;
                }
            }
            _ => {}
        }
    }
    let shape = |i: usize| -> (usize, usize) {
        let mut tally: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
        for c in counts.iter().map(|c| c[i]).filter(|n| *n > 0) {
            *tally.entry(c).or_default() += 1;
        }
        tally
            .into_iter()
            .map(|(n, lines)| (lines, n))
            .max()
            .unwrap_or((0, 0))
    };
    let best = (0..DELIMS.len()).max_by_key(|i| shape(*i)).unwrap_or(0);
    Ok(if shape(best).0 == 0 { b',' } else { DELIMS[best] })
}

fn open_csv(path: &Path, scratch: &Path) -> Result<Table, TableError> {
    let (enc, bom) = detect_encoding(path)?;
    transcode(path, bom, enc, scratch)?;
    let delim = detect_delimiter(scratch)?;
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .flexible(true)
        .has_headers(true)
        .from_reader(BufReader::new(File::open(scratch)?));
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| TableError::Csv {
            line: 1,
            message: e.to_string(),
        })?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(TableError::Empty);
    }
    if headers.len() > MAX_COLUMNS {
        return Err(TableError::TooManyColumns);
    }
    Ok(Table {
        format: Format::Csv,
        headers,
        delimiter: Some(delim as char),
        encoding: Some(enc.name()),
        rows: Rows::Csv(rdr.into_records(), 1, 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_an_xlsx_streams_should_skip_blank_rows_fill_gaps_and_keep_sheet_row_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gaps.xlsx");
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        for (c, h) in ["Name", "Email", "Phone"].iter().enumerate() {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        ws.write_string(1, 0, "Ann").unwrap();
        ws.write_string(1, 1, "ann@x.example").unwrap();
        // Row 3 is blank; row 4 skips the middle column and has a number.
        ws.write_string(3, 0, "Bob").unwrap();
        ws.write_number(3, 2, 4930901820.0).unwrap();
        wb.save(&path).unwrap();

        let t = open(&path, &dir.path().join("scratch")).unwrap();
        assert_eq!(t.format, Format::Xlsx);
        assert_eq!(t.headers, ["Name", "Email", "Phone"]);
        let rows: Vec<_> = t.map(Result::unwrap).collect();
        assert_eq!(
            rows,
            vec![
                (2, vec!["Ann".to_string(), "ann@x.example".into()]),
                (4, vec!["Bob".to_string(), String::new(), "4930901820".into()]),
            ]
        );
    }

    #[test]
    fn when_a_sheet_fails_after_several_chunks_should_hand_every_row_before_it_then_the_error() {
        // The error after a part-filled chunk, and right after full ones (the header and
        // 511 rows fill two chunks, so nothing is pending when the error comes).
        for good in [2 * STREAM_CHUNK as u32 + 7, 2 * STREAM_CHUNK as u32 - 1] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("wide.xlsx");
            let mut wb = rust_xlsxwriter::Workbook::new();
            let ws = wb.add_worksheet();
            ws.write_string(0, 0, "Name").unwrap();
            for r in 1..=good {
                ws.write_string(r, 0, format!("Row {r}")).unwrap();
            }
            // Then one row with a cell past the last column.
            ws.write_string(good + 1, MAX_COLUMNS as u16, "too far").unwrap();
            wb.save(&path).unwrap();
            let rows: Vec<_> = open(&path, &dir.path().join("scratch")).unwrap().collect();
            assert_eq!(rows.len(), good as usize + 1, "{good} good rows");
            for (i, row) in rows[..good as usize].iter().enumerate() {
                let (line, cells) = row.as_ref().unwrap();
                assert_eq!(
                    (*line, cells[0].as_str()),
                    (i + 2, format!("Row {}", i + 1).as_str())
                );
            }
            assert!(
                matches!(rows[good as usize], Err(TableError::RowTooWide { line }) if line == good as usize + 2),
                "{:?}",
                rows.last()
            );
        }
    }

    #[test]
    fn when_an_xlsx_header_or_row_is_too_wide_should_say_which() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wide-header.xlsx");
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "Name").unwrap();
        ws.write_string(0, MAX_COLUMNS as u16, "too far").unwrap();
        wb.save(&path).unwrap();
        let header = open(&path, &dir.path().join("scratch")).err().unwrap();
        assert!(matches!(header, TableError::TooManyColumns), "{header:?}");

        let path = dir.path().join("wide-row.xlsx");
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "Name").unwrap();
        ws.write_string(1, 0, "Ann").unwrap();
        ws.write_string(2, MAX_COLUMNS as u16, "too far").unwrap();
        wb.save(&path).unwrap();
        let rows: Vec<_> = open(&path, &dir.path().join("scratch")).unwrap().collect();
        assert_eq!(rows[0].as_ref().unwrap().0, 2);
        let err = rows[1].as_ref().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("row 3 has a cell past column {MAX_COLUMNS}")
        );
    }

    #[test]
    fn when_a_table_is_dropped_mid_sheet_should_not_block_and_reopen_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.xlsx");
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "Name").unwrap();
        for r in 1..5_000u32 {
            ws.write_string(r, 0, format!("Row {r}")).unwrap();
        }
        wb.save(&path).unwrap();
        let mut t = open(&path, &dir.path().join("scratch")).unwrap();
        assert_eq!(t.next().unwrap().unwrap().0, 2);
        // Dropping the table drops the receiver; the thread's next send fails and it returns,
        // rather than blocking on a full channel forever.
        drop(t);
        let again: Vec<_> = open(&path, &dir.path().join("scratch")).unwrap().collect();
        assert_eq!(again.len(), 4_999);
    }
}
