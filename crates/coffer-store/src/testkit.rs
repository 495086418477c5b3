//! The conformance suite every storage engine must pass.
//!
//! An engine crate instantiates it once in its tests:
//!
//! ```text
//! coffer_store::conformance_suite!(async { (MyStore::open_temp().await, guard) });
//! ```
//!
//! The expression yields `(store, guard)`; the guard (a temp dir, a database handle) lives as
//! long as the test. Each function below becomes one `#[tokio::test]`.

use std::collections::BTreeSet;
use std::sync::Arc;

use coffer_core::{Role, Scope, SecretName, Timestamp, Version};

use crate::{
    AuditEntry, AuditQuery, AuditStore, ErrorKind, GENESIS, ListQuery, NewSecret, NewToken, SecretStore, SecretType,
    StoreError, TokenId, TokenScope, TokenStore, verify_chain,
};

/// Generates one `#[tokio::test]` per conformance check.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@tests $make;
            create_then_read, duplicate_create_changes_nothing, versions_are_consecutive_and_immutable,
            missing_things_are_not_found, scopes_are_independent, delete_restore_purge_lifecycle,
            purge_expired_only_purges_due, list_filters_and_pages,
            rewrap_replaces_sealed_bytes, tokens_round_trip, sealed_bytes_are_kept_exactly,
            mutations_are_audited_in_their_transaction, audit_chain_stays_linear_under_concurrency,
            audit_listing_filters, appended_versions_are_numbered_by_the_store);
    };
    (@tests $make:expr; $($t:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $t() {
                let (store, _guard) = $make.await;
                $crate::testkit::$t(std::sync::Arc::new(store)).await;
            }
        )*
    };
}

fn au() -> AuditEntry {
    entry("test.write", "x")
}

fn entry(action: &str, target: &str) -> AuditEntry {
    AuditEntry {
        time: t(7),
        request_id: "req".into(),
        token_id: "tok_test".into(),
        token_name: "tester".into(),
        action: action.into(),
        org: "acme".into(),
        project: String::new(),
        domain: String::new(),
        target: target.into(),
        version: None,
        outcome: "ok".into(),
    }
}

fn scope(org: &str, project: Option<&str>, domain: Option<&str>) -> Scope {
    Scope::new(org.parse().unwrap(), project.map(|p| p.parse().unwrap()), domain.map(|d| d.parse().unwrap()))
}

fn name(s: &str) -> SecretName {
    s.parse().unwrap()
}

fn v(n: u32) -> Version {
    Version::new(n).unwrap()
}

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn new(scope: &Scope, n: &str, sealed: &[u8]) -> NewSecret {
    NewSecret {
        scope: scope.clone(),
        name: name(n),
        secret_type: SecretType::Generic,
        sealed: sealed.to_vec(),
        now: t(1_000),
    }
}

/// A sealer that stores `bytes` whatever number the version gets.
fn bytes(b: &[u8]) -> crate::SealFn {
    let b = b.to_vec();
    Box::new(move |_| Ok(b))
}

/// A sealer that must not be called.
fn never() -> crate::SealFn {
    Box::new(|v| panic!("sealed version {v} of a secret that must not get one"))
}

fn kind<T: std::fmt::Debug>(r: Result<T, StoreError>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

/// A created secret reads back with version 1 and its sealed bytes.
pub async fn create_then_read<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let sc = scope("acme", Some("ml"), Some("dev"));
    let meta = s.create(new(&sc, "api-key", b"sealed-1"), &au()).await.unwrap();
    assert_eq!(meta.current_version, Version::FIRST);
    assert_eq!(meta.created_at, t(1_000));
    assert_eq!(meta.deleted_at, None);
    assert_eq!(s.meta(&sc, &name("api-key")).await.unwrap(), meta);
    let (m, latest) = s.read(&sc, &name("api-key"), None).await.unwrap();
    assert_eq!(m, meta);
    assert_eq!(latest.sealed, b"sealed-1");
    assert_eq!(latest.meta.version, Version::FIRST);
    let (_, first) = s.read(&sc, &name("api-key"), Some(v(1))).await.unwrap();
    assert_eq!(first.sealed, b"sealed-1");
    assert_eq!(s.versions(&sc, &name("api-key")).await.unwrap().len(), 1);
    s.ping().await.unwrap();
}

