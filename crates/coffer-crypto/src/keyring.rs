//! Key-encryption keys and the keyring that holds them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_core::SecretValue;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::record::{self, CryptoError, RecordAad, SealMaterial};

const KEY_LEN: usize = 32;
const FORMAT: &str = "coffer-keyring-v1";

/// Why a keyring could not be loaded or changed. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// The keyring text is not the expected JSON.
    #[error("keyring is not valid: {0}")]
    Format(String),
    /// A key is not 32 bytes of base64.
    #[error("key-encryption key {id:?} must be 32 bytes, base64-encoded")]
    KeyLength {
        /// The key's id.
        id: String,
    },
    /// A key id is empty, too long or has characters outside `[A-Za-z0-9._-]`.
    #[error("key id {0:?} is invalid: use 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")]
    KeyId(String),
    /// The active id names no key.
    #[error("keyring's active key {0:?} is not one of its keys")]
    NoActive(String),
    /// Two keys share an id.
    #[error("keyring has two keys with id {0:?}")]
    Duplicate(String),
    /// Randomness failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// The id of a key-encryption key, stored in every record it wraps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KekId(String);

// === impl KekId ===

impl KekId {
    /// Parses an id: 1–64 characters of `[A-Za-z0-9._-]`.
    pub fn parse(s: &str) -> Result<Self, KeyringError> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if s.is_empty() || s.len() > 64 || !s.chars().all(ok) {
            return Err(KeyringError::KeyId(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// A new random id, `kek-` and 16 hex digits.
    pub fn generate() -> Result<Self, KeyringError> {
        let mut b = [0u8; 8];
        record::fill(&mut b)?;
        Ok(Self(format!("kek-{}", hex::encode(b))))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 256-bit key-encryption key. Zeroized on drop; `Debug` shows the id only.
pub struct Kek {
    id: KekId,
    key: Zeroizing<[u8; KEY_LEN]>,
}

// === impl Kek ===

impl Kek {
    /// A key from its id and bytes.
    pub fn new(id: KekId, key: [u8; KEY_LEN]) -> Self {
        Self { id, key: Zeroizing::new(key) }
    }

    /// A fresh random key with a fresh id.
    pub fn generate() -> Result<Self, KeyringError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        record::fill(key.as_mut())?;
        Ok(Self { id: KekId::generate()?, key })
    }

    /// A key from base64 text (the `COFFER_KEK` environment variable, say).
    pub fn from_base64(id: KekId, b64: &str) -> Result<Self, KeyringError> {
        let mut raw =
            Zeroizing::new(STANDARD.decode(b64.trim()).map_err(|_| KeyringError::KeyLength { id: id.to_string() })?);
        if raw.len() != KEY_LEN {
            raw.zeroize();
            return Err(KeyringError::KeyLength { id: id.to_string() });
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&raw);
        Ok(Self { id, key })
    }

    /// The id.
    pub fn id(&self) -> &KekId {
        &self.id
    }

    pub(crate) fn key(&self) -> &[u8; KEY_LEN] {
        &self.key
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kek({}, <redacted>)", self.id)
    }
}

/// The key-encryption keys coffer knows, one of them active. New records are sealed under
/// the active key; any key in the ring can open the records it wrapped.
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<Kek>,
    active: usize,
}

#[derive(Serialize, Deserialize)]
struct FileForm {
    format: String,
    active: String,
    keys: Vec<FileKey>,
}

#[derive(Serialize, Deserialize)]
struct FileKey {
    id: String,
    key: String,
}

impl Drop for FileKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

// === impl Keyring ===

impl Keyring {
    /// A keyring holding one key, active.
    pub fn single(kek: Kek) -> Self {
        Self { keys: vec![kek], active: 0 }
    }

    /// A keyring with one fresh random key.
    pub fn generate() -> Result<Self, KeyringError> {
        Ok(Self::single(Kek::generate()?))
    }

    /// The active key's id.
    pub fn active_id(&self) -> &KekId {
        self.keys[self.active].id()
    }

    /// The ids of every key, active or not.
    pub fn ids(&self) -> impl Iterator<Item = &KekId> {
        self.keys.iter().map(Kek::id)
    }

    /// Adds a fresh key and makes it active. Returns its id. Existing records still open;
    /// call [`Keyring::rewrap`] on each to move them to the new key.
    pub fn rotate(&mut self) -> Result<KekId, KeyringError> {
        let kek = Kek::generate()?;
        let id = kek.id().clone();
        self.keys.push(kek);
        self.active = self.keys.len() - 1;
        Ok(id)
    }

    /// Forgets a key that no record uses any more. The active key cannot be removed.
    pub fn retire(&mut self, id: &KekId) -> bool {
        match self.keys.iter().position(|k| k.id() == id) {
            Some(i) if i != self.active => {
                self.keys.remove(i);
                if i < self.active {
                    self.active -= 1;
                }
                true
            }
            _ => false,
        }
    }

    fn find(&self, id: &str) -> Result<&Kek, CryptoError> {
        self.keys.iter().find(|k| k.id().as_str() == id).ok_or_else(|| CryptoError::UnknownKek(id.to_owned()))
    }

    /// Seals `value` as the record `aad` under the active key, with a fresh data key.
    pub fn seal(&self, aad: &RecordAad, value: &SecretValue) -> Result<Vec<u8>, CryptoError> {
        self.seal_with(aad, value, &SealMaterial::random()?)
    }

    /// Seals with the given random material (known-answer tests only).
    pub fn seal_with(&self, aad: &RecordAad, value: &SecretValue, m: &SealMaterial) -> Result<Vec<u8>, CryptoError> {
        record::seal(&self.keys[self.active], aad, value, m)
    }

    /// Opens a record sealed as `aad`.
    pub fn open(&self, aad: &RecordAad, sealed: &[u8]) -> Result<SecretValue, CryptoError> {
        let parsed = record::parse(sealed)?;
        record::open(self.find(parsed.kek_id)?, aad, &parsed)
    }

    /// The id of the key that wrapped a record.
    pub fn kek_of(sealed: &[u8]) -> Result<&str, CryptoError> {
        Ok(record::parse(sealed)?.kek_id)
    }

    /// Re-wraps a record's data key under the active key. `None` when it already is; the value
    /// ciphertext is never re-encrypted.
    pub fn rewrap(&self, aad: &RecordAad, sealed: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        let parsed = record::parse(sealed)?;
        let active = &self.keys[self.active];
        if parsed.kek_id == active.id().as_str() {
            return Ok(None);
        }
        record::rewrap(self.find(parsed.kek_id)?, active, aad, &parsed).map(Some)
    }

    /// The keyring as JSON text for the key file. The text holds key material: write it to a
    /// 0600 file and let the returned buffer zeroize itself.
    pub fn to_json(&self) -> Zeroizing<String> {
        let form = FileForm {
            format: FORMAT.to_owned(),
            active: self.active_id().to_string(),
            keys: self.keys.iter().map(|k| FileKey { id: k.id().to_string(), key: STANDARD.encode(k.key()) }).collect(),
        };
        // Serializing plain strings into a String cannot fail.
        Zeroizing::new(serde_json::to_string_pretty(&form).unwrap_or_default())
    }

    /// Parses a keyring written by [`Keyring::to_json`].
    pub fn from_json(text: &str) -> Result<Self, KeyringError> {
        let form: FileForm = serde_json::from_str(text)
            .map_err(|e| KeyringError::Format(format!("line {} column {}", e.line(), e.column())))?;
        if form.format != FORMAT {
            return Err(KeyringError::Format(format!("unknown format {:?}, expected {FORMAT:?}", form.format)));
        }
        let mut keys: Vec<Kek> = Vec::with_capacity(form.keys.len());
        for k in &form.keys {
            let id = KekId::parse(&k.id)?;
            if keys.iter().any(|have| have.id() == &id) {
                return Err(KeyringError::Duplicate(k.id.clone()));
            }
            keys.push(Kek::from_base64(id, &k.key)?);
        }
        let active = keys
            .iter()
            .position(|k| k.id().as_str() == form.active)
            .ok_or_else(|| KeyringError::NoActive(form.active.clone()))?;
        Ok(Self { keys, active })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_debug() {
        let mut ring = Keyring::generate().unwrap();
        ring.rotate().unwrap();
        let json = ring.to_json();
        let back = Keyring::from_json(&json).unwrap();
        assert_eq!(back.active_id(), ring.active_id());
        assert_eq!(back.ids().count(), 2);
        let dbg = format!("{ring:?}");
        let key_b64 = STANDARD.encode(ring.keys[0].key());
        assert!(!dbg.contains(&key_b64));
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn bad_keyrings() {
        assert!(matches!(Keyring::from_json("{"), Err(KeyringError::Format(_))));
        let short = r#"{"format":"coffer-keyring-v1","active":"a","keys":[{"id":"a","key":"AAAA"}]}"#;
        assert_eq!(Keyring::from_json(short).unwrap_err(), KeyringError::KeyLength { id: "a".into() });
        let k = STANDARD.encode([7u8; 32]);
        let no_active = format!(r#"{{"format":"coffer-keyring-v1","active":"b","keys":[{{"id":"a","key":"{k}"}}]}}"#);
        assert_eq!(Keyring::from_json(&no_active).unwrap_err(), KeyringError::NoActive("b".into()));
        let dup = format!(
            r#"{{"format":"coffer-keyring-v1","active":"a","keys":[{{"id":"a","key":"{k}"}},{{"id":"a","key":"{k}"}}]}}"#
        );
        assert_eq!(Keyring::from_json(&dup).unwrap_err(), KeyringError::Duplicate("a".into()));
        assert!(KekId::parse("has space").is_err());
    }

    #[test]
    fn retire_keeps_active() {
        let mut ring = Keyring::generate().unwrap();
        let old = ring.active_id().clone();
        let new = ring.rotate().unwrap();
        assert!(!ring.retire(&new));
        assert!(ring.retire(&old));
        assert_eq!(ring.active_id(), &new);
    }
}
