//! Ports: the traits the use cases need from the outside world. Each has one adapter per
//! deployment (see `crate::adapters`).

pub mod blob;
pub mod clock;
pub mod fetch;
pub mod store;
pub mod webhook;
