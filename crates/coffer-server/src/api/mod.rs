//! The HTTP API: routes, extractors, and the one mapping from errors to statuses.

mod admin;
mod secrets;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use coffer_core::Scope;
use coffer_store::{AuditEntry, ErrorKind, StoreError, TokenRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::{self, AuthError};
use crate::config::Config;
use crate::error::ServiceError;
use crate::policy::{Action, Denied, authorize};
use crate::service::Secrets;

/// What every handler shares.
pub struct AppState {
    /// The business logic.
    pub secrets: Arc<Secrets>,
    /// The running configuration.
    pub config: Config,
}

/// Every route the service answers, as (method, path) in OpenAPI's template syntax. The
/// OpenAPI document must describe exactly these (checked by a test).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/v1/openapi.json"),
    ("get", "/v1/whoami"),
    ("post", "/v1/secrets"),
    ("get", "/v1/secrets"),
    ("get", "/v1/secrets/{name}"),
    ("delete", "/v1/secrets/{name}"),
    ("get", "/v1/secrets/{name}/versions"),
    ("post", "/v1/secrets/{name}/versions"),
    ("get", "/v1/secrets/{name}/value"),
    ("post", "/v1/secrets/{name}/restore"),
    ("post", "/v1/resolve"),
    ("post", "/v1/admin/rotate-kek"),
    ("post", "/v1/tokens"),
    ("get", "/v1/tokens"),
    ("delete", "/v1/tokens/{id}"),
    ("get", "/v1/audit"),
    ("get", "/v1/audit/verify"),
];

/// The service's router.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/whoami", get(whoami))
        .route("/v1/secrets", post(secrets::create).get(secrets::list))
        .route("/v1/secrets/{name}", get(secrets::meta).delete(secrets::delete))
        .route("/v1/secrets/{name}/versions", get(secrets::versions).post(secrets::update))
        .route("/v1/secrets/{name}/value", get(secrets::value))
        .route("/v1/secrets/{name}/restore", post(secrets::restore))
        .route("/v1/resolve", post(secrets::resolve))
        .route("/v1/admin/rotate-kek", post(rotate_kek))
        .route("/v1/tokens", post(admin::create_token).get(admin::list_tokens))
        .route("/v1/tokens/{id}", axum::routing::delete(admin::revoke_token))
        .route("/v1/audit", get(admin::list_audit))
        .route("/v1/audit/verify", get(admin::verify_audit))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(request_log))
        .with_state(state)
}

/// An error response: `{"error": {"code", "message", …}}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<serde_json::Value>,
}

