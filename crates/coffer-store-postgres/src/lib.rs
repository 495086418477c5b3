//! coffer's PostgreSQL engine: any number of stateless `coffer serve` replicas on one database.
//!
//! Start with [`PgStore::connect`] and [`PgStore::migrate`]. Nothing is cached in the process,
//! so a write acknowledged by one replica is visible to every other at once. Writers to one
//! secret serialize on its row (`SELECT … FOR UPDATE`); the audit chain stays linear across
//! replicas because every append takes one transaction-scoped advisory lock. Errors that mean
//! "the database is not there" (refused or broken connections, shutdown, pool exhaustion) are
//! [`StoreError::Unavailable`], which the service answers with 503, fast.

mod schema;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use coffer_core::{Role, Scope, SecretName, Timestamp, Version};
use coffer_store::{
    AuditEntry, AuditQuery, AuditRecord, AuditStore, GENESIS, ListCursor, ListQuery, NewSecret, NewToken, Page,
    RewrapFn, SealFn, SealedVersion, SecretMeta, SecretStore, StoreError, TokenId, TokenRecord, TokenScope, TokenStore,
    VersionMeta, chain_hash,
};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};
use zeroize::Zeroizing;

/// Held by every audit append, so the chain has one tail across all replicas.
const AUDIT_LOCK: i64 = 0x0061_7564_6974;
const MAX_PAGE: u32 = 1000;

/// A `postgres://` URL. It may hold a password, so `Debug` and `Display` redact it.
#[derive(Clone)]
pub struct DatabaseUrl {
    text: Zeroizing<String>,
    config: tokio_postgres::Config,
}

/// Why a database URL is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrlError(String);

impl fmt::Display for DatabaseUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid database URL: {}", self.0)
    }
}

impl std::error::Error for DatabaseUrlError {}

// === impl DatabaseUrl ===

impl FromStr for DatabaseUrl {
    type Err = DatabaseUrlError;

    fn from_str(s: &str) -> Result<Self, DatabaseUrlError> {
        if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
            return Err(DatabaseUrlError("use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE".into()));
        }
        // The parser's own message can quote the input; do not pass it on.
        let config = s
            .parse::<tokio_postgres::Config>()
            .map_err(|_| DatabaseUrlError("use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?options]".into()))?;
        Ok(Self { text: Zeroizing::new(s.to_owned()), config })
    }
}

impl DatabaseUrl {
    /// `user@host:port/database`, without the password.
    pub fn redacted(&self) -> String {
        let c = &self.config;
        let host = c
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(t) => t.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = c.get_ports().first().copied().unwrap_or(5432);
        format!(
            "postgres://{}@{host}:{port}/{}",
            c.get_user().unwrap_or(""),
            c.get_dbname().unwrap_or(c.get_user().unwrap_or(""))
        )
    }

    /// The full URL, password included, for handing to the driver.
    pub fn expose(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Pool limits and timeouts.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Most connections this process opens. Default 16.
    pub pool_size: usize,
    /// Longest wait for a TCP connection and login. Default 3 s.
    pub connect_timeout: Duration,
    /// Longest wait for a free connection from the pool. Default 3 s.
    pub acquire_timeout: Duration,
    /// Longest any statement may run. Default 10 s.
    pub statement_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            connect_timeout: Duration::from_secs(3),
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// Storage on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    describe: String,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore").field("database", &self.describe).finish()
    }
}

/// Classifies a driver error: connection trouble is `Unavailable`, the rest `Internal`.
pub(crate) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    let unavailable = match e.code() {
        None => true,
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") || c == "40001" || c == "40P01"
        }
    };
    // The driver's messages never contain bound parameters (sealed values travel as parameters).
    if unavailable { StoreError::unavailable(e.to_string()) } else { StoreError::internal(e.to_string()) }
}

fn pool_err(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => pg_err(e),
        other => StoreError::unavailable(format!("no database connection: {other}")),
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| c.code() == "23505")
}

fn corrupt(reason: impl fmt::Display) -> StoreError {
    StoreError::Corrupt { reason: reason.to_string() }
}

fn what(scope: &Scope, name: &SecretName) -> String {
    format!("secret {name} in {scope}")
}

fn part<T: AsRef<str>>(p: Option<&T>) -> &str {
    p.map_or("", AsRef::as_ref)
}

fn version_of(n: i32) -> Result<Version, StoreError> {
    u32::try_from(n).ok().and_then(Version::new).ok_or_else(|| corrupt(format!("bad version number {n}")))
}

