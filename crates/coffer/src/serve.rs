//! `coffer serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use coffer_server::{Config, EnvKek};

use crate::error::CliError;

/// Flags of `coffer serve`; each overrides the config file, which overrides the defaults.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// A TOML config file (keys: listen, data_dir, default_org, recovery_window_days, max_body_bytes).
    #[arg(long, short = 'c', env = "COFFER_CONFIG")]
    config: Option<PathBuf>,
    /// Where the database, keyring and bootstrap token live [default: ./coffer-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8787]; port 0 picks a free one (see <data-dir>/endpoint).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Org used when a request names none [default: default].
    #[arg(long)]
    default_org: Option<String>,
    /// Log filter, e.g. info, debug, coffer_server=debug [env: COFFER_LOG].
    #[arg(long)]
    log_level: Option<String>,
    /// Use PostgreSQL instead of the embedded SQLite file: postgres://USER[:PASSWORD]@HOST[:PORT]/DB.
    /// Prefer the environment variable: a password on the command line is visible in `ps`.
    #[arg(long, env = "COFFER_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// The keyring file [default: <data-dir>/keyring.json]; replicas on one database share it.
    #[arg(long)]
    keyring_file: Option<PathBuf>,
}

/// `coffer migrate`: apply database migrations and exit.
#[derive(Args, Debug)]
pub(crate) struct MigrateArgs {
    /// The PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB.
    #[arg(long, env = "COFFER_DATABASE_URL", hide_env_values = true)]
    database: String,
}

pub(crate) fn migrate(args: MigrateArgs) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the runtime: {e}")))?;
    let setting = coffer_server::DatabaseSetting::new(args.database);
    let applied = runtime.block_on(coffer_server::migrate(&setting)).map_err(|e| CliError::new(e.to_string()))?;
    println!("database schema up to date ({applied} migrations applied)");
    Ok(())
}

pub(crate) fn run(args: ServeArgs) -> Result<(), CliError> {
    let filter = args.log_level.clone().or_else(|| std::env::var("COFFER_LOG").ok()).unwrap_or_else(|| "info".into());
    let env_filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| CliError::usage(format!("invalid log level {filter:?}: {e}")))?;
    tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();

    let mut config = match &args.config {
        Some(path) => Config::from_file(path).map_err(|e| CliError::new(e.to_string()))?,
        None => Config::default(),
    };
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(url) = args.database.filter(|u| !u.is_empty()) {
        config.database = Some(coffer_server::DatabaseSetting::new(url));
    }
    if let Some(k) = args.keyring_file {
        config.keyring_file = Some(k);
    }
    if let Some(o) = &args.default_org {
        config.default_org =
            o.parse().map_err(|e: coffer_core::NameError| CliError::usage(format!("--default-org: {e}")))?;
    }
    if let Ok(k) = std::env::var("COFFER_KEK") {
        let id = std::env::var("COFFER_KEK_ID").unwrap_or_else(|_| "env".into());
        config.kek = Some(EnvKek::new(id, k));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(coffer_server::serve(config)).map_err(|e| CliError::new(e.to_string()))
}
