//! The `coffer` binary: command-line wiring only. The work happens in the library crates.

mod admin;
mod connect;
mod deliver;
mod error;
mod output;
mod secret;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// coffer: secrets for workflow and task platforms.
#[derive(Parser)]
#[command(name = "coffer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the CLI finds the service and its token.
#[derive(Args, Clone, Debug)]
pub(crate) struct Conn {
    /// Service address; else the data dir's `endpoint` file, else http://127.0.0.1:8787.
    #[arg(long, env = "COFFER_ADDR", global = true)]
    pub(crate) addr: Option<String>,
    /// Read the token from this file. COFFER_TOKEN wins; else the data dir's admin.token.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) token_file: Option<PathBuf>,
    /// The service's data directory, used to find its address and token on this machine.
    #[arg(long, env = "COFFER_DATA_DIR", global = true, default_value = "coffer-data")]
    pub(crate) data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the secret service (SQLite in ./coffer-data, 127.0.0.1:8787 by default).
    Serve(serve::ServeArgs),
    /// Apply PostgreSQL schema migrations and exit (`coffer serve` also applies them at start).
    Migrate(serve::MigrateArgs),
    /// Create a resource.
    Create {
        #[command(subcommand)]
        what: CreateWhat,
        #[command(flatten)]
        conn: Conn,
    },
    /// Write a new version of a resource.
    Update {
        #[command(subcommand)]
        what: UpdateWhat,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show resources (metadata; values only with --reveal).
    Get {
        #[command(subcommand)]
        what: GetWhat,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete a resource (recoverable until its window ends, unless --purge).
    Delete {
        #[command(subcommand)]
        what: DeleteWhat,
        #[command(flatten)]
        conn: Conn,
    },
    /// Restore a deleted resource.
    Restore {
        #[command(subcommand)]
        what: RestoreWhat,
        #[command(flatten)]
        conn: Conn,
    },
    /// Run a command with its secrets as env vars and files in a private in-memory directory.
    Run {
        #[command(flatten)]
        args: deliver::RunArgs,
        #[command(flatten)]
        conn: Conn,
    },
    /// Init-container mode: write secrets as files plus an env file into a directory, then exit.
    Fetch {
        #[command(flatten)]
        args: deliver::FetchArgs,
        #[command(flatten)]
        conn: Conn,
    },
    /// Manage API tokens (admin).
    Token {
        #[command(subcommand)]
        cmd: admin::TokenCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Read and verify the tamper-evident audit log (admin).
    Audit {
        #[command(subcommand)]
        cmd: admin::AuditCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Operator commands.
    Admin {
        #[command(subcommand)]
        what: AdminWhat,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
enum CreateWhat {
    /// Create a secret: `coffer create secret NAME [VALUE | --from-file PATH | stdin]`.
    Secret(secret::CreateArgs),
}

#[derive(Subcommand)]
enum UpdateWhat {
    /// Write a new version of a secret.
    Secret(secret::UpdateArgs),
}

#[derive(Subcommand)]
enum GetWhat {
    /// List secrets, or show one.
    #[command(visible_alias = "secrets")]
    Secret(secret::GetArgs),
}

#[derive(Subcommand)]
enum DeleteWhat {
    /// Delete a secret.
    Secret(secret::DeleteArgs),
}

#[derive(Subcommand)]
enum RestoreWhat {
    /// Restore a secret scheduled for deletion.
    Secret(secret::RestoreArgs),
}

#[derive(Subcommand)]
enum AdminWhat {
    /// Rotate the key-encryption key: re-wrap every data key, values untouched.
    RotateKek,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Migrate(args) => serve::migrate(args),
        Command::Create { what: CreateWhat::Secret(a), conn } => secret::create(&conn, a),
        Command::Update { what: UpdateWhat::Secret(a), conn } => secret::update(&conn, a),
        Command::Get { what: GetWhat::Secret(a), conn } => secret::get(&conn, a),
        Command::Delete { what: DeleteWhat::Secret(a), conn } => secret::delete(&conn, a),
        Command::Restore { what: RestoreWhat::Secret(a), conn } => secret::restore(&conn, a),
        Command::Admin { what: AdminWhat::RotateKek, conn } => secret::rotate_kek(&conn),
        Command::Fetch { args, conn } => deliver::fetch_cmd(&conn, args),
        Command::Token { cmd, conn } => admin::token(&conn, cmd),
        Command::Audit { cmd, conn } => admin::audit(&conn, cmd),
        Command::Run { args, conn } => match deliver::run_cmd(&conn, args) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.print();
            ExitCode::from(e.exit_code())
        }
    }
}
