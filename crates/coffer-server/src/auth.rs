//! Bearer tokens: generation, hashing, and authentication.
//!
//! A token is `coffer_` followed by 43 base64url characters (256 random bits). Only its SHA-256
//! is stored; lookups go by hash, and the stored hash is compared in constant time.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_core::{Role, Timestamp};
use coffer_store::{AuditEntry, NewToken, StoreError, TokenId, TokenRecord, TokenScope, TokenStore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const PREFIX: &str = "coffer_";

/// A token's text. Shown once when created, never stored, never printed by `Debug`.
pub struct TokenText(Zeroizing<String>);

// === impl TokenText ===

impl TokenText {
    fn generate() -> Result<Self, StoreError> {
        let mut raw = Zeroizing::new([0u8; 32]);
        getrandom::fill(raw.as_mut()).map_err(|e| StoreError::internal(e.to_string()))?;
        Ok(Self(Zeroizing::new(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw.as_ref())))))
    }

    /// The text, to hand to the user exactly once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenText(<redacted>)")
    }
}

/// SHA-256 of a token's text: what the store keeps.
pub fn hash_token(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn new_id() -> Result<TokenId, StoreError> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| StoreError::internal(e.to_string()))?;
    Ok(TokenId(format!("tok_{}", hex::encode(b))))
}

/// Creates and stores a token; returns its record and its text (the only copy).
pub(crate) async fn issue(
    store: &dyn TokenStore,
    name: String,
    role: Role,
    scope: TokenScope,
    expires_at: Option<Timestamp>,
    audit: &AuditEntry,
) -> Result<(TokenRecord, TokenText), StoreError> {
    let text = TokenText::generate()?;
    let id = new_id()?;
    let mut audit = audit.clone();
    audit.target = id.0.clone();
    let record = store
        .create_token(
            NewToken {
                id,
                name,
                role,
                scope,
                hash: hash_token(text.expose()),
                created_at: Timestamp::now(),
                expires_at,
            },
            &audit,
        )
        .await?;
    Ok((record, text))
}

/// Why a presented token was refused. The message never repeats the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error(
        "missing bearer token: send 'Authorization: Bearer <token>' (the bootstrap admin token is in the data dir's admin.token)"
    )]
    Missing,
    /// Not a coffer token, or unknown.
    #[error("invalid token: it is not a coffer token or it does not exist")]
    Invalid,
    /// Revoked.
    #[error("token {0} has been revoked")]
    Revoked(TokenId),
    /// Past its expiry.
    #[error("token {0} expired at {1}")]
    Expired(TokenId, Timestamp),
    /// The token store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a presented token and returns its record.
pub(crate) async fn authenticate(secrets: &crate::Secrets, presented: &str) -> Result<TokenRecord, AuthError> {
    if !presented.starts_with(PREFIX) || presented.len() != PREFIX.len() + 43 {
        return Err(AuthError::Invalid);
    }
    let hash = hash_token(presented);
    let record = secrets.token_by_hash(&hash).await?.ok_or(AuthError::Invalid)?;
    if !bool::from(record.hash.ct_eq(&hash)) {
        return Err(AuthError::Invalid);
    }
    if record.revoked_at.is_some() {
        return Err(AuthError::Revoked(record.id));
    }
    if let Some(at) = record.expires_at
        && at <= Timestamp::now()
    {
        return Err(AuthError::Expired(record.id, at));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape_and_debug() {
        let t = TokenText::generate().unwrap();
        assert!(t.expose().starts_with("coffer_"));
        assert_eq!(t.expose().len(), 50);
        assert_eq!(format!("{t:?}"), "TokenText(<redacted>)");
        assert_ne!(hash_token(t.expose()), hash_token("coffer_x"));
    }
}
