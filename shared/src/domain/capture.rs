//! Captured submissions and how their fields become a lead.
//!
//! Every submission (a form post, a platform delivery) is stored before its sender gets a 2xx:
//! a platform delivery raw, then processed; a form post with its outcome. One mapper turns field names into lead fields for every channel:
//! names are compared lower-case with punctuation removed ("E-mail", "email_address" and
//! "Email Address" all mean email), then looked up in the synonym table, after the form's own
//! mapping. Whatever maps to nothing is kept on the lead as submitted.

use crate::domain::error::FieldError;
use crate::domain::ids::{LeadId, SourceId};
use crate::domain::lead::LeadInput;
use crate::domain::lead_field::{self, Reach, normalize_name};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Form,
    Meta,
    Google,
    Linkedin,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Form => "form",
            Channel::Meta => "meta",
            Channel::Google => "google",
            Channel::Linkedin => "linkedin",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Stored, not processed yet (or processing was interrupted).
    Received,
    /// A new lead was made.
    Processed,
    /// It matched an open lead, which got a "resubmitted" activity.
    Resubmitted,
    /// The honeypot was filled: kept, never a lead.
    Spam,
    /// Processing failed (validation, a platform fetch); an admin can replay it.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Submission {
    pub id: String,
    pub channel: Channel,
    /// The form key, or the platform's form id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    /// The platform's id for the lead (leadgen_id, lead_id, response URN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub received_at: DateTime<Utc>,
    /// What arrived, as received: form fields, or the platform's notification.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub status: SubmissionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub lead_id: Option<LeadId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<StoredFieldError>,
    #[serde(default)]
    pub attempts: u32,
    /// Google's `is_test`: a test lead from the ads console.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_test: bool,
}

impl Submission {
    /// A submission as it arrives, before any processing: status `received`, no lead, no
    /// error, no attempts. The channels differ only in these arguments (a form post's id is
    /// its own, a platform delivery's is the platform's id, so a repeat finds it).
    pub fn received(
        id: String,
        channel: Channel,
        form: Option<String>,
        external_id: Option<String>,
        received_at: DateTime<Utc>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            id,
            channel,
            form,
            external_id,
            received_at,
            payload,
            status: SubmissionStatus::Received,
            lead_id: None,
            error: None,
            errors: vec![],
            attempts: 0,
            is_test: false,
        }
    }
}

/// A field error as kept on a failed submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredFieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl From<FieldError> for StoredFieldError {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field,
            code: e.code.to_owned(),
            message: e.message,
        }
    }
}

/// A platform id as its payloads give it: a string, or a number (Google's ids are JSON
/// numbers, Meta's strings).
fn platform_id(v: &serde_json::Value) -> Option<String> {
    v.as_str()
        .map(|s| s.trim().to_owned())
        .or_else(|| v.as_u64().map(|n| n.to_string()))
        .filter(|s| !s.is_empty() && s.chars().count() <= crate::domain::lead::provenance_limits::SHORT)
}

/// The ad a platform lead answered, from the payload the platform delivered: Google's lead
/// form webhook names the campaign, ad group and creative; Meta's `leadgen` change names the
/// ad and the form, not the ad set or the campaign (the Graph lead does: `meta_graph_ad`).
/// Forms and LinkedIn give none here.
pub fn ad_ref(channel: Channel, payload: &serde_json::Value) -> crate::domain::lead::AdRef {
    let id = |k: &str| platform_id(&payload[k]);
    match channel {
        Channel::Google => crate::domain::lead::AdRef {
            campaign_id: id("campaign_id"),
            ad_set_id: id("adgroup_id"),
            ad_id: id("creative_id"),
            form_id: id("form_id"),
        },
        // Meta's `adgroup_id` is its old name for the ad (an "ad group" was an ad), not the
        // ad set: the Graph lead names the ad set and the campaign.
        Channel::Meta => crate::domain::lead::AdRef {
            campaign_id: id("campaign_id"),
            ad_set_id: None,
            ad_id: id("ad_id").or_else(|| id("adgroup_id")),
            form_id: id("form_id"),
        },
        _ => Default::default(),
    }
}

