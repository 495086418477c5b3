//! Sealing and opening single records.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use coffer_core::{Scope, SecretName, SecretValue, ValueKind, Version};
use zeroize::{Zeroize, Zeroizing};

use crate::keyring::{Kek, KekId};

const MAGIC: &[u8; 4] = b"cfr\x01";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const DEK_LEN: usize = 32;
const WRAPPED_LEN: usize = DEK_LEN + TAG_LEN;

/// Why a record could not be sealed or opened. Messages never contain key material or values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The record is shorter than its header says, or has a wrong magic number.
    #[error("sealed record is malformed: {0}")]
    Malformed(&'static str),
    /// The record was sealed under a KEK this keyring does not have.
    #[error("sealed record needs key-encryption key {0:?}, which is not in the keyring")]
    UnknownKek(String),
    /// The wrapped data key did not authenticate: wrong KEK, or the record belongs to another
    /// secret or version, or it was altered.
    #[error("data key failed to unwrap: the record was altered or belongs to another secret or version")]
    Unwrap,
    /// The value did not authenticate: the ciphertext was altered or moved.
    #[error("value failed to decrypt: the record was altered or belongs to another secret or version")]
    Decrypt,
    /// The decrypted value is not a valid secret value.
    #[error("decrypted value is invalid: {0}")]
    Value(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
}

/// The identity a record is bound to: (org, project, domain, name, version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordAad(Vec<u8>);

// === impl RecordAad ===

impl RecordAad {
    /// The associated data for `name` at `scope`, version `version`.
    pub fn new(scope: &Scope, name: &SecretName, version: Version) -> Self {
        let parts = [
            scope.org_name().as_str(),
            scope.project().map_or("", |p| p.as_str()),
            scope.domain().map_or("", |d| d.as_str()),
            name.as_str(),
        ];
        let mut out = Vec::with_capacity(64);
        for p in parts {
            // Names are at most 128 bytes, so the length always fits.
            out.extend_from_slice(&(p.len() as u32).to_be_bytes());
            out.extend_from_slice(p.as_bytes());
        }
        out.extend_from_slice(&version.get().to_be_bytes());
        Self(out)
    }

    /// The canonical bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn for_value(&self) -> Vec<u8> {
        [b"coffer-value-v1\0".as_slice(), &self.0].concat()
    }

    fn for_dek(&self, kek: &KekId) -> Vec<u8> {
        let id = kek.as_str().as_bytes();
        [b"coffer-dek-v1\0".as_slice(), &[id.len() as u8], id, &self.0].concat()
    }
}

/// The random inputs of one seal: a data key and two nonces. Production code draws them from
/// the OS ([`SealMaterial::random`]); known-answer tests fix them.
pub struct SealMaterial {
    dek: Zeroizing<[u8; DEK_LEN]>,
    wrap_nonce: [u8; NONCE_LEN],
    nonce: [u8; NONCE_LEN],
}

// === impl SealMaterial ===

impl SealMaterial {
    /// Fresh material from the operating system.
    pub fn random() -> Result<Self, CryptoError> {
        let mut m = Self { dek: Zeroizing::new([0; DEK_LEN]), wrap_nonce: [0; NONCE_LEN], nonce: [0; NONCE_LEN] };
        fill(m.dek.as_mut())?;
        fill(&mut m.wrap_nonce)?;
        fill(&mut m.nonce)?;
        Ok(m)
    }

    /// Fixed material for known-answer tests. Never use outside tests: reusing a nonce
    /// under the same key breaks AES-GCM.
    pub fn dangerous_fixed(dek: [u8; DEK_LEN], wrap_nonce: [u8; NONCE_LEN], nonce: [u8; NONCE_LEN]) -> Self {
        Self { dek: Zeroizing::new(dek), wrap_nonce, nonce }
    }
}

pub(crate) fn fill(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|e| CryptoError::Random(e.to_string()))
}

