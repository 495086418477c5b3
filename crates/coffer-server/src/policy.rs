//! Who may do what: the one place every route asks.
//!
//! Roles are bound to a scope pattern (an org or every org, optionally narrowed to a project,
//! a domain, or both). A request is allowed when the role permits the action and the token's
//! scope contains the target. Denials name the missing permission, never whether the target
//! exists: policy is checked before any lookup.

use std::fmt;

use coffer_core::{Role, Scope};
use coffer_store::{TokenRecord, TokenScope};

/// Something a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Create a secret.
    CreateSecret,
    /// Schedule a secret for deletion.
    DeleteSecret,
    /// List secrets in a scope.
    ListSecrets,
    /// Create, list and revoke tokens.
    ManageTokens,
    /// Purge a secret for good.
    PurgeSecret,
    /// Read one secret's metadata or versions.
    ReadMetadata,
    /// Read the audit log.
    ReadAudit,
    /// Read one secret's value by its exact scope.
    ReadValue,
    /// Resolve values for a task through the scope cascade.
    Resolve,
    /// Restore a deleted secret.
    RestoreSecret,
    /// Rotate the key-encryption key.
    RotateKeys,
    /// Write a new version.
    UpdateSecret,
}

// === impl Action ===

impl Action {
    /// The permission's name, as shown in denials and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::CreateSecret => "secrets.create",
            Action::DeleteSecret => "secrets.delete",
            Action::ListSecrets => "secrets.list",
            Action::ManageTokens => "tokens.manage",
            Action::PurgeSecret => "secrets.purge",
            Action::ReadAudit => "audit.read",
            Action::ReadMetadata => "secrets.metadata",
            Action::ReadValue => "secrets.value",
            Action::Resolve => "secrets.resolve",
            Action::RestoreSecret => "secrets.restore",
            Action::RotateKeys => "keys.rotate",
            Action::UpdateSecret => "secrets.update",
        }
    }

    fn allowed_for(self, role: Role) -> bool {
        use Action::*;
        match role {
            Role::Admin => true,
            Role::Writer => matches!(
                self,
                CreateSecret | UpdateSecret | DeleteSecret | RestoreSecret | PurgeSecret | ReadMetadata | ListSecrets
            ),
            Role::Reader => matches!(self, ReadMetadata | ListSecrets),
            Role::Fetcher => matches!(self, Resolve),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request, with a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

fn scope_pattern(s: &TokenScope) -> String {
    format!(
        "{}/{}/{}",
        s.org.as_ref().map_or("*", |o| o.as_str()),
        s.project.as_ref().map_or("*", |p| p.as_str()),
        s.domain.as_ref().map_or("*", |d| d.as_str())
    )
}

/// Whether `token` may perform `action` on `target`.
///
/// For [`Action::Resolve`], `target` is the task's context (org, project, domain): a fetcher
/// bound to `acme/ml/dev` resolves for tasks in exactly that context, and through the cascade
/// reads the org-, domain- and project-level secrets such a task would get. For other actions
/// `target` is the secret's own scope (or, for listing, the filter).
pub fn authorize(token: &TokenRecord, action: Action, target: &Scope) -> Result<(), Denied> {
    if !action.allowed_for(token.role) {
        return Err(Denied(format!("token {} has role {}, which lacks the permission {action}", token.id, token.role)));
    }
    let s = &token.scope;
    let org_ok = s.org.as_ref().is_none_or(|o| o == target.org_name());
    let project_ok = s.project.is_none() || s.project.as_ref() == target.project();
    let domain_ok = s.domain.is_none() || s.domain.as_ref() == target.domain();
    if org_ok && project_ok && domain_ok {
        Ok(())
    } else {
        Err(Denied(format!("token {} may use {action} only within scope {}, not {target}", token.id, scope_pattern(s))))
    }
}

/// Whether `token` may create or revoke a token bound to `target`: only an admin, and only for
/// scopes inside its own (an org admin cannot mint tokens for other orgs or for every org).
pub fn authorize_tokens(token: &TokenRecord, target: &TokenScope) -> Result<(), Denied> {
    if token.role != Role::Admin {
        return Err(Denied(format!(
            "token {} has role {}, which lacks the permission {}",
            token.id,
            token.role,
            Action::ManageTokens
        )));
    }
    let s = &token.scope;
    let inside = (s.org.is_none() || s.org == target.org)
        && (s.project.is_none() || s.project == target.project)
        && (s.domain.is_none() || s.domain == target.domain);
    if inside {
        Ok(())
    } else {
        Err(Denied(format!(
            "token {} may use {} only within scope {}, not {}",
            token.id,
            Action::ManageTokens,
            scope_pattern(s),
            scope_pattern(target)
        )))
    }
}
