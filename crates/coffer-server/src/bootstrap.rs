//! First start and every start: the data directory, the keyring, the bootstrap admin token.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_core::Role;
use coffer_crypto::{Kek, KekId, Keyring};
use coffer_store::{AuditStore, SecretStore, StoreError, TokenScope, TokenStore};
use coffer_store_sqlite::SqliteStore;

use crate::config::Config;
use crate::service::{KeySource, Secrets};

/// The SQLite database inside the data directory.
pub const DB_FILE: &str = "coffer.db";
/// The key-encryption keyring (0600).
pub const KEYRING_FILE: &str = "keyring.json";
/// The bootstrap admin token, written once on first start (0600).
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// The address the service is listening on, for CLIs on the same machine.
pub const ENDPOINT_FILE: &str = "endpoint";

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The data directory could not be created or used.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database exists but its keyring does not: starting would make every secret unreadable.
    #[error(
        "{db} holds secrets but the keyring {keyring} is missing; restore the keyring file from backup \
         (or set COFFER_KEK), or move the database away to start empty"
    )]
    KeyringMissing {
        /// The database.
        db: String,
        /// The expected keyring file.
        keyring: PathBuf,
    },
    /// The keyring could not be read.
    #[error("keyring: {0}")]
    Keyring(String),
    /// The database setting is unusable.
    #[error("database: {0}")]
    Database(String),
    /// The database could not be opened.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another coffer running? use --listen to pick another address)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("server failed: {0}")]
    Io(std::io::Error),
}

pub(crate) struct Prepared {
    pub(crate) secrets: Arc<Secrets>,
    pub(crate) new_admin_token_file: Option<PathBuf>,
}

/// Writes `bytes` to `path` atomically with mode 0600: a temp file, fsync, rename, fsync dir.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<(), ServeError> {
    let err = |e| ServeError::DataDir { path: path.into(), source: e };
    if !path.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(path).map_err(err)?;
    } else if !path.is_dir() {
        return Err(err(std::io::Error::other("exists and is not a directory")));
    }
    Ok(())
}

fn load_keyring(config: &Config, db_existed: bool, db: &str) -> Result<(Keyring, KeySource), ServeError> {
    if let Some(kek) = &config.kek {
        let id = KekId::parse(&kek.id).map_err(|e| ServeError::Keyring(e.to_string()))?;
        let kek = Kek::from_base64(id, kek.expose()).map_err(|e| ServeError::Keyring(format!("COFFER_KEK: {e}")))?;
        return Ok((Keyring::single(kek), KeySource::Env));
    }
    let path = config.keyring_file.clone().unwrap_or_else(|| config.data_dir.join(KEYRING_FILE));
    if path.exists() {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(&path).map_err(|e| ServeError::Keyring(format!("{}: {e}", path.display())))?,
        );
        warn_if_shared(&path);
        let ring = Keyring::from_json(&text).map_err(|e| ServeError::Keyring(format!("{}: {e}", path.display())))?;
        return Ok((ring, KeySource::File(path)));
    }
    if db_existed {
        return Err(ServeError::KeyringMissing { db: db.to_owned(), keyring: path });
    }
    let ring = Keyring::generate().map_err(|e| ServeError::Keyring(e.to_string()))?;
    write_private(&path, ring.to_json().as_bytes())
        .map_err(|e| ServeError::Keyring(format!("{}: {e}", path.display())))?;
    tracing::info!(path = %path.display(), kek = %ring.active_id(), "generated a new key-encryption key; back this file up");
    Ok((ring, KeySource::File(path)))
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path)
        && m.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "keyring file is readable by group or others; run chmod 600 on it");
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_: &Path) {}

/// The three stores, and whether the database had been used before.
struct Engines {
    secrets: Arc<dyn SecretStore>,
    tokens: Arc<dyn TokenStore>,
    audit: Arc<dyn AuditStore>,
    initialized: bool,
    describe: String,
}

async fn open_sqlite(config: &Config) -> Result<Engines, ServeError> {
    let db = config.data_dir.join(DB_FILE);
    let initialized = db.exists();
    let store = Arc::new(SqliteStore::open(&db).await?);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600));
    }
    Ok(Engines {
        secrets: store.clone(),
        tokens: store.clone(),
        audit: store,
        initialized,
        describe: db.display().to_string(),
    })
}

