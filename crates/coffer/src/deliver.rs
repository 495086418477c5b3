//! `coffer run` and `coffer fetch`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use coffer_client::{Client, ScopeSel};
use coffer_core::SecretRequest;
use coffer_core::flyte::naming::FLYTEKIT_ENV_PREFIX;
use coffer_inject::InjectError;
use coffer_inject::fetch::{FetchOptions, fetch};
use coffer_inject::requests::{parse_annotations, parse_env, parse_file, parse_requests_file, parse_secret};
use coffer_inject::resolve::resolve_all;
use coffer_inject::run::{RunOptions, run};

use crate::Conn;
use crate::connect::{address, token};
use crate::error::CliError;

/// What to deliver, and for which task.
#[derive(Args, Debug)]
pub(crate) struct RequestArgs {
    /// A secret as env var and file: KEY, GROUP/KEY, or either with @VERSION (repeatable).
    #[arg(long = "secret", value_name = "SPEC")]
    secrets: Vec<String>,
    /// A secret as env var NAME only: NAME=SPEC, like Flyte 2's as_env_var (repeatable).
    #[arg(long = "env", value_name = "NAME=SPEC")]
    envs: Vec<String>,
    /// A secret as a file only: SPEC (repeatable).
    #[arg(long = "file", value_name = "SPEC")]
    files: Vec<String>,
    /// A YAML or JSON list of requests with Flyte's fields (group, group_version, key,
    /// mount_requirement, env_var).
    #[arg(long, value_name = "FILE")]
    requests: Option<PathBuf>,
    /// Flyte pod annotations (flyte.secrets/sN), e.g. a downward-API annotations file.
    #[arg(long, value_name = "FILE")]
    annotations: Option<PathBuf>,
    /// The task's org [env: COFFER_ORG; default: the service's default org].
    #[arg(long, env = "COFFER_ORG")]
    org: Option<String>,
    /// The task's project.
    #[arg(short = 'p', long, env = "COFFER_PROJECT")]
    project: Option<String>,
    /// The task's domain.
    #[arg(short = 'd', long, env = "COFFER_DOMAIN")]
    domain: Option<String>,
    /// Prefix of flytekit env-var names (FLYTE_SECRETS_ENV_PREFIX).
    #[arg(long, default_value = FLYTEKIT_ENV_PREFIX)]
    env_prefix: String,
    /// Give up resolving after this many seconds, retries included.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    timeout: u64,
}

impl RequestArgs {
    fn collect(&self) -> Result<Vec<SecretRequest>, CliError> {
        let usage = |e: InjectError| CliError::usage(e.to_string());
        let mut out = Vec::new();
        for s in &self.secrets {
            out.push(parse_secret(s).map_err(usage)?);
        }
        for s in &self.envs {
            out.push(parse_env(s).map_err(usage)?);
        }
        for s in &self.files {
            out.push(parse_file(s).map_err(usage)?);
        }
        if let Some(p) = &self.requests {
            out.extend(parse_requests_file(p).map_err(usage)?);
        }
        if let Some(p) = &self.annotations {
            let text =
                std::fs::read_to_string(p).map_err(|e| CliError::new(format!("cannot read {}: {e}", p.display())))?;
            out.extend(parse_annotations(&text).map_err(usage)?);
        }
        Ok(out)
    }

    fn context(&self) -> ScopeSel {
        let opt = |s: &Option<String>| s.clone().filter(|v| !v.is_empty());
        ScopeSel { org: opt(&self.org), project: opt(&self.project), domain: opt(&self.domain) }
    }

    /// Requests and their values, fetched in one call with bounded retries.
    fn resolve(&self, conn: &Conn) -> Result<(Vec<SecretRequest>, Vec<coffer_core::SecretValue>), CliError> {
        let requests = self.collect()?;
        if requests.is_empty() {
            return Ok((requests, Vec::new()));
        }
        let deadline = Instant::now() + Duration::from_secs(self.timeout);
        let per_call = Duration::from_secs(self.timeout.clamp(1, 10));
        // The service is only needed (and a coffer token only required) for coffer's own secrets.
        let client = || {
            let t = token(conn).map_err(|e| InjectError::External(e.one_line()))?;
            Ok(Client::new(&address(conn), Some(t), per_call))
        };
        let values = resolve_all(client, &self.context(), &requests, deadline).map_err(|e| match e {
            InjectError::Service(c) => CliError::from(c),
            InjectError::GaveUp { .. } => CliError::new(e.to_string())
                .hint("is 'coffer serve' running and reachable? Set COFFER_ADDR (or --addr) to its address"),
            other => CliError::new(other.to_string()),
        })?;
        Ok((requests, values))
    }
}

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    requests: RequestArgs,
    /// Replace secret values in the command's stdout and stderr with <redacted> (the command
    /// then writes to pipes, not the terminal).
    #[arg(long)]
    mask: bool,
    /// Create the private secrets directory here instead of a memory filesystem.
    #[arg(long, value_name = "DIR")]
    secrets_parent: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

pub(crate) fn run_cmd(conn: &Conn, a: RunArgs) -> Result<u8, CliError> {
    let (requests, values) = a.requests.resolve(conn)?;
    let mut command = a.command.into_iter();
    let program = command.next().ok_or_else(|| CliError::usage("no command given after --"))?;
    let opts = RunOptions {
        program,
        args: command.collect(),
        env_prefix: a.requests.env_prefix.clone(),
        mask: a.mask,
        secrets_parent: a.secrets_parent,
        remove_env: vec!["COFFER_TOKEN".into()],
    };
    let code = run(&requests, values, &opts).map_err(|e| CliError::new(e.to_string()))?;
    Ok(u8::try_from(code).unwrap_or(255))
}

#[derive(Args, Debug)]
pub(crate) struct FetchArgs {
    #[command(flatten)]
    requests: RequestArgs,
    /// Write the secret files here (created 0700 if missing).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Where the task will see DIR (FLYTE_SECRETS_DEFAULT_DIR) [default: DIR].
    #[arg(long, value_name = "PATH")]
    mount_path: Option<PathBuf>,
    /// The env file to write, for `source` [default: DIR/coffer.env].
    #[arg(long, value_name = "FILE")]
    env_file: Option<PathBuf>,
}

pub(crate) fn fetch_cmd(conn: &Conn, a: FetchArgs) -> Result<(), CliError> {
    let one_line = |e: CliError| CliError::new(e.one_line());
    let (requests, values) = a.requests.resolve(conn).map_err(one_line)?;
    let opts = FetchOptions {
        dir: a.dir,
        mount_path: a.mount_path,
        env_file: a.env_file,
        env_prefix: a.requests.env_prefix.clone(),
    };
    let report = fetch(&requests, values, &opts).map_err(|e| CliError::new(e.to_string()))?;
    if !report.in_memory {
        eprintln!("warning: {} is not on a memory filesystem; secret files are on disk", opts.dir.display());
    }
    println!(
        "fetched {} secrets: {} files in {}, {} variables in {}",
        requests.len(),
        report.files,
        opts.dir.display(),
        report.env_vars,
        report.env_file.display()
    );
    Ok(())
}
