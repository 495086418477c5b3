//! Flyte's encodings, byte-compatible with the Go and Python implementations.
//!
//! | module | what it encodes | spec |
//! |---|---|---|
//! | [`annotation`] | a [`SecretRequest`](crate::SecretRequest) as a `flyte.secrets/sN` pod annotation | §2.2 |
//! | [`scoped_id`] | `u__org__…__key__…` ids of the embedded secret manager | §4.2 |
//! | [`azure`] | Azure Key Vault names and the JSON value envelope | §5 |
//! | [`naming`] | flytekit / Flyte 2 env-var names and file paths | §6 |
//! | [`k8s`] | md5 Kubernetes Secret names and Flyte volume names | §3.5, §4.3 |

pub mod annotation;
pub mod azure;
pub mod k8s;
pub mod naming;
pub mod scoped_id;

use data_encoding::{Encoding, Specification};
use std::sync::OnceLock;

/// Flyte's base32: RFC 4648 with `a–z1–6` as the alphabet and no padding
/// (`flyteplugins/go/tasks/pluginmachinery/encoding/encoder.go`).
pub fn flyte_base32() -> &'static Encoding {
    static ENC: OnceLock<Encoding> = OnceLock::new();
    ENC.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols.push_str("abcdefghijklmnopqrstuvwxyz123456");
        spec.check_trailing_bits = false;
        // The alphabet is a fixed, valid 32-symbol set, so this cannot fail.
        spec.encoding().expect("valid base32 alphabet")
    })
}
