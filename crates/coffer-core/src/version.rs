//! Secret versions: 1, 2, 3, … in the order they were written.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

/// Why a string is not a version number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("version {0:?} is invalid: use a whole number from 1 up")]
pub struct VersionError(String);

/// One immutable version of a secret; the first is 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(NonZeroU32);

// === impl Version ===

impl Version {
    /// The first version of every secret.
    pub const FIRST: Version = Version(NonZeroU32::MIN);

    /// A version from its number; `None` for 0.
    pub fn new(n: u32) -> Option<Self> {
        NonZeroU32::new(n).map(Self)
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0.get()
    }

    /// The version after this one; `None` after `u32::MAX`.
    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(Self)
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, VersionError> {
        s.parse::<NonZeroU32>().map(Self).map_err(|_| VersionError(s.to_owned()))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!("3".parse::<Version>().unwrap().get(), 3);
        for bad in ["0", "-1", "x", "", "1.5"] {
            assert!(bad.parse::<Version>().is_err());
        }
        assert_eq!(Version::FIRST.next().unwrap().get(), 2);
        assert_eq!(Version::new(u32::MAX).unwrap().next(), None);
    }
}
