//! CLI errors: a message, and a hint saying what to do next.

use coffer_client::ClientError;

/// A failed command.
#[derive(Debug)]
pub(crate) struct CliError {
    message: String,
    hint: Option<String>,
    usage: bool,
}

// === impl CliError ===

impl CliError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), hint: None, usage: false }
    }

    /// A mistake in how the command was called (exit code 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self { message: message.into(), hint: None, usage: true }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Message and hint on one line (for init containers, whose logs are read line by line).
    pub(crate) fn one_line(&self) -> String {
        let mut s = self.message.replace('\n', " ");
        if let Some(h) = &self.hint {
            s.push_str(" (");
            s.push_str(h);
            s.push(')');
        }
        s
    }

    pub(crate) fn exit_code(&self) -> u8 {
        if self.usage { 2 } else { 1 }
    }

    pub(crate) fn print(&self) {
        eprintln!("error: {}", self.message);
        if let Some(h) = &self.hint {
            eprintln!("hint: {h}");
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        let hint = match &e {
            ClientError::Transport { .. } => {
                Some("is 'coffer serve' running? Set COFFER_ADDR (or --addr) to its address".to_owned())
            }
            ClientError::Api { code, .. } => match code.as_str() {
                "unauthenticated" => Some(
                    "set COFFER_TOKEN to a valid token, or run where the service's data dir (admin.token) is".into(),
                ),
                "permission_denied" => Some("ask an admin for a token whose role and scope allow this".into()),
                "unavailable" => Some("the service's database is unavailable; retry shortly".into()),
                "not_found" => Some("check the name and the scope (--org, -p/--project, -d/--domain)".into()),
                _ => None,
            },
            _ => None,
        };
        let mut err = CliError::new(e.to_string());
        err.hint = hint;
        err
    }
}
