//! `/v1/secrets` and `/v1/resolve`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use coffer_core::{Domain, Org, Project, Scope, SecretName, SecretValue, ValueError, ValueKind, Version};
use coffer_store::{AuditEntry, ListCursor, ListQuery, SecretMeta, SecretType, TokenRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{ApiError, ApiJson, AppState, Caller, ok};
use crate::policy::Action;
use crate::service::ResolveRequest;

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
const MAX_RESOLVE: usize = 100;

/// Query parameters, parsed by hand so every error is a coffer error.
pub(crate) struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|q| Params(q.0))
            .map_err(|_| ApiError::invalid("malformed query string"))
    }
}

impl Params {
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn flag(&self, k: &str) -> Result<bool, ApiError> {
        match self.get(k) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ApiError::invalid(format!("{k}={other:?} is invalid: use true or false"))),
        }
    }

    fn scope(&self, state: &AppState) -> Result<Scope, ApiError> {
        parse_scope(state, self.get("org"), self.get("project"), self.get("domain"))
    }
}

fn parse_scope(
    state: &AppState,
    org: Option<&str>,
    project: Option<&str>,
    domain: Option<&str>,
) -> Result<Scope, ApiError> {
    let bad = |e: coffer_core::NameError| ApiError::invalid(e.to_string());
    let org: Org = match org.filter(|o| !o.is_empty()) {
        Some(o) => o.parse().map_err(bad)?,
        None => state.config.default_org.clone(),
    };
    let project: Option<Project> = project.filter(|p| !p.is_empty()).map(str::parse).transpose().map_err(bad)?;
    let domain: Option<Domain> = domain.filter(|d| !d.is_empty()).map(str::parse).transpose().map_err(bad)?;
    Ok(Scope::new(org, project, domain))
}

fn parse_name(raw: &str) -> Result<SecretName, ApiError> {
    raw.parse().map_err(|e: coffer_core::NameError| ApiError::invalid(e.to_string()))
}

fn value_error(e: ValueError) -> ApiError {
    match e {
        ValueError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "value_too_large", e.to_string()),
        other => ApiError::invalid(other.to_string()),
    }
}

/// The value fields every write body carries: exactly one of them.
#[derive(Deserialize, Default)]
#[serde(default)]
struct WireValue {
    string_value: Option<Zeroizing<String>>,
    binary_value: Option<Zeroizing<String>>,
}

impl WireValue {
    fn into_value(mut self) -> Result<SecretValue, ApiError> {
        match (self.string_value.as_mut(), self.binary_value.as_mut()) {
            (Some(s), None) => SecretValue::string(std::mem::take(&mut **s)).map_err(value_error),
            (None, Some(b)) => {
                let bytes = STANDARD
                    .decode(b.as_bytes())
                    .map_err(|_| ApiError::invalid("binary_value is not standard base64"))?;
                SecretValue::binary(bytes).map_err(value_error)
            }
            (Some(_), Some(_)) => Err(ApiError::invalid("give either string_value or binary_value, not both")),
            (None, None) => Err(ApiError::invalid("a value is required: give string_value or binary_value (base64)")),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    name: String,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default, rename = "type")]
    secret_type: Option<String>,
    #[serde(default)]
    string_value: Option<Zeroizing<String>>,
    #[serde(default)]
    binary_value: Option<Zeroizing<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateBody {
    #[serde(default)]
    string_value: Option<Zeroizing<String>>,
    #[serde(default)]
    binary_value: Option<Zeroizing<String>>,
}

fn opt_str<T: AsRef<str>>(v: Option<&T>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.as_ref().to_owned()))
}

fn scope_fields(scope: &Scope, out: &mut serde_json::Map<String, Value>) {
    out.insert("org".into(), json!(scope.org_name().as_str()));
    out.insert("project".into(), opt_str(scope.project()));
    out.insert("domain".into(), opt_str(scope.domain()));
    out.insert("scope".into(), json!(scope.to_string()));
}

pub(crate) fn meta_json(m: &SecretMeta) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("name".into(), json!(m.name.as_str()));
    scope_fields(&m.scope, &mut o);
    o.insert("type".into(), json!(m.secret_type.as_str()));
    o.insert("version".into(), json!(m.current_version.get()));
    o.insert("created_at".into(), json!(m.created_at.to_rfc3339()));
    o.insert("updated_at".into(), json!(m.updated_at.to_rfc3339()));
    o.insert("deleted_at".into(), m.deleted_at.map_or(Value::Null, |t| json!(t.to_rfc3339())));
    o.insert("purge_at".into(), m.purge_at.map_or(Value::Null, |t| json!(t.to_rfc3339())));
    Value::Object(o)
}

