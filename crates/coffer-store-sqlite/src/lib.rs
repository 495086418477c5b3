//! coffer's default storage engine: one SQLite file.
//!
//! Start with [`SqliteStore::open`]. The database runs in WAL mode with `synchronous=FULL`, so
//! a write is on disk before the call returns: an acknowledged write survives a crash of the
//! process or the machine. Writes go through one connection (SQLite allows one writer at a
//! time); reads use a small pool of their own connections and never wait for writes.
//! Blocking SQLite calls run on Tokio's blocking pool.

mod schema;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use coffer_core::{Role, Scope, SecretName, Timestamp, Version};
use coffer_store::{
    AuditEntry, AuditQuery, AuditRecord, AuditStore, GENESIS, ListCursor, ListQuery, NewSecret, NewToken, Page,
    RewrapFn, SealFn, SealedVersion, SecretMeta, SecretStore, StoreError, TokenId, TokenRecord, TokenScope, TokenStore,
    VersionMeta, chain_hash,
};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};

const MAX_PAGE: u32 = 1000;

/// A [`SecretStore`] and [`TokenStore`] in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Distinguishes stores in the per-thread reader cache.
    id: u64,
    path: PathBuf,
    /// The one write connection, used by the writer thread (and by `rewrap_all`).
    writer: Arc<Mutex<Connection>>,
    /// Write jobs for the writer thread.
    jobs: std::sync::mpsc::Sender<Job>,
    /// Set by a purge: truncate the WAL after the batch commits.
    scrub: Arc<std::sync::atomic::AtomicBool>,
}

/// What a write job leaves to do once its batch has committed (or failed to).
type Done = Box<dyn FnOnce(Result<(), String>) + Send>;
/// One write: runs inside the batch's transaction and says whether it succeeded.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Done) + Send>;

/// Most writes committed together.
const MAX_BATCH: usize = 256;

/// Group commit: runs every write queued while the previous batch committed in one transaction
/// (each in a savepoint, so one failure undoes only itself), with one fsync for all of them.
fn writer_loop(
    conn: Arc<Mutex<Connection>>,
    jobs: std::sync::mpsc::Receiver<Job>,
    scrub: Arc<std::sync::atomic::AtomicBool>,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let Ok(conn) = conn.lock() else { return };
        if conn.execute_batch("BEGIN IMMEDIATE").is_err() {
            // The jobs never ran; dropping them tells each caller its write did not happen.
            continue;
        }
        let mut done = Vec::with_capacity(batch.len());
        for job in batch {
            let saved = conn.execute_batch("SAVEPOINT job").is_ok();
            let (ok, d) = job(&conn);
            if saved {
                let end = if ok { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
                let _ = conn.execute_batch(end);
            }
            done.push(d);
        }
        let committed = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        } else if scrub.swap(false, Ordering::Relaxed) {
            scrub_wal(&conn);
        }
        drop(conn);
        for d in done {
            d(committed.clone());
        }
    }
}

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// Most stores one thread keeps a read connection for (tests open many; a server opens one).
const READERS_PER_THREAD: usize = 8;

thread_local! {
    /// Read-only connections of the current thread, by store id.
    static READERS: RefCell<Vec<(u64, Connection)>> = const { RefCell::new(Vec::new()) };
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).finish()
    }
}

fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::NotADatabase,
        ) => StoreError::unavailable(e),
        _ => StoreError::internal(e),
    }
}

fn what(scope: &Scope, name: &SecretName) -> String {
    format!("secret {name} in {scope}")
}

fn poisoned() -> StoreError {
    StoreError::internal("a storage thread panicked while holding the connection")
}

