//! Versioned migrations, tracked in `PRAGMA user_version`.

use coffer_store::StoreError;
use rusqlite::Connection;

use crate::map_err;

/// Migration `i` takes the schema from version `i` to `i + 1`. Append only; never edit.
const MIGRATIONS: &[&str] = &[
    // 1: secrets, versions, tokens.
    "CREATE TABLE secrets (
        id INTEGER PRIMARY KEY,
        org TEXT NOT NULL,
        project TEXT NOT NULL,
        domain TEXT NOT NULL,
        name TEXT NOT NULL,
        secret_type TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        current_version INTEGER NOT NULL,
        deleted_at INTEGER,
        purge_at INTEGER,
        UNIQUE (org, project, domain, name)
    );
    CREATE INDEX secrets_purge_at ON secrets (purge_at) WHERE purge_at IS NOT NULL;
    CREATE TABLE secret_versions (
        secret_id INTEGER NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        sealed BLOB NOT NULL,
        PRIMARY KEY (secret_id, version)
    ) WITHOUT ROWID;
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        org TEXT,
        project TEXT,
        domain TEXT,
        hash BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER
    );",
    // 2: the hash-chained audit log.
    "CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        token_id TEXT NOT NULL,
        token_name TEXT NOT NULL,
        action TEXT NOT NULL,
        org TEXT NOT NULL,
        project TEXT NOT NULL,
        domain TEXT NOT NULL,
        target TEXT NOT NULL,
        version INTEGER,
        outcome TEXT NOT NULL,
        prev_hash BLOB NOT NULL,
        hash BLOB NOT NULL
    );
    CREATE INDEX audit_log_target ON audit_log (target, seq);
    CREATE INDEX audit_log_time ON audit_log (time);",
    // 3: every read appends a record; an index on `target` took inserts to random places in a
    // B-tree and cost a third of the throughput of random reads (bench/results/optimizations.md).
    // `audit list --secret` scans instead; the log is append-only, so the time index stays cheap.
    "DROP INDEX audit_log_target;",
];

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(map_err)?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Corrupt {
            reason: format!(
                "database schema version {current} is newer than this coffer ({}); upgrade coffer",
                MIGRATIONS.len()
            ),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction().map_err(map_err)?;
        tx.execute_batch(sql).map_err(map_err)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(map_err)?;
        tx.commit().map_err(map_err)?;
    }
    Ok(())
}
