//! Errors of the service layer (independent of HTTP; `api` maps them to statuses).

use coffer_core::{Scope, SecretName, Version};
use coffer_crypto::{CryptoError, KeyringError};
use coffer_store::StoreError;

/// A request that is missing from every scope of the cascade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The key asked for.
    pub key: SecretName,
    /// The pinned version, if any.
    pub version: Option<Version>,
    /// Every scope searched, most specific first.
    pub searched: Vec<Scope>,
}

/// Why a service operation failed. Messages never contain values or tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// Storage failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record could not be sealed or opened.
    #[error("encryption failed: {0}")]
    Crypto(#[from] CryptoError),
    /// The keyring could not be changed or saved.
    #[error("keyring: {0}")]
    Keyring(String),
    /// Resolution found nothing for some keys.
    #[error("{}", describe_missing(.0))]
    NotFoundInCascade(Vec<Missing>),
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
}

impl From<KeyringError> for ServiceError {
    fn from(e: KeyringError) -> Self {
        ServiceError::Keyring(e.to_string())
    }
}

fn describe_missing(missing: &[Missing]) -> String {
    let parts: Vec<String> = missing
        .iter()
        .map(|m| {
            let searched: Vec<String> = m.searched.iter().map(ToString::to_string).collect();
            let version = m.version.map(|v| format!(" version {v}")).unwrap_or_default();
            format!("{}{version} (searched {})", m.key, searched.join(", "))
        })
        .collect();
    format!("secret not found in any scope: {}", parts.join("; "))
}
