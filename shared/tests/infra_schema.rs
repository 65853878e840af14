//! The infra template and the code agree on the table: `infra/template.yaml` declares exactly
//! the keys and indexes of `adapters::dynamo::table` (which the DynamoDB Local tests create
//! their tables from), and the bucket notifications point the prefixes the code uses at the
//! functions that handle them.

use leadgate_core::adapters::dynamo::table::{INDEXES, PK, SK, key_attributes};
use serde_norway::Value;
use std::collections::BTreeSet;

fn template() -> Value {
    let path = format!("{}/../infra/template.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).expect("the template is YAML")
}

fn resources_of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap(), r))
        .collect()
}

fn key_schema(v: &Value) -> Vec<(String, String)> {
    v.as_sequence()
        .expect("a KeySchema list")
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_owned(),
                k["KeyType"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// An index as (name, key schema, projection).
type Index = (String, Vec<(String, String)>, String);

fn pair(hash: &str, range: &str) -> Vec<(String, String)> {
    vec![(hash.into(), "HASH".into()), (range.into(), "RANGE".into())]
}

#[test]
fn when_the_template_declares_the_table_should_match_the_code_exactly() {
    let t = template();
    let tables = resources_of_type(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table");
    let p = &tables[0].1["Properties"];
    assert_eq!(key_schema(&p["KeySchema"]), pair(PK, SK));

    let attrs: BTreeSet<(String, String)> = p["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap().to_owned(),
                a["AttributeType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = key_attributes()
        .into_iter()
        .map(|a| (a.to_owned(), "S".to_owned()))
        .collect();
    assert_eq!(attrs, expected, "attribute definitions");

    let gsis: Vec<Index> = p["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["IndexName"].as_str().unwrap().to_owned(),
                key_schema(&g["KeySchema"]),
                g["Projection"]["ProjectionType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut got = gsis.clone();
    got.sort();
    let mut want: Vec<Index> = INDEXES
        .iter()
        .map(|i| (i.name.to_owned(), pair(i.pk, i.sk), "ALL".to_owned()))
        .collect();
    want.sort();
    assert_eq!(got, want, "global secondary indexes");

    assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"].as_bool(), Some(true));
}

/// The S3 events of each function: (bucket prefix, function resource).
fn s3_triggers(t: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (name, f) in resources_of_type(t, "AWS::Serverless::Function") {
        let Some(events) = f["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, e) in events {
            if e["Type"].as_str() != Some("S3") {
                continue;
            }
            for rule in e["Properties"]["Filter"]["S3Key"]["Rules"].as_sequence().unwrap() {
                if rule["Name"].as_str().map(str::to_lowercase).as_deref() == Some("prefix") {
                    out.insert((rule["Value"].as_str().unwrap().to_owned(), name.to_owned()));
                }
            }
        }
    }
    out
}

#[test]
fn when_the_bucket_notifies_should_send_each_prefix_to_its_handler() {
    let t = template();
    let triggers = s3_triggers(&t);
    let handler = |prefix: &str| {
        triggers
            .iter()
            .filter(|(p, _)| p == prefix)
            .map(|(_, f)| f.clone())
            .collect::<Vec<_>>()
    };
    use leadgate_core::bucket_keys::{
        ATTACHMENTS, BULK_EDIT_REQUESTS, EXPORT_REQUESTS, IMPORTS, IMPORTS_CONTINUE,
    };
    let import = handler(IMPORTS);
    let cont = handler(IMPORTS_CONTINUE);
    let export = handler(EXPORT_REQUESTS);
    assert_eq!(import.len(), 1, "{triggers:?}");
    assert_eq!(cont, import, "continuation markers go to the import function");
    assert_eq!(
        handler(ATTACHMENTS),
        import,
        "attachment arrivals go to the import function"
    );
    assert_eq!(export.len(), 1, "{triggers:?}");
    assert_ne!(export, import);
    assert_eq!(
        handler(BULK_EDIT_REQUESTS),
        export,
        "bulk-edit jobs run in the export function"
    );
    for (_, f) in &triggers {
        let code = t["Resources"][f.as_str()]["Properties"]["CodeUri"].as_str();
        assert!(code.is_some(), "{f} has a CodeUri");
    }
}
