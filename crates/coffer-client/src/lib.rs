//! A typed, blocking client for the coffer service's `/v1` API.
//!
//! Start with [`Client::new`]. Blocking on purpose: the CLI, `coffer run` and `coffer fetch`
//! make a handful of calls and must start fast, with no async runtime to spin up.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_core::{SecretName, SecretValue, ValueError, Version};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The service answered with an error.
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The service's error code (`not_found`, `permission_denied`, …).
        code: String,
        /// The service's message.
        message: String,
        /// Extra structured detail (e.g. the scopes searched).
        details: Option<Value>,
    },
    /// The service could not be reached.
    #[error("cannot reach coffer at {addr}: {reason}")]
    Transport {
        /// The address tried.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The response was not what the API promises.
    #[error("unexpected response from coffer: {0}")]
    Decode(String),
    /// The returned value is not a valid secret value.
    #[error("invalid value in response: {0}")]
    Value(#[from] ValueError),
}

// === impl ClientError ===

impl ClientError {
    /// The service's error code, when the service answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether retrying the same call later may succeed (unreachable, 503, 502, 504, 429).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport { .. } => true,
            ClientError::Api { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            _ => false,
        }
    }
}

/// A bearer token. `Debug` never prints it.
#[derive(Clone)]
pub struct Token(Zeroizing<String>);

impl Token {
    /// Wraps token text (surrounding whitespace removed).
    pub fn new(text: &str) -> Self {
        Self(Zeroizing::new(text.trim().to_owned()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Which scope a call targets. Absent parts are absent; an absent org means the service's
/// default org.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSel {
    /// Org.
    pub org: Option<String>,
    /// Project.
    pub project: Option<String>,
    /// Domain.
    pub domain: Option<String>,
}

impl ScopeSel {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        for (k, v) in [("org", &self.org), ("project", &self.project), ("domain", &self.domain)] {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        }
        q
    }
}

/// A secret's metadata as the service reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecretInfo {
    /// Name.
    pub name: String,
    /// Org.
    pub org: String,
    /// Project, if scoped to one.
    pub project: Option<String>,
    /// Domain, if scoped to one.
    pub domain: Option<String>,
    /// `org/project/domain` with `*` for absent parts.
    pub scope: String,
    /// `generic` or `image-pull`.
    #[serde(rename = "type")]
    pub secret_type: String,
    /// Current version.
    pub version: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339, when scheduled for deletion.
    pub deleted_at: Option<String>,
    /// RFC 3339, when it will be purged.
    pub purge_at: Option<String>,
}

/// One version's metadata.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionInfo {
    /// Number.
    pub version: u32,
    /// RFC 3339.
    pub created_at: String,
    /// Whether it is the current version.
    pub current: bool,
}

/// One page of a listing.
#[derive(Debug, Clone, Deserialize)]
pub struct SecretPage {
    /// The secrets.
    pub secrets: Vec<SecretInfo>,
    /// Pass back for the next page; `None` on the last.
    pub next_page_token: Option<String>,
}

/// A value read from the service, with where it came from.
#[derive(Debug)]
pub struct FetchedValue {
    /// The name (the key, for resolution).
    pub name: String,
    /// The scope it was found at (`org/project/domain`).
    pub scope: String,
    /// The version served.
    pub version: u32,
    /// The value.
    pub value: SecretValue,
}

/// One key to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolveKey {
    /// The secret's name.
    pub key: SecretName,
    /// A pinned version.
    pub version: Option<Version>,
}

#[derive(Deserialize)]
struct WireValue {
    #[serde(default)]
    string_value: Option<Zeroizing<String>>,
    #[serde(default)]
    binary_value: Option<Zeroizing<String>>,
}

impl WireValue {
    fn into_value(mut self) -> Result<SecretValue, ClientError> {
        if let Some(s) = self.string_value.as_mut() {
            return Ok(SecretValue::string(std::mem::take(&mut **s))?);
        }
        if let Some(b) = self.binary_value.as_ref() {
            let bytes =
                STANDARD.decode(b.as_bytes()).map_err(|_| ClientError::Decode("binary_value is not base64".into()))?;
            return Ok(SecretValue::binary(bytes)?);
        }
        Err(ClientError::Decode("response has no value".into()))
    }
}

#[derive(Deserialize)]
struct ValueBody {
    name: String,
    scope: String,
    version: u32,
    #[serde(flatten)]
    value: WireValue,
}

#[derive(Deserialize)]
struct ResolvedBody {
    key: String,
    found_in: String,
    version: u32,
    #[serde(flatten)]
    value: WireValue,
}

