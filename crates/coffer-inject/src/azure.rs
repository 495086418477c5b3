//! Direct references to Azure Key Vault secrets, fetched with the caller's own Azure identity.
//!
//! The group is the secret's URI, `https://<vault>.vault.azure.net/secrets/<name>`, and
//! `group_version` an optional version (seed 000). Files and env vars are named as Flyte's Azure
//! injector names them, after the secret's *name* (`<dir>/<name>[/<version>]`, lower-cased), which
//! is what `flytekit…secrets.get("<name>", group_version=…)` reads. Identity, from the standard
//! Azure environment: workload identity federation (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
//! `AZURE_FEDERATED_TOKEN_FILE`) or a client secret (`AZURE_CLIENT_SECRET`), against
//! `AZURE_AUTHORITY_HOST` (default `https://login.microsoftonline.com`). The vault's bearer
//! challenge decides the token's scope, as the Azure SDKs do.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use coffer_core::{SecretRequest, SecretValue};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::InjectError;

/// The API version sent to Key Vault.
const API_VERSION: &str = "7.5";

/// One Key Vault secret (version).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AzureRef {
    /// `https://<vault host>`.
    pub vault: String,
    /// The secret's name.
    pub name: String,
    /// A version; empty for the latest.
    pub version: String,
}

impl std::fmt::Display for AzureRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/secrets/{}", self.vault, self.name)?;
        if !self.version.is_empty() {
            write!(f, "/{}", self.version)?;
        }
        Ok(())
    }
}

/// Parses a request whose group is a Key Vault secret URI.
pub fn parse(r: &SecretRequest) -> Result<AzureRef, InjectError> {
    let bad = || InjectError::Unsupported {
        request: r.group.clone(),
        reason: "write the group as https://<vault>.vault.azure.net/secrets/<name>".into(),
    };
    let rest = r.group.strip_prefix("https://").ok_or_else(bad)?;
    let (host, path) = rest.split_once('/').ok_or_else(bad)?;
    let path = path.trim_end_matches('/');
    let name = path.strip_prefix("secrets/").filter(|n| !n.is_empty() && !n.contains('/')).ok_or_else(bad)?;
    let name_ok = name.len() <= 127 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if host.is_empty() || !name_ok {
        return Err(bad());
    }
    Ok(AzureRef { vault: format!("https://{host}"), name: name.to_owned(), version: r.group_version.clone() })
}

/// The request as Flyte's Azure injector names its file and flytekit looks it up: group = the
/// secret's name, version kept, no key.
pub fn naming_form(r: &SecretRequest) -> Option<SecretRequest> {
    let a = parse(r).ok()?;
    Some(SecretRequest { group: a.name, group_version: r.group_version.clone(), key: String::new(), ..r.clone() })
}

fn failure(r: &AzureRef, reason: impl std::fmt::Display) -> InjectError {
    InjectError::External(format!("Azure Key Vault secret {r}: {reason}"))
}

/// How this process proves who it is to Entra ID.
enum Credential {
    Federated { client_id: String, tenant: String, token_file: String },
    Secret { client_id: String, tenant: String, secret: Zeroizing<String> },
}

fn credential() -> Result<Credential, String> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    let (client_id, tenant) = match (var("AZURE_CLIENT_ID"), var("AZURE_TENANT_ID")) {
        (Some(c), Some(t)) => (c, t),
        _ => {
            return Err("no Azure identity: set AZURE_CLIENT_ID and AZURE_TENANT_ID, with AZURE_FEDERATED_TOKEN_FILE \
                         (workload identity) or AZURE_CLIENT_SECRET"
                .into());
        }
    };
    if let Some(f) = var("AZURE_FEDERATED_TOKEN_FILE") {
        return Ok(Credential::Federated { client_id, tenant, token_file: f });
    }
    if let Some(s) = var("AZURE_CLIENT_SECRET") {
        return Ok(Credential::Secret { client_id, tenant, secret: Zeroizing::new(s) });
    }
    Err("no Azure credential: set AZURE_FEDERATED_TOKEN_FILE (workload identity) or AZURE_CLIENT_SECRET".into())
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// A bearer token for `scope` from the token endpoint.
fn token(agent: &ureq::Agent, cred: &Credential, scope: &str) -> Result<Zeroizing<String>, String> {
    let authority = std::env::var("AZURE_AUTHORITY_HOST")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "https://login.microsoftonline.com".into());
    let (client_id, tenant, mut form): (&str, &str, Vec<(&str, String)>) = match cred {
        Credential::Federated { client_id, tenant, token_file } => {
            let assertion = std::fs::read_to_string(token_file)
                .map_err(|e| format!("cannot read AZURE_FEDERATED_TOKEN_FILE {token_file}: {e}"))?;
            (
                client_id,
                tenant,
                vec![
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()),
                    ("client_assertion", assertion.trim().to_owned()),
                ],
            )
        }
        Credential::Secret { client_id, tenant, secret } => {
            (client_id, tenant, vec![("client_secret", secret.as_str().to_owned())])
        }
    };
    form.push(("client_id", client_id.to_owned()));
    form.push(("grant_type", "client_credentials".into()));
    form.push(("scope", scope.to_owned()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let body = Zeroizing::new(form_encode(&pairs));
    for (_, v) in form.iter_mut() {
        zeroize::Zeroize::zeroize(v);
    }
    let url = format!("{}/{tenant}/oauth2/v2.0/token", authority.trim_end_matches('/'));
    let mut resp = agent
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(body.as_bytes())
        .map_err(|e| format!("token endpoint {url} unreachable ({e})"))?;
    let status = resp.status().as_u16();
    let text = Zeroizing::new(resp.body_mut().read_to_string().unwrap_or_default());
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match v["access_token"].as_str() {
        Some(t) if status == 200 => Ok(Zeroizing::new(t.to_owned())),
        _ => Err(format!(
            "the token endpoint refused the credential (HTTP {status}: {})",
            v["error"].as_str().unwrap_or("no error code")
        )),
    }
}

/// The scope a vault's 401 challenge asks for (`scope=`, else `resource=` + `/.default`).
fn challenge_scope(header: &str) -> Option<String> {
    let params = header.split_once(' ')?.1;
    let mut resource = None;
    for part in params.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let v = v.trim().trim_matches('"');
        match k.trim() {
            "scope" => return Some(v.to_owned()),
            "resource" => resource = Some(format!("{}/.default", v.trim_end_matches('/'))),
            _ => {}
        }
    }
    resource
}

