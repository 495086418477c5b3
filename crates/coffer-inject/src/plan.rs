//! From requests and their values to env vars and files, named as flytekit and Flyte 2 read them.
//!
//! For each request (group `g`, version `v`, key `k`, prefix `P`, directory `D`):
//!
//! | mount | env vars | files |
//! |---|---|---|
//! | `ANY` | `P` + `G_V_K` (upper-cased, empty parts skipped); `env_var` = value | `D/g/v/k` (lower-cased); `D/k` (case kept) when there is no group |
//! | `ENV_VAR` | `P` + `G_V_K`; `env_var` = value | none |
//! | `FILE` | `env_var` = the file's path | as ANY |
//!
//! flytekit's `current_context().secrets.get(group, key, group_version)` reads the env var
//! first and then the file; the Flyte 2 SDK reads `os.environ[as_env_var]` or `D/<key>`. A
//! binary value that is not UTF-8 cannot be an env var: ANY delivers it as a file only, ENV_VAR
//! refuses it. Two requests that would write different values under one name are refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use coffer_core::flyte::naming::{self, DEFAULT_DIR_VAR, ENV_PREFIX_VAR, FILE_PREFIX_VAR};
use coffer_core::{MountRequirement, SecretRequest, SecretValue};

use crate::InjectError;

/// Naming choices for a delivery.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Env-var prefix (`FLYTE_SECRETS_ENV_PREFIX`), `_FSEC_` by default.
    pub env_prefix: String,
    /// Where the task sees the files (`FLYTE_SECRETS_DEFAULT_DIR`).
    pub mount_path: PathBuf,
}

/// What an env var is set to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// The value of secret number `n`.
    Secret(usize),
    /// Plain text (a path, a prefix). Not secret.
    Text(String),
}

/// The env vars and files a set of requests becomes.
#[derive(Debug)]
pub struct Plan {
    /// The values, one per request, in request order.
    pub values: Vec<SecretValue>,
    /// Env vars by name.
    pub env: BTreeMap<String, EnvValue>,
    /// Files by path relative to the secrets directory, each the value of secret number `n`.
    pub files: BTreeMap<PathBuf, usize>,
}

fn describe(r: &SecretRequest) -> String {
    let mut s = String::new();
    if !r.group.is_empty() {
        s.push_str(&r.group);
        s.push('/');
    }
    s.push_str(&r.key);
    if !r.group_version.is_empty() {
        s.push('@');
        s.push_str(&r.group_version);
    }
    s
}

fn safe_component(what: &str, s: &str, r: &SecretRequest) -> Result<(), InjectError> {
    // A group may hold '/' (an OpenBao path becomes nested directories, as flytekit joins it);
    // no part may climb out of the secrets directory.
    let parts_ok = |p: &str| p.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    let ok = match what {
        "group_version" => !s.contains('/') && s != "." && s != "..",
        // Keys of coffer's own store cannot hold '/' (names are checked); an AWS secret name may.
        _ => s.is_empty() || parts_ok(s),
    };
    if !ok || s.contains('\0') {
        return Err(InjectError::Layout(format!(
            "secret {}: {what} {s:?} cannot be part of a file path (no '/', '.' or '..')",
            describe(r)
        )));
    }
    Ok(())
}

// === impl Plan ===