// === impl SqliteStore ===

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut conn = Connection::open(&path).map_err(map_err)?;
            configure(&conn)?;
            schema::migrate(&mut conn)?;
            let id = NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed);
            let writer = Arc::new(Mutex::new(conn));
            let scrub = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (jobs, rx) = std::sync::mpsc::channel::<Job>();
            let (w, sc) = (writer.clone(), scrub.clone());
            std::thread::Builder::new()
                .name("coffer-sqlite-writer".into())
                .spawn(move || writer_loop(w, rx, sc))
                .map_err(StoreError::internal)?;
            Ok(Self { inner: Arc::new(Inner { id, path, writer, jobs, scrub }) })
        })
        .await
        .map_err(StoreError::internal)?
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Queues a write for the writer thread and waits until its batch has committed. `f` runs
    /// inside a transaction shared with other writes; it must not begin or commit one itself.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let done: Done = Box::new(move |committed| {
                let out = match (result, committed) {
                    (Err(e), _) => Err(e),
                    (Ok(v), Ok(())) => Ok(v),
                    (Ok(_), Err(e)) => Err(StoreError::unavailable(format!("commit failed: {e}"))),
                };
                let _ = tx.send(out);
            });
            (ok, done)
        });
        self.inner.jobs.send(job).map_err(|_| StoreError::unavailable("the database writer has stopped"))?;
        rx.await.map_err(|_| StoreError::unavailable("the database could not start a write transaction"))?
    }

    /// Runs a read on the calling thread, with that thread's own read-only connection.
    ///
    /// Reads are a few index lookups in a WAL database whose pages sit in the page cache (tens of
    /// microseconds); handing them to the blocking pool cost two thread switches each, which
    /// dominated the read path (see bench/results/optimizations.md). Each read is its own
    /// snapshot and sees every committed write.
    async fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let (id, path) = (self.inner.id, &self.inner.path);
        READERS.with(|cell| {
            let mut readers = cell.borrow_mut();
            let pos = match readers.iter().position(|(i, _)| *i == id) {
                Some(p) => p,
                None => {
                    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                    let c = Connection::open_with_flags(path, flags).map_err(map_err)?;
                    configure(&c)?;
                    if readers.len() >= READERS_PER_THREAD {
                        readers.remove(0);
                    }
                    readers.push((id, c));
                    readers.len() - 1
                }
            };
            f(&readers[pos].1)
        })
    }
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(map_err)?;
    // secure_delete: purged secrets and replaced records are overwritten, not left in free pages.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;",
    )
    .map_err(map_err)
}