/// Creating a live name again is refused and leaves the original untouched.
pub async fn duplicate_create_changes_nothing<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let sc = scope("acme", None, None);
    s.create(new(&sc, "dup", b"first"), &au()).await.unwrap();
    assert_eq!(kind(s.create(new(&sc, "dup", b"second"), &au()).await), ErrorKind::AlreadyExists);
    let (m, r) = s.read(&sc, &name("dup"), None).await.unwrap();
    assert_eq!(r.sealed, b"first");
    assert_eq!(m.current_version, Version::FIRST);
}

/// Versions go 1, 2, 3, each sealed once and readable forever after.
pub async fn versions_are_consecutive_and_immutable<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let sc = scope("acme", Some("ml"), None);
    let n = name("rotating");
    s.create(new(&sc, "rotating", b"v1"), &au()).await.unwrap();
    let m2 = s.append_version(&sc, &n, bytes(b"v2"), t(2_000), &au()).await.unwrap();
    assert_eq!(m2.current_version, v(2));
    assert_eq!(m2.updated_at, t(2_000));
    assert_eq!(m2.created_at, t(1_000));
    s.append_version(&sc, &n, bytes(b"v3"), t(3_000), &au()).await.unwrap();
    for (i, want) in [b"v1", b"v2", b"v3"].iter().enumerate() {
        let (_, r) = s.read(&sc, &n, Some(v(i as u32 + 1))).await.unwrap();
        assert_eq!(&r.sealed, want);
    }
    let (m, latest) = s.read(&sc, &n, None).await.unwrap();
    assert_eq!(latest.sealed, b"v3");
    assert_eq!(m.current_version, v(3));
    let versions: Vec<u32> = s.versions(&sc, &n).await.unwrap().iter().map(|x| x.version.get()).collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(kind(s.read(&sc, &n, Some(v(4))).await), ErrorKind::NotFound);
    // A sealer that fails leaves no version behind.
    let failing: crate::SealFn = Box::new(|_| Err("no key".into()));
    assert!(s.append_version(&sc, &n, failing, t(4_000), &au()).await.is_err());
    assert_eq!(s.meta(&sc, &n).await.unwrap().current_version, v(3));
}

/// Every operation on a missing secret says "not found".
pub async fn missing_things_are_not_found<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let sc = scope("acme", None, Some("prod"));
    let n = name("ghost");
    assert_eq!(kind(s.meta(&sc, &n).await), ErrorKind::NotFound);
    assert_eq!(kind(s.read(&sc, &n, None).await), ErrorKind::NotFound);
    assert_eq!(kind(s.versions(&sc, &n).await), ErrorKind::NotFound);
    assert_eq!(kind(s.append_version(&sc, &n, never(), t(1), &au()).await), ErrorKind::NotFound);
    assert_eq!(kind(s.delete(&sc, &n, t(1), t(2), &au()).await), ErrorKind::NotFound);
    assert_eq!(kind(s.restore(&sc, &n, t(1), &au()).await), ErrorKind::NotFound);
    assert_eq!(kind(s.purge(&sc, &n, &au()).await), ErrorKind::NotFound);
    let msg = s.meta(&sc, &n).await.unwrap_err().to_string();
    assert!(msg.contains("ghost"), "{msg}");
}

/// The same name at four scope levels and in two orgs is five different secrets.
pub async fn scopes_are_independent<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let scopes = [
        scope("acme", None, None),
        scope("acme", None, Some("dev")),
        scope("acme", Some("ml"), None),
        scope("acme", Some("ml"), Some("dev")),
        scope("other", None, None),
    ];
    for (i, sc) in scopes.iter().enumerate() {
        s.create(new(sc, "shared", format!("at-{i}").as_bytes()), &au()).await.unwrap();
    }
    for (i, sc) in scopes.iter().enumerate() {
        let (m, r) = s.read(sc, &name("shared"), None).await.unwrap();
        assert_eq!(r.sealed, format!("at-{i}").as_bytes());
        assert_eq!(&m.scope, sc);
    }
    s.purge(&scopes[0], &name("shared"), &au()).await.unwrap();
    assert!(s.read(&scopes[1], &name("shared"), None).await.is_ok());
}

