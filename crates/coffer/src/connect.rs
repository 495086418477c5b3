//! Finding the service and a token: flags and environment first, then the local data dir.

use std::time::Duration;

use coffer_client::{Client, Token};

use crate::Conn;
use crate::error::CliError;

const DEFAULT_ADDR: &str = "http://127.0.0.1:8787";

fn normalize(addr: &str) -> String {
    let a = addr.trim();
    if a.starts_with("http://") || a.starts_with("https://") { a.to_owned() } else { format!("http://{a}") }
}

/// The service address: `--addr`/`COFFER_ADDR`, else `<data-dir>/endpoint`, else the default.
pub(crate) fn address(conn: &Conn) -> String {
    if let Some(a) = &conn.addr {
        return normalize(a);
    }
    match std::fs::read_to_string(conn.data_dir.join(coffer_server::ENDPOINT_FILE)) {
        Ok(s) if !s.trim().is_empty() => normalize(&s),
        _ => DEFAULT_ADDR.to_owned(),
    }
}

/// The token: `COFFER_TOKEN`, else `--token-file`, else `<data-dir>/admin.token`.
pub(crate) fn token(conn: &Conn) -> Result<Token, CliError> {
    if let Ok(t) = std::env::var("COFFER_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(Token::new(&zeroize::Zeroizing::new(t)));
    }
    let path = conn.token_file.clone().unwrap_or_else(|| conn.data_dir.join(coffer_server::ADMIN_TOKEN_FILE));
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Token::new(&zeroize::Zeroizing::new(t))),
        Err(e) => Err(CliError::new(format!(
            "no token: COFFER_TOKEN is not set and {} cannot be read ({e})",
            path.display()
        ))
        .hint("set COFFER_TOKEN, pass --token-file, or point --data-dir / COFFER_DATA_DIR at the service's data dir")),
    }
}

/// A client for the CLI's commands.
pub(crate) fn client(conn: &Conn) -> Result<Client, CliError> {
    Ok(Client::new(&address(conn), Some(token(conn)?), Duration::from_secs(30)))
}