pub(crate) fn token_json(t: &TokenRecord) -> Value {
    json!({
        "id": t.id.0,
        "name": t.name,
        "role": t.role.as_str(),
        "org": t.scope.org.as_ref().map_or("*", |o| o.as_str()),
        "project": opt_str(t.scope.project.as_ref()),
        "domain": opt_str(t.scope.domain.as_ref()),
        "created_at": t.created_at.to_rfc3339(),
        "expires_at": t.expires_at.map(|e| e.to_rfc3339()),
        "revoked_at": t.revoked_at.map(|e| e.to_rfc3339()),
    })
}

fn put_value(o: &mut serde_json::Map<String, Value>, v: &SecretValue) {
    match v.kind() {
        ValueKind::String => {
            o.insert("string_value".into(), json!(String::from_utf8_lossy(v.expose_bytes())));
        }
        ValueKind::Binary => {
            o.insert("binary_value".into(), json!(STANDARD.encode(v.expose_bytes())));
        }
    }
}

/// Runs a store call for an authorized request: on failure, audits the failure and returns it.
macro_rules! audited {
    ($caller:expr, $entry:expr, $call:expr) => {
        match $call {
            Ok(v) => v,
            Err(e) => return Err($caller.fail($entry, ApiError::from(e)).await),
        }
    };
}

/// The common start of every handler that names one secret: parse the scope, check policy
/// (audited when refused), prepare the audit entry, and parse the name (audited when invalid).
async fn target(
    state: &AppState,
    caller: &Caller,
    params: &Params,
    action: Action,
    raw_name: &str,
) -> Result<(Scope, SecretName, AuditEntry), ApiError> {
    let scope = params.scope(state)?;
    caller.allow(action, &scope, raw_name).await?;
    let entry = caller.entry(action, Some(&scope), raw_name, "ok");
    let name = audited!(caller, entry, parse_name(raw_name));
    Ok((scope, name, entry))
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    let scope = parse_scope(&state, body.org.as_deref(), body.project.as_deref(), body.domain.as_deref())?;
    caller.allow(Action::CreateSecret, &scope, &body.name).await?;
    let entry = caller.entry(Action::CreateSecret, Some(&scope), &body.name, "ok");
    let checked = (|| {
        let name = parse_name(&body.name)?;
        let secret_type: SecretType = match body.secret_type.as_deref() {
            None | Some("") => SecretType::Generic,
            // The rejected text is not echoed: a value pasted into the wrong field must not come back.
            Some(t) => t.parse().map_err(|_: coffer_store::SecretTypeError| {
                ApiError::invalid("unknown secret type: use generic or image-pull")
            })?,
        };
        let value = WireValue { string_value: body.string_value, binary_value: body.binary_value }.into_value()?;
        Ok::<_, ApiError>((name, secret_type, value))
    })();
    let (name, secret_type, value) = match checked {
        Ok(v) => v,
        Err(e) => return Err(caller.fail(entry, e).await),
    };
    let meta = audited!(caller, entry, state.secrets.create(&scope, &name, secret_type, &value, entry.clone()).await);
    Ok(ok(StatusCode::CREATED, meta_json(&meta)))
}

pub(crate) async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    params: Params,
    ApiJson(body): ApiJson<UpdateBody>,
) -> Result<Response, ApiError> {
    let (scope, name, entry) = target(&state, &caller, &params, Action::UpdateSecret, &name).await?;
    let value = audited!(
        caller,
        entry,
        WireValue { string_value: body.string_value, binary_value: body.binary_value }.into_value()
    );
    let meta = audited!(caller, entry, state.secrets.update(&scope, &name, &value, entry.clone()).await);
    Ok(ok(StatusCode::CREATED, meta_json(&meta)))
}

pub(crate) async fn meta(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (scope, name, mut entry) = target(&state, &caller, &params, Action::ReadMetadata, &name).await?;
    let meta = audited!(caller, entry, state.secrets.meta(&scope, &name).await);
    entry.version = Some(meta.current_version.get());
    caller.record_read(vec![entry]).await?;
    Ok(ok(StatusCode::OK, meta_json(&meta)))
}

