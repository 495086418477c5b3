//! HTTP clients for external stores.

use std::time::Duration;

/// An agent that reports error statuses as responses. When `COFFER_CA_FILE` names a PEM file,
/// only the certificates in it are trusted (for private endpoints and tests); otherwise the
/// built-in public roots.
pub fn agent(timeout: Duration) -> Result<ureq::Agent, String> {
    let mut config = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout));
    if let Some(path) = std::env::var_os("COFFER_CA_FILE").filter(|p| !p.is_empty()) {
        let pem =
            std::fs::read(&path).map_err(|e| format!("cannot read COFFER_CA_FILE {}: {e}", path.to_string_lossy()))?;
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(format!("COFFER_CA_FILE {} holds no certificates", path.to_string_lossy()));
        }
        let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::from(certs)).build();
        config = config.tls_config(tls);
    }
    Ok(config.build().into())
}
