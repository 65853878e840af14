//! The sorts of the lead list, and each lead's position under each of them.
//!
//! A position is a string whose byte order is the sort order, and which ends with the lead's
//! created position (`{micros:016}#{id}`), so it is unique and ties break by age then id. Both
//! stores keep every position beside the lead (SQLite columns, DynamoDB index sort keys) and
//! compare them bytewise, so a sort means the same thing, and a cursor the same place, in
//! either store: the one rule is `SortField::position`.
//!
//! | sort            | position                                   |
//! |-----------------|--------------------------------------------|
//! | `created`       | `{created micros}#{id}`                    |
//! | `last_activity` | `{last activity micros}#{id}`              |
//! | `status`        | `{pipeline rank}\x01{created position}`    |
//! | `name`, `company`, `owner`, `source` | `1{folded text}\x01{created position}`, or `2\x01…` when there is none |
//!
//! Text is folded as people read a list: case and accents ignored ("Émile" files beside
//! "emile"), at most 64 characters. Owners and sources sort by their ids, the slugs an admin
//! chose (`ana`, `web-form`): a rename keeps every lead's place, where sorting by display
//! name would rewrite every lead the rep owns. Leads without a value come last in ascending
//! order (first in descending).

use crate::domain::lead::Lead;
use crate::domain::status::LeadStatus;
use crate::domain::time::position;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    #[default]
    Created,
    LastActivity,
    Name,
    Company,
    Status,
    Owner,
    Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

/// Sorts below every folded character (control characters are dropped from the text), so
/// "ana" sorts before "ana b".
const SEP: char = '\u{1}';

/// Characters of text kept in a position: enough to order any real list, and a DynamoDB sort
/// key stays far under its 1,024-byte limit.
const TEXT_CHARS: usize = 64;

impl SortField {
    pub const ALL: [SortField; 7] = [
        SortField::Created,
        SortField::LastActivity,
        SortField::Name,
        SortField::Company,
        SortField::Status,
        SortField::Owner,
        SortField::Source,
    ];

    /// The sorts whose positions the stores keep beside the time positions.
    pub const BY_VALUE: [SortField; 5] = [
        SortField::Name,
        SortField::Company,
        SortField::Status,
        SortField::Owner,
        SortField::Source,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortField::Created => "created",
            SortField::LastActivity => "last_activity",
            SortField::Name => "name",
            SortField::Company => "company",
            SortField::Status => "status",
            SortField::Owner => "owner",
            SortField::Source => "source",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == raw)
    }

    /// Whether the position starts with a time (a time range can bound it).
    pub fn is_time(self) -> bool {
        matches!(self, SortField::Created | SortField::LastActivity)
    }

    /// The lead's position under this sort.
    pub fn position(self, l: &Lead) -> String {
        let id = l.id.to_string();
        let created = || position(l.created_at, &id);
        match self {
            SortField::Created => created(),
            SortField::LastActivity => position(l.last_activity_at, &id),
            SortField::Status => format!("{}{SEP}{}", status_rank(l.status), created()),
            SortField::Name => text_position(Some(&l.name), &created()),
            SortField::Company => text_position(l.company.as_deref(), &created()),
            SortField::Owner => text_position(l.owner.as_ref().map(|o| o.as_str()), &created()),
            SortField::Source => text_position(Some(l.source.as_str()), &created()),
        }
    }
}

/// Where a status stands in the pipeline: new first, converted last.
fn status_rank(s: LeadStatus) -> usize {
    LeadStatus::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

fn text_position(text: Option<&str>, created: &str) -> String {
    let folded = text.map(fold).filter(|f| !f.is_empty());
    match folded {
        Some(f) => format!("1{f}{SEP}{created}"),
        None => format!("2{SEP}{created}"),
    }
}

/// Lower case without accents or control characters, cut at `TEXT_CHARS`.
fn fold(text: &str) -> String {
    text.trim()
        .nfd()
        .filter(|c| !is_combining_mark(*c) && !c.is_control())
        .flat_map(char::to_lowercase)
        .take(TEXT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{LeadId, RepId, SourceId};
    use chrono::{TimeZone, Utc};

    fn lead(name: &str, company: Option<&str>, secs: i64) -> Lead {
        let at = Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap();
        let mut l: Lead = serde_json::from_value(serde_json::json!({
            "id": LeadId::new(), "tenant": "t", "name": name, "source": "web",
            "status": "new", "created_at": at, "updated_at": at, "last_activity_at": at,
            "version": 1
        }))
        .unwrap();
        l.company = company.map(str::to_owned);
        l
    }

    fn order(field: SortField, leads: &[Lead]) -> Vec<String> {
        let mut v: Vec<&Lead> = leads.iter().collect();
        v.sort_by_key(|l| field.position(l));
        v.iter().map(|l| l.name.clone()).collect()
    }

    #[test]
    fn when_names_differ_in_case_accents_and_length_should_sort_as_people_read_them() {
        let leads = [
            lead("zoe", None, 0),
            lead("Émile", None, 1),
            lead("ana b", None, 2),
            lead("Ana", None, 3),
            lead("emile", None, 4),
        ];
        assert_eq!(
            order(SortField::Name, &leads),
            ["Ana", "ana b", "Émile", "emile", "zoe"]
        );
    }

    #[test]
    fn when_a_lead_has_no_company_should_come_after_every_company_ascending() {
        let leads = [
            lead("a", None, 0),
            lead("b", Some("Zeta"), 1),
            lead("c", Some("acme"), 2),
        ];
        assert_eq!(order(SortField::Company, &leads), ["c", "b", "a"]);
    }

    #[test]
    fn when_statuses_differ_should_sort_by_pipeline_rank_then_age() {
        let mut a = lead("a", None, 5);
        a.status = LeadStatus::Converted;
        let mut b = lead("b", None, 9);
        b.status = LeadStatus::Contacted;
        let c = lead("c", None, 7);
        let d = lead("d", None, 3);
        assert_eq!(order(SortField::Status, &[a, b, c, d]), ["d", "c", "b", "a"]);
    }

    #[test]
    fn when_leads_share_a_value_should_still_have_unique_positions_in_created_order() {
        let mut a = lead("x", None, 2);
        let mut b = lead("x", None, 1);
        a.owner = Some(RepId::parse("ana").unwrap());
        b.owner = Some(RepId::parse("ana").unwrap());
        a.source = SourceId::parse("web").unwrap();
        b.source = SourceId::parse("web").unwrap();
        b.id = LeadId::new();
        for f in SortField::ALL {
            assert_ne!(f.position(&a), f.position(&b), "{f:?}");
        }
        assert!(SortField::Owner.position(&b) < SortField::Owner.position(&a));
        let unassigned = lead("y", None, 0);
        assert!(SortField::Owner.position(&a) < SortField::Owner.position(&unassigned));
    }

    #[test]
    fn every_sort_should_parse_from_its_name() {
        for f in SortField::ALL {
            assert_eq!(SortField::parse(f.as_str()), Some(f));
        }
        assert_eq!(SortField::parse("email"), None);
    }
}