// === impl ApiError ===

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(d) = self.details {
            error["details"] = d;
        }
        let mut resp = (self.status, axum::Json(serde_json::json!({ "error": error }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"coffer\""));
        }
        resp
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "permission_denied", d.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let msg = e.to_string();
        match e.kind() {
            ErrorKind::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            ErrorKind::AlreadyExists => ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                format!("{msg}; use 'coffer update secret' (POST …/versions) to add a version"),
            ),
            ErrorKind::PendingDeletion => {
                let name = match &e {
                    StoreError::PendingDeletion { what, .. } => {
                        what.strip_prefix("secret ").and_then(|w| w.split(' ').next()).unwrap_or("NAME").to_owned()
                    }
                    _ => "NAME".into(),
                };
                ApiError::new(
                    StatusCode::CONFLICT,
                    "pending_deletion",
                    format!(
                        "{msg}; restore it with 'coffer restore secret {name}' (POST …/restore) or remove it for good \
                         with 'coffer delete secret {name} --purge'"
                    ),
                )
            }
            ErrorKind::NotDeleted => ApiError::new(StatusCode::CONFLICT, "not_deleted", msg),
            ErrorKind::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("{msg}; nothing was changed, retry later"),
            ),
            _ => {
                tracing::error!(error = %msg, "storage failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal storage error; see the server log",
                )
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Store(s) => s.into(),
            ServiceError::Invalid(m) => ApiError::invalid(m),
            ServiceError::NotFoundInCascade(ref missing) => {
                let details: Vec<serde_json::Value> = missing
                    .iter()
                    .map(|m| {
                        serde_json::json!({
                            "key": m.key.as_str(),
                            "version": m.version.map(|v| v.get()),
                            "searched": m.searched.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                let mut err = ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string());
                err.details = Some(serde_json::json!({ "missing": details }));
                err
            }
            ServiceError::Crypto(_) | ServiceError::Keyring(_) => {
                tracing::error!(error = %e, "encryption failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(s) => s.into(),
            other => ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", other.to_string()),
        }
    }
}

/// The request's id, assigned (or taken from `x-request-id`) by the request log.
#[derive(Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// The authenticated caller of a request, with what it needs to audit and authorize.
pub(crate) struct Caller {
    pub(crate) token: TokenRecord,
    state: Arc<AppState>,
    request_id: String,
}

fn scope_parts(scope: Option<&Scope>) -> (String, String, String) {
    match scope {
        Some(s) => (
            s.org_name().to_string(),
            s.project().map(ToString::to_string).unwrap_or_default(),
            s.domain().map(ToString::to_string).unwrap_or_default(),
        ),
        None => Default::default(),
    }
}

impl Caller {
    /// An audit entry for this request.
    pub(crate) fn entry(&self, action: Action, scope: Option<&Scope>, target: &str, outcome: &str) -> AuditEntry {
        let (org, project, domain) = scope_parts(scope);
        AuditEntry {
            time: coffer_core::Timestamp::now(),
            request_id: self.request_id.clone(),
            token_id: self.token.id.to_string(),
            token_name: self.token.name.clone(),
            action: action.as_str().into(),
            org,
            project,
            domain,
            target: target.to_owned(),
            version: None,
            outcome: outcome.into(),
        }
    }

    /// Checks policy; a refusal is audited before it is returned.
    pub(crate) async fn allow(&self, action: Action, scope: &Scope, target: &str) -> Result<(), ApiError> {
        match authorize(&self.token, action, scope) {
            Ok(()) => Ok(()),
            Err(denied) => {
                let err = ApiError::from(denied);
                Err(self.fail(self.entry(action, Some(scope), target, "ok"), err).await)
            }
        }
    }

    /// Makes audit records durable; if that fails the request fails (fail closed).
    pub(crate) async fn record(&self, entries: Vec<AuditEntry>) -> Result<(), ApiError> {
        self.state.secrets.record(entries).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the audit log cannot be written, so the request was refused: {e}"),
            )
        })
    }

    /// Records a successful read, unless the operator turned read auditing off
    /// (`dangerously_skip_read_audit`, for measuring what auditing costs).
    pub(crate) async fn record_read(&self, entries: Vec<AuditEntry>) -> Result<(), ApiError> {
        if self.state.config.dangerously_skip_read_audit {
            return Ok(());
        }
        self.record(entries).await
    }

    /// Audits a failed request (outcome = the error code) and returns the error to send.
    pub(crate) async fn fail(&self, mut entry: AuditEntry, err: ApiError) -> ApiError {
        entry.outcome = if err.status == StatusCode::FORBIDDEN { "denied".into() } else { err.code.into() };
        match self.record(vec![entry]).await {
            Ok(()) => err,
            Err(audit_err) => audit_err,
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let record = match authenticate(parts, state).await {
            Ok(r) => r,
            Err(e) => {
                let err = ApiError::from(e);
                if err.status == StatusCode::UNAUTHORIZED {
                    let entry = AuditEntry {
                        time: coffer_core::Timestamp::now(),
                        request_id,
                        token_id: String::new(),
                        token_name: String::new(),
                        action: "authenticate".into(),
                        org: String::new(),
                        project: String::new(),
                        domain: String::new(),
                        target: format!("{} {}", parts.method, parts.uri.path()),
                        version: None,
                        outcome: "unauthenticated".into(),
                    };
                    if let Err(audit_err) = state.secrets.record(vec![entry]).await {
                        tracing::error!(error = %audit_err, "cannot audit a failed authentication");
                    }
                }
                return Err(err);
            }
        };
        Ok(Caller { token: record, state: state.clone(), request_id })
    }
}

async fn authenticate(parts: &mut Parts, state: &Arc<AppState>) -> Result<TokenRecord, AuthError> {
    {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or(AuthError::Missing)?;
        let text = header.to_str().map_err(|_| AuthError::Invalid)?;
        let token =
            text.strip_prefix("Bearer ").or_else(|| text.strip_prefix("bearer ")).ok_or(AuthError::Missing)?.trim();
        let record = auth::authenticate(&state.secrets, token).await?;
        tracing::debug!(token = %record.id, role = %record.role, "authenticated");
        if let Some(slot) = parts.extensions.get::<TokenSlot>()
            && let Ok(mut s) = slot.0.lock()
        {
            *s = Some(record.id.to_string());
        }
        Ok(record)
    }
}

/// Where the authenticated token's id is left for the request log.
#[derive(Clone, Default)]
struct TokenSlot(Arc<std::sync::Mutex<Option<String>>>);

/// A JSON body whose errors are coffer errors. Data errors never echo the request's
/// content (which may hold a value): only unknown/missing field names and positions.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with 'Content-Type: application/json'",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "request body is over the limit; a secret value may be at most 64 KiB",
                )
            } else {
                ApiError::invalid("could not read the request body")
            }
        })?;
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            let text = e.to_string();
            let safe = ["unknown field", "missing field", "duplicate field"].iter().any(|p| text.starts_with(p));
            let what = if safe {
                text.split(" at line").next().unwrap_or("").to_owned()
            } else if e.is_data() {
                "a field has the wrong type or value".to_owned()
            } else {
                "the body is not valid JSON".to_owned()
            };
            ApiError::invalid(format!(
                "malformed request body: {what} (line {} column {}); see /v1/openapi.json",
                e.line(),
                e.column()
            ))
        })?;
        Ok(ApiJson(value))
    }
}