#[derive(Deserialize)]
struct ResolveResponse {
    secrets: Vec<ResolvedBody>,
}

/// A connection to one coffer service.
pub struct Client {
    base: String,
    token: Option<Token>,
    agent: ureq::Agent,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("base", &self.base).field("token", &self.token).finish()
    }
}

fn value_json(v: &SecretValue) -> Value {
    match v.expose_str() {
        Ok(s) if v.kind() == coffer_core::ValueKind::String => json!({ "string_value": s }),
        _ => json!({ "binary_value": STANDARD.encode(v.expose_bytes()) }),
    }
}

fn enc(s: &str) -> String {
    // Names are `[A-Za-z0-9._-]`, which need no escaping; anything else is escaped byte-wise.
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

// === impl Client ===

impl Client {
    /// A client for the service at `base` (e.g. `http://127.0.0.1:8787`), with a per-call timeout.
    pub fn new(base: &str, token: Option<Token>, timeout: Duration) -> Self {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into();
        Self { base: base.trim_end_matches('/').to_owned(), token, agent }
    }

    /// The service address.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut url = format!("{}{path}", self.base);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&enc(v));
        }
        url
    }

    fn call<T: DeserializeOwned>(&self, method: &str, url: &str, body: Option<&Value>) -> Result<T, ClientError> {
        let auth = self.token.as_ref().map(|t| format!("Bearer {}", t.0.as_str()));
        let transport = |e: ureq::Error| ClientError::Transport { addr: self.base.clone(), reason: e.to_string() };
        let mut resp = match (method, body) {
            ("GET", _) | ("DELETE", None) => {
                let mut req = if method == "GET" { self.agent.get(url) } else { self.agent.delete(url) };
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.call().map_err(transport)?
            }
            (_, b) => {
                let mut req = self.agent.post(url);
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.send_json(b.unwrap_or(&json!({}))).map_err(transport)?
            }
        };
        let status = resp.status().as_u16();
        let text = Zeroizing::new(
            resp.body_mut()
                .with_config()
                .limit(16 * 1024 * 1024)
                .read_to_string()
                .map_err(|e| ClientError::Decode(e.to_string()))?,
        );
        if !(200..300).contains(&status) {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let err = &v["error"];
            return Err(ClientError::Api {
                status,
                code: err["code"].as_str().unwrap_or("unknown").to_owned(),
                message: err["message"].as_str().map_or_else(|| format!("HTTP {status} from {url}"), str::to_owned),
                details: err.get("details").cloned(),
            });
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Decode(format!("{e} (HTTP {status})")))
    }

    /// `GET /readyz`.
    pub fn ready(&self) -> Result<(), ClientError> {
        self.call::<Value>("GET", &self.url("/readyz", &[]), None).map(|_| ())
    }

    /// The calling token's own record.
    pub fn whoami(&self) -> Result<Value, ClientError> {
        self.call("GET", &self.url("/v1/whoami", &[]), None)
    }

    /// Creates a secret.
    pub fn create_secret(
        &self,
        scope: &ScopeSel,
        name: &SecretName,
        secret_type: &str,
        value: &SecretValue,
    ) -> Result<SecretInfo, ClientError> {
        let mut body = value_json(value);
        body["name"] = json!(name.as_str());
        body["type"] = json!(secret_type);
        for (k, v) in scope.query() {
            body[k] = json!(v);
        }
        self.call("POST", &self.url("/v1/secrets", &[]), Some(&body))
    }

    /// Writes a new version.
    pub fn update_secret(
        &self,
        scope: &ScopeSel,
        name: &SecretName,
        value: &SecretValue,
    ) -> Result<SecretInfo, ClientError> {
        let url = self.url(&format!("/v1/secrets/{}/versions", enc(name.as_str())), &scope.query());
        self.call("POST", &url, Some(&value_json(value)))
    }

    /// One secret's metadata.
    pub fn get_secret(&self, scope: &ScopeSel, name: &SecretName) -> Result<SecretInfo, ClientError> {
        self.call("GET", &self.url(&format!("/v1/secrets/{}", enc(name.as_str())), &scope.query()), None)
    }

    /// One secret's versions.
    pub fn versions(&self, scope: &ScopeSel, name: &SecretName) -> Result<(SecretInfo, Vec<VersionInfo>), ClientError> {
        let v: Value =
            self.call("GET", &self.url(&format!("/v1/secrets/{}/versions", enc(name.as_str())), &scope.query()), None)?;
        let versions: Vec<VersionInfo> =
            serde_json::from_value(v["versions"].clone()).map_err(|e| ClientError::Decode(e.to_string()))?;
        let info: SecretInfo = serde_json::from_value(v).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok((info, versions))
    }

    /// One page of secrets.
    pub fn list_secrets(
        &self,
        filter: &ScopeSel,
        include_deleted: bool,
        limit: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<SecretPage, ClientError> {
        let mut q = filter.query();
        if include_deleted {
            q.push(("include_deleted", "true".into()));
        }
        if let Some(l) = limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(t) = page_token {
            q.push(("page_token", t.to_owned()));
        }
        self.call("GET", &self.url("/v1/secrets", &q), None)
    }

    /// One secret's value at its exact scope.
    pub fn read_value(
        &self,
        scope: &ScopeSel,
        name: &SecretName,
        version: Option<Version>,
    ) -> Result<FetchedValue, ClientError> {
        let mut q = scope.query();
        if let Some(v) = version {
            q.push(("version", v.to_string()));
        }
        let body: ValueBody =
            self.call("GET", &self.url(&format!("/v1/secrets/{}/value", enc(name.as_str())), &q), None)?;
        Ok(FetchedValue { name: body.name, scope: body.scope, version: body.version, value: body.value.into_value()? })
    }

    /// Schedules deletion (or purges at once).
    pub fn delete_secret(
        &self,
        scope: &ScopeSel,
        name: &SecretName,
        purge: bool,
        recovery_window_days: Option<u32>,
    ) -> Result<Value, ClientError> {
        let mut q = scope.query();
        if purge {
            q.push(("purge", "true".into()));
        }
        if let Some(d) = recovery_window_days {
            q.push(("recovery_window_days", d.to_string()));
        }
        self.call("DELETE", &self.url(&format!("/v1/secrets/{}", enc(name.as_str())), &q), None)
    }

    /// Cancels a scheduled deletion.
    pub fn restore_secret(&self, scope: &ScopeSel, name: &SecretName) -> Result<SecretInfo, ClientError> {
        let url = self.url(&format!("/v1/secrets/{}/restore", enc(name.as_str())), &scope.query());
        self.call("POST", &url, Some(&json!({})))
    }

    /// Resolves keys for a task running in `context`, through the scope cascade, in one call.
    pub fn resolve(&self, context: &ScopeSel, keys: &[ResolveKey]) -> Result<Vec<FetchedValue>, ClientError> {
        let items: Vec<Value> =
            keys.iter().map(|k| json!({ "key": k.key.as_str(), "version": k.version.map(|v| v.get()) })).collect();
        let mut body = json!({ "secrets": items });
        for (k, v) in context.query() {
            body[k] = json!(v);
        }
        let resp: ResolveResponse = self.call("POST", &self.url("/v1/resolve", &[]), Some(&body))?;
        resp.secrets
            .into_iter()
            .map(|r| {
                Ok(FetchedValue { name: r.key, scope: r.found_in, version: r.version, value: r.value.into_value()? })
            })
            .collect()
    }

    /// Creates a token. The response's `token` field is the only copy of its text.
    pub fn create_token(&self, body: &Value) -> Result<Value, ClientError> {
        self.call("POST", &self.url("/v1/tokens", &[]), Some(body))
    }

    /// Lists tokens (never their text).
    pub fn list_tokens(&self) -> Result<Value, ClientError> {
        self.call("GET", &self.url("/v1/tokens", &[]), None)
    }

    /// Revokes a token.
    pub fn revoke_token(&self, id: &str) -> Result<Value, ClientError> {
        self.call("DELETE", &self.url(&format!("/v1/tokens/{}", enc(id)), &[]), None)
    }

    /// One page of audit records.
    pub fn audit(
        &self,
        since: Option<&str>,
        secret: Option<&str>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Value, ClientError> {
        let mut q = vec![("limit", limit.to_string())];
        if let Some(s) = since {
            q.push(("since", s.to_owned()));
        }
        if let Some(s) = secret {
            q.push(("secret", s.to_owned()));
        }
        if let Some(a) = after {
            q.push(("after", a.to_string()));
        }
        self.call("GET", &self.url("/v1/audit", &q), None)
    }

    /// Verifies the audit chain.
    pub fn verify_audit(&self) -> Result<Value, ClientError> {
        self.call("GET", &self.url("/v1/audit/verify", &[]), None)
    }

    /// Rotates the key-encryption key (admin for every org).
    pub fn rotate_kek(&self) -> Result<Value, ClientError> {
        self.call("POST", &self.url("/v1/admin/rotate-kek", &[]), Some(&json!({})))
    }
}
