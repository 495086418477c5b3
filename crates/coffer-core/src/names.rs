//! Names: the org, project and domain a secret is scoped to, and the secret's own name.

use std::fmt;
use std::str::FromStr;

/// Why a string is not a valid org, project, domain or secret name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The string is empty.
    #[error("{what} must not be empty")]
    Empty {
        /// Which kind of name ("secret name", "project", …).
        what: &'static str,
    },
    /// The string is longer than the limit.
    #[error("{what} {value:?} is {len} characters long; the limit is {max}")]
    TooLong {
        /// Which kind of name.
        what: &'static str,
        /// The rejected input (names are not secret).
        value: String,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The string has a character outside the allowed set, or a bad shape.
    #[error("{what} {value:?} is invalid: {rule}")]
    Invalid {
        /// Which kind of name.
        what: &'static str,
        /// The rejected input.
        value: String,
        /// The rule it breaks, phrased for the user.
        rule: &'static str,
    },
}

/// Scope labels (org, project, domain) follow Kubernetes' DNS-label rule, because a task's
/// namespace is `<project>-<domain>` and Flyte puts them in pod labels.
fn parse_label(what: &'static str, s: &str) -> Result<(), NameError> {
    const MAX: usize = 63;
    const RULE: &str = "use 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit";
    if s.is_empty() {
        return Err(NameError::Empty { what });
    }
    if s.len() > MAX {
        return Err(NameError::TooLong { what, value: s.to_owned(), len: s.chars().count(), max: MAX });
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let edge = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let first = s.chars().next().is_some_and(edge);
    let last = s.chars().next_back().is_some_and(edge);
    if !s.chars().all(ok_char) || !first || !last {
        return Err(NameError::Invalid { what, value: s.to_owned(), rule: RULE });
    }
    Ok(())
}

macro_rules! label_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        // === impl $name ===

        impl $name {
            /// The label as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                parse_label($what, s)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

label_type!(
    /// An organisation: the outermost scope. A DNS label such as `acme` or `flyte`.
    Org,
    "org"
);
label_type!(
    /// A project inside an org, e.g. `flytesnacks`. A DNS label.
    Project,
    "project"
);
label_type!(
    /// A domain (environment) inside an org, e.g. `development`. A DNS label.
    Domain,
    "domain"
);

/// The name of a secret inside its scope: 1–128 characters of `[A-Za-z0-9._-]`, not `.` or
/// `..` (the name becomes a file name when a secret is mounted).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretName(String);

// === impl SecretName ===

impl SecretName {
    /// The longest accepted name, in characters.
    pub const MAX_LEN: usize = 128;

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SecretName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, NameError> {
        const WHAT: &str = "secret name";
        if s.is_empty() {
            return Err(NameError::Empty { what: WHAT });
        }
        let len = s.chars().count();
        if len > Self::MAX_LEN {
            return Err(NameError::TooLong { what: WHAT, value: s.to_owned(), len, max: Self::MAX_LEN });
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if !s.chars().all(ok) {
            return Err(NameError::Invalid {
                what: WHAT,
                value: s.to_owned(),
                rule: "use 1-128 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
            });
        }
        if s == "." || s == ".." {
            return Err(NameError::Invalid {
                what: WHAT,
                value: s.to_owned(),
                rule: "'.' and '..' cannot be used as names because secrets become file names",
            });
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretName({:?})", self.0)
    }
}

impl AsRef<str> for SecretName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_dns_rules() {
        for ok in ["a", "flyte", "ml-pipeline", "p0", "0", &"a".repeat(63)] {
            assert!(ok.parse::<Project>().is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "a b", "é", &"a".repeat(64)] {
            assert!(bad.parse::<Project>().is_err(), "{bad}");
        }
    }

    #[test]
    fn label_errors_say_what_to_do() {
        let e = "Dev".parse::<Domain>().unwrap_err().to_string();
        assert!(e.contains("domain \"Dev\""), "{e}");
        assert!(e.contains("lower-case"), "{e}");
    }

    #[test]
    fn secret_names() {
        for ok in ["a", "OPENAI_API_KEY", "tls.key", "my-secret", "a__b", ".env", &"x".repeat(128)] {
            assert!(ok.parse::<SecretName>().is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "a:b", &"x".repeat(129)] {
            assert!(bad.parse::<SecretName>().is_err(), "{bad}");
        }
        let e = "a/b".parse::<SecretName>().unwrap_err().to_string();
        assert_eq!(e, "secret name \"a/b\" is invalid: use 1-128 characters of A-Z, a-z, 0-9, '.', '_' and '-'");
    }
}