fn cipher(key: &[u8; DEK_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

pub(crate) fn seal(kek: &Kek, aad: &RecordAad, value: &SecretValue, m: &SealMaterial) -> Result<Vec<u8>, CryptoError> {
    let mut plain = Zeroizing::new(Vec::with_capacity(value.len() + 1));
    plain.push(match value.kind() {
        ValueKind::Binary => 0,
        ValueKind::String => 1,
    });
    plain.extend_from_slice(value.expose_bytes());
    let ct = cipher(&m.dek)
        .encrypt(Nonce::from_slice(&m.nonce), Payload { msg: &plain, aad: &aad.for_value() })
        .map_err(|_| CryptoError::Decrypt)?;
    let wrapped = wrap(kek, aad, &m.dek, &m.wrap_nonce)?;
    let id = kek.id().as_str().as_bytes();
    let mut out = Vec::with_capacity(4 + 1 + id.len() + NONCE_LEN + WRAPPED_LEN + NONCE_LEN + ct.len());
    out.extend_from_slice(MAGIC);
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out.extend_from_slice(&m.wrap_nonce);
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&m.nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn wrap(kek: &Kek, aad: &RecordAad, dek: &[u8; DEK_LEN], nonce: &[u8; NONCE_LEN]) -> Result<Vec<u8>, CryptoError> {
    cipher(kek.key())
        .encrypt(Nonce::from_slice(nonce), Payload { msg: dek, aad: &aad.for_dek(kek.id()) })
        .map_err(|_| CryptoError::Unwrap)
}

/// A parsed record, borrowing from the sealed bytes.
pub(crate) struct Parsed<'a> {
    pub(crate) kek_id: &'a str,
    wrap_nonce: &'a [u8],
    wrapped: &'a [u8],
    nonce: &'a [u8],
    ct: &'a [u8],
}

pub(crate) fn parse(sealed: &[u8]) -> Result<Parsed<'_>, CryptoError> {
    let rest = sealed.strip_prefix(MAGIC.as_slice()).ok_or(CryptoError::Malformed("unknown format or version"))?;
    let (&id_len, rest) = rest.split_first().ok_or(CryptoError::Malformed("truncated header"))?;
    let id_len = usize::from(id_len);
    if rest.len() < id_len + NONCE_LEN + WRAPPED_LEN + NONCE_LEN + 1 + TAG_LEN {
        return Err(CryptoError::Malformed("truncated record"));
    }
    let (id, rest) = rest.split_at(id_len);
    let kek_id = std::str::from_utf8(id).map_err(|_| CryptoError::Malformed("key id is not text"))?;
    let (wrap_nonce, rest) = rest.split_at(NONCE_LEN);
    let (wrapped, rest) = rest.split_at(WRAPPED_LEN);
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    Ok(Parsed { kek_id, wrap_nonce, wrapped, nonce, ct })
}

fn unwrap_dek(kek: &Kek, aad: &RecordAad, p: &Parsed<'_>) -> Result<Zeroizing<[u8; DEK_LEN]>, CryptoError> {
    let mut dek = cipher(kek.key())
        .decrypt(Nonce::from_slice(p.wrap_nonce), Payload { msg: p.wrapped, aad: &aad.for_dek(kek.id()) })
        .map_err(|_| CryptoError::Unwrap)?;
    let mut out = Zeroizing::new([0u8; DEK_LEN]);
    if dek.len() != DEK_LEN {
        dek.zeroize();
        return Err(CryptoError::Unwrap);
    }
    out.copy_from_slice(&dek);
    dek.zeroize();
    Ok(out)
}

pub(crate) fn open(kek: &Kek, aad: &RecordAad, p: &Parsed<'_>) -> Result<SecretValue, CryptoError> {
    let dek = unwrap_dek(kek, aad, p)?;
    let plain = cipher(&dek)
        .decrypt(Nonce::from_slice(p.nonce), Payload { msg: p.ct, aad: &aad.for_value() })
        .map_err(|_| CryptoError::Decrypt)?;
    let mut plain = Zeroizing::new(plain);
    let kind = match plain.first() {
        Some(0) => ValueKind::Binary,
        Some(1) => ValueKind::String,
        _ => return Err(CryptoError::Value("unknown value kind".into())),
    };
    let bytes = plain[1..].to_vec();
    plain.zeroize();
    SecretValue::new(kind, bytes).map_err(|e| CryptoError::Value(e.to_string()))
}

/// Re-wraps the data key of `p` from `old` to `new`, keeping nonce and ciphertext as they are.
pub(crate) fn rewrap(old: &Kek, new: &Kek, aad: &RecordAad, p: &Parsed<'_>) -> Result<Vec<u8>, CryptoError> {
    let dek = unwrap_dek(old, aad, p)?;
    let mut wrap_nonce = [0u8; NONCE_LEN];
    fill(&mut wrap_nonce)?;
    let wrapped = wrap(new, aad, &dek, &wrap_nonce)?;
    let id = new.id().as_str().as_bytes();
    let mut out = Vec::with_capacity(4 + 1 + id.len() + NONCE_LEN + WRAPPED_LEN + NONCE_LEN + p.ct.len());
    out.extend_from_slice(MAGIC);
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out.extend_from_slice(&wrap_nonce);
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(p.nonce);
    out.extend_from_slice(p.ct);
    Ok(out)
}
