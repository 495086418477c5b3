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
    ErrorKind, ListQuery, NewSecret, NewToken, SecretStore, SecretType, StoreError, TokenId,
    TokenScope, TokenStore,
};

/// Generates one `#[tokio::test]` per conformance check.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@tests $make;
            create_then_read, duplicate_create_changes_nothing, versions_are_consecutive_and_immutable,
            missing_things_are_not_found, scopes_are_independent, delete_restore_purge_lifecycle,
            purge_expired_only_purges_due, list_filters_and_pages, concurrent_writers_lose_nothing,
            rewrap_replaces_sealed_bytes, tokens_round_trip, sealed_bytes_are_kept_exactly);
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

fn scope(org: &str, project: Option<&str>, domain: Option<&str>) -> Scope {
    Scope::new(
        org.parse().unwrap(),
        project.map(|p| p.parse().unwrap()),
        domain.map(|d| d.parse().unwrap()),
    )
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

fn kind<T: std::fmt::Debug>(r: Result<T, StoreError>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

/// A created secret reads back with version 1 and its sealed bytes.
pub async fn create_then_read<S: SecretStore + TokenStore>(s: Arc<S>) {
    let sc = scope("acme", Some("ml"), Some("dev"));
    let meta = s.create(new(&sc, "api-key", b"sealed-1")).await.unwrap();
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
pub async fn duplicate_create_changes_nothing<S: SecretStore + TokenStore>(s: Arc<S>) {
    let sc = scope("acme", None, None);
    s.create(new(&sc, "dup", b"first")).await.unwrap();
    assert_eq!(
        kind(s.create(new(&sc, "dup", b"second")).await),
        ErrorKind::AlreadyExists
    );
    let (m, r) = s.read(&sc, &name("dup"), None).await.unwrap();
    assert_eq!(r.sealed, b"first");
    assert_eq!(m.current_version, Version::FIRST);
}

/// Versions go 1, 2, 3; writing a version that is not current + 1 is a conflict.
pub async fn versions_are_consecutive_and_immutable<S: SecretStore + TokenStore>(s: Arc<S>) {
    let sc = scope("acme", Some("ml"), None);
    let n = name("rotating");
    s.create(new(&sc, "rotating", b"v1")).await.unwrap();
    let m2 = s
        .put_version(&sc, &n, v(2), b"v2".to_vec(), t(2_000))
        .await
        .unwrap();
    assert_eq!(m2.current_version, v(2));
    assert_eq!(m2.updated_at, t(2_000));
    assert_eq!(m2.created_at, t(1_000));
    s.put_version(&sc, &n, v(3), b"v3".to_vec(), t(3_000))
        .await
        .unwrap();
    for bad in [1, 2, 3, 5] {
        assert_eq!(
            kind(
                s.put_version(&sc, &n, v(bad), b"x".to_vec(), t(4_000))
                    .await
            ),
            ErrorKind::VersionConflict,
            "version {bad}"
        );
    }
    for (i, want) in [b"v1", b"v2", b"v3"].iter().enumerate() {
        let (_, r) = s.read(&sc, &n, Some(v(i as u32 + 1))).await.unwrap();
        assert_eq!(&r.sealed, want);
    }
    let (m, latest) = s.read(&sc, &n, None).await.unwrap();
    assert_eq!(latest.sealed, b"v3");
    assert_eq!(m.current_version, v(3));
    let versions: Vec<u32> = s
        .versions(&sc, &n)
        .await
        .unwrap()
        .iter()
        .map(|x| x.version.get())
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(kind(s.read(&sc, &n, Some(v(4))).await), ErrorKind::NotFound);
}

/// Every operation on a missing secret says "not found".
pub async fn missing_things_are_not_found<S: SecretStore + TokenStore>(s: Arc<S>) {
    let sc = scope("acme", None, Some("prod"));
    let n = name("ghost");
    assert_eq!(kind(s.meta(&sc, &n).await), ErrorKind::NotFound);
    assert_eq!(kind(s.read(&sc, &n, None).await), ErrorKind::NotFound);
    assert_eq!(kind(s.versions(&sc, &n).await), ErrorKind::NotFound);
    assert_eq!(
        kind(s.put_version(&sc, &n, v(2), b"x".to_vec(), t(1)).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(s.delete(&sc, &n, t(1), t(2)).await),
        ErrorKind::NotFound
    );
    assert_eq!(kind(s.restore(&sc, &n, t(1)).await), ErrorKind::NotFound);
    assert_eq!(kind(s.purge(&sc, &n).await), ErrorKind::NotFound);
    let msg = s.meta(&sc, &n).await.unwrap_err().to_string();
    assert!(msg.contains("ghost"), "{msg}");
}

/// The same name at four scope levels and in two orgs is five different secrets.
pub async fn scopes_are_independent<S: SecretStore + TokenStore>(s: Arc<S>) {
    let scopes = [
        scope("acme", None, None),
        scope("acme", None, Some("dev")),
        scope("acme", Some("ml"), None),
        scope("acme", Some("ml"), Some("dev")),
        scope("other", None, None),
    ];
    for (i, sc) in scopes.iter().enumerate() {
        s.create(new(sc, "shared", format!("at-{i}").as_bytes()))
            .await
            .unwrap();
    }
    for (i, sc) in scopes.iter().enumerate() {
        let (m, r) = s.read(sc, &name("shared"), None).await.unwrap();
        assert_eq!(r.sealed, format!("at-{i}").as_bytes());
        assert_eq!(&m.scope, sc);
    }
    s.purge(&scopes[0], &name("shared")).await.unwrap();
    assert!(s.read(&scopes[1], &name("shared"), None).await.is_ok());
}

/// Soft delete, restore, purge, and re-create after purge.
pub async fn delete_restore_purge_lifecycle<S: SecretStore + TokenStore>(s: Arc<S>) {
    let sc = scope("acme", None, None);
    let n = name("temp");
    s.create(new(&sc, "temp", b"v1")).await.unwrap();
    s.put_version(&sc, &n, v(2), b"v2".to_vec(), t(2_000))
        .await
        .unwrap();
    let d = s.delete(&sc, &n, t(5_000), t(9_000)).await.unwrap();
    assert_eq!(d.deleted_at, Some(t(5_000)));
    assert_eq!(d.purge_at, Some(t(9_000)));
    assert_eq!(s.meta(&sc, &n).await.unwrap().purge_at, Some(t(9_000)));
    assert_eq!(
        kind(s.read(&sc, &n, None).await),
        ErrorKind::PendingDeletion
    );
    assert_eq!(
        kind(s.create(new(&sc, "temp", b"again")).await),
        ErrorKind::PendingDeletion
    );
    assert_eq!(
        kind(s.put_version(&sc, &n, v(3), b"v3".to_vec(), t(6_000)).await),
        ErrorKind::PendingDeletion
    );
    assert_eq!(
        kind(s.delete(&sc, &n, t(6_000), t(9_000)).await),
        ErrorKind::PendingDeletion
    );
    let r = s.restore(&sc, &n, t(7_000)).await.unwrap();
    assert_eq!((r.deleted_at, r.purge_at), (None, None));
    assert_eq!(r.current_version, v(2));
    assert_eq!(s.read(&sc, &n, None).await.unwrap().1.sealed, b"v2");
    assert_eq!(
        kind(s.restore(&sc, &n, t(7_000)).await),
        ErrorKind::NotDeleted
    );
    s.purge(&sc, &n).await.unwrap();
    assert_eq!(kind(s.meta(&sc, &n).await), ErrorKind::NotFound);
    let again = s.create(new(&sc, "temp", b"fresh")).await.unwrap();
    assert_eq!(again.current_version, Version::FIRST);
    assert_eq!(s.versions(&sc, &n).await.unwrap().len(), 1);
}

/// Only secrets whose purge time has passed are purged.
pub async fn purge_expired_only_purges_due<S: SecretStore + TokenStore>(s: Arc<S>) {
    let sc = scope("acme", None, None);
    for n in ["due", "later", "live"] {
        s.create(new(&sc, n, b"x")).await.unwrap();
    }
    s.delete(&sc, &name("due"), t(1_000), t(5_000))
        .await
        .unwrap();
    s.delete(&sc, &name("later"), t(1_000), t(50_000))
        .await
        .unwrap();
    assert_eq!(s.purge_expired(t(10_000)).await.unwrap(), 1);
    assert_eq!(kind(s.meta(&sc, &name("due")).await), ErrorKind::NotFound);
    assert!(
        s.meta(&sc, &name("later"))
            .await
            .unwrap()
            .deleted_at
            .is_some()
    );
    assert!(s.meta(&sc, &name("live")).await.is_ok());
}

/// Filters by project and domain; pages cover everything once, in order.
pub async fn list_filters_and_pages<S: SecretStore + TokenStore>(s: Arc<S>) {
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
            s.create(new(sc, n, b"x")).await.unwrap();
        }
    }
    s.create(new(&scope("other", None, None), "a", b"x"))
        .await
        .unwrap();
    s.delete(&scopes[0], &name("c"), t(2), t(3)).await.unwrap();

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
        seen.extend(
            page.items
                .iter()
                .map(|m| (m.scope.to_string(), m.name.to_string())),
        );
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
        assert!(pages < 20, "pagination does not terminate");
    }
    assert_eq!(seen.len(), 18);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        18,
        "no duplicates across pages"
    );
    assert!(seen.iter().all(|(sc, _)| sc.starts_with("acme/")));
}

