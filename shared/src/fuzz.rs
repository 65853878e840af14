//! Bounded fuzzing of everything that reads untrusted input, run with the unit tests (cargo
//! fuzz needs nightly; these are proptest runs sized to finish in seconds). Each property is
//! "no panic, and an answer": the readers must return rows or an error for any bytes, and
//! the request parsers must return a value or field errors for any text.
//!
//! The spreadsheet inputs are built by hand here (a minimal OOXML package written with the
//! zip crate, as Excel lays it out), not by our own export writer, then mutated.

use crate::domain::capture::map_fields;
use crate::domain::email::Email;
use crate::domain::filename::check_filename;
use crate::domain::lead::{LeadContext, LeadInput, NewLead};
use crate::domain::phone::{Phone, Region};
use crate::domain::query::{LeadQuery, decode_position_cursor};
use crate::domain::source::seeded_sources;
use crate::domain::{RepId, SourceId};
use crate::import::table;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;

/// Opens `bytes` as an uploaded file and reads every row (at most 10,000); any answer is fine.
fn read_all(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upload");
    std::fs::write(&path, bytes).unwrap();
    if let Ok(t) = table::open(&path, &dir.path().join("scratch.csv")) {
        for row in t.take(10_000) {
            if row.is_err() {
                break;
            }
        }
    }
}

/// A minimal XLSX whose first sheet holds `sheet_xml` as its `<sheetData>` content.
fn xlsx_with(sheet_data: &str, shared: &[String]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    let mut put = |name: &str, body: String| {
        z.start_file(name, opts).unwrap();
        z.write_all(body.as_bytes()).unwrap();
    };
    put(
        "[Content_Types].xml",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#
            .into(),
    );
    put(
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
            .into(),
    );
    put(
        "xl/workbook.xml",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>"#
            .into(),
    );
    put(
        "xl/_rels/workbook.xml.rels",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#
            .into(),
    );
    let items: String = shared
        .iter()
        .map(|s| format!("<si><t>{}</t></si>", xml_escape(s)))
        .collect();
    put(
        "xl/sharedStrings.xml",
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{n}" uniqueCount="{n}">{items}</sst>"#,
            n = shared.len()
        ),
    );
    put(
        "xl/worksheets/sheet1.xml",
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{sheet_data}</sheetData></worksheet>"#
        ),
    );
    z.finish().unwrap().into_inner()
}

