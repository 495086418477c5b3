//! Secret requests from command-line flags, a requests file, or Flyte pod annotations.

use std::path::Path;

use coffer_core::flyte::annotation;
use coffer_core::flyte::naming::is_valid_env_var;
use coffer_core::{MountRequirement, SecretRequest};

use crate::InjectError;

fn bad(input: &str, reason: impl Into<String>) -> InjectError {
    InjectError::Request { input: input.to_owned(), reason: reason.into() }
}

/// `KEY`, `GROUP/KEY`, either with `@VERSION`: a request with mount requirement ANY.
pub fn parse_secret(spec: &str) -> Result<SecretRequest, InjectError> {
    if spec.starts_with("arn:") {
        return parse_arn(spec);
    }
    if spec.starts_with("https://") {
        // An Azure Key Vault secret URI, optionally `@VERSION`; the group is the URI (seed 000).
        let (uri, version) = spec.rsplit_once('@').unwrap_or((spec, ""));
        return Ok(SecretRequest { group: uri.to_owned(), group_version: version.to_owned(), ..Default::default() });
    }
    let (rest, version) = match spec.rsplit_once('@') {
        Some((r, v)) if !v.is_empty() => (r, v),
        Some(_) => return Err(bad(spec, "nothing after '@': write KEY@VERSION")),
        None => (spec, ""),
    };
    // `vault:<mount>/<path>/<field>`: the group is everything up to the field.
    let split = if rest.starts_with("vault:") { rest.rsplit_once('/') } else { rest.split_once('/') };
    let (group, key) = match split {
        Some((g, k)) => (g, k),
        None => ("", rest),
    };
    if key.is_empty() {
        return Err(bad(spec, "the key is empty: write KEY, GROUP/KEY or GROUP/KEY@VERSION"));
    }
    if rest.ends_with('/') || group.is_empty() && rest.contains('/') {
        return Err(bad(spec, "write KEY, GROUP/KEY or GROUP/KEY@VERSION"));
    }
    Ok(SecretRequest {
        group: group.to_owned(),
        group_version: version.to_owned(),
        key: key.to_owned(),
        ..Default::default()
    })
}

/// `arn:…:secret:<name>[@STAGE|@VERSION-ID]`: an AWS Secrets Manager secret. The group is the ARN
/// prefix through `:secret:` and the key the rest, as Flyte splits it (seed 002). AWS names may
/// contain `@` and `/`, so only a staging label (`AWSPREVIOUS`, upper case) or a version id
/// after the last `@` counts as a version.
fn parse_arn(spec: &str) -> Result<SecretRequest, InjectError> {
    let (prefix, name) = spec
        .split_once(":secret:")
        .ok_or_else(|| bad(spec, "write arn:<partition>:secretsmanager:<region>:<account>:secret:<name>"))?;
    let (name, version) = match name.rsplit_once('@') {
        Some((n, v))
            if !v.is_empty()
                && (v.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                    || ((32..=64).contains(&v.len()) && v.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))) =>
        {
            (n, v)
        }
        _ => (name, ""),
    };
    if name.is_empty() {
        return Err(bad(spec, "the secret's name is missing after :secret:"));
    }
    Ok(SecretRequest {
        group: format!("{prefix}:secret:"),
        key: name.to_owned(),
        group_version: version.to_owned(),
        ..Default::default()
    })
}

/// `NAME=SPEC`: the secret as env var `NAME` (Flyte 2's `as_env_var`).
pub fn parse_env(spec: &str) -> Result<SecretRequest, InjectError> {
    let (name, secret) = spec.split_once('=').ok_or_else(|| bad(spec, "write NAME=KEY"))?;
    if !is_valid_env_var(name) {
        return Err(bad(spec, format!("env var name {name:?} must match ^[A-Z_][A-Z0-9_]*$")));
    }
    let mut r = parse_secret(secret)?;
    r.mount_requirement = MountRequirement::EnvVar;
    r.env_var = name.to_owned();
    Ok(r)
}

/// `SPEC`: the secret as a file only.
pub fn parse_file(spec: &str) -> Result<SecretRequest, InjectError> {
    let mut r = parse_secret(spec)?;
    r.mount_requirement = MountRequirement::File;
    Ok(r)
}

/// A YAML or JSON list of objects with Flyte's field names (`group`, `group_version`, `key`,
/// `mount_requirement`, `env_var`).
pub fn parse_requests_file(path: &Path) -> Result<Vec<SecretRequest>, InjectError> {
    let text = std::fs::read_to_string(path).map_err(|e| InjectError::io(path, e))?;
    let list: Vec<SecretRequest> = serde_yaml::from_str(&text)
        .map_err(|e| bad(&path.display().to_string(), format!("not a YAML/JSON list of secret requests: {e}")))?;
    for r in &list {
        if r.key.is_empty() && r.group.is_empty() {
            return Err(bad(&path.display().to_string(), "every request needs a key (or an external group)"));
        }
        if !r.env_var.is_empty() && !is_valid_env_var(&r.env_var) {
            return Err(bad(
                &path.display().to_string(),
                format!("env_var {:?} must match ^[A-Z_][A-Z0-9_]*$", r.env_var),
            ));
        }
    }
    Ok(list)
}

