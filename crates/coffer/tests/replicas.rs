//! Several `coffer serve` replicas on one PostgreSQL database, as real processes: reads see
//! every acknowledged write at once, concurrent writers lose nothing, a replica killed mid-write
//! leaves no partial version, and a database restart is survived without restarting coffer.
//!
//! `scripts/test` starts a private PostgreSQL server and sets COFFER_TEST_DATABASE_URL; each
//! test creates its own database there. The restart test starts a server of its own.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::json;

const DB_PASSWORD: &str = "db-Pa55word-never-logged";

fn admin_url() -> String {
    std::env::var("COFFER_TEST_DATABASE_URL")
        .expect("COFFER_TEST_DATABASE_URL is not set: run scripts/test, which starts a private PostgreSQL server")
}

fn with_db(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    query.map_or(format!("{prefix}/{db}"), |q| format!("{prefix}/{db}?{q}"))
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql").args([url, "-qXc", sql]).output().expect("psql runs");
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
}

/// A fresh database on the test server, dropped at the end.
struct Db {
    admin: String,
    name: String,
    url: String,
    keyring: tempfile::TempDir,
}

impl Db {
    fn new(admin: &str) -> Self {
        let mut b = [0u8; 6];
        getrandom_fill(&mut b);
        let name = format!("coffer_e2e_{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>());
        psql(admin, &format!("CREATE DATABASE {name}"));
        // A password the (trust-auth) test server ignores, so the tests can check it never leaks.
        let url =
            with_db(admin, &name).replacen("postgres://postgres@", &format!("postgres://postgres:{DB_PASSWORD}@"), 1);
        Self { admin: admin.to_owned(), url, name, keyring: tempfile::tempdir().unwrap() }
    }

    fn keyring_file(&self) -> PathBuf {
        self.keyring.path().join("keyring.json")
    }

    /// Starts a replica; the first one creates the keyring and the bootstrap admin token.
    fn replica(&self) -> Server {
        let kf = self.keyring_file();
        Server::start_shared(&["--keyring-file", kf.to_str().unwrap()], &[("COFFER_DATABASE_URL", &self.url)])
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([&self.admin, "-qXc", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
            .output();
    }
}

fn getrandom_fill(b: &mut [u8]) {
    let mut f = std::fs::File::open("/dev/urandom").unwrap();
    std::io::Read::read_exact(&mut f, b).unwrap();
}

fn replicas(db: &Db, n: usize) -> Vec<Server> {
    let first = db.replica();
    let token = first.token.clone();
    let mut all = vec![first];
    for _ in 1..n {
        let mut r = db.replica();
        r.token = token.clone();
        all.push(r);
    }
    all
}

#[test]
fn replicas_see_each_others_writes_at_once() {
    let db = Db::new(&admin_url());
    let rs = replicas(&db, 3);
    for i in 0..30 {
        let w = &rs[i % 3];
        let r = &rs[(i + 1) % 3];
        let name = format!("k{}", i % 5);
        let value = format!("value-{i}");
        let resp = if i < 5 {
            w.post("/v1/secrets", &json!({"name": name, "string_value": value}))
        } else {
            w.post(&format!("/v1/secrets/{name}/versions"), &json!({"string_value": value}))
        };
        assert_eq!(resp.status, 201, "{}", resp.text);
        let got = r.get(&format!("/v1/secrets/{name}/value"));
        assert_eq!(got.body["string_value"], value, "replica {} did not see replica {}'s write", (i + 1) % 3, i % 3);
        assert_eq!(got.body["version"].as_u64(), Some((i / 5 + 1) as u64));
    }
    // Deletes, restores and tokens made on one replica hold on the others.
    assert_eq!(rs[0].delete("/v1/secrets/k0").status, 200);
    assert_eq!(rs[1].get("/v1/secrets/k0/value").status, 409);
    assert_eq!(rs[2].post("/v1/secrets/k0/restore", &json!({})).status, 200);
    let (_, fetcher) = rs[1].token("fetcher", "default", None, None);
    let r = rs[2].as_token("POST", "/v1/resolve", Some(&fetcher), Some(&json!({"secrets": [{"key": "k1"}]})));
    assert_eq!(r.status, 200, "{}", r.text);
    let lists: Vec<String> = rs.iter().map(|r| r.get("/v1/secrets").body["secrets"].to_string()).collect();
    assert!(lists.iter().all(|l| *l == lists[0]));
    // One audit chain, written by three processes, intact.
    let v = rs[1].get("/v1/audit/verify");
    assert_eq!(v.body["ok"], true, "{}", v.text);
    assert!(v.body["checked"].as_u64().unwrap() > 60);
    // Credentials never appear in any replica's log.
    assert!(db.url.contains(DB_PASSWORD), "the test URL carries a password");
    for r in &rs {
        assert!(r.logs().contains("storage ready"));
        assert!(!r.logs().contains(DB_PASSWORD), "database password logged");
    }
}

#[test]
fn eight_writers_on_one_secret_lose_nothing() {
    let db = Db::new(&admin_url());
    let rs = Arc::new(replicas(&db, 2));
    assert_eq!(rs[0].post("/v1/secrets", &json!({"name": "hot", "string_value": "initial"})).status, 201);
    let mut threads = Vec::new();
    for t in 0..8 {
        let rs = rs.clone();
        threads.push(std::thread::spawn(move || {
            for i in 0..100 {
                let r = rs[t % 2].post("/v1/secrets/hot/versions", &json!({"string_value": format!("t{t}-{i}")}));
                assert_eq!(r.status, 201, "writer {t} update {i}: {}", r.text);
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    let versions = rs[1].get("/v1/secrets/hot/versions");
    let got: Vec<u64> =
        versions.body["versions"].as_array().unwrap().iter().map(|v| v["version"].as_u64().unwrap()).collect();
    assert_eq!(got, (1..=801).collect::<Vec<u64>>(), "versions must be consecutive with no gaps or duplicates");
    let mut values = BTreeSet::new();
    for v in 2..=801 {
        let r = rs[v % 2].get(&format!("/v1/secrets/hot/value?version={v}"));
        values.insert(r.body["string_value"].as_str().unwrap().to_owned());
    }
    let want: BTreeSet<String> = (0..8).flat_map(|t| (0..100).map(move |i| format!("t{t}-{i}"))).collect();
    assert_eq!(values, want, "every acknowledged update is a version of its own");
}

#[test]
fn kill_9_of_a_replica_mid_write_leaves_no_partial_version() {
    let db = Db::new(&admin_url());
    let mut rs = replicas(&db, 2);
    assert_eq!(rs[0].post("/v1/secrets", &json!({"name": "k", "string_value": "v-1"})).status, 201);
    let addr = rs[0].addr.clone();
    let token = rs[0].token.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into();
            let mut acked: Vec<(u64, String)> = Vec::new();
            for i in 2..2000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let value = format!("v-{i}");
                let resp = agent
                    .post(format!("{addr}/v1/secrets/k/versions"))
                    .header("Authorization", format!("Bearer {token}"))
                    .header("Content-Type", "application/json")
                    .send(json!({"string_value": value}).to_string());
                match resp {
                    Ok(mut r) if r.status() == 201 => {
                        let body: serde_json::Value =
                            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                        acked.push((body["version"].as_u64().unwrap(), value));
                    }
                    _ => break,
                }
            }
            acked
        })
    };
    // Let some writes land, then kill the replica without warning.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = rs[1].get("/v1/secrets/k").body["version"].as_u64().unwrap_or(0);
        if v >= 40 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    rs[0].kill9();
    stop.store(true, Ordering::Relaxed);
    let acked = writer.join().unwrap();
    assert!(acked.len() >= 20, "only {} writes acknowledged before the kill", acked.len());
    let survivor = &rs[1];
    let versions: Vec<u64> = survivor.get("/v1/secrets/k/versions").body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    let max = *versions.last().unwrap();
    assert_eq!(versions, (1..=max).collect::<Vec<_>>(), "no gaps");
    assert!(max >= acked.last().unwrap().0, "an acknowledged write was lost");
    for (v, value) in &acked {
        let r = survivor.get(&format!("/v1/secrets/k/value?version={v}"));
        assert_eq!(r.body["string_value"], *value, "acknowledged version {v}");
    }
    // Anything committed but not acknowledged is still a whole, readable version.
    for v in acked.last().unwrap().0 + 1..=max {
        let r = survivor.get(&format!("/v1/secrets/k/value?version={v}"));
        assert_eq!(r.status, 200, "version {v} is not whole: {}", r.text);
    }
    assert_eq!(survivor.get("/v1/audit/verify").body["ok"], true);
}

/// A private PostgreSQL server this test may stop and start.
struct OwnPg {
    dir: tempfile::TempDir,
    url: String,
}

fn pg_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/postgres.sh")
}

impl OwnPg {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(pg_script()).arg("start").arg(dir.path().join("pg")).output().unwrap();
        assert!(out.status.success(), "postgres start: {}", String::from_utf8_lossy(&out.stderr));
        Self { url: String::from_utf8_lossy(&out.stdout).trim().to_owned(), dir }
    }

    fn ctl(&self, cmd: &str) {
        let out = Command::new(pg_script()).arg(cmd).arg(self.dir.path().join("pg")).output().unwrap();
        assert!(out.status.success(), "postgres {cmd}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for OwnPg {
    fn drop(&mut self) {
        let _ = Command::new(pg_script()).arg("stop").arg(self.dir.path().join("pg")).output();
    }
}

#[test]
fn database_restart_mid_load_fails_fast_and_recovers() {
    let pg = OwnPg::start();
    let db = Db::new(&pg.url);
    let s = db.replica();
    assert_eq!(s.post("/v1/secrets", &json!({"name": "k", "string_value": "v-1"})).status, 201);
    let mut acked = vec![(1u64, "v-1".to_owned())];
    for i in 2..20 {
        let r = s.post("/v1/secrets/k/versions", &json!({"string_value": format!("v-{i}")}));
        assert_eq!(r.status, 201);
        acked.push((r.body["version"].as_u64().unwrap(), format!("v-{i}")));
    }
    pg.ctl("stop");
    // While it is down: fast, clear 503s, and not ready.
    for path in ["/v1/secrets/k/value", "/v1/secrets"] {
        let start = Instant::now();
        let r = s.get(path);
        assert_eq!(r.status, 503, "{path}: {}", r.text);
        assert!(start.elapsed() < Duration::from_secs(8), "{path} took {:?}", start.elapsed());
        assert!(r.body["error"]["message"].as_str().unwrap().contains("unavailable"), "{}", r.text);
    }
    let start = Instant::now();
    let w = s.post("/v1/secrets/k/versions", &json!({"string_value": "while-down"}));
    assert_eq!(w.status, 503, "{}", w.text);
    assert!(start.elapsed() < Duration::from_secs(8));
    assert_eq!(s.get_raw("/readyz", None).status, 503);
    assert_eq!(s.get_raw("/healthz", None).status, 200, "the process itself is alive");
    pg.ctl("restart");
    // It comes back by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.get_raw("/readyz", None).status != 200 {
        assert!(Instant::now() < deadline, "coffer did not recover after the database came back");
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = s.post("/v1/secrets/k/versions", &json!({"string_value": "after"}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["version"].as_u64(), Some(20), "the refused write made no version");
    for (v, value) in &acked {
        assert_eq!(s.get(&format!("/v1/secrets/k/value?version={v}")).body["string_value"], *value);
    }
    assert_eq!(s.get("/v1/audit/verify").body["ok"], true);
}
