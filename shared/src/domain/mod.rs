//! The lead domain: parsed values, the lead itself, and the rules that govern it.
//! Nothing here does I/O; the services and adapters call into it.

pub mod activity;
pub mod api_key;
pub mod business_hours;
pub mod capture;
pub mod conversion;
pub mod custom_field;
pub mod data_quality;
pub mod duplicate;
pub mod email;
pub mod error;
pub mod filename;
pub mod ids;
pub mod lead;
pub mod lead_field;
mod lead_input;
pub mod patch;
pub mod phone;
pub mod query;
pub mod rep;
pub mod rollup;
pub mod settings;
pub mod signature;
pub mod sort;
pub mod source;
pub mod status;
pub mod tenant;
pub mod time;
pub mod unqualified;
pub mod webhook;
pub mod webhook_target;
pub mod whole;

pub use activity::{Activity, ActivityKind, Actor};
pub use custom_field::{CustomFieldDef, CustomFieldType, CustomValue};
pub use duplicate::{DuplicateMatch, MatchKey};
pub use email::Email;
pub use ids::{ActivityId, ApiKeyId, LeadId, RepId, SourceId, TenantId};
pub use lead::{Address, ExternalRef, Lead, LeadInput, NewLead, Provenance, Tag};
pub use phone::{Phone, Region};
pub use query::{DateRange, LeadQuery, OwnerFilter, SortField, SortOrder};
pub use rep::Rep;
pub use source::Source;
pub use status::LeadStatus;
pub use tenant::{Principal, Role, Tenant, TenantSettings};