/// Requests from Flyte's pod annotations (`flyte.secrets/s0`, `s1`, …), in index order.
///
/// Accepts the Kubernetes downward-API file format (`key="value"` per line, Go-quoted), a JSON
/// object, or a YAML map. Other annotations are ignored.
pub fn parse_annotations(text: &str) -> Result<Vec<SecretRequest>, InjectError> {
    let pairs: Vec<(String, String)> = if text.trim_start().starts_with('{') {
        let m: std::collections::BTreeMap<String, String> =
            serde_json::from_str(text).map_err(|e| bad("annotations", format!("not a JSON object of strings: {e}")))?;
        m.into_iter().collect()
    } else if text.lines().any(|l| l.contains("=\"")) {
        text.lines().filter(|l| !l.trim().is_empty()).map(downward_line).collect::<Result<_, _>>()?
    } else {
        let m: std::collections::BTreeMap<String, String> =
            serde_yaml::from_str(text).map_err(|e| bad("annotations", format!("not a map of strings: {e}")))?;
        m.into_iter().collect()
    };
    let mut found: Vec<(usize, SecretRequest)> = Vec::new();
    for (k, v) in pairs {
        let Some(index) = k.strip_prefix(annotation::KEY_PREFIX) else {
            continue;
        };
        let index: usize = index.parse().map_err(|_| bad(&k, "annotation index is not a number"))?;
        let req = annotation::decode(&v).map_err(|e| bad(&k, format!("error unmarshaling secret: {e}")))?;
        found.push((index, req));
    }
    found.sort_by_key(|(i, _)| *i);
    Ok(found.into_iter().map(|(_, r)| r).collect())
}

/// One `key="value"` line of a downward-API annotations file.
fn downward_line(line: &str) -> Result<(String, String), InjectError> {
    let (k, v) = line.split_once('=').ok_or_else(|| bad(line, "expected key=\"value\""))?;
    let v = v.trim();
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| bad(line, "expected a double-quoted value"))?;
    // Flyte's values are base32 ([a-z1-6]); unescape the few escapes Go's %q can produce anyway.
    let value = inner.replace("\\\"", "\"").replace("\\\\", "\\");
    Ok((k.trim().to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let r = parse_secret("db/password@3").unwrap();
        assert_eq!((r.group.as_str(), r.key.as_str(), r.group_version.as_str()), ("db", "password", "3"));
        assert_eq!(r.mount_requirement, MountRequirement::Any);
        let r = parse_secret("OPENAI_KEY").unwrap();
        assert_eq!((r.group.as_str(), r.key.as_str()), ("", "OPENAI_KEY"));
        let r = parse_env("MY_VAR=api-key").unwrap();
        assert_eq!(
            (r.env_var.as_str(), r.key.as_str(), r.mount_requirement),
            ("MY_VAR", "api-key", MountRequirement::EnvVar)
        );
        assert_eq!(parse_file("g/k").unwrap().mount_requirement, MountRequirement::File);
        for bad in ["", "g/", "/k", "k@", "a/b/c/"] {
            assert!(parse_secret(bad).is_err(), "{bad}");
        }
        assert!(parse_env("lower=k").is_err());
        assert!(parse_env("NOEQUALS").is_err());
    }

    #[test]
    fn arn_specs() {
        let r =
            parse_secret("arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db@x-AbCdEf@AWSPREVIOUS").unwrap();
        assert_eq!(r.group, "arn:aws:secretsmanager:us-east-1:123456789012:secret:");
        assert_eq!((r.key.as_str(), r.group_version.as_str()), ("app/db@x-AbCdEf", "AWSPREVIOUS"));
        let r = parse_file("arn:aws:secretsmanager:us-east-1:1:secret:plain-AbCdEf").unwrap();
        assert_eq!(
            (r.key.as_str(), r.group_version.as_str(), r.mount_requirement),
            ("plain-AbCdEf", "", MountRequirement::File)
        );
        assert!(parse_secret("arn:aws:secretsmanager:us-east-1:1:secret:").is_err());
        let r = parse_secret("https://v.vault.azure.net/secrets/s@0123abcd").unwrap();
        assert_eq!(
            (r.group.as_str(), r.group_version.as_str(), r.key.as_str()),
            ("https://v.vault.azure.net/secrets/s", "0123abcd", "")
        );
    }

    #[test]
    fn annotations_in_every_format() {
        let s0 = annotation::encode(&parse_env("OPENAI_KEY=openai-key").unwrap()).unwrap();
        let s1 = annotation::encode(&parse_file("my_secret").unwrap()).unwrap();
        let downward = format!("kubernetes.io/psp=\"x\"\nflyte.secrets/s1=\"{s1}\"\nflyte.secrets/s0=\"{s0}\"\n");
        let json = format!("{{\"flyte.secrets/s1\": \"{s1}\", \"flyte.secrets/s0\": \"{s0}\", \"other\": \"y\"}}");
        let yaml = format!("flyte.secrets/s0: {s0}\nflyte.secrets/s1: {s1}\n");
        for text in [downward, json, yaml] {
            let reqs = parse_annotations(&text).unwrap();
            assert_eq!(reqs.len(), 2);
            assert_eq!(reqs[0].env_var, "OPENAI_KEY");
            assert_eq!(reqs[1].key, "my_secret");
        }
        assert!(parse_annotations("flyte.secrets/s0=\"!!!\"").is_err());
        // Spec vector: key my_key.
        let reqs = parse_annotations("flyte.secrets/s0=\"nnsxsoraejwxsx2lmv3secq\"").unwrap();
        assert_eq!(reqs[0].key, "my_key");
    }
}
