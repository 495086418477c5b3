//! `coffer create|update|get|delete|restore secret` and `coffer admin`.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;

use clap::Args;
use coffer_client::{ScopeSel, SecretInfo};
use coffer_core::{Domain, Org, Project, SecretName, SecretValue, Version};
use zeroize::Zeroizing;

use crate::Conn;
use crate::connect::client;
use crate::error::CliError;
use crate::output::{self, Format};

/// Which scope a command targets. Without -p/-d a secret is org-wide, as with `flyte`.
#[derive(Args, Debug, Clone)]
pub(crate) struct ScopeArgs {
    /// Org [default: the service's default org].
    #[arg(long, env = "COFFER_ORG")]
    org: Option<Org>,
    /// Narrow to one project.
    #[arg(short = 'p', long)]
    project: Option<Project>,
    /// Narrow to one domain.
    #[arg(short = 'd', long)]
    domain: Option<Domain>,
}

impl ScopeArgs {
    fn sel(&self) -> ScopeSel {
        ScopeSel {
            org: self.org.as_ref().map(ToString::to_string),
            project: self.project.as_ref().map(ToString::to_string),
            domain: self.domain.as_ref().map(ToString::to_string),
        }
    }
}

/// Where a value comes from.
#[derive(Args, Debug)]
pub(crate) struct ValueArgs {
    /// The value as an argument (visible in shell history and `ps`; prefer --from-file or stdin).
    #[arg(value_name = "VALUE")]
    positional: Option<String>,
    /// The value as a flag (same caveat as the positional VALUE).
    #[arg(long, conflicts_with_all = ["positional", "from_file"])]
    value: Option<String>,
    /// Read the value from a file, byte for byte ('-' for stdin).
    #[arg(long, value_name = "PATH", conflicts_with = "positional")]
    from_file: Option<PathBuf>,
    /// Store the value as binary even if it is valid UTF-8.
    #[arg(long)]
    binary: bool,
}

#[derive(Args, Debug)]
pub(crate) struct CreateArgs {
    /// The secret's name: 1-128 characters of A-Z a-z 0-9 . _ -
    name: SecretName,
    #[command(flatten)]
    value: ValueArgs,
    #[command(flatten)]
    scope: ScopeArgs,
    /// generic, or image-pull for a Docker config JSON.
    #[arg(long = "type", default_value = "generic", value_parser = ["generic", "image-pull"])]
    secret_type: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    output: Format,
}

#[derive(Args, Debug)]
pub(crate) struct UpdateArgs {
    /// The secret's name.
    name: SecretName,
    #[command(flatten)]
    value: ValueArgs,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    output: Format,
}

#[derive(Args, Debug)]
pub(crate) struct GetArgs {
    /// Show this secret; list secrets when omitted.
    name: Option<SecretName>,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    output: Format,
    /// Print the value of NAME, raw, to stdout.
    #[arg(long, requires = "name")]
    reveal: bool,
    /// With --reveal, this version instead of the latest.
    #[arg(long, requires = "reveal")]
    version: Option<Version>,
    /// List NAME's versions.
    #[arg(long, requires = "name", conflicts_with = "reveal")]
    versions: bool,
    /// Include secrets scheduled for deletion in the list.
    #[arg(long, conflicts_with = "name")]
    include_deleted: bool,
    /// Show at most this many (one page); all when omitted.
    #[arg(long, conflicts_with = "name")]
    limit: Option<u32>,
}

#[derive(Args, Debug)]
pub(crate) struct DeleteArgs {
    /// The secret's name.
    name: SecretName,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Delete at once and for good, with every version. Cannot be undone.
    #[arg(long)]
    purge: bool,
    /// Days the secret stays recoverable [default: the service's window, 7].
    #[arg(long, conflicts_with = "purge", value_parser = clap::value_parser!(u32).range(1..=90))]
    recovery_window_days: Option<u32>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    output: Format,
}

#[derive(Args, Debug)]
pub(crate) struct RestoreArgs {
    /// The secret's name.
    name: SecretName,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    output: Format,
}

/// Reads the value from exactly one source: argument, --from-file, or stdin (prompting
/// without echo on a terminal).
fn read_value(v: ValueArgs) -> Result<SecretValue, CliError> {
    let make = |bytes: Vec<u8>| {
        let r = if v.binary { SecretValue::binary(bytes) } else { SecretValue::detect(bytes) };
        r.map_err(|e| CliError::new(e.to_string()).hint("give a value of 1 byte to 64 KiB"))
    };
    if let Some(s) = v.positional.or(v.value) {
        eprintln!(
            "warning: a value given on the command line lands in shell history and is visible to other users in `ps`; \
             prefer --from-file PATH or piping it on stdin"
        );
        return make(Zeroizing::new(s).as_bytes().to_vec());
    }
    let mut buf = Zeroizing::new(Vec::new());
    match &v.from_file {
        Some(p) if p.as_os_str() != "-" => {
            let mut f =
                std::fs::File::open(p).map_err(|e| CliError::new(format!("cannot read {}: {e}", p.display())))?;
            f.read_to_end(&mut buf).map_err(|e| CliError::new(format!("cannot read {}: {e}", p.display())))?;
        }
        _ if v.from_file.is_none() && std::io::stdin().is_terminal() => {
            let typed = Zeroizing::new(
                rpassword::prompt_password("Enter secret value: ")
                    .map_err(|e| CliError::new(format!("cannot read the value from the terminal: {e}")))?,
            );
            buf.extend_from_slice(typed.as_bytes());
        }
        _ => {
            std::io::stdin().read_to_end(&mut buf).map_err(|e| CliError::new(format!("cannot read stdin: {e}")))?;
        }
    }
    make(std::mem::take(&mut *buf))
}