/// The ad a Graph API lead names (`campaign_id`, `adset_id`, `ad_id`, `form_id`).
pub fn meta_graph_ad(lead: &serde_json::Value) -> crate::domain::lead::AdRef {
    crate::domain::lead::AdRef {
        campaign_id: platform_id(&lead["campaign_id"]),
        ad_set_id: platform_id(&lead["adset_id"]),
        ad_id: platform_id(&lead["ad_id"]),
        form_id: platform_id(&lead["form_id"]),
    }
}

/// The ad a LinkedIn form response names: the campaign
/// (`leadMetadata.sponsoredLeadMetadata.campaign`, `urn:li:sponsoredCampaign:…`), the
/// creative (`associatedEntity`, `urn:li:sponsoredCreative:…`) and the form, inside
/// `urn:li:versionedLeadGenForm:(urn:li:leadGenForm:123,1)`. A lead from a company or event
/// page's form names no campaign.
pub fn linkedin_ad(response: &serde_json::Value) -> crate::domain::lead::AdRef {
    let urn_id = |v: &serde_json::Value, prefix: &str| {
        let id = v.as_str()?.trim().strip_prefix(prefix)?;
        platform_id(&serde_json::Value::from(id))
    };
    let creative = &response["associatedEntity"];
    let form = response["versionedLeadGenFormUrn"]
        .as_str()
        .or_else(|| response["leadGenForm"].as_str())
        .and_then(|v| {
            let start = v.find("urn:li:leadGenForm:")? + "urn:li:leadGenForm:".len();
            let id: String = v[start..].chars().take_while(|c| c.is_ascii_digit()).collect();
            platform_id(&serde_json::Value::from(id))
        });
    crate::domain::lead::AdRef {
        campaign_id: urn_id(
            &response["leadMetadata"]["sponsoredLeadMetadata"]["campaign"],
            "urn:li:sponsoredCampaign:",
        ),
        ad_set_id: None,
        ad_id: urn_id(&creative["associatedCreative"], "urn:li:sponsoredCreative:")
            .or_else(|| urn_id(&creative["sponsoredCreative"], "urn:li:sponsoredCreative:")),
        form_id: form,
    }
}

/// Google's documented column ids, as lead fields.
fn google_column(id: &str) -> Option<&'static str> {
    Some(match id {
        "FULL_NAME" => "name",
        "FIRST_NAME" => "first_name",
        "LAST_NAME" => "last_name",
        "EMAIL" | "WORK_EMAIL" => "email",
        "PHONE_NUMBER" | "WORK_PHONE" => "phone",
        "COMPANY_NAME" => "company",
        "JOB_TITLE" => "position",
        "STREET_ADDRESS" => "street",
        "CITY" => "city",
        "REGION" => "state",
        "COUNTRY" => "country",
        "POSTAL_CODE" => "postal_code",
        _ => return None,
    })
}