#[cfg(feature = "postgres")]
async fn open_postgres(config: &Config, setting: &crate::DatabaseSetting) -> Result<Engines, ServeError> {
    use coffer_store_postgres::{DatabaseUrl, PgOptions, PgStore};
    let url: DatabaseUrl = setting
        .expose()
        .parse()
        .map_err(|e: coffer_store_postgres::DatabaseUrlError| ServeError::Database(e.to_string()))?;
    let opts = PgOptions {
        pool_size: config.database_pool_size,
        connect_timeout: config.database_timeout,
        acquire_timeout: config.database_timeout,
        statement_timeout: config.database_statement_timeout,
    };
    let store = Arc::new(PgStore::connect(&url, &opts).await?);
    // A replica may start before its database: wait a while, then give up clearly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match store.migrate().await {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(applied = n, database = %url, "applied database migrations");
                }
                break;
            }
            Err(e) if e.kind() == coffer_store::ErrorKind::Unavailable && std::time::Instant::now() < deadline => {
                tracing::warn!(database = %url, error = %e, "database not reachable yet; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let initialized = !store.list_tokens().await?.is_empty();
    Ok(Engines { secrets: store.clone(), tokens: store.clone(), audit: store, initialized, describe: url.redacted() })
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_: &Config, _: &crate::DatabaseSetting) -> Result<Engines, ServeError> {
    Err(ServeError::Database("this coffer was built without PostgreSQL support (cargo feature `postgres`)".into()))
}

/// Applies database migrations and exits (`coffer migrate`). Returns how many were applied.
#[cfg(feature = "postgres")]
pub async fn migrate(setting: &crate::DatabaseSetting) -> Result<usize, ServeError> {
    use coffer_store_postgres::{DatabaseUrl, PgOptions, PgStore};
    let url: DatabaseUrl = setting
        .expose()
        .parse()
        .map_err(|e: coffer_store_postgres::DatabaseUrlError| ServeError::Database(e.to_string()))?;
    let store = PgStore::connect(&url, &PgOptions::default()).await?;
    Ok(store.migrate().await?)
}

/// Applies database migrations and exits (`coffer migrate`).
#[cfg(not(feature = "postgres"))]
pub async fn migrate(_: &crate::DatabaseSetting) -> Result<usize, ServeError> {
    Err(ServeError::Database("this coffer was built without PostgreSQL support (cargo feature `postgres`)".into()))
}

pub(crate) async fn prepare(config: &Config) -> Result<Prepared, ServeError> {
    create_dir(&config.data_dir)?;
    let engines = match &config.database {
        None => open_sqlite(config).await?,
        Some(setting) => open_postgres(config, setting).await?,
    };
    let (keyring, key_source) = load_keyring(config, engines.initialized, &engines.describe)?;
    let mut new_admin_token_file = None;
    if engines.tokens.list_tokens().await?.is_empty() {
        let scope = TokenScope { org: None, project: None, domain: None };
        let audit = coffer_store::AuditEntry {
            time: coffer_core::Timestamp::now(),
            request_id: "bootstrap".into(),
            token_id: String::new(),
            token_name: "coffer serve".into(),
            action: crate::Action::ManageTokens.as_str().into(),
            org: String::new(),
            project: String::new(),
            domain: String::new(),
            target: String::new(),
            version: None,
            outcome: "ok".into(),
        };
        let (record, text) =
            crate::auth::issue(&*engines.tokens, "bootstrap-admin".into(), Role::Admin, scope, None, &audit).await?;
        let path = config.data_dir.join(ADMIN_TOKEN_FILE);
        let mut body = zeroize::Zeroizing::new(text.expose().to_owned());
        body.push('\n');
        write_private(&path, body.as_bytes()).map_err(|e| ServeError::DataDir { path: path.clone(), source: e })?;
        tracing::info!(token_id = %record.id, "bootstrap admin token issued");
        new_admin_token_file = Some(path);
    }
    tracing::info!(database = %engines.describe, "storage ready");
    // With SQLite this process is the only writer of the token table, so it may cache tokens.
    let single_process = config.database.is_none();
    let secrets = Secrets::new(
        engines.secrets,
        engines.tokens,
        engines.audit,
        keyring,
        key_source,
        config.recovery_window,
        single_process,
    );
    Ok(Prepared { secrets: Arc::new(secrets), new_admin_token_file })
}

/// Records where the service listens, so the CLI on this machine finds it.
pub(crate) fn write_endpoint(data_dir: &Path, addr: SocketAddr) -> Result<(), ServeError> {
    let path = data_dir.join(ENDPOINT_FILE);
    write_private(&path, format!("http://{addr}\n").as_bytes()).map_err(|e| ServeError::DataDir { path, source: e })
}