fn status(s: &SecretInfo) -> String {
    match &s.purge_at {
        Some(t) => format!("deleted (purge at {t})"),
        None => "active".into(),
    }
}

fn print_infos(format: Format, items: &[SecretInfo]) -> Result<(), CliError> {
    match format {
        Format::Table => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        s.scope.clone(),
                        s.secret_type.clone(),
                        s.version.to_string(),
                        s.updated_at.clone(),
                        status(s),
                    ]
                })
                .collect();
            output::table(&["NAME", "SCOPE", "TYPE", "VERSION", "UPDATED", "STATUS"], &rows)
        }
        f => output::structured(f, &items),
    }
}

fn print_one(format: Format, info: &SecretInfo, verb: &str) -> Result<(), CliError> {
    match format {
        Format::Table => {
            output::print_out(&format!("secret/{} {verb} in {} (version {})\n", info.name, info.scope, info.version))
        }
        f => output::structured(f, info),
    }
}

pub(crate) fn create(conn: &Conn, a: CreateArgs) -> Result<(), CliError> {
    let value = read_value(a.value)?;
    let info = client(conn)?.create_secret(&a.scope.sel(), &a.name, &a.secret_type, &value)?;
    print_one(a.output, &info, "created")
}

pub(crate) fn update(conn: &Conn, a: UpdateArgs) -> Result<(), CliError> {
    let value = read_value(a.value)?;
    let info = client(conn)?.update_secret(&a.scope.sel(), &a.name, &value)?;
    print_one(a.output, &info, "updated")
}

pub(crate) fn get(conn: &Conn, a: GetArgs) -> Result<(), CliError> {
    let c = client(conn)?;
    let sel = a.scope.sel();
    let Some(name) = &a.name else {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = c.list_secrets(&sel, a.include_deleted, a.limit, token.as_deref())?;
            all.extend(page.secrets);
            token = page.next_page_token;
            if token.is_none() || a.limit.is_some() {
                break;
            }
        }
        return print_infos(a.output, &all);
    };
    if a.reveal {
        let fetched = c.read_value(&sel, name, a.version)?;
        let bytes = fetched.value.expose_bytes();
        output::write_out(bytes)?;
        if std::io::stdout().is_terminal() && !bytes.ends_with(b"\n") {
            output::write_out(b"\n")?;
        }
        return Ok(());
    }
    if a.versions {
        let (info, versions) = c.versions(&sel, name)?;
        return match a.output {
            Format::Table => {
                let rows: Vec<Vec<String>> = versions
                    .iter()
                    .map(|v| {
                        vec![
                            v.version.to_string(),
                            v.created_at.clone(),
                            if v.current { "*".into() } else { String::new() },
                        ]
                    })
                    .collect();
                output::print_out(&format!("secret/{} in {}\n", info.name, info.scope))?;
                output::table(&["VERSION", "CREATED", "CURRENT"], &rows)
            }
            f => output::structured(f, &serde_json::json!({ "secret": info, "versions": versions })),
        };
    }
    let info = c.get_secret(&sel, name)?;
    match a.output {
        Format::Table => print_infos(Format::Table, std::slice::from_ref(&info)),
        f => output::structured(f, &info),
    }
}

pub(crate) fn delete(conn: &Conn, a: DeleteArgs) -> Result<(), CliError> {
    let sel = a.scope.sel();
    let resp = client(conn)?.delete_secret(&sel, &a.name, a.purge, a.recovery_window_days)?;
    match a.output {
        Format::Table if a.purge => {
            output::print_out(&format!("secret/{} purged from {}\n", a.name, resp["scope"].as_str().unwrap_or("")))
        }
        Format::Table => {
            let scope_flags = restore_flags(&a.scope);
            output::print_out(&format!(
                "secret/{} deleted from {}; recoverable until {} with: coffer restore secret {}{}\n",
                a.name,
                resp["scope"].as_str().unwrap_or(""),
                resp["purge_at"].as_str().unwrap_or("?"),
                a.name,
                scope_flags
            ))
        }
        f => output::structured(f, &resp),
    }
}

fn restore_flags(s: &ScopeArgs) -> String {
    let mut out = String::new();
    if let Some(o) = &s.org {
        out.push_str(&format!(" --org {o}"));
    }
    if let Some(p) = &s.project {
        out.push_str(&format!(" -p {p}"));
    }
    if let Some(d) = &s.domain {
        out.push_str(&format!(" -d {d}"));
    }
    out
}

pub(crate) fn restore(conn: &Conn, a: RestoreArgs) -> Result<(), CliError> {
    let info = client(conn)?.restore_secret(&a.scope.sel(), &a.name)?;
    print_one(a.output, &info, "restored")
}

pub(crate) fn rotate_kek(conn: &Conn) -> Result<(), CliError> {
    let resp = client(conn)?.rotate_kek()?;
    output::print_out(&format!(
        "key-encryption key rotated to {}; {} data keys re-wrapped (values untouched)\n",
        resp["kek_id"].as_str().unwrap_or("?"),
        resp["rewrapped_versions"]
    ))
}
