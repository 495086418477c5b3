//! The HTTP API: routes, extractors, and the one mapping from errors to statuses.

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
use coffer_store::{ErrorKind, StoreError, TokenRecord};
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
        .route(
            "/v1/secrets/{name}",
            get(secrets::meta).delete(secrets::delete),
        )
        .route(
            "/v1/secrets/{name}/versions",
            get(secrets::versions).post(secrets::update),
        )
        .route("/v1/secrets/{name}/value", get(secrets::value))
        .route("/v1/secrets/{name}/restore", post(secrets::restore))
        .route("/v1/resolve", post(secrets::resolve))
        .route("/v1/admin/rotate-kek", post(rotate_kek))
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
        Self {
            status,
            code,
            message: message.into(),
            details: None,
        }
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
        let mut resp = (
            self.status,
            axum::Json(serde_json::json!({ "error": error })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"coffer\""),
            );
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
                    StoreError::PendingDeletion { what, .. } => what
                        .strip_prefix("secret ")
                        .and_then(|w| w.split(' ').next())
                        .unwrap_or("NAME")
                        .to_owned(),
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
            ErrorKind::VersionConflict => ApiError::new(StatusCode::CONFLICT, "aborted", msg),
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
            ServiceError::Contended { .. } => {
                ApiError::new(StatusCode::CONFLICT, "aborted", e.to_string())
            }
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
            other => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                other.to_string(),
            ),
        }
    }
}

/// The authenticated token behind a request.
pub(crate) struct Caller(pub(crate) TokenRecord);

impl Caller {
    pub(crate) fn allow(&self, action: Action, target: &Scope) -> Result<(), ApiError> {
        authorize(&self.0, action, target).map_err(ApiError::from)
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(AuthError::Missing)?;
        let text = header.to_str().map_err(|_| AuthError::Invalid)?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .ok_or(AuthError::Missing)?
            .trim();
        let record = auth::authenticate(state.secrets.tokens(), token).await?;
        tracing::debug!(token = %record.id, role = %record.role, "authenticated");
        if let Some(slot) = parts.extensions.get::<TokenSlot>()
            && let Ok(mut s) = slot.0.lock()
        {
            *s = Some(record.id.to_string());
        }
        Ok(Caller(record))
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
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
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
            let safe = ["unknown field", "missing field", "duplicate field"]
                .iter()
                .any(|p| text.starts_with(p));
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
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("not ready: {e}"),
        )
        .into_response(),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI).into_response()
}

async fn whoami(caller: Caller) -> Response {
    let t = &caller.0;
    ok(StatusCode::OK, secrets::token_json(t))
}

async fn rotate_kek(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    if caller.0.role != coffer_core::Role::Admin || caller.0.scope.org.is_some() {
        return Err(Denied(format!(
            "token {} cannot rotate keys: that needs an admin token for every org (*)",
            caller.0.id
        ))
        .into());
    }
    let (kek, rewrapped) = state.secrets.rotate_kek().await?;
    tracing::info!(kek = %kek, rewrapped, "rotated the key-encryption key");
    Ok(ok(
        StatusCode::OK,
        serde_json::json!({ "kek_id": kek.as_str(), "rewrapped_versions": rewrapped }),
    ))
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see /v1/openapi.json",
    )
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
    let mut resp = next.run(req).await;
    let token = slot
        .0
        .lock()
        .ok()
        .and_then(|t| t.clone())
        .unwrap_or_default();
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
        let doc: serde_json::Value =
            serde_json::from_str(crate::OPENAPI).expect("openapi.json is JSON");
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for method in ops.as_object().expect("operations").keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
    }
}
