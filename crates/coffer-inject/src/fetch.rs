//! `coffer fetch`: the init-container mode. Write files and an env file, then exit.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use coffer_core::{SecretRequest, SecretValue};

use crate::InjectError;
use crate::plan::{Layout, Plan};
use crate::privdir::{is_memory_fs, write_files};

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The directory to write into (created 0700 if missing).
    pub dir: PathBuf,
    /// Where the task will see that directory (`FLYTE_SECRETS_DEFAULT_DIR`); `dir` by default.
    pub mount_path: Option<PathBuf>,
    /// The env file to write; `<dir>/coffer.env` by default.
    pub env_file: Option<PathBuf>,
    /// Env-var prefix for flytekit names.
    pub env_prefix: String,
}

/// What was written.
#[derive(Debug)]
pub struct FetchReport {
    /// Files written (relative to the directory).
    pub files: usize,
    /// Variables in the env file.
    pub env_vars: usize,
    /// The env file.
    pub env_file: PathBuf,
    /// Whether the directory is on a memory filesystem.
    pub in_memory: bool,
}

/// Whether `s` can be assigned by a POSIX shell: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_shell_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// POSIX shell single-quoting: safe to `source`, whatever the value holds.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Writes the files of `requests` (one value each) into `opts.dir` and an env file that
/// `source`s their env vars. Nothing is left half-written on failure.
pub fn fetch(
    requests: &[SecretRequest],
    values: Vec<SecretValue>,
    opts: &FetchOptions,
) -> Result<FetchReport, InjectError> {
    if !opts.dir.exists() {
        DirBuilder::new().recursive(true).mode(0o700).create(&opts.dir).map_err(|e| InjectError::io(&opts.dir, e))?;
    }
    let mount_path = opts.mount_path.clone().unwrap_or_else(|| opts.dir.clone());
    let plan = Plan::new(requests, values, &Layout { env_prefix: opts.env_prefix.clone(), mount_path })?;
    let env_file = opts.env_file.clone().unwrap_or_else(|| opts.dir.join("coffer.env"));
    if plan.files.keys().any(|rel| opts.dir.join(rel) == env_file) {
        return Err(InjectError::Layout(format!("a secret file would overwrite the env file {}", env_file.display())));
    }
    write_files(&opts.dir, &plan)?;
    let env = plan.env_text();
    let mut body = zeroize::Zeroizing::new(String::new());
    for (k, v) in &env {
        if is_shell_name(k) {
            body.push_str(&format!("export {k}={}\n", sh_quote(v)));
        } else {
            // flytekit names keep hyphens (`_FSEC_USER-INFO_KEY`), which no shell can assign;
            // the value is in the file (and `coffer run` sets such variables directly).
            body.push_str(&format!("# {k} is not a shell variable name; read the secret's file instead\n"));
        }
    }
    if let Err(e) = write_new(&env_file, body.as_bytes()) {
        for rel in plan.files.keys() {
            let _ = std::fs::remove_file(opts.dir.join(rel));
        }
        return Err(e);
    }
    Ok(FetchReport { files: plan.files.len(), env_vars: env.len(), env_file, in_memory: is_memory_fs(&opts.dir) })
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), InjectError> {
    let mut f =
        OpenOptions::new().write(true).create_new(true).mode(0o400).open(path).map_err(|e| InjectError::io(path, e))?;
    f.write_all(bytes).map_err(|e| InjectError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_shell() {
        assert_eq!(sh_quote("it's $HOME `x`"), r"'it'\''s $HOME `x`'");
        assert!(is_shell_name("_FSEC_A1") && !is_shell_name("_FSEC_USER-INFO") && !is_shell_name("1A"));
    }
}
