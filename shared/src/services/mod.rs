//! Use cases: the operations the API, capture, import and the gateway perform, written once
//! against the ports.

pub mod activities;
pub mod analytics;
pub mod api_keys;
pub mod attachments;
pub mod bulk_edit;
pub mod bulk_jobs;
pub mod capture;
pub mod conversion;
pub mod custom_fields;
pub mod deals;
pub mod duplicates;
pub mod error;
pub mod exports;
pub mod import_jobs;
pub mod import_profiles;
pub mod import_undo;
pub mod imports;
pub mod job_claim;
pub mod lead_patch;
pub mod leads;
pub mod queue;
pub mod reps;
pub mod settings;
pub mod sources;
pub mod tenants;
pub mod webhook_delivery;
pub mod webhook_queue;
pub mod webhooks;

pub use error::ServiceError;
