//! `coffer run`: one child process with its secrets, nothing left behind.

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use coffer_core::{SecretRequest, SecretValue};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
use signal_hook::iterator::Signals;

use crate::InjectError;
use crate::mask::Redactor;
use crate::plan::{Layout, Plan};
use crate::privdir::{PrivateDir, write_files};

/// How to run the child.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The program.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Env-var prefix for flytekit names.
    pub env_prefix: String,
    /// Replace secret values in the child's stdout/stderr with `<redacted>`.
    pub mask: bool,
    /// Where to create the private directory; a memory filesystem when `None`.
    pub secrets_parent: Option<PathBuf>,
    /// Variables not to pass on to the child (coffer's own token, say).
    pub remove_env: Vec<String>,
}

/// Runs the child with env vars and files for `requests` (one value each) and returns its exit
/// code (128 + N when it died of signal N). The private directory is removed when the child
/// ends, however it ends. SIGTERM, SIGHUP, SIGUSR1/2 and SIGWINCH are forwarded; SIGINT and
/// SIGQUIT too, unless stdin is a terminal (the terminal already sent them to the child).
pub fn run(requests: &[SecretRequest], values: Vec<SecretValue>, opts: &RunOptions) -> Result<i32, InjectError> {
    let dir = PrivateDir::create(opts.secrets_parent.as_deref())?;
    let layout = Layout { env_prefix: opts.env_prefix.clone(), mount_path: dir.path().to_path_buf() };
    let plan = Plan::new(requests, values, &layout)?;
    write_files(dir.path(), &plan)?;

    let forwarded = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH];
    // Registered before the child exists, so no signal is lost between spawn and forwarding.
    let mut signals = Signals::new(forwarded).map_err(|e| InjectError::io("signal handlers", e))?;
    let from_tty = std::io::stdin().is_terminal();

    let mut cmd = Command::new(&opts.program);
    cmd.args(&opts.args);
    for k in &opts.remove_env {
        cmd.env_remove(k);
    }
    for (k, v) in plan.env_text() {
        cmd.env(k, v.as_str());
    }
    if opts.mask {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| InjectError::Spawn { program: opts.program.to_string_lossy().into_owned(), source: e })?;
    drop(cmd);

    let pid = Pid::from_raw(child.id() as i32);
    let handle = signals.handle();
    let forwarder = std::thread::spawn(move || {
        for sig in signals.forever() {
            if from_tty && (sig == SIGINT || sig == SIGQUIT) {
                continue;
            }
            if let Ok(s) = Signal::try_from(sig) {
                let _ = kill(pid, s);
            }
        }
    });

    let mut pumps = Vec::new();
    if opts.mask {
        let redactor = std::sync::Arc::new(Redactor::new(plan.secret_bytes()));
        if let Some(out) = child.stdout.take() {
            let r = redactor.clone();
            pumps.push(std::thread::spawn(move || r.pump(out, std::io::stdout())));
        }
        if let Some(err) = child.stderr.take() {
            let r = redactor.clone();
            pumps.push(std::thread::spawn(move || r.pump(err, std::io::stderr())));
        }
    }
    drop(plan);

    let status = child.wait().map_err(|e| InjectError::io("child process", e));
    for p in pumps {
        let _ = p.join();
    }
    handle.close();
    let _ = forwarder.join();
    drop(dir);
    let status = status?;
    Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}
