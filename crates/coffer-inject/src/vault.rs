//! Direct references to OpenBao / HashiCorp Vault KV v2: `group = vault:<mount>/<path>`,
//! `key = <field>`, optional numeric `group_version`. Fetched with the caller's own identity
//! (`BAO_ADDR`/`VAULT_ADDR` and `BAO_TOKEN`/`VAULT_TOKEN`), never copied into coffer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use coffer_core::{SecretRequest, SecretValue};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::InjectError;

/// One field of one KV v2 secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VaultRef {
    /// The KV v2 mount, e.g. `secret`.
    pub mount: String,
    /// The secret's path inside the mount, e.g. `app/db`.
    pub path: String,
    /// The field of the secret's data.
    pub field: String,
    /// A pinned version.
    pub version: Option<u64>,
}

impl std::fmt::Display for VaultRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vault:{}/{}#{}", self.mount, self.path, self.field)?;
        if let Some(v) = self.version {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

fn unsupported(r: &SecretRequest, reason: impl Into<String>) -> InjectError {
    InjectError::Unsupported { request: format!("{}/{}", r.group, r.key), reason: reason.into() }
}

/// Parses a request whose group starts with `vault:`.
pub fn parse(r: &SecretRequest) -> Result<VaultRef, InjectError> {
    let rest = r.group.strip_prefix("vault:").ok_or_else(|| unsupported(r, "not a vault: reference"))?;
    let (mount, path) = rest
        .trim_matches('/')
        .split_once('/')
        .ok_or_else(|| unsupported(r, "write the group as vault:<mount>/<path>, e.g. vault:secret/app"))?;
    if mount.is_empty() || path.is_empty() || path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(unsupported(r, "write the group as vault:<mount>/<path>, e.g. vault:secret/app"));
    }
    if r.key.is_empty() {
        return Err(unsupported(r, "the key names the field to read, e.g. vault:secret/app/password"));
    }
    let version = if r.group_version.is_empty() {
        None
    } else {
        Some(r.group_version.parse::<u64>().ok().filter(|v| *v > 0).ok_or_else(|| {
            unsupported(r, format!("group_version {:?} is not a KV v2 version number", r.group_version))
        })?)
    };
    Ok(VaultRef { mount: mount.to_owned(), path: path.to_owned(), field: r.key.clone(), version })
}

/// Where OpenBao is and who the caller is, from the standard environment.
struct Identity {
    addr: String,
    token: Zeroizing<String>,
}

fn identity() -> Result<Identity, String> {
    let var = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()));
    let addr = var(&["BAO_ADDR", "VAULT_ADDR"]).ok_or("set BAO_ADDR (or VAULT_ADDR) to the OpenBao address")?;
    let token = match var(&["BAO_TOKEN", "VAULT_TOKEN"]) {
        Some(t) => t,
        None => std::env::var("HOME")
            .ok()
            .and_then(|h| std::fs::read_to_string(format!("{h}/.vault-token")).ok())
            .filter(|t| !t.trim().is_empty())
            .ok_or("set BAO_TOKEN (or VAULT_TOKEN), or log in so ~/.vault-token exists")?,
    };
    Ok(Identity { addr: addr.trim_end_matches('/').to_owned(), token: Zeroizing::new(token.trim().to_owned()) })
}

fn failure(r: &VaultRef, reason: impl std::fmt::Display) -> InjectError {
    InjectError::External(format!("OpenBao secret {r}: {reason}"))
}

/// Reads every reference, one GET per distinct (mount, path, version), retrying transient
/// failures (unreachable, 429, 5xx) until `deadline`.
pub fn fetch_all(refs: &[VaultRef], deadline: Instant) -> Result<Vec<SecretValue>, InjectError> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let id = identity().map_err(|e| failure(&refs[0], e))?;
    let agent = crate::http::agent(Duration::from_secs(10)).map_err(|e| failure(&refs[0], e))?;
    let mut docs: BTreeMap<(String, String, Option<u64>), Value> = BTreeMap::new();
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let k = (r.mount.clone(), r.path.clone(), r.version);
        if !docs.contains_key(&k) {
            docs.insert(k.clone(), read(&agent, &id, r, deadline)?);
        }
        let data = &docs[&k];
        let field = data.get(&r.field).ok_or_else(|| {
            let mut fields: Vec<&str> =
                data.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
            fields.sort_unstable();
            failure(r, format!("no field {:?} (the secret has: {})", r.field, fields.join(", ")))
        })?;
        let value = match field {
            Value::String(s) => SecretValue::string(s.clone()),
            other => SecretValue::string(other.to_string()),
        }
        .map_err(|e| failure(r, e))?;
        out.push(value);
    }
    Ok(out)
}

/// One KV v2 read, returning `data.data`.
fn read(agent: &ureq::Agent, id: &Identity, r: &VaultRef, deadline: Instant) -> Result<Value, InjectError> {
    let mut url = format!("{}/v1/{}/data/{}", id.addr, r.mount, r.path);
    if let Some(v) = r.version {
        url.push_str(&format!("?version={v}"));
    }
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt =
            agent.get(&url).header("X-Vault-Token", id.token.as_str()).header("X-Vault-Request", "true").call();
        let transient = match attempt {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let body: Value = Zeroizing::new(resp.body_mut().read_to_string().unwrap_or_default())
                    .parse::<Value>()
                    .unwrap_or(Value::Null);
                match status {
                    200 => return Ok(body["data"]["data"].clone()),
                    404 if body["data"]["metadata"]["destroyed"] == true => {
                        return Err(failure(r, "that version was destroyed"));
                    }
                    404 if body["data"]["metadata"]["deletion_time"].as_str().is_some_and(|t| !t.is_empty()) => {
                        return Err(failure(
                            r,
                            format!(
                                "that version was deleted at {} (undelete it or pin another version)",
                                body["data"]["metadata"]["deletion_time"].as_str().unwrap_or("?")
                            ),
                        ));
                    }
                    404 => return Err(failure(r, "not found")),
                    403 => return Err(failure(r, "permission denied: the token may not read this path")),
                    429 | 500..=599 => format!("HTTP {status}"),
                    other => return Err(failure(r, format!("unexpected HTTP {other}"))),
                }
            }
            Err(e) => format!("unreachable at {} ({e})", id.addr),
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

    fn req(group: &str, key: &str, v: &str) -> SecretRequest {
        SecretRequest { group: group.into(), key: key.into(), group_version: v.into(), ..Default::default() }
    }

    #[test]
    fn references() {
        let r = parse(&req("vault:secret/app/db", "password", "3")).unwrap();
        assert_eq!(
            (r.mount.as_str(), r.path.as_str(), r.field.as_str(), r.version),
            ("secret", "app/db", "password", Some(3))
        );
        assert_eq!(r.to_string(), "vault:secret/app/db#password@3");
        for (g, k, v) in [
            ("vault:secret", "f", ""),
            ("vault:/app", "f", ""),
            ("vault:secret/app", "", ""),
            ("vault:secret/../x", "f", ""),
            ("vault:secret/app", "f", "latest"),
        ] {
            assert!(parse(&req(g, k, v)).is_err(), "{g} {k} {v}");
        }
    }
}
