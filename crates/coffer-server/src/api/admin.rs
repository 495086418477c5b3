//! `/v1/tokens` and `/v1/audit`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use coffer_core::{Role, Timestamp};
use coffer_store::{AuditQuery, AuditRecord, TokenId, TokenScope};
use serde::Deserialize;
use serde_json::{Value, json};

use super::secrets::{Params, token_json};
use super::{ApiError, ApiJson, AppState, Caller, ok, require_global_admin};
use crate::policy::{Action, Denied, authorize_tokens};

/// The longest lifetime a token can be given at creation (ten years); `None` never expires.
const MAX_TTL_SECONDS: u64 = 10 * 365 * 86_400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    role: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    ttl_seconds: Option<u64>,
}

fn parse_token_scope(org: Option<&str>, project: Option<&str>, domain: Option<&str>) -> Result<TokenScope, ApiError> {
    let bad = |e: coffer_core::NameError| ApiError::invalid(e.to_string());
    let opt = |v: Option<&str>| v.filter(|s| !s.is_empty() && *s != "*").map(str::to_owned);
    Ok(TokenScope {
        org: opt(org).map(|o| o.parse()).transpose().map_err(bad)?,
        project: opt(project).map(|p| p.parse()).transpose().map_err(bad)?,
        domain: opt(domain).map(|d| d.parse()).transpose().map_err(bad)?,
    })
}

fn pattern(s: &TokenScope) -> String {
    format!(
        "{}/{}/{}",
        s.org.as_ref().map_or("*", |o| o.as_str()),
        s.project.as_ref().map_or("*", |p| p.as_str()),
        s.domain.as_ref().map_or("*", |d| d.as_str())
    )
}

/// Audits and returns a denial.
async fn deny(caller: &Caller, target: &str, d: Denied) -> ApiError {
    caller.fail(caller.entry(Action::ManageTokens, None, target, "ok"), ApiError::from(d)).await
}

pub(crate) async fn create_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Response, ApiError> {
    let scope = parse_token_scope(body.org.as_deref(), body.project.as_deref(), body.domain.as_deref())?;
    if let Err(d) = authorize_tokens(&caller.token, &scope) {
        return Err(deny(&caller, "", d).await);
    }
    let role: Role = body.role.parse().map_err(|e: coffer_core::RoleError| ApiError::invalid(e.to_string()))?;
    let name = body.name.unwrap_or_else(|| format!("{role}-{}", pattern(&scope).replace('/', "-").replace('*', "all")));
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("token name must be 1-128 printable characters"));
    }
    let expires_at = match body.ttl_seconds {
        None => None,
        Some(s @ 1..=MAX_TTL_SECONDS) => Some(Timestamp::now().plus(std::time::Duration::from_secs(s))),
        Some(s) => return Err(ApiError::invalid(format!("ttl_seconds={s} is invalid: use 1 to {MAX_TTL_SECONDS}"))),
    };
    let entry = caller.entry(Action::ManageTokens, None, "", "ok");
    let entry = coffer_store::AuditEntry {
        org: scope.org.as_ref().map(ToString::to_string).unwrap_or_default(),
        project: scope.project.as_ref().map(ToString::to_string).unwrap_or_default(),
        domain: scope.domain.as_ref().map(ToString::to_string).unwrap_or_default(),
        ..entry
    };
    let (record, text) = match state.secrets.issue_token(name, role, scope, expires_at, &entry).await {
        Ok(r) => r,
        Err(e) => return Err(caller.fail(entry, e.into()).await),
    };
    let mut body = token_json(&record);
    body["token"] = json!(text.expose());
    Ok(ok(StatusCode::CREATED, body))
}

fn contains(outer: &TokenScope, inner: &TokenScope) -> bool {
    (outer.org.is_none() || outer.org == inner.org)
        && (outer.project.is_none() || outer.project == inner.project)
        && (outer.domain.is_none() || outer.domain == inner.domain)
}

