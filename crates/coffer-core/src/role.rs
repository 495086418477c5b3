//! Roles a token can hold.

use std::fmt;
use std::str::FromStr;

/// What a token may do inside its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, including managing tokens.
    Admin,
    /// Resolve values for tasks in its scope through the cascade, nothing else.
    Fetcher,
    /// List secrets and read metadata; never values.
    Reader,
    /// Create, update and delete secrets (and everything a reader can).
    Writer,
}

/// Why a string is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: use admin, writer, reader or fetcher")]
pub struct RoleError(String);

// === impl Role ===

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Fetcher => "fetcher",
            Role::Reader => "reader",
            Role::Writer => "writer",
        }
    }
}

impl FromStr for Role {
    type Err = RoleError;

    fn from_str(s: &str) -> Result<Self, RoleError> {
        match s {
            "admin" => Ok(Role::Admin),
            "fetcher" => Ok(Role::Fetcher),
            "reader" => Ok(Role::Reader),
            "writer" => Ok(Role::Writer),
            other => Err(RoleError(other.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
