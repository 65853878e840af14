//! `unknown_source: create`: the source values a file brings that the tenant does not have
//! become new sources. They are found by reading the file's source column once before pass 1
//! (so both passes see them), added to the run's context in memory, and stored just before
//! pass 2 writes (a `validate` run or a rejected file stores none). Their ids derive from
//! their names, so a resumed run finds the same ones.

use super::mapping::{Column, Mapping};
use super::table::Table;
use crate::domain::ids::SourceId;
use crate::domain::lead::LeadContext;
use crate::domain::source::{Source, parse_source_name};

/// Most new sources one file may bring; more is likelier a wrong column than real sources.
pub const MAX_NEW_SOURCES: usize = 50;

/// The sources `table`'s source column names that neither the tenant nor the mapping knows,
/// in the order first seen, with ids that clash with none of the tenant's.
pub fn unknown_sources(
    table: Table,
    columns: &[Column],
    mapping: &Mapping,
    ctx: &LeadContext,
) -> Result<Vec<Source>, String> {
    let Some(at) = columns.iter().position(|c| *c == Column::Field("source")) else {
        return Ok(vec![]);
    };
    let mut found: Vec<Source> = Vec::new();
    for row in table {
        let (_, cells) = row.map_err(|e| e.to_string())?;
        let Some(cell) = cells.get(at).map(|c| c.trim()).filter(|c| !c.is_empty()) else {
            continue;
        };
        if mapping.maps_value(&Column::Field("source"), cell, ctx).is_some()
            || found.iter().any(|s| s.name.eq_ignore_ascii_case(cell))
        {
            continue;
        }
        // A value no source name can be stays a row error.
        let Ok(name) = parse_source_name(cell) else {
            continue;
        };
        if found.len() == MAX_NEW_SOURCES {
            return Err(format!(
                "the file names more than {MAX_NEW_SOURCES} sources this tenant does not have; map them \
                 with the options' values, or check that the source column is the right one"
            ));
        }
        let id = free_id(&name, ctx, &found);
        found.push(Source {
            id,
            name,
            retired: false,
        });
    }
    Ok(found)
}

/// A slug of the name no source has yet (`billboard`, `billboard-2`…).
fn free_id(name: &str, ctx: &LeadContext, found: &[Source]) -> SourceId {
    let mut base: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    base.truncate(56);
    if base.is_empty() {
        base = "source".into();
    }
    let taken = |id: &str| ctx.sources.iter().chain(found).any(|s| s.id.as_str() == id);
    let mut candidate = base.clone();
    let mut n = 2;
    while taken(&candidate) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    SourceId::parse(&candidate).unwrap_or_else(|_| SourceId::parse("source").expect("a slug"))
}
