//! The coffer service.
//!
//! Start with [`Config`] and [`serve`]: `serve` prepares the data directory (SQLite database,
//! keyring, bootstrap admin token), then answers the REST API under `/v1` until SIGTERM or
//! Ctrl-C. [`Secrets`] holds the business logic (seal, store, open, resolve through the scope
//! cascade) independent of HTTP, so other fronts can reuse it; [`api`] maps it onto HTTP and is
//! the only place that knows status codes.
//!
//! The API is described by the OpenAPI document in `openapi.json`, served at
//! `/v1/openapi.json`.

pub mod api;
mod auditor;
mod auth;
mod bootstrap;
mod config;
mod error;
mod policy;
mod service;

pub use auth::{TokenText, hash_token};
pub use bootstrap::{ADMIN_TOKEN_FILE, DB_FILE, ENDPOINT_FILE, KEYRING_FILE, ServeError, migrate};
pub use config::{Config, ConfigError, DatabaseSetting, EnvKek};
pub use error::ServiceError;
pub use policy::{Action, Denied, authorize, authorize_tokens};
pub use service::{ResolveRequest, Resolved, Secrets};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

/// The OpenAPI document of the `/v1` API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Runs the service until SIGTERM or Ctrl-C: prepares the data directory, binds, serves, and
/// drains in-flight requests before returning.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let prepared = bootstrap::prepare(&config).await?;
    let listener =
        TcpListener::bind(config.listen).await.map_err(|e| ServeError::Bind { addr: config.listen, source: e })?;
    let local: SocketAddr = listener.local_addr().map_err(|e| ServeError::Bind { addr: config.listen, source: e })?;
    bootstrap::write_endpoint(&config.data_dir, local)?;
    if let Some(path) = &prepared.new_admin_token_file {
        tracing::info!(path = %path.display(), "created the bootstrap admin token (shown once, in this file only)");
    }
    let state = Arc::new(api::AppState { secrets: prepared.secrets, config: config.clone() });
    spawn_purger(state.clone());
    if config.dangerously_skip_read_audit {
        tracing::warn!("dangerously_skip_read_audit is on: successful reads are NOT recorded in the audit log");
    }
    tracing::info!(addr = %local, data_dir = %config.data_dir.display(), "coffer is serving");
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(ServeError::Io)?;
    tracing::info!("coffer stopped");
    Ok(())
}

/// Purges secrets whose recovery window has passed, once a minute.
fn spawn_purger(state: Arc<api::AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match state.secrets.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged secrets past their recovery window"),
                Err(e) => tracing::warn!(error = %e, "purging expired secrets failed; will retry"),
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
