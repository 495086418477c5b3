//! Storage for coffer: the [`SecretStore`] and [`TokenStore`] traits over *sealed* records.
//!
//! Engines (SQLite, PostgreSQL) implement both traits and prove it by running the shared
//! conformance suite in [`testkit`] (feature `testkit`). Storage never sees plaintext: values
//! arrive sealed by `coffer-crypto` and leave sealed.
//!
//! Versions are immutable and append-only: [`SecretStore::append_version`] numbers the new
//! version inside the engine's write transaction and asks the caller to seal the value for that
//! number, so concurrent writers (in one process or many replicas) get consecutive versions and
//! never conflict.

mod audit;
mod error;
mod model;
#[cfg(feature = "testkit")]
pub mod testkit;

use async_trait::async_trait;
use coffer_core::{Scope, SecretName, Timestamp, Version};

pub use audit::{AuditEntry, AuditQuery, AuditRecord, ChainBreak, GENESIS, chain_hash, verify_chain};
pub use error::{ErrorKind, StoreError};
pub use model::{
    ListCursor, ListQuery, NewSecret, NewToken, Page, SealedVersion, SecretMeta, SecretType, SecretTypeError, TokenId,
    TokenRecord, TokenScope, VersionMeta,
};

/// Callback for [`SecretStore::rewrap_all`]: given a version's identity and sealed bytes,
/// returns `Ok(Some(new))` to replace them, `Ok(None)` to keep them, or an error message.
pub type RewrapFn<'a> =
    dyn Fn(&Scope, &SecretName, Version, &[u8]) -> Result<Option<Vec<u8>>, String> + Send + Sync + 'a;

/// Seals a value for the version number it is given (see [`SecretStore::append_version`]).
pub type SealFn = Box<dyn FnOnce(Version) -> Result<Vec<u8>, String> + Send>;

/// Secrets and their versions, sealed.
///
/// Every method that changes something takes the [`AuditEntry`] describing the change and
/// writes it, chained, in the same transaction: the change and its record commit together or
/// not at all.
///
/// Every method that names a secret addresses it by (scope, name). "Not found" always means
/// the (scope, name) pair has no row at all; a secret scheduled for deletion is found and
/// reported with its deletion fields set, except where a method says otherwise.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Creates a secret with its first version.
    ///
    /// Errors: [`StoreError::AlreadyExists`] when the name is live at that scope;
    /// [`StoreError::PendingDeletion`] when it is scheduled for deletion (restore or purge it first).
    async fn create(&self, new: NewSecret, audit: &AuditEntry) -> Result<SecretMeta, StoreError>;

    /// Appends the next version, numbered under the store's lock: `seal` is called with the
    /// number the new version gets and returns its sealed bytes. Concurrent appends to one
    /// secret never conflict; they get consecutive numbers in commit order. `audit.version` is
    /// set to that number.
    ///
    /// Errors: [`StoreError::NotFound`]; [`StoreError::PendingDeletion`]; an error from `seal`
    /// as [`StoreError::Internal`].
    async fn append_version(
        &self,
        scope: &Scope,
        name: &SecretName,
        seal: SealFn,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<SecretMeta, StoreError>;

    /// The secret's metadata, including when it is scheduled for deletion.
    async fn meta(&self, scope: &Scope, name: &SecretName) -> Result<SecretMeta, StoreError>;

    /// One version (the current one when `version` is `None`) with its sealed bytes.
    ///
    /// Errors: [`StoreError::NotFound`] for a missing secret or version;
    /// [`StoreError::PendingDeletion`] when the secret is scheduled for deletion.
    async fn read(
        &self,
        scope: &Scope,
        name: &SecretName,
        version: Option<Version>,
    ) -> Result<(SecretMeta, SealedVersion), StoreError>;

    /// One page of secrets matching `query`, ordered by (project, domain, name).
    async fn list(&self, query: &ListQuery) -> Result<Page<SecretMeta>, StoreError>;

    /// Every version of a secret, oldest first.
    async fn versions(&self, scope: &Scope, name: &SecretName) -> Result<Vec<VersionMeta>, StoreError>;

    /// Schedules a secret for deletion at `purge_at`. Reads fail until it is restored.
    ///
    /// Errors: [`StoreError::NotFound`]; [`StoreError::PendingDeletion`] when already scheduled.
    async fn delete(
        &self,
        scope: &Scope,
        name: &SecretName,
        now: Timestamp,
        purge_at: Timestamp,
        audit: &AuditEntry,
    ) -> Result<SecretMeta, StoreError>;

    /// Cancels a scheduled deletion.
    ///
    /// Errors: [`StoreError::NotFound`]; [`StoreError::NotDeleted`] when it is not scheduled.
    async fn restore(
        &self,
        scope: &Scope,
        name: &SecretName,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<SecretMeta, StoreError>;

    /// Removes a secret and all its versions for good, scheduled or not.
    ///
    /// Errors: [`StoreError::NotFound`].
    async fn purge(&self, scope: &Scope, name: &SecretName, audit: &AuditEntry) -> Result<(), StoreError>;

    /// Purges every secret whose deletion time has passed. Returns how many were purged.
    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Offers every stored version to `f` and stores what it returns (KEK rotation).
    /// Returns how many versions were replaced.
    async fn rewrap_all(&self, f: &RewrapFn<'_>) -> Result<u64, StoreError>;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// API tokens, stored as SHA-256 hashes.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new token.
    ///
    /// Errors: [`StoreError::AlreadyExists`] when the id or hash is taken.
    async fn create_token(&self, token: NewToken, audit: &AuditEntry) -> Result<TokenRecord, StoreError>;

    /// The token with this hash, revoked and expired ones included (the caller decides).
    /// `Ok(None)` when no token has the hash.
    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token, newest first.
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Marks a token revoked.
    ///
    /// Errors: [`StoreError::NotFound`].
    async fn revoke_token(&self, id: &TokenId, now: Timestamp, audit: &AuditEntry) -> Result<TokenRecord, StoreError>;
}

/// The tamper-evident audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends entries, chained, in one transaction (group commit for reads, denials and
    /// failed requests). `Ok` means they are durable.
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError>;

    /// Records in `seq` order matching `query`.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
}
