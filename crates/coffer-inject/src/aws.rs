//! Direct references to AWS Secrets Manager, fetched with the caller's own AWS identity.
//!
//! A request names the secret the way Flyte's AWS injector does: `group` is an ARN prefix
//! ending in `:secret:` and `key` is `<name>-<6 chars>` (seed 002), or `group` is a whole ARN
//! (full, or partial without the suffix). `group_version` is a staging label (`AWSCURRENT`,
//! `AWSPREVIOUS`, …) or a version id. Credentials and endpoint come from the standard AWS
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL`, `AWS_REGION`), so pointing at a local
//! emulator needs no coffer setting. Requests are signed with SigV4 (wire-protocols §1.2).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_core::{SecretRequest, SecretValue, Timestamp};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::InjectError;

/// One secret in AWS Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AwsRef {
    /// The `SecretId`: a full or partial ARN.
    pub secret_id: String,
    /// A staging label.
    pub stage: Option<String>,
    /// A version id.
    pub version_id: Option<String>,
    /// The region, from the ARN.
    pub region: String,
}

impl std::fmt::Display for AwsRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.secret_id)?;
        if let Some(s) = self.stage.as_ref().or(self.version_id.as_ref()) {
            write!(f, "@{s}")?;
        }
        Ok(())
    }
}

/// Parses a request whose group is a Secrets Manager ARN (prefix).
pub fn parse(r: &SecretRequest) -> Result<AwsRef, InjectError> {
    let bad =
        |reason: &str| InjectError::Unsupported { request: format!("{}{}", r.group, r.key), reason: reason.into() };
    let fields: Vec<&str> = r.group.splitn(7, ':').collect();
    if fields.len() < 6 || fields[0] != "arn" || fields[2] != "secretsmanager" || fields[5] != "secret" {
        return Err(bad("write the group as arn:<partition>:secretsmanager:<region>:<account>:secret:[<name>]"));
    }
    let region = fields[3].to_owned();
    let secret_id = if r.key.is_empty() {
        r.group.clone()
    } else {
        // Flyte's rule: SECRET_ARN = rtrim(group, ":") + ":" + ltrim(key, ":").
        format!("{}:{}", r.group.trim_end_matches(':'), r.key.trim_start_matches(':'))
    };
    if secret_id.ends_with(":secret") || secret_id.ends_with(":secret:") {
        return Err(bad("the key (or the group) must name the secret: <name>-<6 chars> after :secret:"));
    }
    let v = r.group_version.as_str();
    let is_version_id = (32..=64).contains(&v.len()) && v.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    let (stage, version_id) = match v {
        "" => (None, None),
        _ if is_version_id => (None, Some(v.to_owned())),
        _ => (Some(v.to_owned()), None),
    };
    Ok(AwsRef { secret_id, stage, version_id, region })
}

/// Credentials from the environment.
struct Credentials {
    access_key: String,
    secret_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
}

fn env(n: &str) -> Option<String> {
    std::env::var(n).ok().filter(|v| !v.trim().is_empty())
}

/// Credentials, in the order of the AWS default chain that applies to a task: static keys
/// from the environment, then web identity (EKS IRSA / pod identity tokens:
/// `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, exchanged with STS).
fn credentials(agent: &ureq::Agent, region: &str) -> Result<Credentials, String> {
    if let (Some(a), Some(s)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Credentials {
            access_key: a,
            secret_key: Zeroizing::new(s),
            session_token: env("AWS_SESSION_TOKEN").map(Zeroizing::new),
        });
    }
    if let (Some(file), Some(role)) = (env("AWS_WEB_IDENTITY_TOKEN_FILE"), env("AWS_ROLE_ARN")) {
        return assume_role_with_web_identity(agent, region, &file, &role);
    }
    Err("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or \
         AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN; instance-profile credentials are not supported yet"
        .into())
}

