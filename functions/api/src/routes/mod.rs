//! Route handlers, one module per resource family.

pub mod activities;
pub mod analytics;
pub mod attachments;
pub mod exports;
pub mod imports;
pub mod keys;
pub mod leads;
pub mod settings;
pub mod tenants;
pub mod webhooks;

// The path and header helpers every HTTP part shares live in `leadgate-http`.
pub use leadgate_http::versions::{etag, if_match, lead_id};