pub(crate) async fn list_tokens(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Response, ApiError> {
    if caller.token.role != Role::Admin {
        let d = Denied(format!(
            "token {} has role {}, which lacks the permission {}",
            caller.token.id,
            caller.token.role,
            Action::ManageTokens
        ));
        return Err(deny(&caller, "", d).await);
    }
    let entry = caller.entry(Action::ManageTokens, None, "", "ok");
    let tokens = match state.secrets.list_tokens().await {
        Ok(t) => t,
        Err(e) => return Err(caller.fail(entry, e.into()).await),
    };
    caller.record(vec![entry]).await?;
    let visible: Vec<Value> =
        tokens.iter().filter(|t| contains(&caller.token.scope, &t.scope)).map(token_json).collect();
    Ok(ok(StatusCode::OK, json!({ "tokens": visible })))
}

pub(crate) async fn revoke_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let entry = caller.entry(Action::ManageTokens, None, &id, "ok");
    let tokens = match state.secrets.list_tokens().await {
        Ok(t) => t,
        Err(e) => return Err(caller.fail(entry, e.into()).await),
    };
    // Out-of-scope tokens are reported exactly like missing ones.
    let target = tokens.iter().find(|t| t.id.0 == id);
    let target_scope = target.map(|t| t.scope.clone());
    if let Err(d) = authorize_tokens(&caller.token, target_scope.as_ref().unwrap_or(&caller.token.scope)) {
        return Err(deny(&caller, &id, d).await);
    }
    let Some(target) = target.filter(|t| contains(&caller.token.scope, &t.scope)) else {
        let err = ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("token {id} not found"));
        return Err(caller.fail(entry, err).await);
    };
    let record = match state.secrets.revoke_token(&TokenId(target.id.0.clone()), &entry).await {
        Ok(r) => r,
        Err(e) => return Err(caller.fail(entry, e.into()).await),
    };
    Ok(ok(StatusCode::OK, token_json(&record)))
}

fn record_json(r: &AuditRecord) -> Value {
    let e = &r.entry;
    let opt = |s: &str| if s.is_empty() { Value::Null } else { json!(s) };
    json!({
        "seq": r.seq,
        "time": e.time.to_rfc3339(),
        "request_id": e.request_id,
        "token_id": opt(&e.token_id),
        "token_name": opt(&e.token_name),
        "action": e.action,
        "org": opt(&e.org),
        "project": opt(&e.project),
        "domain": opt(&e.domain),
        "target": opt(&e.target),
        "version": e.version,
        "outcome": e.outcome,
        "hash": hex::encode(r.hash),
    })
}

pub(crate) async fn list_audit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    params: Params,
) -> Result<Response, ApiError> {
    let t = &caller.token;
    if t.role != Role::Admin || t.scope.project.is_some() || t.scope.domain.is_some() {
        let d = Denied(format!(
            "token {} lacks the permission {}: reading the audit log needs an admin token for a whole org",
            t.id,
            Action::ReadAudit
        ));
        return Err(caller.fail(caller.entry(Action::ReadAudit, None, "", "ok"), d.into()).await);
    }
    let entry = caller.entry(Action::ReadAudit, None, "", "ok");
    let since = match params.get("since") {
        None => None,
        Some(s) => match s.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(e) => return Err(caller.fail(entry, ApiError::invalid(e.to_string())).await),
        },
    };
    let after = match params.get("after").map(str::parse::<i64>).transpose() {
        Ok(a) => a,
        Err(_) => return Err(caller.fail(entry, ApiError::invalid("after must be a record number")).await),
    };
    let limit = match params.get("limit").map(str::parse::<u32>).transpose() {
        Ok(Some(n @ 1..=1000)) => n,
        Ok(None) => 100,
        _ => return Err(caller.fail(entry, ApiError::invalid("limit must be 1 to 1000")).await),
    };
    let query = AuditQuery {
        since,
        target: params.get("secret").map(str::to_owned),
        org: t.scope.org.as_ref().map(ToString::to_string),
        after_seq: after,
        limit,
    };
    let records = match state.secrets.audit_page(&query).await {
        Ok(r) => r,
        Err(e) => return Err(caller.fail(entry, e.into()).await),
    };
    caller.record(vec![entry]).await?;
    let next = if records.len() == limit as usize { records.last().map(|r| r.seq) } else { None };
    let items: Vec<Value> = records.iter().map(record_json).collect();
    Ok(ok(StatusCode::OK, json!({ "records": items, "next_after": next })))
}

pub(crate) async fn verify_audit(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Response, ApiError> {
    require_global_admin(&caller, Action::ReadAudit).await?;
    let entry = caller.entry(Action::ReadAudit, None, "verify", "ok");
    let (checked, broken) = match state.secrets.verify_audit().await {
        Ok(r) => r,
        Err(e) => return Err(caller.fail(entry, e.into()).await),
    };
    let outcome = if broken.is_some() { "broken" } else { "ok" };
    caller.record(vec![coffer_store::AuditEntry { outcome: outcome.into(), ..entry }]).await?;
    let first = broken.map(|b| {
        let seq = match b {
            coffer_store::ChainBreak::Altered { seq } | coffer_store::ChainBreak::Link { seq, .. } => seq,
        };
        json!({ "seq": seq, "message": b.to_string() })
    });
    Ok(ok(StatusCode::OK, json!({ "ok": first.is_none(), "checked": checked, "first_break": first })))
}