/// STS `AssumeRoleWithWebIdentity` (an unsigned call: the web identity token is the proof).
fn assume_role_with_web_identity(
    agent: &ureq::Agent,
    region: &str,
    file: &str,
    role: &str,
) -> Result<Credentials, String> {
    let token = Zeroizing::new(
        std::fs::read_to_string(file).map_err(|e| format!("cannot read AWS_WEB_IDENTITY_TOKEN_FILE {file}: {e}"))?,
    );
    let session = env("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| format!("coffer-{}", std::process::id()));
    let endpoint = env("AWS_ENDPOINT_URL_STS")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .map(|e| e.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    let body = Zeroizing::new(format!(
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName={}&WebIdentityToken={}",
        enc(role),
        enc(&session),
        enc(token.trim())
    ));
    let mut resp = agent
        .post(format!("{endpoint}/"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(body.as_bytes())
        .map_err(|e| format!("STS at {endpoint} unreachable ({e})"))?;
    let status = resp.status().as_u16();
    let xml = Zeroizing::new(resp.body_mut().read_to_string().unwrap_or_default());
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = xml.find(&open)? + open.len();
        let end = xml[start..].find(&format!("</{name}>"))? + start;
        Some(xml[start..end].to_owned())
    };
    match (status, tag("AccessKeyId"), tag("SecretAccessKey"), tag("SessionToken")) {
        (200, Some(a), Some(s), Some(t)) => {
            Ok(Credentials { access_key: a, secret_key: Zeroizing::new(s), session_token: Some(Zeroizing::new(t)) })
        }
        _ => Err(format!(
            "STS refused the web identity for role {role} (HTTP {status}: {})",
            tag("Code").unwrap_or_else(|| "no error code".into())
        )),
    }
}

fn endpoint(region: &str) -> String {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    var("AWS_ENDPOINT_URL_SECRETS_MANAGER")
        .or_else(|| var("AWS_ENDPOINT_URL"))
        .map(|e| e.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("https://secretsmanager.{region}.amazonaws.com"))
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// `YYYYMMDDTHHMMSSZ` for a timestamp.
fn amz_date(t: Timestamp) -> String {
    let s = t.to_rfc3339(); // 2026-11-24T01:02:03.004Z
    format!("{}{}{}T{}{}{}Z", &s[0..4], &s[5..7], &s[8..10], &s[11..13], &s[14..16], &s[17..19])
}

/// The `Authorization` header for a Secrets Manager JSON call (SigV4, wire-protocols §1.2).
#[allow(clippy::too_many_arguments)] // The inputs of one signature, each needed.
fn authorization(
    creds: &Credentials,
    region: &str,
    host: &str,
    amz_date: &str,
    target: &str,
    session_token: Option<&str>,
    body: &[u8],
) -> (String, String) {
    let mut headers: Vec<(&str, &str)> = vec![
        ("content-type", "application/x-amz-json-1.1"),
        ("host", host),
        ("x-amz-date", amz_date),
        ("x-amz-target", target),
    ];
    if let Some(t) = session_token {
        headers.push(("x-amz-security-token", t));
    }
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
    let signed = signed.join(";");
    let canonical = format!("POST\n/\n\n{canonical_headers}\n{signed}\n{}", hex::encode(Sha256::digest(body)));
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/secretsmanager/aws4_request");
    let to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let k_secret = Zeroizing::new(format!("AWS4{}", creds.secret_key.as_str()));
    let k_date = Zeroizing::new(hmac(k_secret.as_bytes(), date.as_bytes()));
    let k_region = Zeroizing::new(hmac(&k_date, region.as_bytes()));
    let k_service = Zeroizing::new(hmac(&k_region, b"secretsmanager"));
    let k_signing = Zeroizing::new(hmac(&k_service, b"aws4_request"));
    let signature = hex::encode(hmac(&k_signing, to_sign.as_bytes()));
    (
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            creds.access_key
        ),
        signed,
    )
}

fn failure(r: &AwsRef, reason: impl std::fmt::Display) -> InjectError {
    InjectError::External(format!("AWS Secrets Manager secret {r}: {reason}"))
}

/// Reads every reference, one call per distinct (secret, version), retrying throttling and
/// server errors until `deadline`.
pub fn fetch_all(refs: &[AwsRef], deadline: Instant) -> Result<Vec<SecretValue>, InjectError> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let agent = crate::http::agent(Duration::from_secs(10)).map_err(|e| failure(&refs[0], e))?;
    let region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).unwrap_or_else(|| refs[0].region.clone());
    let creds = credentials(&agent, &region).map_err(|e| failure(&refs[0], e))?;
    let mut cache: BTreeMap<AwsRef, usize> = BTreeMap::new();
    let mut values: Vec<SecretValue> = Vec::new();
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let i = match cache.get(r) {
            Some(i) => *i,
            None => {
                values.push(get(&agent, &creds, r, deadline)?);
                cache.insert(r.clone(), values.len() - 1);
                values.len() - 1
            }
        };
        out.push(values[i].duplicate());
    }
    Ok(out)
}

