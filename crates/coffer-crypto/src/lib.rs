//! Envelope encryption for coffer.
//!
//! Start with [`Keyring`]: it holds the key-encryption keys (KEKs), seals a
//! [`SecretValue`](coffer_core::SecretValue) into an opaque record, and opens it again.
//!
//! Every sealed version gets a fresh 256-bit data key (DEK). The value is encrypted with
//! AES-256-GCM under the DEK; the DEK is encrypted (wrapped) with AES-256-GCM under the active
//! KEK. Both use the record's identity — (org, project, domain, name, version), see
//! [`RecordAad`] — as associated data, so a record copied onto another secret or version fails
//! to open. Rotating the KEK re-wraps DEKs ([`Keyring::rewrap`]) and leaves values untouched.
//!
//! Record layout (version 1, all integers big-endian):
//!
//! ```text
//! "cfr" 0x01 | kek-id length (u8) | kek-id | wrap nonce (12) | wrapped DEK (32 + 16 tag)
//!            | value nonce (12) | AES-GCM( kind byte ‖ value ) with 16-byte tag
//! ```

mod keyring;
mod record;

pub use keyring::{Kek, KekId, Keyring, KeyringError};
pub use record::{CryptoError, RecordAad, SealMaterial};