/// Concurrent writers that retry on conflict produce consecutive versions, none lost.
pub async fn concurrent_writers_lose_nothing<S: SecretStore + TokenStore + 'static>(s: Arc<S>) {
    let sc = scope("acme", None, None);
    s.create(new(&sc, "hot", b"v1")).await.unwrap();
    let writers = 4;
    let each = 25;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let s = s.clone();
        let sc = sc.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..each {
                loop {
                    let cur = s.meta(&sc, &name("hot")).await.unwrap().current_version;
                    let next = cur.next().unwrap();
                    let body = format!("w{w}-{i}").into_bytes();
                    match s.put_version(&sc, &name("hot"), next, body, t(2_000)).await {
                        Ok(_) => break,
                        Err(e) if e.kind() == ErrorKind::VersionConflict => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let versions: Vec<u32> = s
        .versions(&sc, &name("hot"))
        .await
        .unwrap()
        .iter()
        .map(|x| x.version.get())
        .collect();
    let want: Vec<u32> = (1..=(writers * each + 1)).collect();
    assert_eq!(versions, want);
}

/// `rewrap_all` sees every version and stores what the callback returns.
pub async fn rewrap_replaces_sealed_bytes<S: SecretStore + TokenStore>(s: Arc<S>) {
    let sc = scope("acme", Some("ml"), Some("dev"));
    s.create(new(&sc, "one", b"old-1")).await.unwrap();
    s.put_version(&sc, &name("one"), v(2), b"old-2".to_vec(), t(2))
        .await
        .unwrap();
    s.create(new(&sc, "two", b"new-already")).await.unwrap();
    let replaced = s
        .rewrap_all(&|scope, n, version, sealed| {
            assert_eq!(scope.to_string(), "acme/ml/dev");
            Ok(sealed
                .starts_with(b"old")
                .then(|| format!("new-{n}-{version}").into_bytes()))
        })
        .await
        .unwrap();
    assert_eq!(replaced, 2);
    assert_eq!(
        s.read(&sc, &name("one"), Some(v(1)))
            .await
            .unwrap()
            .1
            .sealed,
        b"new-one-1"
    );
    assert_eq!(
        s.read(&sc, &name("one"), Some(v(2)))
            .await
            .unwrap()
            .1
            .sealed,
        b"new-one-2"
    );
    assert_eq!(
        s.read(&sc, &name("two"), None).await.unwrap().1.sealed,
        b"new-already"
    );
    let failed = s.rewrap_all(&|_, _, _, _| Err("boom".into())).await;
    assert!(failed.is_err());
    assert_eq!(
        s.read(&sc, &name("one"), Some(v(1)))
            .await
            .unwrap()
            .1
            .sealed,
        b"new-one-1"
    );
}

/// Tokens are stored by hash, listed, and revoked.
pub async fn tokens_round_trip<S: SecretStore + TokenStore>(s: Arc<S>) {
    let tok = |id: &str, hash: u8| NewToken {
        id: TokenId(id.into()),
        name: format!("name-{id}"),
        role: Role::Fetcher,
        scope: TokenScope {
            org: Some("acme".parse().unwrap()),
            project: Some("ml".parse().unwrap()),
            domain: None,
        },
        hash: [hash; 32],
        created_at: t(i64::from(hash)),
        expires_at: Some(t(99_999)),
    };
    let a = s.create_token(tok("tok_a", 1)).await.unwrap();
    assert_eq!(a.revoked_at, None);
    s.create_token(tok("tok_b", 2)).await.unwrap();
    assert_eq!(
        kind(s.create_token(tok("tok_a", 3)).await),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(s.create_token(tok("tok_c", 2)).await),
        ErrorKind::AlreadyExists
    );
    let found = s.token_by_hash(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(found, a);
    assert_eq!(found.scope.project.as_ref().unwrap().as_str(), "ml");
    assert!(s.token_by_hash(&[9; 32]).await.unwrap().is_none());
    let ids: Vec<String> = s
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id.0)
        .collect();
    assert_eq!(ids, ["tok_b", "tok_a"]);
    let r = s
        .revoke_token(&TokenId("tok_a".into()), t(500))
        .await
        .unwrap();
    assert_eq!(r.revoked_at, Some(t(500)));
    assert_eq!(
        s.token_by_hash(&[1; 32]).await.unwrap().unwrap().revoked_at,
        Some(t(500))
    );
    assert_eq!(
        kind(s.revoke_token(&TokenId("tok_zz".into()), t(1)).await),
        ErrorKind::NotFound
    );
}

/// Sealed bytes come back byte for byte, zeros and high bytes included.
pub async fn sealed_bytes_are_kept_exactly<S: SecretStore + TokenStore>(s: Arc<S>) {
    let sc = scope("acme", None, None);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    s.create(new(&sc, "bin", &bytes)).await.unwrap();
    assert_eq!(
        s.read(&sc, &name("bin"), None).await.unwrap().1.sealed,
        bytes
    );
}
