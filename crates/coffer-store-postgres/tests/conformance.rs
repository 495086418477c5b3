//! The shared storage conformance suite on a real PostgreSQL server: one fresh database per test.
//! `scripts/test` starts a private server and sets COFFER_TEST_DATABASE_URL; these tests fail
//! (rather than skip) without it.

use coffer_store_postgres::{DatabaseUrl, PgOptions, PgStore};

/// Drops the test's database when the test ends.
struct TempDb {
    admin_url: String,
    name: String,
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Best effort, on a runtime of its own (the test's runtime is shutting down).
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

fn base_url() -> String {
    std::env::var("COFFER_TEST_DATABASE_URL")
        .expect("COFFER_TEST_DATABASE_URL is not set: run scripts/test, which starts a private PostgreSQL server")
}

async fn fresh() -> (PgStore, TempDb) {
    let admin_url = base_url();
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    let name = format!("coffer_test_{}", hex::encode(b));
    let (client, conn) =
        tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await.expect("test database reachable");
    tokio::spawn(conn);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let url: DatabaseUrl = replace_db(&admin_url, &name).parse().unwrap();
    let store = PgStore::connect(&url, &PgOptions::default()).await.unwrap();
    assert_eq!(store.migrate().await.unwrap(), 2);
    assert_eq!(store.migrate().await.unwrap(), 0, "migrations are idempotent");
    (store, TempDb { admin_url, name })
}

fn replace_db(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    match query {
        Some(q) => format!("{prefix}/{db}?{q}"),
        None => format!("{prefix}/{db}"),
    }
}

coffer_store::conformance_suite!(fresh());
