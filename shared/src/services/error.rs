//! The error every use case returns. The HTTP layer maps each variant to one status.

use crate::domain::duplicate::DuplicateMatch;
use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::status::IllegalTransition;
use crate::ports::blob::BlobError;
use crate::ports::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("validation failed: {0}")]
    Validation(FieldErrors),
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{0}")]
    Transition(#[from] IllegalTransition),
    #[error("the record was changed by someone else; reload it and try again")]
    VersionConflict,
    #[error("{}", .0.explain())]
    Duplicate(DuplicateMatch),
    #[error("{0}")]
    InUse(String),
    /// The lead is not in a state that allows the operation (e.g. converting a new lead).
    #[error("{0}")]
    NotConvertible(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    #[error("storage failed")]
    Store(#[source] StoreError),
    #[error("blob storage failed")]
    Blob(#[from] BlobError),
    #[error("the export could not be written")]
    Export(#[from] crate::services::exports::writer::ExportError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => ServiceError::VersionConflict,
            StoreError::NotFound => ServiceError::NotFound { what: "record" },
            other => ServiceError::Store(other),
        }
    }
}

impl From<FieldErrors> for ServiceError {
    fn from(e: FieldErrors) -> Self {
        ServiceError::Validation(e)
    }
}

impl From<FieldError> for ServiceError {
    fn from(e: FieldError) -> Self {
        ServiceError::Validation(e.into())
    }
}