/// Copies the WAL into the database and truncates it, so old images of purged or re-wrapped
/// records do not linger in the log. Best effort: with readers active it may not truncate.
fn scrub_wal(conn: &Connection) {
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// Empty string for an absent scope part, as stored.
fn part<T: AsRef<str>>(p: Option<&T>) -> &str {
    p.map_or("", AsRef::as_ref)
}

const META_COLS: &str =
    "id, org, project, domain, name, secret_type, created_at, updated_at, current_version, deleted_at, purge_at";

struct MetaRow {
    id: i64,
    meta: SecretMeta,
}

fn corrupt(reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { reason: reason.to_string() }
}

fn meta_row(row: &Row<'_>) -> rusqlite::Result<Result<MetaRow, StoreError>> {
    let id: i64 = row.get(0)?;
    let org: String = row.get(1)?;
    let project: String = row.get(2)?;
    let domain: String = row.get(3)?;
    let name: String = row.get(4)?;
    let secret_type: String = row.get(5)?;
    let created_at: i64 = row.get(6)?;
    let updated_at: i64 = row.get(7)?;
    let current: i64 = row.get(8)?;
    let deleted_at: Option<i64> = row.get(9)?;
    let purge_at: Option<i64> = row.get(10)?;
    Ok((|| {
        let opt = |s: String| (!s.is_empty()).then_some(s);
        let scope = Scope::new(
            org.parse().map_err(corrupt)?,
            opt(project).map(|p| p.parse()).transpose().map_err(corrupt)?,
            opt(domain).map(|d| d.parse()).transpose().map_err(corrupt)?,
        );
        let meta = SecretMeta {
            scope,
            name: name.parse().map_err(corrupt)?,
            secret_type: secret_type.parse().map_err(corrupt)?,
            created_at: Timestamp::from_millis(created_at),
            updated_at: Timestamp::from_millis(updated_at),
            current_version: version_of(current)?,
            deleted_at: deleted_at.map(Timestamp::from_millis),
            purge_at: purge_at.map(Timestamp::from_millis),
        };
        Ok(MetaRow { id, meta })
    })())
}

fn version_of(n: i64) -> Result<Version, StoreError> {
    u32::try_from(n).ok().and_then(Version::new).ok_or_else(|| corrupt(format!("bad version number {n}")))
}

fn find(conn: &Connection, scope: &Scope, name: &SecretName) -> Result<Option<MetaRow>, StoreError> {
    let sql = format!("SELECT {META_COLS} FROM secrets WHERE org=?1 AND project=?2 AND domain=?3 AND name=?4");
    let row = conn
        .prepare_cached(&sql)
        .map_err(map_err)?
        .query_row(
            params![scope.org_name().as_str(), part(scope.project()), part(scope.domain()), name.as_str()],
            meta_row,
        )
        .optional()
        .map_err(map_err)?;
    row.transpose()
}

fn must_find(conn: &Connection, scope: &Scope, name: &SecretName) -> Result<MetaRow, StoreError> {
    find(conn, scope, name)?.ok_or_else(|| StoreError::NotFound { what: what(scope, name) })
}

fn live(row: &MetaRow) -> Result<(), StoreError> {
    match row.meta.purge_at {
        Some(purge_at) => Err(StoreError::PendingDeletion { what: what(&row.meta.scope, &row.meta.name), purge_at }),
        None => Ok(()),
    }
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn create(&self, new: NewSecret, audit: &AuditEntry) -> Result<SecretMeta, StoreError> {
        let audit = audit.clone();
        self.write(move |conn| {
            if let Some(existing) = find(conn, &new.scope, &new.name)? {
                live(&existing)?;
                return Err(StoreError::AlreadyExists { what: what(&new.scope, &new.name) });
            }
            let now = new.now.as_millis();
            conn.execute(
                "INSERT INTO secrets (org, project, domain, name, secret_type, created_at, updated_at, current_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 1)",
                params![
                    new.scope.org_name().as_str(),
                    part(new.scope.project()),
                    part(new.scope.domain()),
                    new.name.as_str(),
                    new.secret_type.as_str(),
                    now
                ],
            )
            .map_err(map_err)?;
            let id = conn.last_insert_rowid();
            conn.execute(
                "INSERT INTO secret_versions (secret_id, version, created_at, sealed) VALUES (?1, 1, ?2, ?3)",
                params![id, now, new.sealed],
            )
            .map_err(map_err)?;
            let row = must_find(conn, &new.scope, &new.name)?;
            append(conn, std::slice::from_ref(&audit))?;
            Ok(row.meta)
        })
        .await
    }

    async fn append_version(
        &self,
        scope: &Scope,
        name: &SecretName,
        seal: SealFn,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<SecretMeta, StoreError> {
        let (scope, name, mut audit) = (scope.clone(), name.clone(), audit.clone());
        self.write(move |conn| {
            let row = must_find(conn, &scope, &name)?;
            live(&row)?;
            let version =
                row.meta.current_version.next().ok_or_else(|| {
                    StoreError::internal(format!("{} has no version numbers left", what(&scope, &name)))
                })?;
            let sealed = seal(version).map_err(StoreError::internal)?;
            conn.execute(
                "INSERT INTO secret_versions (secret_id, version, created_at, sealed) VALUES (?1, ?2, ?3, ?4)",
                params![row.id, version.get(), now.as_millis(), sealed],
            )
            .map_err(map_err)?;
            conn.execute(
                "UPDATE secrets SET current_version=?2, updated_at=?3 WHERE id=?1",
                params![row.id, version.get(), now.as_millis()],
            )
            .map_err(map_err)?;
            audit.version = Some(version.get());
            append(conn, std::slice::from_ref(&audit))?;
            Ok(SecretMeta { current_version: version, updated_at: now, ..row.meta })
        })
        .await
    }

    async fn meta(&self, scope: &Scope, name: &SecretName) -> Result<SecretMeta, StoreError> {
        let (scope, name) = (scope.clone(), name.clone());
        self.read(move |conn| Ok(must_find(conn, &scope, &name)?.meta)).await
    }

    async fn read(
        &self,
        scope: &Scope,
        name: &SecretName,
        version: Option<Version>,
    ) -> Result<(SecretMeta, SealedVersion), StoreError> {
        let (scope, name) = (scope.clone(), name.clone());
        self.read(move |conn| {
            let row = must_find(conn, &scope, &name)?;
            live(&row)?;
            let want = version.unwrap_or(row.meta.current_version);
            let found = conn
                .prepare_cached("SELECT created_at, sealed FROM secret_versions WHERE secret_id=?1 AND version=?2")
                .map_err(map_err)?
                .query_row(params![row.id, want.get()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
                .optional()
                .map_err(map_err)?;
            let (created_at, sealed) = found
                .ok_or_else(|| StoreError::NotFound { what: format!("version {want} of {}", what(&scope, &name)) })?;
            let meta = VersionMeta { version: want, created_at: Timestamp::from_millis(created_at) };
            Ok((row.meta, SealedVersion { meta, sealed }))
        })
        .await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page<SecretMeta>, StoreError> {
        let query = query.clone();
        self.read(move |conn| {
            let limit = query.limit.clamp(1, MAX_PAGE);
            let (ap, ad, an) = match &query.after {
                Some(c) => (c.project.clone(), c.domain.clone(), c.name.clone()),
                None => (String::new(), String::new(), String::new()),
            };
            let sql = format!(
                "SELECT {META_COLS} FROM secrets
                 WHERE org=?1 AND (?2 IS NULL OR project=?2) AND (?3 IS NULL OR domain=?3)
                   AND (?4 OR deleted_at IS NULL)
                   AND (?5 = 0 OR (project, domain, name) > (?6, ?7, ?8))
                 ORDER BY project, domain, name LIMIT ?9"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
            let rows = stmt
                .query_map(
                    params![
                        query.org.as_str(),
                        query.project.as_ref().map(|p| p.as_str()),
                        query.domain.as_ref().map(|d| d.as_str()),
                        query.include_deleted,
                        query.after.is_some(),
                        ap,
                        ad,
                        an,
                        i64::from(limit) + 1
                    ],
                    meta_row,
                )
                .map_err(map_err)?;
            let mut items = Vec::new();
            for row in rows {
                items.push(row.map_err(map_err)??.meta);
            }
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
        })
        .await
    }

    async fn versions(&self, scope: &Scope, name: &SecretName) -> Result<Vec<VersionMeta>, StoreError> {
        let (scope, name) = (scope.clone(), name.clone());
        self.read(move |conn| {
            let row = must_find(conn, &scope, &name)?;
            let mut stmt = conn
                .prepare_cached("SELECT version, created_at FROM secret_versions WHERE secret_id=?1 ORDER BY version")
                .map_err(map_err)?;
            let rows =
                stmt.query_map(params![row.id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))).map_err(map_err)?;
            let mut out = Vec::new();
            for r in rows {
                let (v, at) = r.map_err(map_err)?;
                out.push(VersionMeta { version: version_of(v)?, created_at: Timestamp::from_millis(at) });
            }
            Ok(out)
        })
        .await
    }

    async fn delete(
        &self,
        scope: &Scope,
        name: &SecretName,
        now: Timestamp,
        purge_at: Timestamp,
        audit: &AuditEntry,
    ) -> Result<SecretMeta, StoreError> {
        let (scope, name, audit) = (scope.clone(), name.clone(), audit.clone());
        self.write(move |conn| {
            let row = must_find(conn, &scope, &name)?;
            live(&row)?;
            conn.execute(
                "UPDATE secrets SET deleted_at=?2, purge_at=?3, updated_at=?2 WHERE id=?1",
                params![row.id, now.as_millis(), purge_at.as_millis()],
            )
            .map_err(map_err)?;
            append(conn, std::slice::from_ref(&audit))?;
            Ok(SecretMeta { deleted_at: Some(now), purge_at: Some(purge_at), updated_at: now, ..row.meta })
        })
        .await
    }

    async fn restore(
        &self,
        scope: &Scope,
        name: &SecretName,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<SecretMeta, StoreError> {
        let (scope, name, audit) = (scope.clone(), name.clone(), audit.clone());
        self.write(move |conn| {
            let row = must_find(conn, &scope, &name)?;
            if row.meta.purge_at.is_none() {
                return Err(StoreError::NotDeleted { what: what(&scope, &name) });
            }
            conn.execute(
                "UPDATE secrets SET deleted_at=NULL, purge_at=NULL, updated_at=?2 WHERE id=?1",
                params![row.id, now.as_millis()],
            )
            .map_err(map_err)?;
            append(conn, std::slice::from_ref(&audit))?;
            Ok(SecretMeta { deleted_at: None, purge_at: None, updated_at: now, ..row.meta })
        })
        .await
    }

    async fn purge(&self, scope: &Scope, name: &SecretName, audit: &AuditEntry) -> Result<(), StoreError> {
        let (scope, name, audit) = (scope.clone(), name.clone(), audit.clone());
        let scrub = self.inner.scrub.clone();
        self.write(move |conn| {
            let row = must_find(conn, &scope, &name)?;
            conn.execute("DELETE FROM secrets WHERE id=?1", params![row.id]).map_err(map_err)?;
            append(conn, std::slice::from_ref(&audit))?;
            scrub.store(true, Ordering::Relaxed);
            Ok(())
        })
        .await
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.write(move |conn| {
            let n = conn
                .execute("DELETE FROM secrets WHERE purge_at IS NOT NULL AND purge_at <= ?1", params![now.as_millis()])
                .map_err(map_err)?;
            Ok(n as u64)
        })
        .await
    }

    async fn rewrap_all(&self, f: &RewrapFn<'_>) -> Result<u64, StoreError> {
        // The callback borrows from the caller, so it cannot move to the blocking pool; the
        // re-wrap runs on this thread inside one transaction (rare, operator-initiated).
        let inner = self.inner.clone();
        let mut conn = inner.writer.lock().map_err(|_| poisoned())?;
        tokio::task::block_in_place(|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
            let mut replaced = 0u64;
            let rows: Vec<(i64, i64, Vec<u8>)> = {
                let mut stmt = tx
                    .prepare("SELECT secret_id, version, sealed FROM secret_versions ORDER BY secret_id, version")
                    .map_err(map_err)?;
                let it = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(map_err)?;
                it.collect::<Result<_, _>>().map_err(map_err)?
            };
            for (secret_id, version, sealed) in rows {
                let meta = {
                    let sql = format!("SELECT {META_COLS} FROM secrets WHERE id=?1");
                    tx.query_row(&sql, params![secret_id], meta_row).map_err(map_err)??.meta
                };
                let v = version_of(version)?;
                match f(&meta.scope, &meta.name, v, &sealed) {
                    Ok(Some(new)) => {
                        tx.execute(
                            "UPDATE secret_versions SET sealed=?3 WHERE secret_id=?1 AND version=?2",
                            params![secret_id, version, new],
                        )
                        .map_err(map_err)?;
                        replaced += 1;
                    }
                    Ok(None) => {}
                    Err(reason) => {
                        return Err(StoreError::internal(format!(
                            "re-wrap of version {v} of {} failed: {reason}",
                            what(&meta.scope, &meta.name)
                        )));
                    }
                }
            }
            tx.commit().map_err(map_err)?;
            scrub_wal(&conn);
            Ok(replaced)
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query_row("SELECT count(*) FROM secrets", [], |_| Ok(())).map_err(map_err)).await
    }
}

const TOKEN_COLS: &str = "id, name, role, org, project, domain, hash, created_at, expires_at, revoked_at";

fn token_row(row: &Row<'_>) -> rusqlite::Result<Result<TokenRecord, StoreError>> {
    let id: String = row.get(0)?;
    let name: String = row.get(1)?;
    let role: String = row.get(2)?;
    let org: Option<String> = row.get(3)?;
    let project: Option<String> = row.get(4)?;
    let domain: Option<String> = row.get(5)?;
    let hash: Vec<u8> = row.get(6)?;
    let created_at: i64 = row.get(7)?;
    let expires_at: Option<i64> = row.get(8)?;
    let revoked_at: Option<i64> = row.get(9)?;
    Ok((|| {
        Ok(TokenRecord {
            id: TokenId(id),
            name,
            role: role.parse::<Role>().map_err(corrupt)?,
            scope: TokenScope {
                org: org.map(|o| o.parse()).transpose().map_err(corrupt)?,
                project: project.map(|p| p.parse()).transpose().map_err(corrupt)?,
                domain: domain.map(|d| d.parse()).transpose().map_err(corrupt)?,
            },
            hash: hash.try_into().map_err(|_| corrupt("token hash is not 32 bytes"))?,
            created_at: Timestamp::from_millis(created_at),
            expires_at: expires_at.map(Timestamp::from_millis),
            revoked_at: revoked_at.map(Timestamp::from_millis),
        })
    })())
}

fn token_by_id(conn: &Connection, id: &str) -> Result<Option<TokenRecord>, StoreError> {
    let sql = format!("SELECT {TOKEN_COLS} FROM tokens WHERE id=?1");
    conn.query_row(&sql, params![id], token_row).optional().map_err(map_err)?.transpose()
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_token(&self, t: NewToken, audit: &AuditEntry) -> Result<TokenRecord, StoreError> {
        let audit = audit.clone();
        self.write(move |conn| {
            let res = conn.execute(
                "INSERT INTO tokens (id, name, role, org, project, domain, hash, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    t.id.0,
                    t.name,
                    t.role.as_str(),
                    t.scope.org.as_ref().map(|o| o.as_str()),
                    t.scope.project.as_ref().map(|p| p.as_str()),
                    t.scope.domain.as_ref().map(|d| d.as_str()),
                    &t.hash[..],
                    t.created_at.as_millis(),
                    t.expires_at.map(Timestamp::as_millis)
                ],
            );
            match res {
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                    Err(StoreError::AlreadyExists { what: format!("token {}", t.id) })
                }
                Err(e) => Err(map_err(e)),
                Ok(_) => {
                    let rec = token_by_id(conn, &t.id.0)?.ok_or_else(|| corrupt("token vanished after insert"))?;
                    append(conn, std::slice::from_ref(&audit))?;
                    Ok(rec)
                }
            }
        })
        .await
    }

    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        let hash = *hash;
        self.read(move |conn| {
            let sql = format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash=?1");
            conn.prepare_cached(&sql)
                .map_err(map_err)?
                .query_row(params![&hash[..]], token_row)
                .optional()
                .map_err(map_err)?
                .transpose()
        })
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(|conn| {
            let sql = format!("SELECT {TOKEN_COLS} FROM tokens ORDER BY created_at DESC, id DESC");
            let mut stmt = conn.prepare(&sql).map_err(map_err)?;
            let rows = stmt.query_map([], token_row).map_err(map_err)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r.map_err(map_err)??);
            }
            Ok(out)
        })
        .await
    }

    async fn revoke_token(&self, id: &TokenId, now: Timestamp, audit: &AuditEntry) -> Result<TokenRecord, StoreError> {
        let (id, audit) = (id.clone(), audit.clone());
        self.write(move |conn| {
            let n = conn
                .execute(
                    "UPDATE tokens SET revoked_at=COALESCE(revoked_at, ?2) WHERE id=?1",
                    params![id.0, now.as_millis()],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound { what: format!("token {id}") });
            }
            let rec = token_by_id(conn, &id.0)?.ok_or_else(|| StoreError::NotFound { what: format!("token {id}") })?;
            append(conn, std::slice::from_ref(&audit))?;
            Ok(rec)
        })
        .await
    }
}

