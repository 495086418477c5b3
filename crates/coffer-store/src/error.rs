//! Storage errors, classified the same way for every engine.

use coffer_core::Timestamp;

/// The class of a [`StoreError`], for callers that map errors to responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The name already exists.
    AlreadyExists,
    /// The data in the database is not what coffer wrote.
    Corrupt,
    /// Something else went wrong inside the engine.
    Internal,
    /// Not scheduled for deletion (restore of a live secret).
    NotDeleted,
    /// No such secret, version or token.
    NotFound,
    /// The secret is scheduled for deletion.
    PendingDeletion,
    /// The database cannot be reached or is busy; retrying later may work.
    Unavailable,
}

/// Why a storage operation failed. Messages name secrets, never values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The name is already live at that scope.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What exists, e.g. `secret api-key in acme/*/*`.
        what: String,
    },
    /// Stored data does not parse.
    #[error("stored data is corrupt: {reason}")]
    Corrupt {
        /// What is wrong.
        reason: String,
    },
    /// An unexpected engine failure.
    #[error("storage engine failed: {source}")]
    Internal {
        /// The engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Restore of something not scheduled for deletion.
    #[error("{what} is not scheduled for deletion")]
    NotDeleted {
        /// What.
        what: String,
    },
    /// No such thing.
    #[error("{what} not found")]
    NotFound {
        /// What is missing.
        what: String,
    },
    /// The secret is scheduled for deletion.
    #[error("{what} is scheduled for deletion at {purge_at}")]
    PendingDeletion {
        /// Which secret.
        what: String,
        /// When it will be purged.
        purge_at: Timestamp,
    },
    /// The database is unreachable or busy.
    #[error("database unavailable: {source}")]
    Unavailable {
        /// The engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

// === impl StoreError ===

impl StoreError {
    /// The error's class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            StoreError::Corrupt { .. } => ErrorKind::Corrupt,
            StoreError::Internal { .. } => ErrorKind::Internal,
            StoreError::NotDeleted { .. } => ErrorKind::NotDeleted,
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::PendingDeletion { .. } => ErrorKind::PendingDeletion,
            StoreError::Unavailable { .. } => ErrorKind::Unavailable,
        }
    }

    /// An internal error from any engine error.
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Internal { source: e.into() }
    }

    /// An unavailable error from any engine error.
    pub fn unavailable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Unavailable { source: e.into() }
    }
}
