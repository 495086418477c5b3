//! The business logic of the secret service, independent of any transport.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use coffer_core::Role;
use coffer_core::{Scope, SecretName, SecretValue, Timestamp, Version};
use coffer_crypto::{KekId, Keyring, RecordAad};
use coffer_store::{
    AuditEntry, AuditQuery, AuditRecord, AuditStore, ChainBreak, ErrorKind, GENESIS, ListQuery, NewSecret, Page,
    SecretMeta, SecretStore, SecretType, StoreError, TokenId, TokenRecord, TokenScope, TokenStore, VersionMeta,
    verify_chain,
};

use crate::auditor::Auditor;
use crate::auth::TokenText;

use crate::error::{Missing, ServiceError};

/// One key a task asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolveRequest {
    /// The secret's name.
    pub key: SecretName,
    /// A pinned version; the latest when `None`.
    pub version: Option<Version>,
}

/// One resolved secret.
#[derive(Debug)]
pub struct Resolved {
    /// What was asked.
    pub request: ResolveRequest,
    /// The scope it was found at.
    pub scope: Scope,
    /// The version served.
    pub version: Version,
    /// Its type.
    pub secret_type: SecretType,
    /// The value.
    pub value: SecretValue,
}

/// Where the keyring lives, which decides whether it can be rotated.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    /// A key file that rotation rewrites.
    File(PathBuf),
    /// The `COFFER_KEK` environment variable: rotate by changing the deployment.
    Env,
}

/// Secrets: seal on write, open on read, resolve through the cascade.
pub struct Secrets {
    store: Arc<dyn SecretStore>,
    tokens: Arc<dyn TokenStore>,
    audit: Arc<dyn AuditStore>,
    auditor: Auditor,
    keyring: Arc<RwLock<Keyring>>,
    /// Tokens by hash, when this process is the only one that can change them (SQLite):
    /// revocation here clears the entry, so the cache is never stale. `None` with replicas.
    token_cache: Option<RwLock<std::collections::HashMap<[u8; 32], TokenRecord>>>,
    key_source: KeySource,
    recovery_window: Duration,
}

fn poisoned() -> ServiceError {
    ServiceError::Keyring("keyring lock poisoned by a panic".into())
}

// === impl Secrets ===

impl Secrets {
    pub(crate) fn new(
        store: Arc<dyn SecretStore>,
        tokens: Arc<dyn TokenStore>,
        audit: Arc<dyn AuditStore>,
        keyring: Keyring,
        key_source: KeySource,
        recovery_window: Duration,
        single_process: bool,
    ) -> Self {
        let auditor = Auditor::spawn(audit.clone());
        let token_cache = single_process.then(|| RwLock::new(std::collections::HashMap::new()));
        Self {
            store,
            tokens,
            audit,
            auditor,
            keyring: Arc::new(RwLock::new(keyring)),
            token_cache,
            key_source,
            recovery_window,
        }
    }

