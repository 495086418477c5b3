//! Versioned migrations, applied under an advisory lock so replicas starting together do not race.

use deadpool_postgres::Object;

use crate::pg_err;
use coffer_store::StoreError;

/// Held while migrating (an arbitrary constant: "coffer" in ASCII).
const MIGRATE_LOCK: i64 = 0x636f_6666_6572;

/// Migration `i` takes the schema from version `i` to `i + 1`. Append only; never edit.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: secrets, versions, tokens.
    r#"CREATE TABLE secrets (
        id BIGSERIAL PRIMARY KEY,
        org TEXT COLLATE "C" NOT NULL,
        project TEXT COLLATE "C" NOT NULL,
        domain TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        secret_type TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        current_version INTEGER NOT NULL,
        deleted_at BIGINT,
        purge_at BIGINT,
        UNIQUE (org, project, domain, name)
    );
    CREATE INDEX secrets_purge_at ON secrets (purge_at) WHERE purge_at IS NOT NULL;
    CREATE TABLE secret_versions (
        secret_id BIGINT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        created_at BIGINT NOT NULL,
        sealed BYTEA NOT NULL,
        PRIMARY KEY (secret_id, version)
    );
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        org TEXT,
        project TEXT,
        domain TEXT,
        hash BYTEA NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT
    );"#,
    // 2: the hash-chained audit log.
    r#"CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,
        time BIGINT NOT NULL,
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
        prev_hash BYTEA NOT NULL,
        hash BYTEA NOT NULL
    );
    CREATE INDEX audit_log_target ON audit_log (target, seq);
    CREATE INDEX audit_log_time ON audit_log (time);"#,
];

/// Applies missing migrations; returns how many were applied.
pub(crate) async fn migrate(conn: &mut Object) -> Result<usize, StoreError> {
    conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK]).await.map_err(pg_err)?;
    let result = apply(conn).await;
    let _ = conn.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK]).await;
    result
}

async fn apply(conn: &mut Object) -> Result<usize, StoreError> {
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS coffer_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await
    .map_err(pg_err)?;
    let row = conn.query_one("SELECT COALESCE(MAX(version), 0) FROM coffer_schema", &[]).await.map_err(pg_err)?;
    let current = usize::try_from(row.get::<_, i32>(0)).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Corrupt {
            reason: format!(
                "database schema version {current} is newer than this coffer ({}); upgrade coffer",
                MIGRATIONS.len()
            ),
        });
    }
    let mut applied = 0;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction().await.map_err(pg_err)?;
        tx.batch_execute(sql).await.map_err(pg_err)?;
        let version = (i + 1) as i32;
        let now = coffer_core::Timestamp::now().as_millis();
        tx.execute("INSERT INTO coffer_schema (version, applied_at) VALUES ($1, $2)", &[&version, &now])
            .await
            .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        applied += 1;
    }
    Ok(applied)
}
