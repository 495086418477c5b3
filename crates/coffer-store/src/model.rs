//! The rows a store keeps.

use std::fmt;
use std::str::FromStr;

use coffer_core::{Domain, Org, Project, Role, Scope, SecretName, Timestamp, Version};

/// What a secret is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretType {
    /// Any value.
    Generic,
    /// A Docker config JSON for pulling images.
    ImagePull,
}

/// Why a string is not a secret type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown secret type {0:?}: use generic or image-pull")]
pub struct SecretTypeError(String);

// === impl SecretType ===

impl SecretType {
    /// `generic` or `image-pull`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretType::Generic => "generic",
            SecretType::ImagePull => "image-pull",
        }
    }
}

impl FromStr for SecretType {
    type Err = SecretTypeError;

    fn from_str(s: &str) -> Result<Self, SecretTypeError> {
        match s {
            "generic" | "regular" => Ok(SecretType::Generic),
            "image-pull" | "image_pull" => Ok(SecretType::ImagePull),
            other => Err(SecretTypeError(other.to_owned())),
        }
    }
}

impl fmt::Display for SecretType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret's metadata. Never holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    /// Where it lives.
    pub scope: Scope,
    /// Its name.
    pub name: SecretName,
    /// Generic or image-pull.
    pub secret_type: SecretType,
    /// When the first version was written.
    pub created_at: Timestamp,
    /// When the latest change (version, delete, restore) happened.
    pub updated_at: Timestamp,
    /// The latest version.
    pub current_version: Version,
    /// When it was scheduled for deletion, if it is.
    pub deleted_at: Option<Timestamp>,
    /// When it will be purged, if scheduled.
    pub purge_at: Option<Timestamp>,
}

/// One version's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta {
    /// Its number.
    pub version: Version,
    /// When it was written.
    pub created_at: Timestamp,
}

/// One version with its sealed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedVersion {
    /// Number and time.
    pub meta: VersionMeta,
    /// The record sealed by `coffer-crypto`.
    pub sealed: Vec<u8>,
}

/// A secret to create, with version 1 already sealed.
#[derive(Debug, Clone)]
pub struct NewSecret {
    /// Where.
    pub scope: Scope,
    /// Name.
    pub name: SecretName,
    /// Type.
    pub secret_type: SecretType,
    /// Version 1, sealed for (scope, name, 1).
    pub sealed: Vec<u8>,
    /// The creation time.
    pub now: Timestamp,
}

/// Where the next page starts: the (project, domain, name) of the last item returned, with
/// empty strings for absent parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    /// Project of the last item.
    pub project: String,
    /// Domain of the last item.
    pub domain: String,
    /// Name of the last item.
    pub name: String,
}

/// Which secrets to list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// The org.
    pub org: Org,
    /// Only secrets of this project (at project or project+domain level).
    pub project: Option<Project>,
    /// Only secrets of this domain (at domain or project+domain level).
    pub domain: Option<Domain>,
    /// Include secrets scheduled for deletion.
    pub include_deleted: bool,
    /// Start after this item.
    pub after: Option<ListCursor>,
    /// At most this many items (engines cap it at 1000).
    pub limit: u32,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<ListCursor>,
}

/// A token's public id (`tok_…`), shown in listings and audit records.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenId(pub String);

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The scope a token's role applies to: an org (or every org), optionally narrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenScope {
    /// `None` means every org (`*`).
    pub org: Option<Org>,
    /// Narrowed to one project.
    pub project: Option<Project>,
    /// Narrowed to one domain.
    pub domain: Option<Domain>,
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Public id.
    pub id: TokenId,
    /// A human name ("bootstrap-admin", "ci-ml-dev").
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Where.
    pub scope: TokenScope,
    /// SHA-256 of the token text.
    pub hash: [u8; 32],
    /// When created.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
}

/// A stored token (without its text, which is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public id.
    pub id: TokenId,
    /// Human name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Scope.
    pub scope: TokenScope,
    /// SHA-256 of the token text.
    pub hash: [u8; 32],
    /// Created.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
    /// Revocation time.
    pub revoked_at: Option<Timestamp>,
}