impl Plan {
    /// Lays out `values[i]` for `requests[i]`.
    pub fn new(requests: &[SecretRequest], values: Vec<SecretValue>, layout: &Layout) -> Result<Self, InjectError> {
        assert_eq!(requests.len(), values.len(), "one value per request");
        let mut plan = Plan { values, env: BTreeMap::new(), files: BTreeMap::new() };
        let mut env_owner: BTreeMap<String, usize> = BTreeMap::new();
        let mut file_owner: BTreeMap<PathBuf, usize> = BTreeMap::new();
        for (i, r) in requests.iter().enumerate() {
            // An Azure Key Vault reference is named after the secret, not its URI (Flyte's Azure
            // injector and `secrets.get("<name>", group_version=…)`).
            let azure = crate::azure::naming_form(r).filter(|_| r.group.starts_with("https://"));
            let r = azure.as_ref().unwrap_or(r);
            safe_component("group", &r.group, r)?;
            safe_component("group_version", &r.group_version, r)?;
            safe_component("key", &r.key, r)?;
            let value = &plan.values[i];
            let is_text = value.expose_str().is_ok();
            let wants_env = r.mount_requirement != MountRequirement::File;
            let wants_file = r.mount_requirement != MountRequirement::EnvVar;
            if r.mount_requirement == MountRequirement::EnvVar && !is_text {
                return Err(InjectError::Layout(format!(
                    "secret {} has a binary value that is not valid UTF-8 and cannot be an env var; request it as a file",
                    describe(r)
                )));
            }
            let flytekit_path = naming::flytekit_file_path(Path::new(""), "", &r.group, &r.group_version, &r.key);
            if wants_env && is_text {
                let name = naming::flytekit_env_var(&layout.env_prefix, &r.group, &r.group_version, &r.key);
                plan.claim_env(&mut env_owner, requests, name, i)?;
                if !r.env_var.is_empty() {
                    plan.claim_env(&mut env_owner, requests, r.env_var.clone(), i)?;
                }
            }
            if wants_file {
                plan.claim_file(&mut file_owner, requests, flytekit_path.clone(), i)?;
                if r.group.is_empty() && r.group_version.is_empty() {
                    plan.claim_file(&mut file_owner, requests, naming::flyte2_file_path(Path::new(""), &r.key), i)?;
                }
                // The env var carries the value when it can, else the file's path.
                let value_in_env = wants_env && is_text;
                if !r.env_var.is_empty() && !value_in_env {
                    let path = layout.mount_path.join(&flytekit_path).to_string_lossy().into_owned();
                    let text = EnvValue::Text(path);
                    if plan.env.get(&r.env_var).is_some_and(|prev| *prev != text) {
                        return Err(InjectError::Layout(format!("env var {} is requested twice", r.env_var)));
                    }
                    plan.env.insert(r.env_var.clone(), text);
                }
            }
        }
        plan.env.insert(ENV_PREFIX_VAR.into(), EnvValue::Text(layout.env_prefix.clone()));
        plan.env.insert(DEFAULT_DIR_VAR.into(), EnvValue::Text(layout.mount_path.to_string_lossy().into_owned()));
        plan.env.insert(FILE_PREFIX_VAR.into(), EnvValue::Text(String::new()));
        Ok(plan)
    }

    fn same_value(&self, a: usize, b: usize) -> bool {
        self.values[a].expose_bytes() == self.values[b].expose_bytes()
    }

    fn claim_env(
        &mut self,
        owners: &mut BTreeMap<String, usize>,
        requests: &[SecretRequest],
        name: String,
        i: usize,
    ) -> Result<(), InjectError> {
        if let Some(&prev) = owners.get(&name)
            && !self.same_value(prev, i)
        {
            return Err(InjectError::Layout(format!(
                "secrets {} and {} would both set env var {name} with different values; rename one",
                describe(&requests[prev]),
                describe(&requests[i])
            )));
        }
        owners.insert(name.clone(), i);
        self.env.insert(name, EnvValue::Secret(i));
        Ok(())
    }

    fn claim_file(
        &mut self,
        owners: &mut BTreeMap<PathBuf, usize>,
        requests: &[SecretRequest],
        path: PathBuf,
        i: usize,
    ) -> Result<(), InjectError> {
        if let Some(&prev) = owners.get(&path)
            && !self.same_value(prev, i)
        {
            return Err(InjectError::Layout(format!(
                "secrets {} and {} would both be written to file {} with different values (file names are \
                 lower-cased as flytekit reads them); rename one",
                describe(&requests[prev]),
                describe(&requests[i]),
                path.display()
            )));
        }
        // A directory and a file of the same name (g/k and g) cannot coexist.
        for other in owners.keys() {
            if other != &path && (other.starts_with(&path) || path.starts_with(other)) {
                return Err(InjectError::Layout(format!(
                    "file {} and {} cannot both exist (one would be a directory)",
                    path.display(),
                    other.display()
                )));
            }
        }
        owners.insert(path.clone(), i);
        self.files.insert(path, i);
        Ok(())
    }