/// Soft delete, restore, purge, and re-create after purge.
pub async fn delete_restore_purge_lifecycle<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let sc = scope("acme", None, None);
    let n = name("temp");
    s.create(new(&sc, "temp", b"v1"), &au()).await.unwrap();
    s.append_version(&sc, &n, bytes(b"v2"), t(2_000), &au()).await.unwrap();
    let d = s.delete(&sc, &n, t(5_000), t(9_000), &au()).await.unwrap();
    assert_eq!(d.deleted_at, Some(t(5_000)));
    assert_eq!(d.purge_at, Some(t(9_000)));
    assert_eq!(s.meta(&sc, &n).await.unwrap().purge_at, Some(t(9_000)));
    assert_eq!(kind(s.read(&sc, &n, None).await), ErrorKind::PendingDeletion);
    assert_eq!(kind(s.create(new(&sc, "temp", b"again"), &au()).await), ErrorKind::PendingDeletion);
    assert_eq!(kind(s.append_version(&sc, &n, never(), t(6_000), &au()).await), ErrorKind::PendingDeletion);
    assert_eq!(kind(s.delete(&sc, &n, t(6_000), t(9_000), &au()).await), ErrorKind::PendingDeletion);
    let r = s.restore(&sc, &n, t(7_000), &au()).await.unwrap();
    assert_eq!((r.deleted_at, r.purge_at), (None, None));
    assert_eq!(r.current_version, v(2));
    assert_eq!(s.read(&sc, &n, None).await.unwrap().1.sealed, b"v2");
    assert_eq!(kind(s.restore(&sc, &n, t(7_000), &au()).await), ErrorKind::NotDeleted);
    s.purge(&sc, &n, &au()).await.unwrap();
    assert_eq!(kind(s.meta(&sc, &n).await), ErrorKind::NotFound);
    let again = s.create(new(&sc, "temp", b"fresh"), &au()).await.unwrap();
    assert_eq!(again.current_version, Version::FIRST);
    assert_eq!(s.versions(&sc, &n).await.unwrap().len(), 1);
}

/// Only secrets whose purge time has passed are purged.
pub async fn purge_expired_only_purges_due<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let sc = scope("acme", None, None);
    for n in ["due", "later", "live"] {
        s.create(new(&sc, n, b"x"), &au()).await.unwrap();
    }
    s.delete(&sc, &name("due"), t(1_000), t(5_000), &au()).await.unwrap();
    s.delete(&sc, &name("later"), t(1_000), t(50_000), &au()).await.unwrap();
    assert_eq!(s.purge_expired(t(10_000)).await.unwrap(), 1);
    assert_eq!(kind(s.meta(&sc, &name("due")).await), ErrorKind::NotFound);
    assert!(s.meta(&sc, &name("later")).await.unwrap().deleted_at.is_some());
    assert!(s.meta(&sc, &name("live")).await.is_ok());
}