fn v32(v: Version) -> i32 {
    // Versions beyond i32::MAX cannot be written (the column is INTEGER); the service stops
    // long before, at u32::MAX / 2 writes per secret.
    i32::try_from(v.get()).unwrap_or(i32::MAX)
}

const META_COLS: &str = "s.id, s.org, s.project, s.domain, s.name, s.secret_type, s.created_at, s.updated_at, s.current_version, \
     s.deleted_at, s.purge_at";

fn meta_row(row: &Row) -> Result<(i64, SecretMeta), StoreError> {
    let get_s = |i: usize| row.try_get::<_, String>(i).map_err(corrupt);
    let opt = |s: String| (!s.is_empty()).then_some(s);
    let scope = Scope::new(
        get_s(1)?.parse().map_err(corrupt)?,
        opt(get_s(2)?).map(|p| p.parse()).transpose().map_err(corrupt)?,
        opt(get_s(3)?).map(|d| d.parse()).transpose().map_err(corrupt)?,
    );
    let meta = SecretMeta {
        scope,
        name: get_s(4)?.parse().map_err(corrupt)?,
        secret_type: get_s(5)?.parse().map_err(corrupt)?,
        created_at: Timestamp::from_millis(row.try_get(6).map_err(corrupt)?),
        updated_at: Timestamp::from_millis(row.try_get(7).map_err(corrupt)?),
        current_version: version_of(row.try_get(8).map_err(corrupt)?)?,
        deleted_at: row.try_get::<_, Option<i64>>(9).map_err(corrupt)?.map(Timestamp::from_millis),
        purge_at: row.try_get::<_, Option<i64>>(10).map_err(corrupt)?.map(Timestamp::from_millis),
    };
    Ok((row.try_get(0).map_err(corrupt)?, meta))
}

async fn find(
    c: &impl GenericClient,
    scope: &Scope,
    name: &SecretName,
    for_update: bool,
) -> Result<Option<(i64, SecretMeta)>, StoreError> {
    let sql = format!(
        "SELECT {META_COLS} FROM secrets s WHERE org=$1 AND project=$2 AND domain=$3 AND name=$4{}",
        if for_update { " FOR UPDATE" } else { "" }
    );
    let row = c
        .query_opt(&sql, &[&scope.org_name().as_str(), &part(scope.project()), &part(scope.domain()), &name.as_str()])
        .await
        .map_err(pg_err)?;
    row.map(|r| meta_row(&r)).transpose()
}

async fn must_find(
    c: &impl GenericClient,
    scope: &Scope,
    name: &SecretName,
    for_update: bool,
) -> Result<(i64, SecretMeta), StoreError> {
    find(c, scope, name, for_update).await?.ok_or_else(|| StoreError::NotFound { what: what(scope, name) })
}

fn live(meta: &SecretMeta) -> Result<(), StoreError> {
    match meta.purge_at {
        Some(purge_at) => Err(StoreError::PendingDeletion { what: what(&meta.scope, &meta.name), purge_at }),
        None => Ok(()),
    }
}

/// Appends entries after the chain's tail, inside the caller's transaction. Takes the audit
/// lock, which the transaction holds until it ends: call it last, right before commit.
async fn append(c: &impl GenericClient, entries: &[AuditEntry]) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK]).await.map_err(pg_err)?;
    let tail = c.query_opt("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", &[]).await.map_err(pg_err)?;
    let (mut seq, mut prev): (i64, [u8; 32]) = match tail {
        Some(r) => {
            let hash: Vec<u8> = r.try_get(1).map_err(corrupt)?;
            (r.try_get(0).map_err(corrupt)?, hash.try_into().map_err(|_| corrupt("audit hash is not 32 bytes"))?)
        }
        None => (0, GENESIS),
    };
    let n = entries.len();
    let (mut seqs, mut times, mut prevs, mut hashes) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut versions: Vec<Option<i32>> = Vec::with_capacity(n);
    for e in entries {
        seq += 1;
        let hash = chain_hash(&prev, seq, e);
        seqs.push(seq);
        times.push(e.time.as_millis());
        prevs.push(prev.to_vec());
        hashes.push(hash.to_vec());
        versions.push(e.version.map(|v| i32::try_from(v).unwrap_or(i32::MAX)));
        prev = hash;
    }
    let col = |f: fn(&AuditEntry) -> &String| entries.iter().map(|e| f(e).as_str()).collect::<Vec<&str>>();
    c.execute(
        "INSERT INTO audit_log (seq, time, request_id, token_id, token_name, action, org, project, domain, target,
                                version, outcome, prev_hash, hash)
         SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[],
                              $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::INTEGER[], $12::TEXT[], $13::BYTEA[], $14::BYTEA[])",
        &[
            &seqs,
            &times,
            &col(|e| &e.request_id),
            &col(|e| &e.token_id),
            &col(|e| &e.token_name),
            &col(|e| &e.action),
            &col(|e| &e.org),
            &col(|e| &e.project),
            &col(|e| &e.domain),
            &col(|e| &e.target),
            &versions,
            &col(|e| &e.outcome),
            &prevs,
            &hashes,
        ],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