    /// The env var values as text, for a child process or an env file. Binary values never
    /// appear here (the plan refuses them).
    pub fn env_text(&self) -> Vec<(String, zeroize::Zeroizing<String>)> {
        self.env
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    EnvValue::Secret(i) => self.values[*i].expose_str().unwrap_or_default().to_owned(),
                    EnvValue::Text(t) => t.clone(),
                };
                (k.clone(), zeroize::Zeroizing::new(text))
            })
            .collect()
    }

    /// Every secret value's bytes (for masking).
    pub fn secret_bytes(&self) -> impl Iterator<Item = &[u8]> {
        self.values.iter().map(SecretValue::expose_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::{parse_env, parse_file, parse_secret};

    fn layout() -> Layout {
        Layout { env_prefix: "_FSEC_".into(), mount_path: PathBuf::from("/etc/flyte/secrets") }
    }

    fn s(v: &str) -> SecretValue {
        SecretValue::string(v.into()).unwrap()
    }

    #[test]
    fn flytekit_and_flyte2_names() {
        let reqs = vec![
            parse_secret("db/Password@2").unwrap(),
            parse_secret("api_key").unwrap(),
            parse_env("OPENAI_KEY=openai-key").unwrap(),
            parse_file("Tls.Key").unwrap(),
        ];
        let values = vec![s("pw"), s("ak"), s("oa"), SecretValue::binary(vec![0, 255]).unwrap()];
        let plan = Plan::new(&reqs, values, &layout()).unwrap();
        let env: Vec<&str> = plan.env.keys().map(String::as_str).collect();
        assert_eq!(
            env,
            [
                "FLYTE_SECRETS_DEFAULT_DIR",
                "FLYTE_SECRETS_ENV_PREFIX",
                "FLYTE_SECRETS_FILE_PREFIX",
                "OPENAI_KEY",
                "_FSEC_API_KEY",
                "_FSEC_DB_2_PASSWORD",
                "_FSEC_OPENAI-KEY",
            ]
        );
        let files: Vec<String> = plan.files.keys().map(|p| p.display().to_string()).collect();
        assert_eq!(files, ["Tls.Key", "api_key", "db/2/password", "tls.key"]);
        assert_eq!(plan.env["OPENAI_KEY"], EnvValue::Secret(2));
    }

    #[test]
    fn file_env_var_gets_the_path() {
        let mut r = parse_file("cert").unwrap();
        r.env_var = "CERT_PATH".into();
        let plan = Plan::new(&[r], vec![s("x")], &layout()).unwrap();
        assert_eq!(plan.env["CERT_PATH"], EnvValue::Text("/etc/flyte/secrets/cert".into()));
    }

    #[test]
    fn refusals() {
        let bin = || SecretValue::binary(vec![0xff]).unwrap();
        let e = Plan::new(&[parse_env("B=blob").unwrap()], vec![bin()], &layout()).unwrap_err().to_string();
        assert!(e.contains("request it as a file"), "{e}");
        // ANY with a binary value: file only, no env var.
        let plan = Plan::new(&[parse_secret("blob").unwrap()], vec![bin()], &layout()).unwrap();
        assert!(!plan.env.contains_key("_FSEC_BLOB"));
        assert!(plan.files.contains_key(Path::new("blob")));
        // Case collisions with different values are refused (Flyte issue #2801).
        let e = Plan::new(
            &[parse_secret("MY_SECRET").unwrap(), parse_secret("my_secret").unwrap()],
            vec![s("a"), s("b")],
            &layout(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("MY_SECRET") && e.contains("my_secret"), "{e}");
        let e = Plan::new(&[parse_secret("g/k").unwrap(), parse_secret("g").unwrap()], vec![s("a"), s("b")], &layout())
            .unwrap_err()
            .to_string();
        assert!(e.contains("directory"), "{e}");
        let mut dots = parse_secret("k").unwrap();
        dots.group = "..".into();
        assert!(Plan::new(&[dots], vec![s("a")], &layout()).is_err());
    }
}
