//! Where flytekit and the Flyte 2 SDK look for a secret at run time (spec §3.3, §6).

use std::path::{Path, PathBuf};

/// The directory Flyte's webhook mounts secrets at.
pub const DEFAULT_SECRETS_DIR: &str = "/etc/flyte/secrets";
/// flytekit's default env-var prefix.
pub const FLYTEKIT_ENV_PREFIX: &str = "_FSEC_";
/// Flyte 2's default env-var prefix (`secretEnvVarPrefix`).
pub const FLYTE2_ENV_PREFIX: &str = "_UNION_";
/// Tells flytekit which env-var prefix to use.
pub const ENV_PREFIX_VAR: &str = "FLYTE_SECRETS_ENV_PREFIX";
/// Tells flytekit which directory holds secret files.
pub const DEFAULT_DIR_VAR: &str = "FLYTE_SECRETS_DEFAULT_DIR";
/// Tells flytekit what to put before each file name.
pub const FILE_PREFIX_VAR: &str = "FLYTE_SECRETS_FILE_PREFIX";

fn parts<'a>(group: &'a str, group_version: &'a str, key: &'a str) -> impl Iterator<Item = &'a str> {
    [group, group_version, key].into_iter().filter(|s| !s.is_empty())
}

/// flytekit's env-var name: `prefix + "_".join(UPPER(x) for x in [group, version, key] if x)`.
/// Hyphens are kept (`_FSEC_USER-INFO_USER_SECRET`).
pub fn flytekit_env_var(prefix: &str, group: &str, group_version: &str, key: &str) -> String {
    let joined: Vec<String> = parts(group, group_version, key).map(str::to_uppercase).collect();
    format!("{prefix}{}", joined.join("_"))
}

/// flytekit's file path: `dir/<lower(group)>/<lower(version)>/<file_prefix + lower(key)>`,
/// skipping empty parts; `file_prefix` goes before the last component only.
pub fn flytekit_file_path(dir: &Path, file_prefix: &str, group: &str, group_version: &str, key: &str) -> PathBuf {
    let lowered: Vec<String> = parts(group, group_version, key).map(str::to_lowercase).collect();
    let mut path = dir.to_path_buf();
    let n = lowered.len();
    for (i, p) in lowered.into_iter().enumerate() {
        if i + 1 == n {
            path.push(format!("{file_prefix}{p}"));
        } else {
            path.push(p);
        }
    }
    path
}

/// Flyte 2's default env-var name for `Secret(key, group)` when neither `mount` nor
/// `as_env_var` is given: `UPPER(replace("-", "_", f"{group}_{key}" if group else key))`.
pub fn flyte2_default_env_var(group: &str, key: &str) -> String {
    let base = if group.is_empty() { key.to_owned() } else { format!("{group}_{key}") };
    base.replace('-', "_").to_uppercase()
}

/// Flyte 2's file path: `dir/<key>`, case kept.
pub fn flyte2_file_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(key)
}

/// Whether a user-chosen env-var name is valid for flytekit and Flyte 2: `^[A-Z_][A-Z0-9_]*$`.
pub fn is_valid_env_var(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flytekit_examples() {
        assert_eq!(flytekit_env_var("_FSEC_", "user-info", "", "user_secret"), "_FSEC_USER-INFO_USER_SECRET");
        assert_eq!(flytekit_env_var("_FSEC_", "mainsecret", "1", "na"), "_FSEC_MAINSECRET_1_NA");
        assert_eq!(flytekit_env_var("_UNION_", "", "", "my_secret"), "_UNION_MY_SECRET");
        let dir = Path::new(DEFAULT_SECRETS_DIR);
        assert_eq!(
            flytekit_file_path(dir, "", "user-info", "", "user_secret"),
            Path::new("/etc/flyte/secrets/user-info/user_secret")
        );
        assert_eq!(
            flytekit_file_path(dir, "", "mainsecret", "1", "na"),
            Path::new("/etc/flyte/secrets/mainsecret/1/na")
        );
        assert_eq!(
            flytekit_file_path(dir, "", "example-secret", "12345", ""),
            Path::new("/etc/flyte/secrets/example-secret/12345")
        );
        assert_eq!(flytekit_file_path(dir, "p-", "G", "", "Key"), Path::new("/etc/flyte/secrets/g/p-key"));
    }

    #[test]
    fn flyte2_examples() {
        assert_eq!(flyte2_default_env_var("", "my-secret"), "MY_SECRET");
        assert_eq!(flyte2_default_env_var("openai", "api-key"), "OPENAI_API_KEY");
        assert_eq!(flyte2_file_path(Path::new(DEFAULT_SECRETS_DIR), "My_Key"), Path::new("/etc/flyte/secrets/My_Key"));
        assert!(is_valid_env_var("OPENAI_KEY"));
        assert!(is_valid_env_var("_X1"));
        for bad in ["", "1A", "a", "A-B", "A.B"] {
            assert!(!is_valid_env_var(bad), "{bad}");
        }
    }
}
