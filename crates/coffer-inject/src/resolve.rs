//! Fetching the values for a set of requests: one batched call, bounded retries.

use std::time::{Duration, Instant};

use coffer_client::{Client, ClientError, ResolveKey, ScopeSel};
use coffer_core::{SecretName, SecretRequest, SecretValue, Version};

use crate::InjectError;

/// Which store a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// coffer's own store, looked up by key through the scope cascade.
    Coffer,
    /// An AWS Secrets Manager ARN (`arn:aws:secretsmanager:…:secret:`).
    Aws,
    /// An Azure Key Vault secret URI.
    Azure,
    /// An OpenBao / Vault KV path (`vault:<mount>/<path>`).
    Vault,
}

/// Decides where a request is served from, by its group.
pub fn store_of(r: &SecretRequest) -> Store {
    let g = r.group.as_str();
    if g.starts_with("arn:") && g.contains(":secretsmanager:") {
        Store::Aws
    } else if g.starts_with("https://") && g.contains("/secrets/") {
        // Any Key Vault host: public (vault.azure.net), sovereign clouds, private endpoints.
        Store::Azure
    } else if g.starts_with("vault:") {
        Store::Vault
    } else {
        Store::Coffer
    }
}

fn key_of(r: &SecretRequest) -> Result<ResolveKey, InjectError> {
    let desc = || format!("{}/{}", r.group, r.key);
    let key: SecretName = r
        .key
        .parse()
        .map_err(|e: coffer_core::NameError| InjectError::Request { input: desc(), reason: e.to_string() })?;
    let version = if r.group_version.is_empty() {
        None
    } else {
        Some(r.group_version.parse::<Version>().map_err(|_| InjectError::Request {
            input: desc(),
            reason: format!(
                "group_version {:?} is not a coffer version number (1, 2, 3, …); leave it empty for the latest",
                r.group_version
            ),
        })?)
    };
    Ok(ResolveKey { key, version })
}

/// Resolves every request in one call for a task in `context`, retrying transient failures
/// (unreachable service, 429/502/503/504) with exponential backoff until `deadline`. Returns
/// one value per request, in order. A missing secret is not retried: the error names it and
/// every scope searched.
pub fn resolve_all(
    client: impl FnOnce() -> Result<Client, InjectError>,
    context: &ScopeSel,
    requests: &[SecretRequest],
    deadline: Instant,
) -> Result<Vec<SecretValue>, InjectError> {
    // Requests for coffer's own store go in one call to the service; OpenBao and AWS references
    // are read directly with the caller's own identity and never touch the service.
    type Indexed<'a> = Vec<(usize, &'a SecretRequest)>;
    let (vault, rest): (Indexed<'_>, Indexed<'_>) =
        requests.iter().enumerate().partition(|(_, r)| store_of(r) == Store::Vault);
    let (aws, rest): (Indexed<'_>, Indexed<'_>) = rest.into_iter().partition(|(_, r)| store_of(r) == Store::Aws);
    let (azure, own): (Indexed<'_>, Indexed<'_>) = rest.into_iter().partition(|(_, r)| store_of(r) == Store::Azure);
    // Every request is checked before anything is fetched.
    let vault_refs = vault.iter().map(|(_, r)| crate::vault::parse(r)).collect::<Result<Vec<_>, _>>()?;
    let aws_refs = aws.iter().map(|(_, r)| crate::aws::parse(r)).collect::<Result<Vec<_>, _>>()?;
    let azure_refs = azure.iter().map(|(_, r)| crate::azure::parse(r)).collect::<Result<Vec<_>, _>>()?;
    for (_, r) in &own {
        key_of(r)?;
    }
    let own_requests: Vec<SecretRequest> = own.iter().map(|(_, r)| (*r).clone()).collect();
    let own_values =
        if own_requests.is_empty() { Vec::new() } else { resolve_own(&client()?, context, &own_requests, deadline)? };
    let vault_values = crate::vault::fetch_all(&vault_refs, deadline)?;
    let aws_values = crate::aws::fetch_all(&aws_refs, deadline)?;
    let azure_values = crate::azure::fetch_all(&azure_refs, deadline)?;
    let mut out: Vec<Option<SecretValue>> = (0..requests.len()).map(|_| None).collect();
    for (group, values) in [(&own, own_values), (&vault, vault_values), (&aws, aws_values), (&azure, azure_values)] {
        for ((i, _), v) in group.iter().zip(values) {
            out[*i] = Some(v);
        }
    }
    out.into_iter().map(|v| v.ok_or_else(|| ClientError::Decode("a request was not resolved".into()).into())).collect()
}

fn resolve_own(
    client: &Client,
    context: &ScopeSel,
    requests: &[SecretRequest],
    deadline: Instant,
) -> Result<Vec<SecretValue>, InjectError> {
    let mut keys: Vec<ResolveKey> = Vec::new();
    let mut index = Vec::with_capacity(requests.len());
    for r in requests {
        let k = key_of(r)?;
        let i = keys.iter().position(|have| *have == k).unwrap_or_else(|| {
            keys.push(k);
            keys.len() - 1
        });
        index.push(i);
    }
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    let mut attempts = 0u32;
    let fetched = loop {
        attempts += 1;
        match client.resolve(context, &keys) {
            Ok(v) => break v,
            Err(e) if e.is_retryable() && Instant::now() + delay < deadline => {
                std::thread::sleep(jitter(delay));
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) if e.is_retryable() => {
                return Err(InjectError::GaveUp { attempts, seconds: started.elapsed().as_secs_f64(), last: e });
            }
            Err(e) => return Err(e.into()),
        }
    };
    if fetched.len() != keys.len() {
        return Err(ClientError::Decode(format!("asked for {} secrets, got {}", keys.len(), fetched.len())).into());
    }
    Ok(index.into_iter().map(|i| fetched[i].value.duplicate()).collect())
}

/// 75–125 % of `d`, so many tasks retrying at once do not stay in step.
pub(crate) fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 1];
    let _ = getrandom::fill(&mut b);
    d.mul_f64(0.75 + f64::from(b[0]) / 510.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::parse_secret;

    #[test]
    fn stores_and_keys() {
        let mut r = parse_secret("k").unwrap();
        assert_eq!(store_of(&r), Store::Coffer);
        r.group = "arn:aws:secretsmanager:us-east-1:123456789012:secret:".into();
        assert_eq!(store_of(&r), Store::Aws);
        r.group = "https://v.vault.azure.net/secrets/x".into();
        assert_eq!(store_of(&r), Store::Azure);
        r.group = "vault:secret/app".into();
        assert_eq!(store_of(&r), Store::Vault);
        assert!(key_of(&r).is_ok(), "vault references are read directly");
        let bad = parse_secret("g/k@v1").unwrap();
        assert!(key_of(&bad).unwrap_err().to_string().contains("not a coffer version number"));
        assert_eq!(key_of(&parse_secret("g/k@4").unwrap()).unwrap().version.unwrap().get(), 4);
    }
}
