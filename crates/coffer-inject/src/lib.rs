//! Delivering secrets to tasks.
//!
//! Start with [`requests`] (what a task asks for, from flags, a requests file or Flyte pod
//! annotations), then [`plan::Plan`] (which env vars and files those requests become, named the
//! way flytekit and the Flyte 2 SDK look for them), then the two executors: [`run`] (`coffer run
//! -- CMD`: env vars and a private in-memory directory for one child process, removed when it
//! ends) and [`fetch`] (`coffer fetch --dir DIR`: the init-container mode).

pub mod aws;
pub mod azure;
pub mod fetch;
pub mod http;
pub mod mask;
pub mod plan;
pub mod privdir;
pub mod requests;
pub mod resolve;
pub mod run;
pub mod vault;

use std::path::PathBuf;

/// Why secrets could not be delivered. Messages never contain values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InjectError {
    /// A request (flag, file entry, annotation) is malformed.
    #[error("invalid secret request {input:?}: {reason}")]
    Request {
        /// The offending input.
        input: String,
        /// Why.
        reason: String,
    },
    /// A request names a store coffer cannot serve here.
    #[error("secret request {request} cannot be served: {reason}")]
    Unsupported {
        /// The request, described.
        request: String,
        /// Why.
        reason: String,
    },
    /// The service answered with an error (a missing secret, a denied request, …).
    #[error("{0}")]
    Service(#[from] coffer_client::ClientError),
    /// The service stayed unreachable until the deadline.
    #[error("gave up after {attempts} attempts over {seconds:.1}s: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        seconds: f64,
        /// The last error.
        last: coffer_client::ClientError,
    },
    /// An external store (OpenBao, …) refused or failed; the message names the store, the
    /// secret and the reason.
    #[error("{0}")]
    External(String),
    /// The requests cannot be laid out (name collisions, binary values as env vars).
    #[error("{0}")]
    Layout(String),
    /// A file or directory could not be written or removed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The command could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl InjectError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        InjectError::Io { path: path.into(), source }
    }
}