pub(crate) async fn versions(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (scope, name, entry) = target(&state, &caller, &params, Action::ReadMetadata, &name).await?;
    let (meta, versions) = audited!(caller, entry, state.secrets.versions(&scope, &name).await);
    caller.record_read(vec![entry]).await?;
    let list: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version.get(),
                "created_at": v.created_at.to_rfc3339(),
                "current": v.version == meta.current_version,
            })
        })
        .collect();
    let mut body = meta_json(&meta);
    body["versions"] = Value::Array(list);
    Ok(ok(StatusCode::OK, body))
}

fn parse_version(raw: Option<&str>) -> Result<Option<Version>, ApiError> {
    raw.map(|v| v.parse::<Version>().map_err(|e| ApiError::invalid(e.to_string()))).transpose()
}

pub(crate) async fn value(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (scope, name, mut entry) = target(&state, &caller, &params, Action::ReadValue, &name).await?;
    let version = audited!(caller, entry, parse_version(params.get("version")));
    entry.version = version.map(Version::get);
    let (meta, v, value) = audited!(caller, entry, state.secrets.value(&scope, &name, version).await);
    // The value leaves only once its read is on record.
    entry.version = Some(v.version.get());
    caller.record_read(vec![entry]).await?;
    let mut o = serde_json::Map::new();
    o.insert("name".into(), json!(meta.name.as_str()));
    scope_fields(&meta.scope, &mut o);
    o.insert("type".into(), json!(meta.secret_type.as_str()));
    o.insert("version".into(), json!(v.version.get()));
    o.insert("created_at".into(), json!(v.created_at.to_rfc3339()));
    put_value(&mut o, &value);
    Ok(ok(StatusCode::OK, Value::Object(o)))
}

pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let purge = params.flag("purge")?;
    let action = if purge { Action::PurgeSecret } else { Action::DeleteSecret };
    let (scope, name, entry) = target(&state, &caller, &params, action, &name).await?;
    if purge {
        audited!(caller, entry.clone(), state.secrets.purge(&scope, &name, &entry).await);
        let mut o = serde_json::Map::new();
        o.insert("name".into(), json!(name.as_str()));
        scope_fields(&scope, &mut o);
        o.insert("purged".into(), json!(true));
        return Ok(ok(StatusCode::OK, Value::Object(o)));
    }
    let window = match params.get("recovery_window_days") {
        None => None,
        Some(d) => match d.parse::<u64>() {
            Ok(days @ 1..=90) => Some(Duration::from_secs(days * 86_400)),
            _ => {
                let err = ApiError::invalid(format!("recovery_window_days={d:?} is invalid: use 1 to 90"));
                return Err(caller.fail(entry, err).await);
            }
        },
    };
    let meta = audited!(caller, entry.clone(), state.secrets.delete(&scope, &name, window, &entry).await);
    Ok(ok(StatusCode::OK, meta_json(&meta)))
}

pub(crate) async fn restore(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (scope, name, entry) = target(&state, &caller, &params, Action::RestoreSecret, &name).await?;
    let meta = audited!(caller, entry.clone(), state.secrets.restore(&scope, &name, &entry).await);
    Ok(ok(StatusCode::OK, meta_json(&meta)))
}

/// The page token: the cursor plus the filter it belongs to, base64url JSON. Opaque to clients.
fn encode_page_token(c: &ListCursor, filter: &str) -> String {
    URL_SAFE_NO_PAD.encode(json!({ "p": c.project, "d": c.domain, "n": c.name, "f": filter }).to_string())
}