/// A JSON success response.
pub(crate) fn ok<T: Serialize>(status: StatusCode, body: T) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn health() -> Response {
    ok(StatusCode::OK, serde_json::json!({ "status": "ok" }))
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.secrets.ready().await {
        Ok(()) => ok(StatusCode::OK, serde_json::json!({ "status": "ready" })),
        Err(e) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("not ready: {e}")).into_response()
        }
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI).into_response()
}

async fn whoami(caller: Caller) -> Response {
    ok(StatusCode::OK, secrets::token_json(&caller.token))
}

/// Refuses (and audits) a request that needs an admin token for every org.
pub(crate) async fn require_global_admin(caller: &Caller, action: Action) -> Result<(), ApiError> {
    let t = &caller.token;
    if t.role == coffer_core::Role::Admin
        && t.scope.org.is_none()
        && t.scope.project.is_none()
        && t.scope.domain.is_none()
    {
        return Ok(());
    }
    let err = ApiError::from(Denied(format!(
        "token {} lacks the permission {action} on every org: it needs an admin token for org *",
        t.id
    )));
    Err(caller.fail(caller.entry(action, None, "", "ok"), err).await)
}

async fn rotate_kek(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Response, ApiError> {
    require_global_admin(&caller, Action::RotateKeys).await?;
    let entry = caller.entry(Action::RotateKeys, None, "", "ok");
    let (kek, rewrapped) = match state.secrets.rotate_kek().await {
        Ok(r) => r,
        Err(e) => return Err(caller.fail(entry, e.into()).await),
    };
    caller.record(vec![AuditEntry { target: kek.to_string(), ..entry }]).await?;
    tracing::info!(kek = %kek, rewrapped, "rotated the key-encryption key");
    Ok(ok(StatusCode::OK, serde_json::json!({ "kek_id": kek.as_str(), "rewrapped_versions": rewrapped })))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route; see /v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route; see /v1/openapi.json",
    )
}

/// Logs one line per request (method, path, status, time, token id, request id) and echoes
/// or assigns `x-request-id`. Bodies and headers are never logged.
async fn request_log(mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert("x-request-id", v);
    }
    let slot = TokenSlot::default();
    req.extensions_mut().insert(slot.clone());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = next.run(req).await;
    let token = slot.0.lock().ok().and_then(|t| t.clone()).unwrap_or_default();
    tracing::info!(
        request_id = %id,
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        ms = start.elapsed().as_secs_f64() * 1000.0,
        token = %token,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn new_request_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::ROUTES;

    /// The checked-in OpenAPI document describes exactly the routes the router serves.
    #[test]
    fn openapi_matches_routes() {
        let doc: serde_json::Value = serde_json::from_str(crate::OPENAPI).expect("openapi.json is JSON");
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for method in ops.as_object().expect("operations").keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        let mut served: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
    }
}