fn get(agent: &ureq::Agent, creds: &Credentials, r: &AwsRef, deadline: Instant) -> Result<SecretValue, InjectError> {
    let url = endpoint(&r.region);
    let host = url.split("://").nth(1).unwrap_or(&url).split('/').next().unwrap_or_default().to_owned();
    let mut body = json!({ "SecretId": r.secret_id });
    if let Some(s) = &r.stage {
        body["VersionStage"] = json!(s);
    }
    if let Some(v) = &r.version_id {
        body["VersionId"] = json!(v);
    }
    let body = body.to_string();
    let target = "secretsmanager.GetSecretValue";
    let mut delay = Duration::from_millis(100);
    loop {
        let date = amz_date(Timestamp::now());
        let token = creds.session_token.as_ref().map(|t| t.as_str());
        let (auth, _) = authorization(creds, &r.region, &host, &date, target, token, body.as_bytes());
        let mut req = agent
            .post(format!("{url}/"))
            .header("Content-Type", "application/x-amz-json-1.1")
            .header("X-Amz-Target", target)
            .header("X-Amz-Date", &date)
            .header("Authorization", &auth);
        if let Some(t) = token {
            req = req.header("X-Amz-Security-Token", t);
        }
        let transient = match req.send(body.as_bytes()) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let text = Zeroizing::new(resp.body_mut().read_to_string().unwrap_or_default());
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if status == 200 {
                    return value_of(r, &v);
                }
                // botocore's rule: the code is `__type` after the last '#', before any ':'.
                let code =
                    v["__type"].as_str().unwrap_or("").rsplit('#').next().unwrap_or("").split(':').next().unwrap_or("");
                let message = v["message"].as_str().or(v["Message"].as_str()).unwrap_or("");
                match code {
                    "ResourceNotFoundException" => return Err(failure(r, "not found")),
                    "InvalidRequestException" if message.contains("delet") => {
                        return Err(failure(
                            r,
                            "scheduled for deletion; restore it (aws secretsmanager restore-secret) to read it",
                        ));
                    }
                    "InvalidRequestException" => {
                        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
                        return Err(failure(r, format!("refused: {message}")));
                    }
                    "AccessDeniedException" => return Err(failure(r, "access denied for these AWS credentials")),
                    "UnrecognizedClientException" | "InvalidSignatureException" => {
                        return Err(failure(r, "the AWS credentials were rejected"));
                    }
                    c if c.contains("Throttl") || status == 429 || status >= 500 => format!("{code} (HTTP {status})"),
                    c => return Err(failure(r, format!("{c} (HTTP {status}): {message}"))),
                }
            }
            Err(e) => format!("unreachable at {url} ({e})"),
        };
        if Instant::now() + delay >= deadline {
            return Err(failure(r, format!("{transient}; gave up at the deadline")));
        }
        std::thread::sleep(crate::resolve::jitter(delay));
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

fn value_of(r: &AwsRef, v: &Value) -> Result<SecretValue, InjectError> {
    if let Some(s) = v["SecretString"].as_str() {
        return SecretValue::string(s.to_owned()).map_err(|e| failure(r, e));
    }
    if let Some(b) = v["SecretBinary"].as_str() {
        let bytes = STANDARD.decode(b).map_err(|_| failure(r, "SecretBinary is not base64"))?;
        return SecretValue::binary(bytes).map_err(|e| failure(r, e));
    }
    Err(failure(r, "the version has no value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(group: &str, key: &str, v: &str) -> SecretRequest {
        SecretRequest { group: group.into(), key: key.into(), group_version: v.into(), ..Default::default() }
    }

    #[test]
    fn references() {
        let prefix = "arn:aws:secretsmanager:us-west-2:123456789012:secret:";
        let r = parse(&req(prefix, "my-secret-AbCdEf", "")).unwrap();
        assert_eq!(r.secret_id, "arn:aws:secretsmanager:us-west-2:123456789012:secret:my-secret-AbCdEf");
        assert_eq!(r.region, "us-west-2");
        let full = parse(&req("arn:aws:secretsmanager:us-east-1:1:secret:app/db", "", "AWSPREVIOUS")).unwrap();
        assert_eq!(
            (full.secret_id.as_str(), full.stage.as_deref()),
            ("arn:aws:secretsmanager:us-east-1:1:secret:app/db", Some("AWSPREVIOUS"))
        );
        let vid = parse(&req(prefix, "x-AbCdEf", "a1b2c3d4-0000-4000-8000-0123456789ab")).unwrap();
        assert!(vid.version_id.is_some() && vid.stage.is_none());
        assert!(parse(&req(prefix, "", "")).is_err());
        assert!(parse(&req("arn:aws:s3:::bucket", "k", "")).is_err());
    }

    /// The signature botocore computes for the same request (generated with botocore's
    /// SigV4Auth for these fixed inputs).
    #[test]
    fn sigv4_matches_botocore() {
        let creds = Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: Zeroizing::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            session_token: None,
        };
        let body = br#"{"SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf", "VersionStage": "AWSCURRENT"}"#;
        let (auth, signed) = authorization(
            &creds,
            "us-east-1",
            "127.0.0.1:5000",
            "20261124T024512Z",
            "secretsmanager.GetSecretValue",
            Some("session-token-xyz"),
            body,
        );
        assert_eq!(signed, "content-type;host;x-amz-date;x-amz-security-token;x-amz-target");
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/us-east-1/secretsmanager/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
             Signature=7bcc5251cb56011a617553d486b40d6d7a5e4ce81def561da59cce05ac15d7c8"
        );
        assert_eq!(amz_date(Timestamp::from_millis(1_795_914_123_004)), "20261129T010203Z");
    }
}
