//! `coffer token …` and `coffer audit …`.

use std::time::Duration;

use clap::{Args, Subcommand};
use coffer_core::Timestamp;
use serde_json::{Value, json};

use crate::Conn;
use crate::connect::client;
use crate::error::CliError;
use crate::output::{self, Format};

#[derive(Subcommand, Debug)]
pub(crate) enum TokenCmd {
    /// Create a token; prints it once (alone on stdout, or the `token` field with -o json).
    Create(TokenCreateArgs),
    /// List tokens (never their text).
    List {
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Format,
    },
    /// Revoke a token by id (tok_…).
    Revoke {
        /// The token's id.
        id: String,
    },
}

#[derive(Args, Debug)]
pub(crate) struct TokenCreateArgs {
    /// admin, writer, reader or fetcher.
    #[arg(long, value_parser = ["admin", "writer", "reader", "fetcher"])]
    role: String,
    /// The org it applies to, or * for every org [default: *].
    #[arg(long)]
    org: Option<String>,
    /// Narrow to one project.
    #[arg(short = 'p', long)]
    project: Option<String>,
    /// Narrow to one domain.
    #[arg(short = 'd', long)]
    domain: Option<String>,
    /// Lifetime, e.g. 30m, 24h, 7d (never expires when omitted).
    #[arg(long, value_parser = parse_duration)]
    ttl: Option<Duration>,
    /// A name to recognise it by in listings and the audit log.
    #[arg(long)]
    name: Option<String>,
    /// Output format: table prints the token alone.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    output: Format,
}

/// `90s`, `30m`, `24h`, `7d`, or plain seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, ""), |i| s.split_at(i));
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a duration: use e.g. 30m, 24h, 7d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?} is not a duration: use s, m, h or d")),
    };
    if secs == 0 {
        return Err("a duration must be more than 0".into());
    }
    Ok(Duration::from_secs(secs))
}

pub(crate) fn token(conn: &Conn, cmd: TokenCmd) -> Result<(), CliError> {
    let c = client(conn)?;
    match cmd {
        TokenCmd::Create(a) => {
            let mut body = json!({ "role": a.role });
            for (k, v) in [("org", &a.org), ("project", &a.project), ("domain", &a.domain), ("name", &a.name)] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            if let Some(ttl) = a.ttl {
                body["ttl_seconds"] = json!(ttl.as_secs());
            }
            let resp = c.create_token(&body)?;
            match a.output {
                Format::Table => {
                    eprintln!(
                        "created token {} ({} for {}/{}/{}{}); it is shown only now",
                        resp["id"].as_str().unwrap_or("?"),
                        resp["role"].as_str().unwrap_or("?"),
                        resp["org"].as_str().unwrap_or("*"),
                        resp["project"].as_str().unwrap_or("*"),
                        resp["domain"].as_str().unwrap_or("*"),
                        resp["expires_at"].as_str().map(|e| format!(", expires {e}")).unwrap_or_default()
                    );
                    output::print_out(&format!("{}\n", resp["token"].as_str().unwrap_or("")))
                }
                f => output::structured(f, &resp),
            }
        }
        TokenCmd::List { output: f } => {
            let resp = c.list_tokens()?;
            let tokens = resp["tokens"].as_array().cloned().unwrap_or_default();
            match f {
                Format::Table => {
                    let s = |v: &Value| v.as_str().unwrap_or("*").to_owned();
                    let rows: Vec<Vec<String>> = tokens
                        .iter()
                        .map(|t| {
                            let state = if t["revoked_at"].is_string() {
                                "revoked".to_owned()
                            } else if t["expires_at"]
                                .as_str()
                                .and_then(|e| e.parse::<Timestamp>().ok())
                                .is_some_and(|e| e <= Timestamp::now())
                            {
                                "expired".to_owned()
                            } else {
                                "active".to_owned()
                            };
                            vec![
                                s(&t["id"]),
                                s(&t["name"]),
                                s(&t["role"]),
                                format!("{}/{}/{}", s(&t["org"]), s(&t["project"]), s(&t["domain"])),
                                t["expires_at"].as_str().unwrap_or("never").to_owned(),
                                state,
                            ]
                        })
                        .collect();
                    output::table(&["ID", "NAME", "ROLE", "SCOPE", "EXPIRES", "STATE"], &rows)
                }
                f => output::structured(f, &tokens),
            }
        }
        TokenCmd::Revoke { id } => {
            c.revoke_token(&id)?;
            output::print_out(&format!("token/{id} revoked\n"))
        }
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCmd {
    /// List audit records, oldest first.
    List {
        /// Only records since this time: RFC 3339, or a duration ago (30m, 24h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Only records about this secret (or token id).
        #[arg(long)]
        secret: Option<String>,
        /// At most this many records [default: all].
        #[arg(long)]
        limit: Option<u32>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Format,
    },
    /// Check the hash chain; exit 1 and name the first broken record if any was changed,
    /// removed or reordered.
    Verify,
}

pub(crate) fn audit(conn: &Conn, cmd: AuditCmd) -> Result<(), CliError> {
    let c = client(conn)?;
    match cmd {
        AuditCmd::List { since, secret, limit, output: f } => {
            let since = match since {
                None => None,
                Some(s) if s.parse::<Timestamp>().is_ok() => Some(s),
                Some(s) => {
                    let ago = parse_duration(&s).map_err(|e| CliError::usage(format!("--since: {e}")))?;
                    Some(Timestamp::from_millis(Timestamp::now().as_millis() - ago.as_millis() as i64).to_rfc3339())
                }
            };
            let mut records: Vec<Value> = Vec::new();
            let mut after = None;
            loop {
                let want = limit.map_or(1000, |l| (l as usize - records.len()).min(1000) as u32);
                if want == 0 {
                    break;
                }
                let page = c.audit(since.as_deref(), secret.as_deref(), after, want)?;
                records.extend(page["records"].as_array().cloned().unwrap_or_default());
                match page["next_after"].as_i64() {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            match f {
                Format::Table => {
                    let s = |v: &Value| match v {
                        Value::Null => "-".to_owned(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let rows: Vec<Vec<String>> = records
                        .iter()
                        .map(|r| {
                            let scope = if r["org"].is_null() {
                                "-".to_owned()
                            } else {
                                format!(
                                    "{}/{}/{}",
                                    s(&r["org"]),
                                    r["project"].as_str().unwrap_or("*"),
                                    r["domain"].as_str().unwrap_or("*")
                                )
                            };
                            vec![
                                s(&r["seq"]),
                                s(&r["time"]),
                                s(&r["token_name"]),
                                s(&r["action"]),
                                scope,
                                s(&r["target"]),
                                s(&r["version"]),
                                s(&r["outcome"]),
                            ]
                        })
                        .collect();
                    output::table(&["SEQ", "TIME", "TOKEN", "ACTION", "SCOPE", "TARGET", "VERSION", "OUTCOME"], &rows)
                }
                f => output::structured(f, &records),
            }
        }
        AuditCmd::Verify => {
            let r = c.verify_audit()?;
            let checked = r["checked"].as_u64().unwrap_or(0);
            if r["ok"].as_bool() == Some(true) {
                output::print_out(&format!("audit log intact: {checked} records verified\n"))
            } else {
                Err(CliError::new(format!(
                    "audit log tampered: {} ({checked} records before it verified)",
                    r["first_break"]["message"].as_str().unwrap_or("broken chain")
                ))
                .hint("restore the database from a backup and investigate who had write access to it"))
            }
        }
    }
}