/// Appends entries after the current tail of the chain, inside the caller's transaction.
fn append(conn: &Connection, entries: &[AuditEntry]) -> Result<(), StoreError> {
    let tail: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .map_err(map_err)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(map_err)?;
    let (mut seq, mut prev) = match tail {
        Some((seq, hash)) => (seq, hash.try_into().map_err(|_| corrupt("audit hash is not 32 bytes"))?),
        None => (0, GENESIS),
    };
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO audit_log (seq, time, request_id, token_id, token_name, action, org, project, domain,
                                    target, version, outcome, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .map_err(map_err)?;
    for e in entries {
        seq += 1;
        let hash = chain_hash(&prev, seq, e);
        stmt.execute(params![
            seq,
            e.time.as_millis(),
            e.request_id,
            e.token_id,
            e.token_name,
            e.action,
            e.org,
            e.project,
            e.domain,
            e.target,
            e.version,
            e.outcome,
            &prev[..],
            &hash[..]
        ])
        .map_err(map_err)?;
        prev = hash;
    }
    Ok(())
}

fn audit_row(r: &Row<'_>) -> rusqlite::Result<Result<AuditRecord, StoreError>> {
    let prev: Vec<u8> = r.get(12)?;
    let hash: Vec<u8> = r.get(13)?;
    let entry = AuditEntry {
        time: Timestamp::from_millis(r.get(1)?),
        request_id: r.get(2)?,
        token_id: r.get(3)?,
        token_name: r.get(4)?,
        action: r.get(5)?,
        org: r.get(6)?,
        project: r.get(7)?,
        domain: r.get(8)?,
        target: r.get(9)?,
        version: r.get(10)?,
        outcome: r.get(11)?,
    };
    let seq: i64 = r.get(0)?;
    Ok((|| {
        Ok(AuditRecord {
            seq,
            entry,
            prev_hash: prev
                .try_into()
                .map_err(|_| corrupt(format!("audit record {seq}: prev_hash is not 32 bytes")))?,
            hash: hash.try_into().map_err(|_| corrupt(format!("audit record {seq}: hash is not 32 bytes")))?,
        })
    })())
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let entries = entries.to_vec();
        self.write(move |conn| {
            append(conn, &entries)?;
            Ok(())
        })
        .await
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let q = q.clone();
        self.read(move |conn| {
            let limit = i64::from(q.limit.clamp(1, 1000));
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, time, request_id, token_id, token_name, action, org, project, domain, target, version,
                            outcome, prev_hash, hash
                     FROM audit_log
                     WHERE seq > ?1 AND (?2 IS NULL OR time >= ?2) AND (?3 IS NULL OR target = ?3)
                       AND (?5 IS NULL OR org = ?5)
                     ORDER BY seq LIMIT ?4",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map(
                    params![q.after_seq.unwrap_or(0), q.since.map(Timestamp::as_millis), q.target, limit, q.org],
                    audit_row,
                )
                .map_err(map_err)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r.map_err(map_err)??);
            }
            Ok(out)
        })
        .await
    }
}
