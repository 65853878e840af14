//! The lead as stored: its values (tags, address, provenance, the ad it answered, links to
//! what it converted into) and its changes. Parsing one at the edge is `lead_input`
//! (`LeadInput` → `NewLead`, re-exported here); domain code only ever sees `NewLead` and `Lead`.

use crate::domain::custom_field::CustomValue;
use crate::domain::data_quality::DataWarning;
use crate::domain::email::Email;
use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::ids::{LeadId, RepId, SourceId, TenantId};
use crate::domain::phone::Phone;
use crate::domain::status::LeadStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub use super::lead_input::{LeadContext, LeadInput, MAX_NAME_LEN, MAX_TAGS, NewLead};

/// A tag: trimmed, lower-case, 1-50 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim().to_lowercase();
        // Commas and semicolons separate tags in list filters and spreadsheet cells.
        if s.is_empty() || s.chars().count() > 50 || s.chars().any(|c| c.is_control() || c == ',' || c == ';')
        {
            return Err(FieldError::new(
                "tags",
                "invalid_tag",
                "a tag is 1-50 characters with no control characters, commas or semicolons",
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Tag {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        Self::parse(&s)
    }
}

impl From<Tag> for String {
    fn from(t: Tag) -> String {
        t.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
}

/// The id a lead has at the platform it came from; processed once per tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExternalRef {
    /// "meta", "google", "linkedin", ...
    pub provider: String,
    pub id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Utm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// The ad a paid lead answered, by the platform's ids (Google's webhook: `campaign_id`,
/// `adgroup_id`, `creative_id`; Meta's Graph lead: `campaign_id`, `adset_id`, `ad_id`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AdRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    /// Google's ad group, Meta's ad set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_set_id: Option<String>,
    /// Google's creative, Meta's ad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_id: Option<String>,
    /// The platform's lead form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_id: Option<String>,
}

impl AdRef {
    /// These ids, each one missing taken from `other`.
    pub fn or(self, other: AdRef) -> AdRef {
        AdRef {
            campaign_id: self.campaign_id.or(other.campaign_id),
            ad_set_id: self.ad_set_id.or(other.ad_set_id),
            ad_id: self.ad_id.or(other.ad_id),
            form_id: self.form_id.or(other.form_id),
        }
    }
}

/// Where a lead came from, kept exactly as received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Provenance {
    /// "api", "form", "meta", "google", "linkedin", "import".
    #[serde(default)]
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub utm: Utm,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gclid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fbclid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalRef>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_test: bool,
    /// The ad it answered, for a lead from an ad platform.
    #[serde(default, skip_serializing_if = "is_default")]
    pub ad: AdRef,
    /// Submitted fields that map to nothing on the lead, kept as sent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unmapped: BTreeMap<String, String>,
}

/// Size limits of provenance, so no client can make a lead (and every list page holding it)
/// megabytes long, or pass DynamoDB's 400 KB item limit. Capture keeps its unmapped fields
/// within the same limits by construction.
pub mod provenance_limits {
    pub const URL: usize = 2048;
    pub const UTM: usize = 255;
    pub const CLICK_ID: usize = 512;
    pub const CONSENT: usize = 2000;
    pub const SHORT: usize = 64;
    pub const EXTERNAL_ID: usize = 400;
    pub const UNMAPPED_ENTRIES: usize = 100;
    pub const UNMAPPED_NAME: usize = 100;
    pub const UNMAPPED_VALUE: usize = 2000;
}

impl Provenance {
    /// Pushes a `too_long` / `too_many` error naming each field over its limit.
    pub fn check(&self, errs: &mut FieldErrors) {
        use provenance_limits::*;
        let mut cap = |field: &str, v: Option<&str>, max: usize| {
            if v.is_some_and(|v| v.chars().count() > max) {
                errs.push(FieldError::new(
                    format!("provenance.{field}"),
                    "too_long",
                    format!("provenance.{field} is longer than {max} characters"),
                ));
            }
        };
        cap("channel", Some(&self.channel), SHORT);
        cap("form", self.form.as_deref(), SHORT);
        cap("page_url", self.page_url.as_deref(), URL);
        cap("referrer", self.referrer.as_deref(), URL);
        cap("utm.source", self.utm.source.as_deref(), UTM);
        cap("utm.medium", self.utm.medium.as_deref(), UTM);
        cap("utm.campaign", self.utm.campaign.as_deref(), UTM);
        cap("utm.term", self.utm.term.as_deref(), UTM);
        cap("utm.content", self.utm.content.as_deref(), UTM);
        cap("gclid", self.gclid.as_deref(), CLICK_ID);
        cap("fbclid", self.fbclid.as_deref(), CLICK_ID);
        cap("consent_text", self.consent_text.as_deref(), CONSENT);
        cap("ad.campaign_id", self.ad.campaign_id.as_deref(), SHORT);
        cap("ad.ad_set_id", self.ad.ad_set_id.as_deref(), SHORT);
        cap("ad.ad_id", self.ad.ad_id.as_deref(), SHORT);
        cap("ad.form_id", self.ad.form_id.as_deref(), SHORT);
        if let Some(x) = &self.external {
            cap("external.provider", Some(&x.provider), SHORT);
            cap("external.id", Some(&x.id), EXTERNAL_ID);
        }
        for (k, v) in &self.unmapped {
            if k.chars().count() > UNMAPPED_NAME || v.chars().count() > UNMAPPED_VALUE {
                let name: String = k.chars().take(UNMAPPED_NAME).collect();
                errs.push(FieldError::new(
                    format!("provenance.unmapped.{name}"),
                    "too_long",
                    format!(
                        "unmapped field names are at most {UNMAPPED_NAME} characters and values at most {UNMAPPED_VALUE}"
                    ),
                ));
            }
        }
        if self.unmapped.len() > UNMAPPED_ENTRIES {
            errs.push(FieldError::new(
                "provenance.unmapped",
                "too_many",
                format!("at most {UNMAPPED_ENTRIES} unmapped fields"),
            ));
        }
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversionLinks {
    pub prospect_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<String>,
    pub converted_at: DateTime<Utc>,
    /// The deal's value, kept in step with the deal (a deal change that moves it rewrites
    /// this in the same write), so analytics sum it from the leads' own rollups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<crate::domain::conversion::Money>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lead {
    pub id: LeadId,
    pub tenant: TenantId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<Phone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub address: Address,
    pub source: SourceId,
    pub status: LeadStatus,
    /// Why the lead is unqualified, from the tenant's reasons (only while it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unqualified_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<RepId>,
    #[serde(default)]
    pub tags: BTreeSet<Tag>,
    #[serde(default)]
    pub custom: BTreeMap<String, CustomValue>,
    #[serde(default)]
    pub provenance: Provenance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion: Option<ConversionLinks>,
    /// Values given for this lead that could not be taken (a malformed phone beside a valid
    /// email), kept as given; a lead with any is listed by `has_warnings=true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_warnings: Vec<DataWarning>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    /// The first response: the first call or email logged as outbound, or the first move
    /// from new to contacted or qualified. Set once, by the change that makes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_at: Option<DateTime<Utc>>,
    /// Seconds from `created_at` to `first_response_at` (speed to lead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time_seconds: Option<i64>,
    pub version: u64,
}

impl Lead {
    /// The lead as a change with these timeline entries stores it: the next version,
    /// `last_activity_at` moved to the newest entry that counts as activity, and the first
    /// response recorded if one of them is the first. Both stores' `commit_lead_change` use
    /// this one rule.
    pub fn changed_with(&self, entries: &[crate::domain::activity::Activity]) -> Lead {
        let mut next = self.clone();
        next.version = self.version + 1;
        let latest = entries
            .iter()
            .filter(|a| a.kind.counts_as_activity())
            .map(|a| a.at)
            .max();
        if let Some(latest) = latest {
            next.last_activity_at = next.last_activity_at.max(latest);
        }
        if next.first_response_at.is_none()
            && let Some(first) = entries
                .iter()
                .filter(|a| a.kind.is_response())
                .map(|a| a.at)
                .min()
        {
            next.first_response_at = Some(first);
            next.response_time_seconds = Some((first - next.created_at).num_seconds().max(0));
        }
        next
    }

    /// Whether the lead waits for its first response: new, never answered.
    pub fn awaits_response(&self) -> bool {
        self.status == LeadStatus::New && self.first_response_at.is_none()
    }

    /// A fresh lead at version 1 from parsed input, created now unless the input brings its
    /// history (a migrated lead's own created and last-activity dates, never after `now`).
    pub fn from_new(tenant: TenantId, id: LeadId, n: NewLead, now: DateTime<Utc>) -> Self {
        let created_at = n.created_at.map_or(now, |c| c.min(now));
        let last_activity_at = match (n.created_at, n.last_activity_at) {
            (_, Some(a)) => a.clamp(created_at, now),
            (Some(_), None) => created_at,
            (None, None) => now,
        };
        Self {
            id,
            tenant,
            name: n.name,
            email: n.email,
            phone: n.phone,
            mobile: n.mobile,
            company: n.company,
            position: n.position,
            website: n.website,
            company_number: n.company_number,
            tax_id: n.tax_id,
            address: n.address,
            source: n.source,
            status: n.status,
            unqualified_reason: n.unqualified_reason,
            owner: n.owner,
            tags: n.tags,
            custom: n.custom,
            provenance: n.provenance,
            conversion: None,
            data_warnings: n.data_warnings,
            created_at,
            updated_at: now,
            last_activity_at,
            first_response_at: None,
            response_time_seconds: None,
            version: 1,
        }
    }

    /// The phone the duplicate matcher and the phone index use: phone, else mobile.
    pub fn match_phone(&self) -> Option<&Phone> {
        self.phone.as_ref().or(self.mobile.as_ref())
    }

    /// The keys the duplicate rule matches this lead on, in the order it tries them.
    pub fn match_keys(&self) -> Vec<crate::domain::duplicate::MatchKey> {
        crate::domain::duplicate::match_keys(self.email.as_ref(), self.match_phone())
    }

    /// Lower-cased name, email and company: what the prefix search compares against.
    pub fn search_terms(&self) -> [Option<String>; 3] {
        [
            Some(self.name.to_lowercase()),
            self.email.as_ref().map(|e| e.as_str().to_owned()),
            self.company.as_ref().map(|c| c.to_lowercase()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::Region;
    use crate::domain::rep::Rep;
    use crate::domain::source::seeded_sources;

    fn ctx() -> LeadContext {
        LeadContext {
            region: Region::parse("US").unwrap(),
            sources: seeded_sources(),
            custom_fields: vec![],
            reps: vec![Rep {
                id: RepId::parse("ana").unwrap(),
                name: "Ana".into(),
                weight: 1,
                active: true,
                available: true,
            }],
            unqualified: Default::default(),
            overdue_cutoff: Default::default(),
        }
    }

    #[test]
    fn when_a_lead_is_first_answered_should_record_that_once() {
        use crate::domain::activity::{Activity, ActivityKind, Actor, Direction};
        let input = LeadInput {
            name: Some("Speedy".into()),
            email: Some("speedy@example.com".into()),
            source: Some("referral".into()),
            ..Default::default()
        };
        let t0 = DateTime::parse_from_rfc3339("2026-03-01T09:00:00Z")
            .unwrap()
            .to_utc();
        let lead = Lead::from_new(
            TenantId::parse("t").unwrap(),
            LeadId::new(),
            NewLead::parse(&input, &ctx()).unwrap(),
            t0,
        );
        let at = |mins: i64, kind: ActivityKind| {
            Activity::new(
                lead.tenant.clone(),
                lead.id,
                t0 + chrono::Duration::minutes(mins),
                Actor::System,
                kind,
            )
        };
        let call = |direction| ActivityKind::Call {
            direction,
            duration_seconds: None,
            outcome: None,
            notes: None,
        };
        let note = ActivityKind::Note {
            body: "thinking".into(),
        };
        // A note and an inbound call are no answer.
        let l = lead.changed_with(&[at(5, note), at(6, call(Direction::Inbound))]);
        assert!(l.first_response_at.is_none() && l.awaits_response());
        // An outbound call 42 minutes in is; a later email does not move it.
        let l = l.changed_with(&[at(42, call(Direction::Outbound))]);
        assert_eq!(l.first_response_at, Some(t0 + chrono::Duration::minutes(42)));
        assert_eq!(l.response_time_seconds, Some(42 * 60));
        let email = ActivityKind::Email {
            direction: Direction::Outbound,
            subject: "hi".into(),
            body: None,
        };
        let l = l.changed_with(&[at(90, email)]);
        assert_eq!(l.response_time_seconds, Some(42 * 60));
        // A move from new to contacted answers too; one to unqualified does not.
        let moved = |to| ActivityKind::StatusChanged {
            from: LeadStatus::New,
            to,
            reason: None,
        };
        assert_eq!(
            lead.changed_with(&[at(7, moved(LeadStatus::Contacted))])
                .response_time_seconds,
            Some(7 * 60)
        );
        assert!(
            lead.changed_with(&[at(7, moved(LeadStatus::Unqualified))])
                .first_response_at
                .is_none()
        );
    }

    #[test]
    fn when_a_new_lead_is_unqualified_should_hold_it_to_the_tenants_reasons() {
        let mut ctx = ctx();
        ctx.unqualified.required = true;
        let input = LeadInput {
            name: Some("Una Q".into()),
            email: Some("una@example.com".into()),
            source: Some("referral".into()),
            status: Some("unqualified".into()),
            ..Default::default()
        };
        let e = NewLead::parse(&input, &ctx).unwrap_err();
        assert_eq!(
            (e.0[0].field.as_str(), e.0[0].code),
            ("unqualified_reason", "required")
        );
        let with = LeadInput {
            unqualified_reason: Some("no authority".into()),
            ..input.clone()
        };
        let n = NewLead::parse(&with, &ctx).unwrap();
        assert_eq!(n.unqualified_reason.as_deref(), Some("No authority"));
        let stray = LeadInput {
            status: Some("new".into()),
            ..with
        };
        assert_eq!(
            NewLead::parse(&stray, &ctx).unwrap_err().0[0].code,
            "not_unqualified"
        );
    }

    /// Keep flagged: a malformed contact value beside a valid one is kept aside; without a
    /// usable identity (no valid contact left, no name) every error stands; `reject` refuses.
    #[test]
    fn when_one_contact_value_is_malformed_should_keep_the_lead_flagged_or_refuse_it() {
        use crate::domain::data_quality::DataQuality::{KeepFlagged, Reject};
        let input = LeadInput {
            name: Some("Kim Lee".into()),
            email: Some("kim@example.com".into()),
            phone: Some("12".into()),
            website: Some("not a url".into()),
            source: Some("referral".into()),
            ..Default::default()
        };
        let n = NewLead::parse_with(&input, &ctx(), KeepFlagged).unwrap();
        assert_eq!((n.phone, n.website), (None, None));
        let kept: Vec<(&str, &str)> = n
            .data_warnings
            .iter()
            .map(|w| (w.field.as_str(), w.value.as_str()))
            .collect();
        assert_eq!(kept, [("phone", "12"), ("website", "not a url")]);
        assert!(NewLead::parse_with(&input, &ctx(), Reject).is_err());
        let only_bad = LeadInput {
            email: Some("nope".into()),
            ..input.clone()
        };
        let errs = NewLead::parse_with(&only_bad, &ctx(), KeepFlagged).unwrap_err();
        assert!(errs.0.iter().any(|e| e.field == "email"), "{errs:?}");
        let nameless = LeadInput { name: None, ..input };
        assert!(NewLead::parse_with(&nameless, &ctx(), KeepFlagged).is_err());
    }

    #[test]
    fn when_input_is_complete_should_parse_normalized() {
        let input = LeadInput {
            first_name: Some(" Jane ".into()),
            last_name: Some("Doe".into()),
            email: Some("JANE@Example.com".into()),
            phone: Some("415-555-0132".into()),
            source: Some("Website form".into()),
            owner: Some("ana".into()),
            tags: vec!["VIP".into(), "vip ".into()],
            ..Default::default()
        };
        let n = NewLead::parse(&input, &ctx()).unwrap();
        assert_eq!(n.name, "Jane Doe");
        assert_eq!(n.email.unwrap().as_str(), "jane@example.com");
        assert_eq!(n.phone.unwrap().as_str(), "+14155550132");
        assert_eq!(n.source.as_str(), "website-form");
        assert_eq!(n.status, LeadStatus::New);
        assert_eq!(n.tags.len(), 1);
    }

    #[test]
    fn when_required_fields_are_missing_should_report_all() {
        let errs = NewLead::parse(&LeadInput::default(), &ctx()).unwrap_err();
        let fields: Vec<_> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "email", "source"]);
    }

    #[test]
    fn when_values_are_invalid_should_name_each_field() {
        let input = LeadInput {
            name: Some("X".into()),
            email: Some("not-an-email".into()),
            phone: Some("12".into()),
            source: Some("Billboard".into()),
            status: Some("converted".into()),
            owner: Some("bob".into()),
            ..Default::default()
        };
        let errs = NewLead::parse(&input, &ctx()).unwrap_err();
        let codes: Vec<_> = errs.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            [
                ("email", "invalid_email"),
                ("phone", "invalid_phone"),
                ("source", "invalid_source"),
                ("status", "invalid_status"),
                ("owner", "unknown_owner"),
            ]
        );
    }

    #[test]
    fn when_lead_round_trips_through_json_should_be_equal() {
        let input = LeadInput {
            name: Some("Jane".into()),
            phone: Some("+44 20 7946 0958".into()),
            source: Some("referral".into()),
            ..Default::default()
        };
        let n = NewLead::parse(&input, &ctx()).unwrap();
        let lead = Lead::from_new(TenantId::parse("t").unwrap(), LeadId::new(), n, Utc::now());
        let back: Lead = serde_json::from_str(&serde_json::to_string(&lead).unwrap()).unwrap();
        assert_eq!(back, lead);
    }
}
