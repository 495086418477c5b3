//! Service configuration: defaults, a TOML file, and command-line overrides (in that order).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer_core::Org;
use serde::Deserialize;

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for coffer.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// How the service runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen. Default `127.0.0.1:8787`.
    pub listen: SocketAddr,
    /// Database, keyring and bootstrap token live here. Default `./coffer-data`.
    pub data_dir: PathBuf,
    /// The org used when a request names none. Default `default`.
    pub default_org: Org,
    /// How long a deleted secret stays recoverable. Default 7 days.
    pub recovery_window: Duration,
    /// The largest request body accepted, in bytes. Default 256 KiB.
    pub max_body_bytes: usize,
    /// Skip the audit record of successful reads (values, metadata, listings). Changes, denials
    /// and failures are still recorded. Off by default; exists to measure what auditing costs.
    pub dangerously_skip_read_audit: bool,
    /// A PostgreSQL database instead of the embedded SQLite file (`postgres://…`).
    pub database: Option<DatabaseSetting>,
    /// Most database connections this process opens. Default 16.
    pub database_pool_size: usize,
    /// Longest wait for a database connection (connect, or a free one from the pool). Default 3 s.
    pub database_timeout: Duration,
    /// Longest any database statement may run. Default 10 s.
    pub database_statement_timeout: Duration,
    /// The keyring file; `<data_dir>/keyring.json` by default. Replicas on one database must
    /// share it (or `COFFER_KEK`).
    pub keyring_file: Option<PathBuf>,
    /// A key-encryption key given directly (the `COFFER_KEK` environment variable) instead of
    /// the data directory's keyring file.
    pub kek: Option<EnvKek>,
}

/// A database URL. It may hold a password, so `Debug` shows only that one is set.
#[derive(Clone)]
pub struct DatabaseSetting(zeroize::Zeroizing<String>);

// === impl DatabaseSetting ===

impl DatabaseSetting {
    /// Wraps a URL.
    pub fn new(url: String) -> Self {
        Self(zeroize::Zeroizing::new(url))
    }

    /// The URL, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseSetting(<redacted>)")
    }
}

/// A base64 key-encryption key from the environment. `Debug` never prints it.
#[derive(Clone)]
pub struct EnvKek {
    /// The key's id, recorded in every record it wraps.
    pub id: String,
    key: zeroize::Zeroizing<String>,
}

// === impl EnvKek ===

impl EnvKek {
    /// A key from its id and base64 text.
    pub fn new(id: String, key_base64: String) -> Self {
        Self { id, key: zeroize::Zeroizing::new(key_base64) }
    }

    /// The base64 text.
    pub fn expose(&self) -> &str {
        &self.key
    }
}

impl std::fmt::Debug for EnvKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnvKek({}, <redacted>)", self.id)
    }
}

/// The TOML file form; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    default_org: Option<String>,
    recovery_window_days: Option<u64>,
    max_body_bytes: Option<usize>,
    dangerously_skip_read_audit: Option<bool>,
    database_url: Option<String>,
    database_pool_size: Option<usize>,
    database_timeout_ms: Option<u64>,
    database_statement_timeout_ms: Option<u64>,
    keyring_file: Option<PathBuf>,
}

// === impl Config ===

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            data_dir: PathBuf::from("coffer-data"),
            default_org: "default".parse().unwrap_or_else(|_| unreachable!("\"default\" is a valid org")),
            recovery_window: Duration::from_secs(7 * 86_400),
            max_body_bytes: 256 * 1024,
            kek: None,
            dangerously_skip_read_audit: false,
            database: None,
            database_pool_size: 16,
            database_timeout: Duration::from_secs(3),
            database_statement_timeout: Duration::from_secs(10),
            keyring_file: None,
        }
    }
}

impl Config {
    /// Defaults overridden by the TOML file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: path.into(), source: e })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse { path: path.into(), message })
    }

    /// Defaults overridden by TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: FileConfig = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let mut c = Self::default();
        if let Some(v) = file.listen {
            c.listen = v;
        }
        if let Some(v) = file.data_dir {
            c.data_dir = v;
        }
        if let Some(v) = file.default_org {
            c.default_org = v.parse().map_err(|e: coffer_core::NameError| format!("default_org: {e}"))?;
        }
        if let Some(days) = file.recovery_window_days {
            if !(1..=90).contains(&days) {
                return Err(format!("recovery_window_days must be 1 to 90, not {days}"));
            }
            c.recovery_window = Duration::from_secs(days * 86_400);
        }
        if let Some(v) = file.database_url {
            c.database = Some(DatabaseSetting::new(v));
        }
        if let Some(v) = file.database_pool_size {
            if !(1..=1000).contains(&v) {
                return Err(format!("database_pool_size must be 1 to 1000, not {v}"));
            }
            c.database_pool_size = v;
        }
        if let Some(v) = file.database_timeout_ms {
            c.database_timeout = Duration::from_millis(v.max(1));
        }
        if let Some(v) = file.database_statement_timeout_ms {
            c.database_statement_timeout = Duration::from_millis(v.max(1));
        }
        if let Some(v) = file.keyring_file {
            c.keyring_file = Some(v);
        }
        if let Some(v) = file.dangerously_skip_read_audit {
            c.dangerously_skip_read_audit = v;
        }
        if let Some(v) = file.max_body_bytes {
            if v < 128 * 1024 {
                return Err("max_body_bytes must be at least 131072 to fit a 64 KiB value".into());
            }
            c.max_body_bytes = v;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_defaults() {
        let c = Config::from_toml("listen = \"0.0.0.0:9000\"\ndefault_org = \"flyte\"\nrecovery_window_days = 30\n")
            .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.default_org.as_str(), "flyte");
        assert_eq!(c.recovery_window, Duration::from_secs(30 * 86_400));
        assert_eq!(c.data_dir, PathBuf::from("coffer-data"));
        assert!(Config::from_toml("lisen = \"x\"").unwrap_err().contains("unknown field"));
        assert!(Config::from_toml("default_org = \"Bad Org\"").unwrap_err().contains("default_org"));
        assert!(Config::from_toml("recovery_window_days = 0").is_err());
    }
}