/// Filters by project and domain; pages cover everything once, in order.
pub async fn list_filters_and_pages<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let scopes = [
        scope("acme", None, None),
        scope("acme", None, Some("dev")),
        scope("acme", Some("ml"), None),
        scope("acme", Some("ml"), Some("dev")),
        scope("acme", Some("ml"), Some("prod")),
        scope("acme", Some("web"), Some("dev")),
    ];
    for sc in &scopes {
        for n in ["a", "b", "c"] {
            s.create(new(sc, n, b"x"), &au()).await.unwrap();
        }
    }
    s.create(new(&scope("other", None, None), "a", b"x"), &au()).await.unwrap();
    s.delete(&scopes[0], &name("c"), t(2), t(3), &au()).await.unwrap();

    let query = |project: Option<&str>, domain: Option<&str>, include_deleted, limit| ListQuery {
        org: "acme".parse().unwrap(),
        project: project.map(|p| p.parse().unwrap()),
        domain: domain.map(|d| d.parse().unwrap()),
        include_deleted,
        after: None,
        limit,
    };
    let count = |q: ListQuery| {
        let s = s.clone();
        async move { s.list(&q).await.unwrap().items.len() }
    };
    assert_eq!(count(query(None, None, false, 100)).await, 17);
    assert_eq!(count(query(None, None, true, 100)).await, 18);
    assert_eq!(count(query(Some("ml"), None, false, 100)).await, 9);
    assert_eq!(count(query(None, Some("dev"), false, 100)).await, 9);
    assert_eq!(count(query(Some("ml"), Some("dev"), false, 100)).await, 3);
    assert_eq!(count(query(Some("nope"), None, false, 100)).await, 0);

    let mut seen = Vec::new();
    let mut q = query(None, None, true, 4);
    let mut pages = 0;
    loop {
        let page = s.list(&q).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 4);
        seen.extend(page.items.iter().map(|m| (m.scope.to_string(), m.name.to_string())));
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
        assert!(pages < 20, "pagination does not terminate");
    }
    assert_eq!(seen.len(), 18);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 18, "no duplicates across pages");
    assert!(seen.iter().all(|(sc, _)| sc.starts_with("acme/")));
}

/// `rewrap_all` sees every version and stores what the callback returns.
pub async fn rewrap_replaces_sealed_bytes<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let sc = scope("acme", Some("ml"), Some("dev"));
    s.create(new(&sc, "one", b"old-1"), &au()).await.unwrap();
    s.append_version(&sc, &name("one"), bytes(b"old-2"), t(2), &au()).await.unwrap();
    s.create(new(&sc, "two", b"new-already"), &au()).await.unwrap();
    let replaced = s
        .rewrap_all(&|scope, n, version, sealed| {
            assert_eq!(scope.to_string(), "acme/ml/dev");
            Ok(sealed.starts_with(b"old").then(|| format!("new-{n}-{version}").into_bytes()))
        })
        .await
        .unwrap();
    assert_eq!(replaced, 2);
    assert_eq!(s.read(&sc, &name("one"), Some(v(1))).await.unwrap().1.sealed, b"new-one-1");
    assert_eq!(s.read(&sc, &name("one"), Some(v(2))).await.unwrap().1.sealed, b"new-one-2");
    assert_eq!(s.read(&sc, &name("two"), None).await.unwrap().1.sealed, b"new-already");
    let failed = s.rewrap_all(&|_, _, _, _| Err("boom".into())).await;
    assert!(failed.is_err());
    assert_eq!(s.read(&sc, &name("one"), Some(v(1))).await.unwrap().1.sealed, b"new-one-1");
}

/// Tokens are stored by hash, listed, and revoked.
pub async fn tokens_round_trip<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let tok = |id: &str, hash: u8| NewToken {
        id: TokenId(id.into()),
        name: format!("name-{id}"),
        role: Role::Fetcher,
        scope: TokenScope { org: Some("acme".parse().unwrap()), project: Some("ml".parse().unwrap()), domain: None },
        hash: [hash; 32],
        created_at: t(i64::from(hash)),
        expires_at: Some(t(99_999)),
    };
    let a = s.create_token(tok("tok_a", 1), &au()).await.unwrap();
    assert_eq!(a.revoked_at, None);
    s.create_token(tok("tok_b", 2), &au()).await.unwrap();
    assert_eq!(kind(s.create_token(tok("tok_a", 3), &au()).await), ErrorKind::AlreadyExists);
    assert_eq!(kind(s.create_token(tok("tok_c", 2), &au()).await), ErrorKind::AlreadyExists);
    let found = s.token_by_hash(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(found, a);
    assert_eq!(found.scope.project.as_ref().unwrap().as_str(), "ml");
    assert!(s.token_by_hash(&[9; 32]).await.unwrap().is_none());
    let ids: Vec<String> = s.list_tokens().await.unwrap().into_iter().map(|t| t.id.0).collect();
    assert_eq!(ids, ["tok_b", "tok_a"]);
    let r = s.revoke_token(&TokenId("tok_a".into()), t(500), &au()).await.unwrap();
    assert_eq!(r.revoked_at, Some(t(500)));
    assert_eq!(s.token_by_hash(&[1; 32]).await.unwrap().unwrap().revoked_at, Some(t(500)));
    assert_eq!(kind(s.revoke_token(&TokenId("tok_zz".into()), t(1), &au()).await), ErrorKind::NotFound);
}

