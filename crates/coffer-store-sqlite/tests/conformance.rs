//! The shared storage conformance suite, on a fresh SQLite file per test.

use coffer_store_sqlite::SqliteStore;

async fn fresh() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("coffer.db")).await.unwrap();
    (store, dir)
}

coffer_store::conformance_suite!(fresh());
