//! coffer's domain: what a secret is, where it lives, and how the systems coffer speaks for
//! (Flyte, flytekit, Azure Key Vault, Kubernetes) spell its names.
//!
//! Newcomers should start with [`Scope`] and [`SecretName`], then [`SecretValue`]. Everything
//! here is pure: no I/O, no async, no HTTP. Every type is parsed once at the edge (`FromStr`)
//! and is valid from then on ("parse, don't validate").
//!
//! The Flyte codecs live in [`flyte`]; each one carries the test vectors of
//! `shared/spec/flyte-secrets.md` as tests.

pub mod flyte;
mod names;
mod request;
mod scope;
mod value;
mod version;

pub use names::{Domain, NameError, Org, Project, SecretName};
pub use request::{MountRequirement, RequestError, SecretRequest};
pub use scope::{Scope, ScopeLevel};
pub use value::{MAX_VALUE_BYTES, SecretValue, ValueError, ValueKind};
pub use version::{Version, VersionError};
mod role;
mod time;

pub use role::{Role, RoleError};
pub use time::{Timestamp, TimestampError};
