//! Use cases: the operations the API, capture, import and the gateway perform, written once
//! against the ports.

pub mod api_keys;
pub mod custom_fields;
pub mod error;
pub mod leads;
pub mod reps;
pub mod sources;
pub mod tenants;

pub use error::ServiceError;
