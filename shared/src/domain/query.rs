//! The lead list query (filters, sort, cursor) that the API, export and both stores share,
//! and the opaque cursor format.
//!
//! A cursor holds the position (`{micros:016}#{lead_id}`) of the last lead returned, plus the
//! sort it was made for, base64url-encoded. Positions are unique, so "strictly after the
//! cursor" pages through every lead exactly once however the shards interleave.

use crate::domain::custom_field::CustomValue;
use crate::domain::error::FieldError;
use crate::domain::ids::{RepId, SourceId};
use crate::domain::lead::{Lead, Tag};
use crate::domain::status::LeadStatus;
use crate::domain::time::position;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    #[default]
    Created,
    LastActivity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerFilter {
    Unassigned,
    Rep(RepId),
}

/// A half-open time range: `from <= t < to`. Either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl DateRange {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }

    pub fn is_open(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

pub const MAX_PAGE: u32 = 500;

#[derive(Debug, Clone, PartialEq)]
pub struct LeadQuery {
    pub status: Option<LeadStatus>,
    pub owner: Option<OwnerFilter>,
    pub source: Option<SourceId>,
    pub created: DateRange,
    pub last_activity: DateRange,
    /// Every tag must be present.
    pub tags: Vec<Tag>,
    /// Every custom value must be equal (values already typed by the field definitions).
    pub custom: Vec<(String, CustomValue)>,
    /// Lower-case prefix of the name, email or company.
    pub text_prefix: Option<String>,
    pub sort: SortField,
    pub order: SortOrder,
    pub limit: u32,
    pub cursor: Option<String>,
}

impl Default for LeadQuery {
    fn default() -> Self {
        Self {
            status: None,
            owner: None,
            source: None,
            created: DateRange::default(),
            last_activity: DateRange::default(),
            tags: vec![],
            custom: vec![],
            text_prefix: None,
            sort: SortField::Created,
            order: SortOrder::Desc,
            limit: 50,
            cursor: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CursorBody {
    s: SortField,
    o: SortOrder,
    p: String,
}

impl LeadQuery {
    /// The sort position of a lead under this query's sort.
    pub fn position_of(&self, lead: &Lead) -> String {
        let t = match self.sort {
            SortField::Created => lead.created_at,
            SortField::LastActivity => lead.last_activity_at,
        };
        position(t, &lead.id.to_string())
    }

    /// The position after which this page starts, checked against the query's sort.
    pub fn after(&self) -> Result<Option<String>, FieldError> {
        let Some(c) = &self.cursor else {
            return Ok(None);
        };
        let bad = || {
            FieldError::new(
                "cursor",
                "invalid_cursor",
                "the cursor is malformed or was made for another sort",
            )
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c)
            .map_err(|_| bad())?;
        let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if body.s != self.sort || body.o != self.order || body.p.len() > 80 {
            return Err(bad());
        }
        Ok(Some(body.p))
    }

    pub fn cursor_for(&self, position: String) -> String {
        let body = CursorBody {
            s: self.sort,
            o: self.order,
            p: position,
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&body).expect("cursor serializes"))
    }

    pub fn page_size(&self) -> usize {
        self.limit.clamp(1, MAX_PAGE) as usize
    }

    /// Whether a lead passes every filter. The stores push what they can into their indexes;
    /// this is the reference the contract suite checks them against.
    pub fn matches(&self, l: &Lead) -> bool {
        self.status.is_none_or(|s| l.status == s)
            && match &self.owner {
                None => true,
                Some(OwnerFilter::Unassigned) => l.owner.is_none(),
                Some(OwnerFilter::Rep(r)) => l.owner.as_ref() == Some(r),
            }
            && self.source.as_ref().is_none_or(|s| &l.source == s)
            && self.created.contains(l.created_at)
            && self.last_activity.contains(l.last_activity_at)
            && self.tags.iter().all(|t| l.tags.contains(t))
            && self.custom.iter().all(|(k, v)| l.custom.get(k) == Some(v))
            && self.text_prefix.as_ref().is_none_or(|p| {
                l.search_terms()
                    .iter()
                    .flatten()
                    .any(|t| t.starts_with(p.as_str()))
            })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Cursors for simple position-ordered lists (activities, blob listings): the position,
/// base64url-encoded so callers treat it as opaque.
pub fn encode_position_cursor(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position)
}

pub fn decode_position_cursor(cursor: &str) -> Result<String, FieldError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| s.len() <= 80)
        .ok_or_else(|| FieldError::new("cursor", "invalid_cursor", "the cursor is malformed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_cursor_is_reused_with_other_sort_should_reject() {
        let q = LeadQuery::default();
        let c = q.cursor_for("0000000000000001#x".into());
        let same = LeadQuery {
            cursor: Some(c.clone()),
            ..LeadQuery::default()
        };
        assert_eq!(same.after().unwrap().as_deref(), Some("0000000000000001#x"));
        let other = LeadQuery {
            cursor: Some(c),
            order: SortOrder::Asc,
            ..LeadQuery::default()
        };
        assert_eq!(other.after().unwrap_err().code, "invalid_cursor");
        let junk = LeadQuery {
            cursor: Some("!!".into()),
            ..LeadQuery::default()
        };
        assert!(junk.after().is_err());
    }
}