fn xml_escape(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n'))
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Cells as a sheet may hold them: shared-string indexes (valid or not), inline strings,
/// numbers, booleans, errors, odd references.
fn cell_xml() -> impl Strategy<Value = String> {
    let col = "[A-Z]{1,3}";
    let row = 0u32..1_100_000;
    prop_oneof![
        (col, row.clone(), 0usize..8).prop_map(|(c, r, i)| format!(r#"<c r="{c}{r}" t="s"><v>{i}</v></c>"#)),
        (col, row.clone(), ".{0,20}").prop_map(|(c, r, t)| format!(
            r#"<c r="{c}{r}" t="inlineStr"><is><t>{}</t></is></c>"#,
            xml_escape(&t)
        )),
        (col, row.clone(), any::<f64>()).prop_map(|(c, r, n)| format!(r#"<c r="{c}{r}"><v>{n}</v></c>"#)),
        (col, row.clone()).prop_map(|(c, r)| format!(r#"<c r="{c}{r}" t="b"><v>1</v></c>"#)),
        (col, row).prop_map(|(c, r)| format!(r#"<c r="{c}{r}" t="e"><v>#N/A</v></c>"#)),
        Just(r#"<c><v>7</v></c>"#.to_owned()),
        Just(r#"<c r="" t="s"><v>-1</v></c>"#.to_owned()),
    ]
}

fn sheet_xml() -> impl Strategy<Value = String> {
    prop::collection::vec((0u32..50, prop::collection::vec(cell_xml(), 0..6)), 0..8).prop_map(|rows| {
        rows.into_iter()
            .map(|(r, cells)| format!(r#"<row r="{r}">{}</row>"#, cells.concat()))
            .collect()
    })
}

/// Bytes that open as each kind of file the importer sniffs for, or as nothing at all.
fn upload_bytes() -> impl Strategy<Value = Vec<u8>> {
    let tail = prop::collection::vec(any::<u8>(), 0..2048);
    prop_oneof![
        tail.clone(),
        tail.clone().prop_map(|t| [b"\xEF\xBB\xBF".to_vec(), t].concat()),
        tail.clone().prop_map(|t| [b"\xFF\xFE".to_vec(), t].concat()),
        tail.clone().prop_map(|t| [b"PK\x03\x04".to_vec(), t].concat()),
        tail.clone()
            .prop_map(|t| [vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1], t].concat()),
        // Text that looks like CSV: delimiters, quotes, line breaks, NULs.
        prop::collection::vec(
            prop_oneof![
                Just(b','),
                Just(b';'),
                Just(b'\t'),
                Just(b'"'),
                Just(b'\n'),
                Just(b'\r'),
                Just(0u8),
                b'a'..=b'z'
            ],
            0..2048
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn when_any_bytes_are_uploaded_the_reader_should_answer(bytes in upload_bytes()) {
        read_all(&bytes);
    }

    #[test]
    fn when_a_sheet_holds_odd_cells_the_xlsx_reader_should_answer(
        data in sheet_xml(),
        shared in prop::collection::vec(".{0,12}", 0..6),
    ) {
        read_all(&xlsx_with(&data, &shared));
    }

    #[test]
    fn when_a_workbook_is_damaged_the_xlsx_reader_should_answer(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut book = xlsx_with(
            r#"<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row><row r="2"><c r="A2" t="s"><v>2</v></c><c r="C2"><v>3</v></c></row>"#,
            &["Name".into(), "Email".into(), "Ana".into()],
        );
        for (at, byte) in flips {
            let i = at.index(book.len());
            book[i] = byte;
        }
        if truncate {
            book.truncate(cut.index(book.len()).max(4));
        }
        read_all(&book);
    }

    #[test]
    fn when_lead_input_is_anything_parsing_should_answer(
        name in proptest::option::of(".{0,300}"),
        email in proptest::option::of(".{0,80}"),
        phone in proptest::option::of("[0-9 +()\\-.a-z]{0,45}"),
        source in proptest::option::of(".{0,70}"),
        status in proptest::option::of(".{0,12}"),
        owner in proptest::option::of(".{0,70}"),
        tags in prop::collection::vec(".{0,40}", 0..4),
        custom in prop::collection::btree_map(".{0,10}", ".{0,20}", 0..3),
    ) {
        let ctx = LeadContext {
            region: Region::parse("US").unwrap(),
            sources: seeded_sources(),
            custom_fields: vec![],
            reps: vec![],
            unqualified: Default::default(),
            overdue_cutoff: Default::default(),
        };
        let input = LeadInput {
            name,
            email,
            phone,
            source,
            status,
            owner,
            tags,
            custom: custom.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect(),
            ..Default::default()
        };
        let _ = NewLead::parse(&input, &ctx);
    }

    #[test]
    fn when_list_parameters_are_anything_parsing_should_answer(
        pairs in prop::collection::vec(
            (
                prop_oneof![
                    Just("status".to_owned()), Just("owner".to_owned()), Just("source".to_owned()),
                    Just("created_from".to_owned()), Just("created_to".to_owned()), Just("tag".to_owned()),
                    Just("q".to_owned()), Just("sort".to_owned()), Just("order".to_owned()),
                    Just("limit".to_owned()), Just("cursor".to_owned()), Just("cf.x".to_owned()),
                    ".{0,12}",
                ],
                ".{0,40}",
            ),
            0..8,
        ),
    ) {
        if let Ok(q) = LeadQuery::from_params(&pairs, &crate::domain::lead::LeadContext::default()) {
            let _ = q.after();
        }
    }

    #[test]
    fn when_small_values_are_anything_their_parsers_should_answer(
        text in ".{0,300}",
        fields in prop::collection::vec((".{0,30}", ".{0,60}"), 0..12),
    ) {
        let _ = Email::parse(&text);
        let _ = Phone::parse_field(&text, Region::parse("DE").unwrap(), "phone");
        let _ = Region::parse(&text);
        let _ = decode_position_cursor(&text);
        let _ = check_filename(&text);
        let _ = RepId::parse(&text);
        let _ = crate::domain::LeadStatus::parse(&text);
        let source = SourceId::parse("website-form").unwrap();
        let input = map_fields(&fields, &BTreeMap::new(), &source);
        let mut errs = crate::domain::error::FieldErrors::default();
        input.provenance.check(&mut errs);
        // Short submitted values map within the limits every lead is held to (unmapped fields
        // are capped by construction).
        prop_assert!(errs.is_empty(), "{errs:?}");
    }
}
