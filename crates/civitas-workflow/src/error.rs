//! Why a workflow request was refused, in the engine's words; the CRUD API maps it to a
//! status (`civitas-crud`'s `ApiError`).

use super::store::StoreError;

/// A refusal or a failure of the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// No such workflow, run or task (or the caller may not know of it).
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The run or task is not in a state that allows it.
    #[error("{0}")]
    Conflict(String),
    /// The store (database) is not available now; trying again later may help.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for WorkflowError {
    fn from(error: StoreError) -> Self {
        tracing::error!(error = %error, source = %error.source, "workflow store failed");
        WorkflowError::Unavailable(
            "the workflow store (database) is not available; try again".to_owned(),
        )
    }
}