/// Sealed bytes come back byte for byte, zeros and high bytes included.
pub async fn sealed_bytes_are_kept_exactly<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let sc = scope("acme", None, None);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    s.create(new(&sc, "bin", &bytes), &au()).await.unwrap();
    assert_eq!(s.read(&sc, &name("bin"), None).await.unwrap().1.sealed, bytes);
}

async fn all_audit<S: AuditStore>(s: &S) -> Vec<crate::AuditRecord> {
    let mut out = Vec::new();
    loop {
        let q =
            AuditQuery { after_seq: out.last().map(|r: &crate::AuditRecord| r.seq), limit: 500, ..Default::default() };
        let page = s.list_audit(&q).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Each successful change writes exactly its own record; a refused change writes none.
pub async fn mutations_are_audited_in_their_transaction<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let sc = scope("acme", None, None);
    let n = name("audited");
    let e = |action: &str| entry(action, "audited");
    s.create(new(&sc, "audited", b"v1"), &e("secrets.create")).await.unwrap();
    s.append_version(&sc, &n, bytes(b"v2"), t(2), &e("secrets.update")).await.unwrap();
    s.delete(&sc, &n, t(3), t(9), &e("secrets.delete")).await.unwrap();
    s.restore(&sc, &n, t(4), &e("secrets.restore")).await.unwrap();
    s.purge(&sc, &n, &e("secrets.purge")).await.unwrap();
    let tok = NewToken {
        id: TokenId("tok_aud".into()),
        name: "aud".into(),
        role: Role::Reader,
        scope: TokenScope { org: None, project: None, domain: None },
        hash: [4; 32],
        created_at: t(5),
        expires_at: None,
    };
    s.create_token(tok.clone(), &entry("tokens.create", "tok_aud")).await.unwrap();
    s.revoke_token(&TokenId("tok_aud".into()), t(6), &entry("tokens.revoke", "tok_aud")).await.unwrap();
    let log = all_audit(&*s).await;
    let actions: Vec<&str> = log.iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "secrets.create",
            "secrets.update",
            "secrets.delete",
            "secrets.restore",
            "secrets.purge",
            "tokens.create",
            "tokens.revoke"
        ]
    );
    assert!(verify_chain(GENESIS, 0, &log).is_ok());

    // Refused changes roll back with their record.
    s.create(new(&sc, "audited2", b"v1"), &e("secrets.create")).await.unwrap();
    let before = all_audit(&*s).await.len();
    assert!(s.create(new(&sc, "audited2", b"again"), &e("secrets.create")).await.is_err());
    assert!(s.append_version(&sc, &name("ghost"), never(), t(8), &e("secrets.update")).await.is_err());
    assert!(s.restore(&sc, &name("audited2"), t(8), &e("secrets.restore")).await.is_err());
    assert!(s.purge(&sc, &name("ghost"), &e("secrets.purge")).await.is_err());
    assert!(s.create_token(tok, &entry("tokens.create", "tok_aud")).await.is_err());
    assert!(s.revoke_token(&TokenId("tok_none".into()), t(9), &entry("tokens.revoke", "x")).await.is_err());
    assert_eq!(all_audit(&*s).await.len(), before);
}