fn decode_page_token(token: &str, filter: &str) -> Result<ListCursor, ApiError> {
    let bad = || ApiError::invalid("page_token is invalid; start again without it");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if v["f"] != filter {
        return Err(ApiError::invalid("page_token belongs to a different listing; start again without it"));
    }
    let s = |k: &str| v[k].as_str().map(str::to_owned).ok_or_else(bad);
    Ok(ListCursor { project: s("p")?, domain: s("d")?, name: s("n")? })
}

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    params: Params,
) -> Result<Response, ApiError> {
    let mut filter = params.scope(&state)?;
    // A token narrowed to a project or domain lists within it unless the caller asks otherwise.
    let ts = &caller.token.scope;
    if filter.project().is_none() && ts.project.is_some() {
        filter = Scope::new(filter.org_name().clone(), ts.project.clone(), filter.domain().cloned());
    }
    if filter.domain().is_none() && ts.domain.is_some() {
        filter = Scope::new(filter.org_name().clone(), filter.project().cloned(), ts.domain.clone());
    }
    caller.allow(Action::ListSecrets, &filter, "").await?;
    let entry = caller.entry(Action::ListSecrets, Some(&filter), "", "ok");
    let limit = match params.get("limit") {
        None => DEFAULT_PAGE,
        Some(l) => match l.parse::<u32>() {
            Ok(n @ 1..=MAX_PAGE) => n,
            _ => {
                let err = ApiError::invalid(format!("limit={l:?} is invalid: use 1 to {MAX_PAGE}"));
                return Err(caller.fail(entry, err).await);
            }
        },
    };
    let include_deleted = audited!(caller, entry, params.flag("include_deleted"));
    let fingerprint = format!("{filter}|{include_deleted}");
    let after =
        audited!(caller, entry, params.get("page_token").map(|t| decode_page_token(t, &fingerprint)).transpose());
    let query = ListQuery {
        org: filter.org_name().clone(),
        project: filter.project().cloned(),
        domain: filter.domain().cloned(),
        include_deleted,
        after,
        limit,
    };
    let page = audited!(caller, entry, state.secrets.list(&query).await);
    caller.record_read(vec![entry]).await?;
    let items: Vec<Value> = page.items.iter().map(meta_json).collect();
    let next = page.next.map(|c| encode_page_token(&c, &fingerprint));
    Ok(ok(StatusCode::OK, json!({ "secrets": items, "next_page_token": next })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveBody {
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    secrets: Vec<ResolveItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveItem {
    key: String,
    #[serde(default)]
    version: Option<u32>,
}

pub(crate) async fn resolve(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<ResolveBody>,
) -> Result<Response, ApiError> {
    let context = parse_scope(&state, body.org.as_deref(), body.project.as_deref(), body.domain.as_deref())?;
    caller.allow(Action::Resolve, &context, "").await?;
    let entry = caller.entry(Action::Resolve, Some(&context), "", "ok");
    let checked = (|| {
        if body.secrets.is_empty() || body.secrets.len() > MAX_RESOLVE {
            return Err(ApiError::invalid(format!("ask for 1 to {MAX_RESOLVE} secrets per call")));
        }
        let mut requests: Vec<ResolveRequest> = Vec::with_capacity(body.secrets.len());
        for item in &body.secrets {
            let version = match item.version {
                None => None,
                Some(n) => Some(Version::new(n).ok_or_else(|| ApiError::invalid("version must be 1 or more"))?),
            };
            let r = ResolveRequest { key: parse_name(&item.key)?, version };
            if !requests.contains(&r) {
                requests.push(r);
            }
        }
        Ok(requests)
    })();
    let requests = audited!(caller, entry, checked);
    let resolved = match state.secrets.resolve(&context, &requests).await {
        Ok(r) => r,
        Err(e) => {
            // One record per key, so `audit list --secret K` finds the failed attempt too.
            let err = ApiError::from(e);
            let records = requests
                .iter()
                .map(|r| AuditEntry {
                    target: r.key.to_string(),
                    version: r.version.map(Version::get),
                    outcome: err.code.into(),
                    ..entry.clone()
                })
                .collect();
            return Err(match caller.record(records).await {
                Ok(()) => err,
                Err(audit_err) => audit_err,
            });
        }
    };
    // One record per secret served, at the scope it was found; values leave only after.
    let records = resolved
        .iter()
        .map(|r| {
            let mut e = caller.entry(Action::Resolve, Some(&r.scope), r.request.key.as_str(), "ok");
            e.version = Some(r.version.get());
            e
        })
        .collect();
    caller.record_read(records).await?;
    let items: Vec<Value> = resolved
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            o.insert("key".into(), json!(r.request.key.as_str()));
            o.insert("requested_version".into(), json!(r.request.version.map(|v| v.get())));
            o.insert("version".into(), json!(r.version.get()));
            o.insert("found_in".into(), json!(r.scope.to_string()));
            o.insert("type".into(), json!(r.secret_type.as_str()));
            put_value(&mut o, &r.value);
            Value::Object(o)
        })
        .collect();
    let mut o = serde_json::Map::new();
    scope_fields(&context, &mut o);
    o.insert("secrets".into(), Value::Array(items));
    Ok(ok(StatusCode::OK, Value::Object(o)))
}