/// The (name, value) pairs of a Google `user_column_data` list.
pub fn google_pairs(payload: &serde_json::Value) -> Vec<(String, String)> {
    payload["user_column_data"]
        .as_array()
        .map(|cols| {
            cols.iter()
                .filter_map(|c| {
                    let value = c["string_value"].as_str()?.to_owned();
                    let id = c["column_id"].as_str().unwrap_or_default();
                    let name = google_column(id)
                        .map(str::to_owned)
                        .or_else(|| c["column_name"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| id.to_owned());
                    Some((name, value))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The (name, value) pairs of a form post as stored (`{"fields": {…}}`); a value that is
/// not a string is kept as its JSON text.
pub fn form_pairs(payload: &serde_json::Value) -> Vec<(String, String)> {
    payload["fields"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Maps submitted (name, value) pairs to a lead input. `form_mapping` (submitted name → lead
/// field) wins over the synonyms; unmapped fields are kept in provenance as submitted.
pub fn map_fields(
    pairs: &[(String, String)],
    form_mapping: &BTreeMap<String, String>,
    source: &SourceId,
) -> LeadInput {
    let mut input = LeadInput {
        source: Some(source.to_string()),
        ..Default::default()
    };
    let by_norm: BTreeMap<String, &String> =
        form_mapping.iter().map(|(k, v)| (normalize_name(k), v)).collect();
    for (name, value) in pairs {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let norm = normalize_name(name);
        // The form's own mapping (to a field key) first, then the names the table knows.
        let field = match by_norm.get(&norm) {
            Some(key) => lead_field::by_key(key, Reach::Any),
            None => lead_field::by_name(&norm, Reach::Any),
        };
        match field.and_then(|f| f.read) {
            Some(read) => read(&mut input, value),
            None => {
                // Keep the first unmapped fields, each capped, as submitted (within the
                // limits `Provenance::check` holds every lead to).
                use crate::domain::lead::provenance_limits as lim;
                let unmapped = &mut input.provenance.unmapped;
                if unmapped.len() < lim::UNMAPPED_ENTRIES {
                    unmapped.insert(
                        name.chars().take(lim::UNMAPPED_NAME).collect(),
                        value.chars().take(lim::UNMAPPED_VALUE).collect(),
                    );
                }
            }
        }
    }
    input
}

/// Per-tenant settings of the ad-platform channels. Secrets are write-only through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetaConfig {
    pub verify_token: String,
    pub app_secret: String,
    pub page_access_token: String,
    #[serde(default = "default_graph")]
    pub graph_base_url: String,
    #[serde(default = "default_social")]
    #[schema(value_type = String)]
    pub source: SourceId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GoogleConfig {
    pub google_key: String,
    #[serde(default = "default_website")]
    #[schema(value_type = String)]
    pub source: SourceId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkedinConfig {
    pub client_secret: String,
    pub access_token: String,
    #[serde(default = "default_linkedin")]
    pub api_base_url: String,
    #[serde(default = "default_social")]
    #[schema(value_type = String)]
    pub source: SourceId,
}

fn default_graph() -> String {
    "https://graph.facebook.com/v19.0".into()
}

fn default_linkedin() -> String {
    "https://api.linkedin.com/rest".into()
}

fn default_social() -> SourceId {
    SourceId::parse("social-media").expect("seeded id")
}

fn default_website() -> SourceId {
    SourceId::parse("website-form").expect("seeded id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_names_vary_should_map_by_synonym_and_keep_the_rest() {
        let pairs: Vec<(String, String)> = [
            ("E-mail", "a@b.co"),
            ("First Name", "Jane"),
            ("last_name", "Doe"),
            ("Mobile", "+44 7700 900123"),
            ("Designation", "CTO"),
            ("utm_campaign", "spring"),
            ("gclid", "Cj0KCQ"),
            ("Favourite colour", "teal"),
            ("zip", " "),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let mapping = BTreeMap::from([("Favourite colour".to_string(), "company".to_string())]);
        let src = SourceId::parse("website-form").unwrap();
        let plain = map_fields(&pairs, &BTreeMap::new(), &src);
        assert_eq!(plain.email.as_deref(), Some("a@b.co"));
        assert_eq!(
            (plain.first_name.as_deref(), plain.last_name.as_deref()),
            (Some("Jane"), Some("Doe"))
        );
        assert_eq!(plain.position.as_deref(), Some("CTO"));
        assert_eq!(plain.provenance.utm.campaign.as_deref(), Some("spring"));
        assert_eq!(plain.provenance.gclid.as_deref(), Some("Cj0KCQ"));
        assert_eq!(plain.provenance.unmapped["Favourite colour"], "teal");
        assert!(plain.address.postal_code.is_none());
        let mapped = map_fields(&pairs, &mapping, &src);
        assert_eq!(mapped.company.as_deref(), Some("teal"));
        assert!(mapped.provenance.unmapped.is_empty());
    }

    #[test]
    fn when_a_platform_delivers_a_lead_should_keep_the_ad_it_answered() {
        // Google's lead form webhook sample (ids are JSON numbers) and Meta's leadgen change
        // (strings), as their documentation shows them.
        let google = serde_json::json!({
            "lead_id": "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstuvwxyz-0123456789-AaBbCcDdEeFfGgHhIiJjKkLl",
            "api_version": "1.0", "form_id": 40000000000u64, "campaign_id": 12345678901u64,
            "google_key": "xyz", "is_test": true, "gcl_id": "gcl", "adgroup_id": 20000000000u64,
            "creative_id": 30000000000u64
        });
        let ad = ad_ref(Channel::Google, &google);
        assert_eq!(ad.campaign_id.as_deref(), Some("12345678901"));
        assert_eq!(ad.ad_set_id.as_deref(), Some("20000000000"));
        assert_eq!(ad.ad_id.as_deref(), Some("30000000000"));
        assert_eq!(ad.form_id.as_deref(), Some("40000000000"));
        let meta = serde_json::json!({
            "ad_id": "444444444", "form_id": "444444444444", "leadgen_id": "444444444444",
            "created_time": 1717780000, "page_id": "444444444444", "adgroup_id": "44444444444"
        });
        let ad = ad_ref(Channel::Meta, &meta);
        assert_eq!(ad.campaign_id, None);
        assert_eq!(ad.ad_set_id, None, "adgroup_id is the ad, in Meta's old words");
        assert_eq!(ad.ad_id.as_deref(), Some("444444444"));
        // A Graph lead read without the ads permission names no campaign or ad set.
        let graph = serde_json::json!({"id": "1", "ad_id": "7", "form_id": "8", "field_data": []});
        let ad = meta_graph_ad(&graph);
        assert_eq!(
            (ad.campaign_id, ad.ad_set_id, ad.ad_id.as_deref()),
            (None, None, Some("7"))
        );
        assert_eq!(ad_ref(Channel::Form, &google), Default::default());
    }

    #[test]
    fn when_a_linkedin_response_names_its_campaign_should_keep_it() {
        // The Lead Sync API's leadFormResponse, as LinkedIn documents it: a sponsored lead
        // names its campaign and creative; a company page's lead names neither.
        let sponsored = serde_json::json!({
            "owner": {"sponsoredAccount": "urn:li:sponsoredAccount:522529623"},
            "leadType": "SPONSORED",
            "versionedLeadGenFormUrn": "urn:li:versionedLeadGenForm:(urn:li:leadGenForm:3162,1)",
            "leadMetadata": {"sponsoredLeadMetadata": {"campaign": "urn:li:sponsoredCampaign:263772354"}},
            "associatedEntity": {"associatedCreative": "urn:li:sponsoredCreative:117212434"},
            "formResponse": {"answers": []}
        });
        let ad = linkedin_ad(&sponsored);
        assert_eq!(ad.campaign_id.as_deref(), Some("263772354"));
        assert_eq!(ad.ad_id.as_deref(), Some("117212434"));
        assert_eq!(ad.form_id.as_deref(), Some("3162"));
        let organic = serde_json::json!({
            "leadType": "COMPANY",
            "leadGenForm": "urn:li:versionedLeadGenForm:(urn:li:leadGenForm:42,3)",
            "leadMetadata": {"campaign": "not a sponsored one"}
        });
        let ad = linkedin_ad(&organic);
        assert_eq!((ad.campaign_id, ad.ad_id), (None, None));
        assert_eq!(ad.form_id.as_deref(), Some("42"));
    }
}
