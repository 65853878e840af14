//! Leadgate core: the lead domain, the use cases that work on it, the ports they need
//! (store, blobs, clock, ids) and the adapters behind those ports (SQLite and a local folder
//! for one machine; DynamoDB and S3 for Lambda).
//!
//! Everything that is behaviour lives here once; the gateway binary and the Lambda functions
//! differ only in which adapters they build.

pub mod adapters;
pub mod bucket_keys;
pub mod cells;
pub mod config;
pub mod domain;
pub mod export;
pub mod import;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod ports;
pub mod secret;
pub mod services;

pub use domain::error::{FieldError, FieldErrors};

#[cfg(test)]
mod fuzz;