    /// The token with this hash: from the cache when this process owns the token table,
    /// from the store otherwise.
    pub(crate) async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        if let Some(cache) = &self.token_cache
            && let Some(t) = cache.read().ok().and_then(|c| c.get(hash).cloned())
        {
            return Ok(Some(t));
        }
        let found = self.tokens.token_by_hash(hash).await?;
        if let (Some(cache), Some(t)) = (&self.token_cache, &found)
            && let Ok(mut c) = cache.write()
        {
            // Bounded: a flood of distinct tokens cannot grow it without limit.
            if c.len() >= 10_000 {
                c.clear();
            }
            c.insert(*hash, t.clone());
        }
        Ok(found)
    }

    /// Appends audit records (reads, refusals, failures) and waits until they are durable.
    pub async fn record(&self, entries: Vec<AuditEntry>) -> Result<(), ServiceError> {
        Ok(self.auditor.append(entries).await?)
    }

    /// One page of audit records.
    pub async fn audit_page(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, ServiceError> {
        Ok(self.audit.list_audit(query).await?)
    }

    /// Walks the whole audit chain. Returns how many records were checked and the first break.
    pub async fn verify_audit(&self) -> Result<(u64, Option<ChainBreak>), ServiceError> {
        let (mut prev, mut prev_seq, mut checked) = (GENESIS, 0i64, 0u64);
        loop {
            let q = AuditQuery { after_seq: Some(prev_seq), limit: 1000, ..Default::default() };
            let page = self.audit.list_audit(&q).await?;
            if page.is_empty() {
                return Ok((checked, None));
            }
            match verify_chain(prev, prev_seq, &page) {
                Ok((p, s)) => {
                    checked += page.len() as u64;
                    prev = p;
                    prev_seq = s;
                }
                Err(b) => return Ok((checked, Some(b))),
            }
        }
    }

    /// Issues a token; returns its record and its text (the only copy).
    pub async fn issue_token(
        &self,
        name: String,
        role: Role,
        scope: TokenScope,
        expires_at: Option<Timestamp>,
        audit: &AuditEntry,
    ) -> Result<(TokenRecord, TokenText), ServiceError> {
        Ok(crate::auth::issue(&*self.tokens, name, role, scope, expires_at, audit).await?)
    }

    /// Every token, newest first (never their text).
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, ServiceError> {
        Ok(self.tokens.list_tokens().await?)
    }

    /// Revokes a token.
    pub async fn revoke_token(&self, id: &TokenId, audit: &AuditEntry) -> Result<TokenRecord, ServiceError> {
        let record = self.tokens.revoke_token(id, Timestamp::now(), audit).await?;
        if let Some(cache) = &self.token_cache
            && let Ok(mut c) = cache.write()
        {
            c.retain(|_, t| t.id != *id);
        }
        Ok(record)
    }

    /// The token store.
    pub fn tokens(&self) -> &dyn TokenStore {
        &*self.tokens
    }

    fn seal(&self, scope: &Scope, name: &SecretName, v: Version, value: &SecretValue) -> Result<Vec<u8>, ServiceError> {
        let ring = self.keyring.read().map_err(|_| poisoned())?;
        Ok(ring.seal(&RecordAad::new(scope, name, v), value)?)
    }

    fn open(&self, scope: &Scope, name: &SecretName, v: Version, sealed: &[u8]) -> Result<SecretValue, ServiceError> {
        let aad = RecordAad::new(scope, name, v);
        let first = self.keyring.read().map_err(|_| poisoned())?.open(&aad, sealed);
        match first {
            // Another replica rotated the shared keyring: load it again and retry once.
            Err(coffer_crypto::CryptoError::UnknownKek(_)) if self.reload_keyring()? => {
                Ok(self.keyring.read().map_err(|_| poisoned())?.open(&aad, sealed)?)
            }
            other => Ok(other?),
        }
    }

    /// Re-reads a file-based keyring. Returns whether it changed.
    fn reload_keyring(&self) -> Result<bool, ServiceError> {
        let KeySource::File(path) = &self.key_source else { return Ok(false) };
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| ServiceError::Keyring(format!("{}: {e}", path.display())))?,
        );
        let fresh = Keyring::from_json(&text)?;
        let mut ring = self.keyring.write().map_err(|_| poisoned())?;
        let changed = fresh.ids().collect::<Vec<_>>() != ring.ids().collect::<Vec<_>>();
        if changed {
            tracing::info!(active = %fresh.active_id(), "reloaded the keyring (rotated elsewhere)");
            *ring = fresh;
        }
        Ok(changed)
    }

    /// Creates a secret with its first version.
    pub async fn create(
        &self,
        scope: &Scope,
        name: &SecretName,
        secret_type: SecretType,
        value: &SecretValue,
        mut audit: AuditEntry,
    ) -> Result<SecretMeta, ServiceError> {
        let sealed = self.seal(scope, name, Version::FIRST, value)?;
        let new = NewSecret { scope: scope.clone(), name: name.clone(), secret_type, sealed, now: Timestamp::now() };
        audit.version = Some(1);
        let meta = self.store.create(new, &audit).await?;
        tracing::debug!(%scope, %name, bytes = value.len(), kind = value.kind().as_str(), "secret created");
        Ok(meta)
    }

    /// Writes a new version. The store numbers it under its lock and the value is sealed for
    /// that number there, so concurrent writers never collide or lose a version.
    pub async fn update(
        &self,
        scope: &Scope,
        name: &SecretName,
        value: &SecretValue,
        audit: AuditEntry,
    ) -> Result<SecretMeta, ServiceError> {
        let ring = self.keyring.clone();
        let (sc, nm, val) = (scope.clone(), name.clone(), value.duplicate());
        let seal: coffer_store::SealFn = Box::new(move |v: Version| {
            let ring = ring.read().map_err(|_| "keyring lock poisoned".to_owned())?;
            ring.seal(&RecordAad::new(&sc, &nm, v), &val).map_err(|e| e.to_string())
        });
        let meta = self.store.append_version(scope, name, seal, Timestamp::now(), &audit).await?;
        tracing::debug!(%scope, %name, version = %meta.current_version, "version written");
        Ok(meta)
    }

    /// Metadata of one secret (including one scheduled for deletion).
    pub async fn meta(&self, scope: &Scope, name: &SecretName) -> Result<SecretMeta, ServiceError> {
        Ok(self.store.meta(scope, name).await?)
    }

    /// Every version's metadata.
    pub async fn versions(
        &self,
        scope: &Scope,
        name: &SecretName,
    ) -> Result<(SecretMeta, Vec<VersionMeta>), ServiceError> {
        let meta = self.store.meta(scope, name).await?;
        Ok((meta, self.store.versions(scope, name).await?))
    }

    /// One version's value, by exact scope.
    pub async fn value(
        &self,
        scope: &Scope,
        name: &SecretName,
        version: Option<Version>,
    ) -> Result<(SecretMeta, VersionMeta, SecretValue), ServiceError> {
        let (meta, sealed) = self.store.read(scope, name, version).await?;
        let value = self.open(scope, name, sealed.meta.version, &sealed.sealed)?;
        Ok((meta, sealed.meta, value))
    }

    /// One page of secrets.
    pub async fn list(&self, query: &ListQuery) -> Result<Page<SecretMeta>, ServiceError> {
        Ok(self.store.list(query).await?)
    }

    /// Schedules deletion after `window` (the configured recovery window when `None`).
    pub async fn delete(
        &self,
        scope: &Scope,
        name: &SecretName,
        window: Option<Duration>,
        audit: &AuditEntry,
    ) -> Result<SecretMeta, ServiceError> {
        let now = Timestamp::now();
        let purge_at = now.plus(window.unwrap_or(self.recovery_window));
        Ok(self.store.delete(scope, name, now, purge_at, audit).await?)
    }

    /// Cancels a scheduled deletion.
    pub async fn restore(
        &self,
        scope: &Scope,
        name: &SecretName,
        audit: &AuditEntry,
    ) -> Result<SecretMeta, ServiceError> {
        Ok(self.store.restore(scope, name, Timestamp::now(), audit).await?)
    }

    /// Deletes for good.
    pub async fn purge(&self, scope: &Scope, name: &SecretName, audit: &AuditEntry) -> Result<(), ServiceError> {
        Ok(self.store.purge(scope, name, audit).await?)
    }

    /// Purges what is past its recovery window.
    pub async fn purge_expired(&self) -> Result<u64, ServiceError> {
        Ok(self.store.purge_expired(Timestamp::now()).await?)
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> Result<(), ServiceError> {
        Ok(self.store.ping().await?)
    }

    /// Resolves each request for a task running in `context`, through the cascade
    /// project+domain → project → domain → org. The most specific existing secret wins; a
    /// secret scheduled for deletion counts as absent; any error other than "not found" stops
    /// the lookup. Fails with [`ServiceError::NotFoundInCascade`] listing every missing key and
    /// the scopes searched, so a task never starts with half its secrets.
    pub async fn resolve(&self, context: &Scope, requests: &[ResolveRequest]) -> Result<Vec<Resolved>, ServiceError> {
        let cascade = context.cascade();
        let mut out = Vec::with_capacity(requests.len());
        let mut missing = Vec::new();
        for req in requests {
            match self.resolve_one(&cascade, req).await? {
                Some(r) => out.push(r),
                None => missing.push(Missing { key: req.key.clone(), version: req.version, searched: cascade.clone() }),
            }
        }
        if missing.is_empty() { Ok(out) } else { Err(ServiceError::NotFoundInCascade(missing)) }
    }

    async fn resolve_one(&self, cascade: &[Scope], req: &ResolveRequest) -> Result<Option<Resolved>, ServiceError> {
        for scope in cascade {
            match self.store.read(scope, &req.key, req.version).await {
                Ok((meta, sealed)) => {
                    let value = self.open(scope, &req.key, sealed.meta.version, &sealed.sealed)?;
                    tracing::debug!(key = %req.key, found_in = %scope, version = %sealed.meta.version, "resolved");
                    return Ok(Some(Resolved {
                        request: req.clone(),
                        scope: scope.clone(),
                        version: sealed.meta.version,
                        secret_type: meta.secret_type,
                        value,
                    }));
                }
                Err(e) if e.kind() == ErrorKind::PendingDeletion => continue,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    // A pinned version missing from a secret that exists here is an error, not a
                    // reason to serve a broader scope's secret under the same number.
                    if let Some(v) = req.version
                        && self.store.meta(scope, &req.key).await.is_ok()
                    {
                        return Err(StoreError::NotFound {
                            what: format!("version {v} of secret {} in {scope}", req.key),
                        }
                        .into());
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Adds a fresh key-encryption key, makes it active, saves the keyring, and re-wraps every
    /// stored data key under it. Values are not re-encrypted. Keys no record uses any more are
    /// then retired from the keyring. Returns the new key's id and how many versions moved.
    pub async fn rotate_kek(&self) -> Result<(KekId, u64), ServiceError> {
        let KeySource::File(path) = &self.key_source else {
            return Err(ServiceError::Invalid(
                "the key-encryption key comes from COFFER_KEK; rotate by deploying a keyring file instead".into(),
            ));
        };
        let new_id = {
            let mut ring = self.keyring.write().map_err(|_| poisoned())?;
            let mut next = Keyring::from_json(&ring.to_json())?;
            let id = next.rotate()?;
            crate::bootstrap::write_private(path, next.to_json().as_bytes())
                .map_err(|e| ServiceError::Keyring(format!("cannot save {}: {e}", path.display())))?;
            *ring = next;
            id
        };
        let ring = &self.keyring;
        let moved = self
            .store
            .rewrap_all(&|scope, name, v, sealed| {
                let ring = ring.read().map_err(|_| "keyring lock poisoned".to_owned())?;
                ring.rewrap(&RecordAad::new(scope, name, v), sealed).map_err(|e| e.to_string())
            })
            .await?;
        // A second pass proves nothing still needs the old keys before they are forgotten.
        let still_old = std::sync::atomic::AtomicU64::new(0);
        self.store
            .rewrap_all(&|_, _, _, sealed| {
                if Keyring::kek_of(sealed).map_err(|e| e.to_string())? != new_id.as_str() {
                    still_old.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(None)
            })
            .await?;
        if still_old.into_inner() == 0 {
            let mut ring = self.keyring.write().map_err(|_| poisoned())?;
            let old: Vec<KekId> = ring.ids().filter(|id| **id != new_id).cloned().collect();
            for id in &old {
                ring.retire(id);
            }
            crate::bootstrap::write_private(path, ring.to_json().as_bytes())
                .map_err(|e| ServiceError::Keyring(format!("cannot save {}: {e}", path.display())))?;
        }
        Ok((new_id, moved))
    }
}