/// Reads every reference, one GET per distinct secret version, retrying 429/5xx/unreachable
/// until `deadline`.
pub fn fetch_all(refs: &[AzureRef], deadline: Instant) -> Result<Vec<SecretValue>, InjectError> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let cred = credential().map_err(|e| failure(&refs[0], e))?;
    let agent = crate::http::agent(Duration::from_secs(10)).map_err(|e| failure(&refs[0], e))?;
    let mut tokens: BTreeMap<String, Zeroizing<String>> = BTreeMap::new();
    let mut values: BTreeMap<AzureRef, SecretValue> = BTreeMap::new();
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        if !values.contains_key(r) {
            let v = get(&agent, &cred, &mut tokens, r, deadline)?;
            values.insert(r.clone(), v);
        }
        out.push(values[r].duplicate());
    }
    Ok(out)
}

fn get(
    agent: &ureq::Agent,
    cred: &Credential,
    tokens: &mut BTreeMap<String, Zeroizing<String>>,
    r: &AzureRef,
    deadline: Instant,
) -> Result<SecretValue, InjectError> {
    // An empty version is the latest: the SDKs request `/secrets/<name>/` with the slash.
    let url = format!("{}/secrets/{}/{}?api-version={API_VERSION}", r.vault, r.name, r.version);
    let mut delay = Duration::from_millis(100);
    let mut bearer: Option<Zeroizing<String>> = tokens.values().next().cloned();
    let mut challenged = false;
    loop {
        let mut req = agent.get(&url).header("Accept", "application/json");
        if let Some(t) = &bearer {
            req = req.header("Authorization", format!("Bearer {}", t.as_str()));
        }
        let transient = match req.call() {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let challenge = resp.headers().get("www-authenticate").and_then(|h| h.to_str().ok()).map(str::to_owned);
                let text = Zeroizing::new(resp.body_mut().read_to_string().unwrap_or_default());
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let code = v["error"]["code"].as_str().unwrap_or("");
                match status {
                    200 => {
                        let value = v["value"].as_str().ok_or_else(|| failure(r, "the response has no value"))?;
                        return SecretValue::string(value.to_owned()).map_err(|e| failure(r, e));
                    }
                    401 if !challenged => {
                        challenged = true;
                        let scope = challenge
                            .as_deref()
                            .and_then(challenge_scope)
                            .unwrap_or_else(|| "https://vault.azure.net/.default".into());
                        let t = match tokens.get(&scope) {
                            Some(t) => t.clone(),
                            None => {
                                let t = token(agent, cred, &scope).map_err(|e| failure(r, e))?;
                                tokens.insert(scope, t.clone());
                                t
                            }
                        };
                        bearer = Some(t);
                        continue;
                    }
                    401 => return Err(failure(r, "the vault rejected the token")),
                    404 => return Err(failure(r, "not found")),
                    403 => {
                        let why = v["error"]["message"].as_str().unwrap_or("forbidden");
                        return Err(failure(r, format!("access denied ({code}: {why})")));
                    }
                    429 | 500..=599 => format!("HTTP {status} {code}"),
                    other => return Err(failure(r, format!("unexpected HTTP {other} {code}"))),
                }
            }
            Err(e) => format!("unreachable ({e})"),
        };
        if Instant::now() + delay >= deadline {
            return Err(failure(r, format!("{transient}; gave up at the deadline")));
        }
        std::thread::sleep(crate::resolve::jitter(delay));
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(group: &str, v: &str) -> SecretRequest {
        SecretRequest { group: group.into(), group_version: v.into(), ..Default::default() }
    }

    #[test]
    fn references_and_names() {
        let r = parse(&req("https://examplevault.vault.azure.net/secrets/example-secret/", "12345")).unwrap();
        assert_eq!(
            (r.vault.as_str(), r.name.as_str(), r.version.as_str()),
            ("https://examplevault.vault.azure.net", "example-secret", "12345")
        );
        let n = naming_form(&req("https://examplevault.vault.azure.net/secrets/example-secret", "12345")).unwrap();
        assert_eq!((n.group.as_str(), n.group_version.as_str(), n.key.as_str()), ("example-secret", "12345", ""));
        for bad in [
            "http://v.vault.azure.net/secrets/x",
            "https://v.vault.azure.net/keys/x",
            "https://v.vault.azure.net/secrets/",
            "https://v/secrets/a_b",
        ] {
            assert!(parse(&req(bad, "")).is_err(), "{bad}");
        }
        assert_eq!(
            challenge_scope(
                r#"Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net""#
            )
            .as_deref(),
            Some("https://vault.azure.net/.default")
        );
        assert_eq!(
            challenge_scope(r#"Bearer authorization="x/t", scope="https://0.0.1:8443/.default""#).as_deref(),
            Some("https://0.0.1:8443/.default")
        );
        assert_eq!(form_encode(&[("a b", "c&d=é")]), "a%20b=c%26d%3D%C3%A9");
    }
}