// === impl PgStore ===

impl PgStore {
    /// A pool of connections to `url`. Connects lazily; call [`PgStore::migrate`] next.
    pub async fn connect(url: &DatabaseUrl, opts: &PgOptions) -> Result<Self, StoreError> {
        let mut config = url.config.clone();
        config.connect_timeout(opts.connect_timeout);
        config.options(format!("-c statement_timeout={}", opts.statement_timeout.as_millis()));
        config.application_name("coffer");
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(opts.pool_size.max(1))
            .wait_timeout(Some(opts.acquire_timeout))
            .create_timeout(Some(opts.connect_timeout))
            .recycle_timeout(Some(opts.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::internal(e.to_string()))?;
        Ok(Self { pool, describe: url.redacted() })
    }

    /// Applies missing migrations (safe to run from several replicas at once). Returns how many
    /// were applied.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        schema::migrate(&mut conn).await
    }

    /// The database, without credentials.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    async fn conn(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }
}

#[async_trait]
impl SecretStore for PgStore {
    async fn create(&self, new: NewSecret, audit: &AuditEntry) -> Result<SecretMeta, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        if let Some((_, existing)) = find(&tx, &new.scope, &new.name, true).await? {
            live(&existing)?;
            return Err(StoreError::AlreadyExists { what: what(&new.scope, &new.name) });
        }
        let now = new.now.as_millis();
        let inserted = tx
            .query_one(
                "INSERT INTO secrets (org, project, domain, name, secret_type, created_at, updated_at, current_version)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, 1) RETURNING id",
                &[
                    &new.scope.org_name().as_str(),
                    &part(new.scope.project()),
                    &part(new.scope.domain()),
                    &new.name.as_str(),
                    &new.secret_type.as_str(),
                    &now,
                ],
            )
            .await;
        let id: i64 = match inserted {
            Ok(r) => r.get(0),
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::AlreadyExists { what: what(&new.scope, &new.name) });
            }
            Err(e) => return Err(pg_err(e)),
        };
        tx.execute(
            "INSERT INTO secret_versions (secret_id, version, created_at, sealed) VALUES ($1, 1, $2, $3)",
            &[&id, &now, &new.sealed],
        )
        .await
        .map_err(pg_err)?;
        append(&tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(SecretMeta {
            scope: new.scope,
            name: new.name,
            secret_type: new.secret_type,
            created_at: new.now,
            updated_at: new.now,
            current_version: Version::FIRST,
            deleted_at: None,
            purge_at: None,
        })
    }

    async fn append_version(
        &self,
        scope: &Scope,
        name: &SecretName,
        seal: SealFn,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<SecretMeta, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // The row lock numbers concurrent appends from every replica in commit order.
        let (id, meta) = must_find(&tx, scope, name, true).await?;
        live(&meta)?;
        let version = meta
            .current_version
            .next()
            .ok_or_else(|| StoreError::internal(format!("{} has no version numbers left", what(scope, name))))?;
        let sealed = seal(version).map_err(StoreError::internal)?;
        tx.execute(
            "INSERT INTO secret_versions (secret_id, version, created_at, sealed) VALUES ($1, $2, $3, $4)",
            &[&id, &v32(version), &now.as_millis(), &sealed],
        )
        .await
        .map_err(pg_err)?;
        tx.execute(
            "UPDATE secrets SET current_version=$2, updated_at=$3 WHERE id=$1",
            &[&id, &v32(version), &now.as_millis()],
        )
        .await
        .map_err(pg_err)?;
        let mut audit = audit.clone();
        audit.version = Some(version.get());
        append(&tx, std::slice::from_ref(&audit)).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(SecretMeta { current_version: version, updated_at: now, ..meta })
    }

    async fn meta(&self, scope: &Scope, name: &SecretName) -> Result<SecretMeta, StoreError> {
        let c = self.conn().await?;
        Ok(must_find(&c, scope, name, false).await?.1)
    }

    async fn read(
        &self,
        scope: &Scope,
        name: &SecretName,
        version: Option<Version>,
    ) -> Result<(SecretMeta, SealedVersion), StoreError> {
        let c = self.conn().await?;
        // One round trip: the secret and the wanted version together.
        let sql = format!(
            "SELECT {META_COLS}, v.version, v.created_at, v.sealed FROM secrets s
             LEFT JOIN secret_versions v ON v.secret_id = s.id AND v.version = COALESCE($5, s.current_version)
             WHERE s.org=$1 AND s.project=$2 AND s.domain=$3 AND s.name=$4"
        );
        let want: Option<i32> = version.map(v32);
        let row = c
            .query_opt(
                &sql,
                &[&scope.org_name().as_str(), &part(scope.project()), &part(scope.domain()), &name.as_str(), &want],
            )
            .await
            .map_err(pg_err)?
            .ok_or_else(|| StoreError::NotFound { what: what(scope, name) })?;
        let (_, meta) = meta_row(&row)?;
        live(&meta)?;
        let found: Option<i32> = row.try_get(11).map_err(corrupt)?;
        let Some(v) = found else {
            let v = version.unwrap_or(meta.current_version);
            return Err(StoreError::NotFound { what: format!("version {v} of {}", what(scope, name)) });
        };
        let vm = VersionMeta {
            version: version_of(v)?,
            created_at: Timestamp::from_millis(row.try_get(12).map_err(corrupt)?),
        };
        Ok((meta, SealedVersion { meta: vm, sealed: row.try_get(13).map_err(corrupt)? }))
    }

    async fn list(&self, q: &ListQuery) -> Result<Page<SecretMeta>, StoreError> {
        let c = self.conn().await?;
        let limit = q.limit.clamp(1, MAX_PAGE);
        let (ap, ad, an) = match &q.after {
            Some(cur) => (cur.project.clone(), cur.domain.clone(), cur.name.clone()),
            None => (String::new(), String::new(), String::new()),
        };
        let sql = format!(
            "SELECT {META_COLS} FROM secrets s
             WHERE org=$1 AND ($2::TEXT IS NULL OR project=$2) AND ($3::TEXT IS NULL OR domain=$3)
               AND ($4 OR deleted_at IS NULL)
               AND (NOT $5 OR (project, domain, name) > ($6::TEXT COLLATE \"C\", $7::TEXT COLLATE \"C\", $8::TEXT COLLATE \"C\"))
             ORDER BY project, domain, name LIMIT $9"
        );
        let rows = c
            .query(
                &sql,
                &[
                    &q.org.as_str(),
                    &q.project.as_ref().map(|p| p.as_str()),
                    &q.domain.as_ref().map(|d| d.as_str()),
                    &q.include_deleted,
                    &q.after.is_some(),
                    &ap,
                    &ad,
                    &an,
                    &(i64::from(limit) + 1),
                ],
            )
            .await
            .map_err(pg_err)?;
        let mut items = rows.iter().map(|r| meta_row(r).map(|(_, m)| m)).collect::<Result<Vec<_>, _>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|m| ListCursor {
                project: part(m.scope.project()).to_owned(),
                domain: part(m.scope.domain()).to_owned(),
                name: m.name.to_string(),
            })
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn versions(&self, scope: &Scope, name: &SecretName) -> Result<Vec<VersionMeta>, StoreError> {
        let c = self.conn().await?;
        let (id, _) = must_find(&c, scope, name, false).await?;
        let rows = c
            .query("SELECT version, created_at FROM secret_versions WHERE secret_id=$1 ORDER BY version", &[&id])
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                Ok(VersionMeta {
                    version: version_of(r.try_get(0).map_err(corrupt)?)?,
                    created_at: Timestamp::from_millis(r.try_get(1).map_err(corrupt)?),
                })
            })
            .collect()
    }

    async fn delete(
        &self,
        scope: &Scope,
        name: &SecretName,
        now: Timestamp,
        purge_at: Timestamp,
        audit: &AuditEntry,
    ) -> Result<SecretMeta, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let (id, meta) = must_find(&tx, scope, name, true).await?;
        live(&meta)?;
        tx.execute(
            "UPDATE secrets SET deleted_at=$2, purge_at=$3, updated_at=$2 WHERE id=$1",
            &[&id, &now.as_millis(), &purge_at.as_millis()],
        )
        .await
        .map_err(pg_err)?;
        append(&tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(SecretMeta { deleted_at: Some(now), purge_at: Some(purge_at), updated_at: now, ..meta })
    }

    async fn restore(
        &self,
        scope: &Scope,
        name: &SecretName,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<SecretMeta, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let (id, meta) = must_find(&tx, scope, name, true).await?;
        if meta.purge_at.is_none() {
            return Err(StoreError::NotDeleted { what: what(scope, name) });
        }
        tx.execute(
            "UPDATE secrets SET deleted_at=NULL, purge_at=NULL, updated_at=$2 WHERE id=$1",
            &[&id, &now.as_millis()],
        )
        .await
        .map_err(pg_err)?;
        append(&tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(SecretMeta { deleted_at: None, purge_at: None, updated_at: now, ..meta })
    }

    async fn purge(&self, scope: &Scope, name: &SecretName, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let (id, _) = must_find(&tx, scope, name, true).await?;
        tx.execute("DELETE FROM secrets WHERE id=$1", &[&id]).await.map_err(pg_err)?;
        append(&tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.map_err(pg_err)
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let c = self.conn().await?;
        c.execute("DELETE FROM secrets WHERE purge_at IS NOT NULL AND purge_at <= $1", &[&now.as_millis()])
            .await
            .map_err(pg_err)
    }

    async fn rewrap_all(&self, f: &RewrapFn<'_>) -> Result<u64, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let sql = format!(
            "SELECT {META_COLS}, v.version, v.sealed FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
             ORDER BY s.id, v.version FOR UPDATE OF v"
        );
        let rows = tx.query(&sql, &[]).await.map_err(pg_err)?;
        let mut replaced = 0u64;
        for row in &rows {
            let (id, meta) = meta_row(row)?;
            let v: i32 = row.try_get(11).map_err(corrupt)?;
            let sealed: Vec<u8> = row.try_get(12).map_err(corrupt)?;
            let version = version_of(v)?;
            match f(&meta.scope, &meta.name, version, &sealed) {
                Ok(Some(new)) => {
                    tx.execute(
                        "UPDATE secret_versions SET sealed=$3 WHERE secret_id=$1 AND version=$2",
                        &[&id, &v, &new],
                    )
                    .await
                    .map_err(pg_err)?;
                    replaced += 1;
                }
                Ok(None) => {}
                Err(reason) => {
                    return Err(StoreError::internal(format!(
                        "re-wrap of version {version} of {} failed: {reason}",
                        what(&meta.scope, &meta.name)
                    )));
                }
            }
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(replaced)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let c = self.conn().await?;
        c.query_one("SELECT 1", &[]).await.map_err(pg_err)?;
        Ok(())
    }
}

const TOKEN_COLS: &str = "id, name, role, org, project, domain, hash, created_at, expires_at, revoked_at";

fn token_row(r: &Row) -> Result<TokenRecord, StoreError> {
    let opt_s = |i: usize| r.try_get::<_, Option<String>>(i).map_err(corrupt);
    let hash: Vec<u8> = r.try_get(6).map_err(corrupt)?;
    Ok(TokenRecord {
        id: TokenId(r.try_get(0).map_err(corrupt)?),
        name: r.try_get(1).map_err(corrupt)?,
        role: r.try_get::<_, String>(2).map_err(corrupt)?.parse::<Role>().map_err(corrupt)?,
        scope: TokenScope {
            org: opt_s(3)?.map(|o| o.parse()).transpose().map_err(corrupt)?,
            project: opt_s(4)?.map(|p| p.parse()).transpose().map_err(corrupt)?,
            domain: opt_s(5)?.map(|d| d.parse()).transpose().map_err(corrupt)?,
        },
        hash: hash.try_into().map_err(|_| corrupt("token hash is not 32 bytes"))?,
        created_at: Timestamp::from_millis(r.try_get(7).map_err(corrupt)?),
        expires_at: r.try_get::<_, Option<i64>>(8).map_err(corrupt)?.map(Timestamp::from_millis),
        revoked_at: r.try_get::<_, Option<i64>>(9).map_err(corrupt)?.map(Timestamp::from_millis),
    })
}

#[async_trait]
impl TokenStore for PgStore {
    async fn create_token(&self, t: NewToken, audit: &AuditEntry) -> Result<TokenRecord, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let res = tx
            .query_one(
                &format!(
                    "INSERT INTO tokens (id, name, role, org, project, domain, hash, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {TOKEN_COLS}"
                ),
                &[
                    &t.id.0,
                    &t.name,
                    &t.role.as_str(),
                    &t.scope.org.as_ref().map(|o| o.as_str()),
                    &t.scope.project.as_ref().map(|p| p.as_str()),
                    &t.scope.domain.as_ref().map(|d| d.as_str()),
                    &&t.hash[..],
                    &t.created_at.as_millis(),
                    &t.expires_at.map(Timestamp::as_millis),
                ],
            )
            .await;
        let rec = match res {
            Ok(row) => token_row(&row)?,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::AlreadyExists { what: format!("token {}", t.id) });
            }
            Err(e) => return Err(pg_err(e)),
        };
        append(&tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(rec)
    }

    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash=$1"), &[&&hash[..]])
            .await
            .map_err(pg_err)?;
        row.map(|r| token_row(&r)).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(&format!("SELECT {TOKEN_COLS} FROM tokens ORDER BY created_at DESC, id DESC"), &[])
            .await
            .map_err(pg_err)?;
        rows.iter().map(token_row).collect()
    }

    async fn revoke_token(&self, id: &TokenId, now: Timestamp, audit: &AuditEntry) -> Result<TokenRecord, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let row = tx
            .query_opt(
                &format!("UPDATE tokens SET revoked_at=COALESCE(revoked_at, $2) WHERE id=$1 RETURNING {TOKEN_COLS}"),
                &[&id.0, &now.as_millis()],
            )
            .await
            .map_err(pg_err)?
            .ok_or_else(|| StoreError::NotFound { what: format!("token {id}") })?;
        let rec = token_row(&row)?;
        append(&tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(rec)
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        append(&tx, entries).await?;
        tx.commit().await.map_err(pg_err)
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let c = self.conn().await?;
        let limit = i64::from(q.limit.clamp(1, 1000));
        let rows = c
            .query(
                "SELECT seq, time, request_id, token_id, token_name, action, org, project, domain, target, version,
                        outcome, prev_hash, hash
                 FROM audit_log
                 WHERE seq > $1 AND ($2::BIGINT IS NULL OR time >= $2) AND ($3::TEXT IS NULL OR target = $3)
                   AND ($5::TEXT IS NULL OR org = $5)
                 ORDER BY seq LIMIT $4",
                &[&q.after_seq.unwrap_or(0), &q.since.map(Timestamp::as_millis), &q.target, &limit, &q.org],
            )
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.try_get(0).map_err(corrupt)?;
                let prev: Vec<u8> = r.try_get(12).map_err(corrupt)?;
                let hash: Vec<u8> = r.try_get(13).map_err(corrupt)?;
                Ok(AuditRecord {
                    seq,
                    entry: AuditEntry {
                        time: Timestamp::from_millis(r.try_get(1).map_err(corrupt)?),
                        request_id: r.try_get(2).map_err(corrupt)?,
                        token_id: r.try_get(3).map_err(corrupt)?,
                        token_name: r.try_get(4).map_err(corrupt)?,
                        action: r.try_get(5).map_err(corrupt)?,
                        org: r.try_get(6).map_err(corrupt)?,
                        project: r.try_get(7).map_err(corrupt)?,
                        domain: r.try_get(8).map_err(corrupt)?,
                        target: r.try_get(9).map_err(corrupt)?,
                        version: r.try_get::<_, Option<i32>>(10).map_err(corrupt)?.map(|v| v as u32),
                        outcome: r.try_get(11).map_err(corrupt)?,
                    },
                    prev_hash: prev.try_into().map_err(|_| corrupt(format!("audit record {seq}: bad prev_hash")))?,
                    hash: hash.try_into().map_err(|_| corrupt(format!("audit record {seq}: bad hash")))?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_never_show_passwords() {
        let url: DatabaseUrl = "postgres://app:hunter2-pw@db.internal:6432/coffer?sslmode=disable".parse().unwrap();
        for shown in [format!("{url}"), format!("{url:?}"), url.redacted()] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("app@db.internal:6432/coffer"), "{shown}");
        }
        let err = "mysql://root:hunter2@x/y".parse::<DatabaseUrl>().unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        let err = "postgres://u:hunter2@host:notaport/db".parse::<DatabaseUrl>().unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
