//! Ports: the traits the use cases need from the outside world. Each has one adapter per
//! deployment (see `crate::adapters`).

pub mod blob;
pub mod clock;
pub mod fetch;
pub mod store;
pub mod webhook;

use std::sync::Arc;

/// The outside world one deployment gives the use cases: every HTTP part (API, capture,
/// convert) and the gateway are served with this one value.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn store::LeadStore>,
    pub blobs: Arc<dyn blob::BlobStore>,
    pub clock: Arc<dyn clock::Clock>,
    /// Fetches ad-platform leads (capture, and replays of failed captures).
    pub fetcher: Arc<dyn fetch::LeadFetcher>,
}