/// Appends from many tasks at once, mixed with audited writes, form one unbroken chain.
pub async fn audit_chain_stays_linear_under_concurrency<S: SecretStore + TokenStore + AuditStore + 'static>(s: Arc<S>) {
    let sc = scope("acme", None, None);
    s.create(new(&sc, "busy", b"v1"), &au()).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let s = s.clone();
        let sc = sc.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                if w % 2 == 0 {
                    let batch: Vec<AuditEntry> =
                        (0..3).map(|j| entry("secrets.value", &format!("w{w}-{i}-{j}"))).collect();
                    s.append_audit(&batch).await.unwrap();
                } else {
                    s.append_version(&sc, &name("busy"), bytes(&[1]), t(1), &au()).await.unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let log = all_audit(&*s).await;
    assert_eq!(log.len(), 1 + 4 * 20 * 3 + 4 * 20);
    assert!(verify_chain(GENESIS, 0, &log).is_ok());
    let seqs: Vec<i64> = log.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=log.len() as i64).collect::<Vec<_>>());
}

/// Listing by time, target, position and page size.
pub async fn audit_listing_filters<S: SecretStore + TokenStore + AuditStore>(s: Arc<S>) {
    let mut batch = Vec::new();
    for i in 0..10 {
        let mut e = entry("secrets.value", if i % 2 == 0 { "even" } else { "odd" });
        e.time = t(1_000 + i);
        e.version = Some(i as u32 + 1);
        batch.push(e);
    }
    s.append_audit(&batch).await.unwrap();
    s.append_audit(&[]).await.unwrap();
    let q = |since: Option<i64>, target: Option<&str>, after: Option<i64>, limit: u32| AuditQuery {
        since: since.map(t),
        target: target.map(str::to_owned),
        org: None,
        after_seq: after,
        limit,
    };
    assert_eq!(s.list_audit(&q(None, None, None, 100)).await.unwrap().len(), 10);
    assert_eq!(s.list_audit(&q(Some(1_005), None, None, 100)).await.unwrap().len(), 5);
    let even = s.list_audit(&q(None, Some("even"), None, 100)).await.unwrap();
    assert_eq!(even.len(), 5);
    assert!(even.iter().all(|r| r.entry.target == "even"));
    let page = s.list_audit(&q(None, None, Some(3), 4)).await.unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5, 6, 7]);
    assert_eq!(page[0].entry.version, Some(4));
    assert_eq!(page[0].entry, batch[3]);
}

/// `append_version` numbers versions itself: many concurrent appends, no conflicts, no gaps,
/// each sealed for exactly the number it got.
pub async fn appended_versions_are_numbered_by_the_store<S: SecretStore + TokenStore + AuditStore + 'static>(
    s: Arc<S>,
) {
    let sc = scope("acme", Some("ml"), None);
    s.create(new(&sc, "appended", b"sealed-for-1"), &au()).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let s = s.clone();
        let sc = sc.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                let seal: crate::SealFn = Box::new(move |v: Version| Ok(format!("sealed-for-{v}-by-{w}").into_bytes()));
                s.append_version(&sc, &name("appended"), seal, t(3), &au()).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let versions = s.versions(&sc, &name("appended")).await.unwrap();
    assert_eq!(versions.iter().map(|v| v.version.get()).collect::<Vec<_>>(), (1..=81).collect::<Vec<_>>());
    for v in 2..=81u32 {
        let (_, r) = s.read(&sc, &name("appended"), Some(Version::new(v).unwrap())).await.unwrap();
        assert!(String::from_utf8(r.sealed).unwrap().starts_with(&format!("sealed-for-{v}-by-")), "version {v}");
    }
    let audited: Vec<Option<u32>> = all_audit(&*s).await.iter().skip(1).map(|r| r.entry.version).collect();
    assert_eq!(audited.len(), 80);
    assert!(audited.iter().all(Option::is_some));
    // Missing and deleted secrets are refused without calling the sealer.
    let never: crate::SealFn = Box::new(|_| panic!("sealed for a missing secret"));
    assert_eq!(kind(s.append_version(&sc, &name("ghost"), never, t(4), &au()).await), ErrorKind::NotFound);
    s.delete(&sc, &name("appended"), t(5), t(9), &au()).await.unwrap();
    let never: crate::SealFn = Box::new(|_| panic!("sealed for a deleted secret"));
    assert_eq!(kind(s.append_version(&sc, &name("appended"), never, t(6), &au()).await), ErrorKind::PendingDeletion);
}
