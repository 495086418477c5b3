//! Secret values: a UTF-8 string or raw bytes, zeroized on drop, never printed.

use std::fmt;

use secrecy::{ExposeSecret, SecretBox, SecretSlice};
use zeroize::Zeroize;

/// The largest value coffer stores, in bytes (64 KiB, as AWS Secrets Manager).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Why bytes cannot be a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A value must have at least one byte.
    #[error("the secret value is empty; a secret needs at least one byte")]
    Empty,
    /// The value is over [`MAX_VALUE_BYTES`].
    #[error("the secret value is {len} bytes; the limit is {max} bytes (64 KiB)")]
    TooLarge {
        /// The rejected length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A string was asked for but the bytes are not UTF-8.
    #[error("the secret value is binary (not UTF-8); mount it as a file instead")]
    NotUtf8,
}

/// Whether a value was stored as text or as bytes. Only text can become an environment
/// variable; both can become files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// Raw bytes.
    Binary,
    /// UTF-8 text.
    String,
}

// === impl ValueKind ===

impl ValueKind {
    /// `"binary"` or `"string"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Binary => "binary",
            ValueKind::String => "string",
        }
    }
}

/// A secret value. The bytes live in a zeroizing box and are reachable only through
/// [`SecretValue::expose_bytes`] / [`SecretValue::expose_str`]; `Debug` prints the kind only.
pub struct SecretValue {
    kind: ValueKind,
    bytes: SecretSlice<u8>,
}

// === impl SecretValue ===

impl SecretValue {
    /// A text value.
    pub fn string(s: String) -> Result<Self, ValueError> {
        Self::new(ValueKind::String, s.into_bytes())
    }

    /// A binary value (any bytes, including valid UTF-8).
    pub fn binary(bytes: Vec<u8>) -> Result<Self, ValueError> {
        Self::new(ValueKind::Binary, bytes)
    }

    /// A value from bytes of unknown kind: text when they are UTF-8, binary otherwise.
    pub fn detect(bytes: Vec<u8>) -> Result<Self, ValueError> {
        let kind = if std::str::from_utf8(&bytes).is_ok() { ValueKind::String } else { ValueKind::Binary };
        Self::new(kind, bytes)
    }

    /// A value of the given kind. A `String` kind requires UTF-8.
    pub fn new(kind: ValueKind, mut bytes: Vec<u8>) -> Result<Self, ValueError> {
        let check = if bytes.is_empty() {
            Err(ValueError::Empty)
        } else if bytes.len() > MAX_VALUE_BYTES {
            Err(ValueError::TooLarge { len: bytes.len(), max: MAX_VALUE_BYTES })
        } else if kind == ValueKind::String && std::str::from_utf8(&bytes).is_err() {
            Err(ValueError::NotUtf8)
        } else {
            Ok(())
        };
        if let Err(e) = check {
            bytes.zeroize();
            return Err(e);
        }
        Ok(Self { kind, bytes: into_secret(bytes) })
    }

    /// Text or binary.
    pub fn kind(&self) -> ValueKind {
        self.kind
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.expose_secret().len()
    }

    /// Never true: empty values are refused at construction. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw bytes. Call only where the value leaves the process (a file, an env var, a
    /// response body, the cipher).
    pub fn expose_bytes(&self) -> &[u8] {
        self.bytes.expose_secret()
    }

    /// The value as text, when it is valid UTF-8 (binary values that happen to be UTF-8
    /// qualify, as Flyte's embedded manager allows).
    pub fn expose_str(&self) -> Result<&str, ValueError> {
        std::str::from_utf8(self.expose_bytes()).map_err(|_| ValueError::NotUtf8)
    }

    /// An explicit copy, for the few places that must hand the same value to two owners.
    pub fn duplicate(&self) -> Self {
        Self { kind: self.kind, bytes: into_secret(self.expose_bytes().to_vec()) }
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue::{:?}(<redacted>)", self.kind)
    }
}

/// Moves bytes into a zeroizing box without leaving an unzeroized copy behind: when the
/// vector has spare capacity, `into_boxed_slice` would reallocate and free the old buffer as is.
fn into_secret(mut v: Vec<u8>) -> SecretSlice<u8> {
    if v.capacity() == v.len() {
        return SecretSlice::from(v);
    }
    let exact: Box<[u8]> = v.as_slice().into();
    v.zeroize();
    SecretBox::new(exact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let v = SecretValue::string("hunter2-distinctive".into()).unwrap();
        let dbg = format!("{v:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert_eq!(dbg, "SecretValue::String(<redacted>)");
    }

    #[test]
    fn limits() {
        assert_eq!(SecretValue::string(String::new()).unwrap_err(), ValueError::Empty);
        assert!(SecretValue::binary(vec![1; MAX_VALUE_BYTES]).is_ok());
        assert_eq!(
            SecretValue::binary(vec![1; MAX_VALUE_BYTES + 1]).unwrap_err(),
            ValueError::TooLarge { len: MAX_VALUE_BYTES + 1, max: MAX_VALUE_BYTES }
        );
        assert_eq!(SecretValue::new(ValueKind::String, vec![0xff]).unwrap_err(), ValueError::NotUtf8);
    }

    #[test]
    fn detect_and_expose() {
        let v = SecretValue::detect(b"abc".to_vec()).unwrap();
        assert_eq!(v.kind(), ValueKind::String);
        assert_eq!(v.expose_str().unwrap(), "abc");
        let b = SecretValue::detect(vec![0, 1, 0xff]).unwrap();
        assert_eq!(b.kind(), ValueKind::Binary);
        assert_eq!(b.expose_bytes(), &[0, 1, 0xff]);
        assert!(b.expose_str().is_err());
        let mut with_spare = Vec::with_capacity(64);
        with_spare.extend_from_slice(b"xyz");
        assert_eq!(SecretValue::binary(with_spare).unwrap().duplicate().expose_bytes(), b"xyz");
    }
}
