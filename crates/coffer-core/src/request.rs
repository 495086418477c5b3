//! Secret requests: what a task asks for, mirroring Flyte's `core.Secret` message.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a task wants a secret delivered (Flyte's `Secret.MountType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MountRequirement {
    /// Whatever the injector prefers. Proto value 0.
    #[default]
    #[serde(rename = "ANY")]
    Any,
    /// An environment variable. Proto value 1.
    #[serde(rename = "ENV_VAR")]
    EnvVar,
    /// A file. Proto value 2.
    #[serde(rename = "FILE")]
    File,
}

/// Why a request field is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The mount requirement is not ANY, ENV_VAR or FILE (or 0..2).
    #[error("invalid mount requirement [{0}]: use ANY, ENV_VAR or FILE")]
    MountRequirement(String),
}

// === impl MountRequirement ===

impl MountRequirement {
    /// The proto enum name: `ANY`, `ENV_VAR`, `FILE`.
    pub fn as_str(self) -> &'static str {
        match self {
            MountRequirement::Any => "ANY",
            MountRequirement::EnvVar => "ENV_VAR",
            MountRequirement::File => "FILE",
        }
    }

    /// From the proto enum number.
    pub fn from_number(n: i64) -> Result<Self, RequestError> {
        match n {
            0 => Ok(MountRequirement::Any),
            1 => Ok(MountRequirement::EnvVar),
            2 => Ok(MountRequirement::File),
            other => Err(RequestError::MountRequirement(other.to_string())),
        }
    }
}

impl FromStr for MountRequirement {
    type Err = RequestError;

    /// Accepts the enum names in any case, and the numbers 0..2.
    fn from_str(s: &str) -> Result<Self, RequestError> {
        match s.to_ascii_uppercase().as_str() {
            "ANY" | "0" => Ok(MountRequirement::Any),
            "ENV_VAR" | "1" => Ok(MountRequirement::EnvVar),
            "FILE" | "2" => Ok(MountRequirement::File),
            _ => Err(RequestError::MountRequirement(s.to_owned())),
        }
    }
}

impl fmt::Display for MountRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One secret a task asks for: Flyte's `core.Secret`, field for field. Empty strings mean
/// "not set", as in proto3. This is the one request type every delivery path shares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretRequest {
    /// The group: a namespace for env-var and file names, or an external reference
    /// (an AWS ARN prefix, an Azure Key Vault URI, `vault:<mount>/<path>`).
    pub group: String,
    /// A version or stage; a number pins a coffer version.
    pub group_version: String,
    /// The key: the secret's name in coffer's own store.
    pub key: String,
    /// How to deliver it.
    pub mount_requirement: MountRequirement,
    /// With ENV_VAR, the variable to set to the value; with FILE, to the file's path.
    pub env_var: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_requirement_parses() {
        assert_eq!("env_var".parse::<MountRequirement>().unwrap(), MountRequirement::EnvVar);
        assert_eq!("2".parse::<MountRequirement>().unwrap(), MountRequirement::File);
        assert!("3".parse::<MountRequirement>().is_err());
        assert!(MountRequirement::from_number(7).is_err());
    }

    #[test]
    fn serde_uses_flyte_field_names() {
        let r: SecretRequest =
            serde_json::from_str(r#"{"group":"db","key":"password","mount_requirement":"FILE"}"#).unwrap();
        assert_eq!(r.mount_requirement, MountRequirement::File);
        assert_eq!(r.key, "password");
        assert!(serde_json::from_str::<SecretRequest>(r#"{"kee":"x"}"#).is_err());
    }
}
