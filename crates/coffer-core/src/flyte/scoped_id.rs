//! Scoped ids of Flyte's embedded secret manager (spec §4.2):
//! `u__org__<org>__domain__<domain>__project__<project>__key__<name>`.

use std::fmt;

use crate::{Scope, SecretName};

/// Why a string is not a scoped id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopedIdError {
    /// Fewer than nine `__`-separated parts.
    #[error("secret name has an invalid format: not enough parts")]
    NotEnoughParts,
    /// The fixed labels (`u`, `org`, `domain`, `project`, `key`) are not where they belong.
    #[error("secret name has an invalid format: unexpected parts")]
    UnexpectedParts,
    /// The id is well formed but names an org, project, domain or name coffer does not accept.
    #[error("scoped id {id:?} does not map to a coffer scope: {reason}")]
    NotACofferScope {
        /// The id.
        id: String,
        /// Why.
        reason: String,
    },
}

/// A decoded scoped id. Components are kept as raw strings (empty = absent), because ids
/// written by Flyte itself need not follow coffer's naming rules; [`ScopedId::to_scope`]
/// converts to coffer's types.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScopedId {
    /// Org.
    pub org: String,
    /// Domain, empty for org- and project-level secrets.
    pub domain: String,
    /// Project, empty for org- and domain-level secrets.
    pub project: String,
    /// The secret's name (may itself contain `__`).
    pub name: String,
}

// === impl ScopedId ===

impl ScopedId {
    /// The id of `name` stored at `scope`.
    pub fn new(scope: &Scope, name: &SecretName) -> Self {
        Self {
            org: scope.org_name().to_string(),
            domain: scope.domain().map(ToString::to_string).unwrap_or_default(),
            project: scope.project().map(ToString::to_string).unwrap_or_default(),
            name: name.to_string(),
        }
    }

    /// Parses `u__org__…__key__…`.
    pub fn parse(id: &str) -> Result<Self, ScopedIdError> {
        let parts: Vec<&str> = id.split("__").collect();
        if parts.len() < 9 {
            return Err(ScopedIdError::NotEnoughParts);
        }
        if parts[0] != "u" || parts[1] != "org" || parts[3] != "domain" || parts[5] != "project" || parts[7] != "key" {
            return Err(ScopedIdError::UnexpectedParts);
        }
        Ok(Self {
            org: parts[2].to_owned(),
            domain: parts[4].to_owned(),
            project: parts[6].to_owned(),
            name: parts[8..].join("__"),
        })
    }

    /// The id as coffer types.
    pub fn to_scope(&self) -> Result<(Scope, SecretName), ScopedIdError> {
        let bad = |reason: String| ScopedIdError::NotACofferScope { id: self.to_string(), reason };
        let org = self.org.parse().map_err(|e: crate::NameError| bad(e.to_string()))?;
        let opt = |s: &str| (!s.is_empty()).then_some(s.to_owned());
        let project =
            opt(&self.project).map(|p| p.parse()).transpose().map_err(|e: crate::NameError| bad(e.to_string()))?;
        let domain =
            opt(&self.domain).map(|d| d.parse()).transpose().map_err(|e: crate::NameError| bad(e.to_string()))?;
        let name = self.name.parse().map_err(|e: crate::NameError| bad(e.to_string()))?;
        Ok((Scope::new(org, project, domain), name))
    }
}

impl fmt::Display for ScopedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "u__org__{}__domain__{}__project__{}__key__{}", self.org, self.domain, self.project, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flyte::k8s::md5_name;

    #[test]
    fn spec_examples() {
        let cases = [
            (
                "u__org__flyte__domain__development__project__flytesnacks__key__openai-key",
                "e5310d0cc4cc19984d112f2c3cab042c",
            ),
            ("u__org__flyte__domain__development__project____key__openai-key", "5efe4dfeeb0bf3b16e42226344adcd82"),
            ("u__org__flyte__domain____project____key__openai-key", "07d6b56d0fbfd92f5705bb4085870dc2"),
            ("u__org__flyte__domain____project____key__repro_secret", "d6a91cc8a72f2ae4c7651db23c2d9cdf"),
        ];
        for (id, md5) in cases {
            let parsed = ScopedId::parse(id).unwrap();
            assert_eq!(parsed.to_string(), id);
            assert_eq!(md5_name(id), md5);
        }
        assert_eq!(md5_name("repro_secret"), "4d2e40ca212514b7b701587339ad2d69");
    }

    #[test]
    fn from_scope_and_back() {
        let scope = Scope::new("flyte".parse().unwrap(), Some("flytesnacks".parse().unwrap()), None);
        let name: SecretName = "a__b".parse().unwrap();
        let id = ScopedId::new(&scope, &name);
        assert_eq!(id.to_string(), "u__org__flyte__domain____project__flytesnacks__key__a__b");
        let back = ScopedId::parse(&id.to_string()).unwrap();
        assert_eq!(back.name, "a__b");
        assert_eq!(back.to_scope().unwrap(), (scope, name));
    }

    #[test]
    fn errors() {
        assert_eq!(ScopedId::parse("u__org__x"), Err(ScopedIdError::NotEnoughParts));
        assert_eq!(ScopedId::parse("v__org__a__domain__b__project__c__key__d"), Err(ScopedIdError::UnexpectedParts));
        let upper = ScopedId::parse("u__org__Flyte__domain____project____key__k").unwrap();
        assert!(upper.to_scope().is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn round_trip(org in "[a-z0-9]{1,8}", d in "[a-z0-9-]{0,8}", p in "[a-z0-9-]{0,8}", name in "[A-Za-z0-9._-]{1,20}") {
                let id = ScopedId { org, domain: d, project: p, name };
                prop_assert_eq!(ScopedId::parse(&id.to_string()).unwrap(), id);
            }
        }
    }
}
