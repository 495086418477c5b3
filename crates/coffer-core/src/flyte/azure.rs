//! Azure Key Vault names and values of Flyte's embedded Azure manager (spec §5).
//!
//! Names: `1-<org>-<domain>-<project>-<BASE32(name)>` where org/domain/project escape `0` as
//! `00` and `-` as `01`, and the name is standard upper-case base32 without padding. Values are
//! wrapped in `{"type":"STRING"|"BINARY","value":…}` because Key Vault only stores text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use data_encoding::BASE32_NOPAD;

use super::scoped_id::{ScopedId, ScopedIdError};
use crate::{SecretValue, ValueError, ValueKind};

/// Key Vault's limit on secret names.
pub const MAX_NAME_LEN: usize = 127;

/// Why a name or envelope could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AzureError {
    /// The scoped id is malformed.
    #[error("unable to decode original secret name: {0}")]
    ScopedId(#[from] ScopedIdError),
    /// The encoded name is longer than Key Vault allows.
    #[error("encoded secret name with length {0} exceeds maximum length: {MAX_NAME_LEN}")]
    TooLong(usize),
    /// Not `1-…-…-…-…`.
    #[error("invalid secret name format or version")]
    Format,
    /// A component has a bad escape sequence.
    #[error("error decoding {part} from stored secret {name}: unexpected escape sequence: 0{next}")]
    Escape {
        /// `org`, `domain` or `project`.
        part: &'static str,
        /// The stored name.
        name: String,
        /// The character after the `0`.
        next: char,
    },
    /// The name part is not upper-case base32.
    #[error("error decoding name from stored secret {0}: not base32")]
    Base32(String),
    /// The envelope is not the expected JSON.
    #[error("invalid Azure secret value envelope: {0}")]
    Envelope(String),
    /// The envelope decodes to a value coffer refuses.
    #[error("invalid Azure secret value: {0}")]
    Value(#[from] ValueError),
}

fn escape(s: &str) -> String {
    s.replace('0', "00").replace('-', "01")
}

fn unescape(part: &'static str, s: &str, whole: &str) -> Result<String, AzureError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '0' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('0'),
            Some('1') => out.push('-'),
            // A lone trailing `0` is kept as is (Flyte's decoder does the same).
            None => out.push('0'),
            Some(next) => {
                return Err(AzureError::Escape { part, name: whole.to_owned(), next });
            }
        }
    }
    Ok(out)
}

/// Encodes a scoped id string as a Key Vault secret name.
pub fn encode_name(scoped_id: &str) -> Result<String, AzureError> {
    encode_id(&ScopedId::parse(scoped_id)?)
}

/// Encodes a decoded scoped id as a Key Vault secret name.
pub fn encode_id(id: &ScopedId) -> Result<String, AzureError> {
    let name = format!(
        "1-{}-{}-{}-{}",
        escape(&id.org),
        escape(&id.domain),
        escape(&id.project),
        BASE32_NOPAD.encode(id.name.as_bytes())
    );
    if name.len() > MAX_NAME_LEN {
        return Err(AzureError::TooLong(name.len()));
    }
    Ok(name)
}

/// Decodes a Key Vault secret name back into a scoped id.
pub fn decode_name(name: &str) -> Result<ScopedId, AzureError> {
    let parts: Vec<&str> = name.split('-').collect();
    if parts.len() != 5 || parts[0] != "1" {
        return Err(AzureError::Format);
    }
    let raw = BASE32_NOPAD.decode(parts[4].as_bytes()).map_err(|_| AzureError::Base32(name.to_owned()))?;
    let secret = String::from_utf8(raw).map_err(|_| AzureError::Base32(name.to_owned()))?;
    Ok(ScopedId {
        org: unescape("org", parts[1], name)?,
        domain: unescape("domain", parts[2], name)?,
        project: unescape("project", parts[3], name)?,
        name: secret,
    })
}

/// Wraps a value in Flyte's JSON envelope, byte-identical to Go's `encoding/json` output.
pub fn envelope(value: &SecretValue) -> String {
    let mut out = String::with_capacity(value.len() + 32);
    match value.kind() {
        ValueKind::Binary => {
            out.push_str(r#"{"type":"BINARY","value":""#);
            out.push_str(&STANDARD.encode(value.expose_bytes()));
        }
        ValueKind::String => {
            out.push_str(r#"{"type":"STRING","value":""#);
            // A String-kind value is UTF-8 by construction.
            let s = String::from_utf8_lossy(value.expose_bytes());
            go_json_escape_into(&mut out, &s);
        }
    }
    out.push_str("\"}");
    out
}

/// Go `encoding/json` string escaping with HTML-safe escapes.
fn go_json_escape_into(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Unwraps Flyte's envelope (`AzureToUnionSecret`): a missing `type` means STRING; a numeric
/// `type` is refused, as Flyte refuses it.
pub fn open_envelope(json: &str) -> Result<SecretValue, AzureError> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| AzureError::Envelope(format!("not JSON ({})", e.classify_name())))?;
    let obj = v.as_object().ok_or_else(|| AzureError::Envelope("not a JSON object".into()))?;
    let kind = match obj.get("type") {
        None | Some(serde_json::Value::Null) => "STRING",
        Some(serde_json::Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(AzureError::Envelope(format!("azureSecretValueType should be a string, got {other}")));
        }
    };
    let text = match obj.get("value") {
        Some(serde_json::Value::String(s)) => s.as_str(),
        None | Some(serde_json::Value::Null) => "",
        Some(_) => return Err(AzureError::Envelope("\"value\" is not a string".into())),
    };
    match kind {
        "BINARY" => {
            let bytes = STANDARD.decode(text).map_err(|_| AzureError::Envelope("BINARY value is not base64".into()))?;
            Ok(SecretValue::binary(bytes)?)
        }
        "STRING" => Ok(SecretValue::string(text.to_owned())?),
        other => Err(AzureError::Envelope(format!("{other} is not a valid azureSecretValueType"))),
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "wrong shape",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(org: &str, domain: &str, project: &str, name: &str) -> String {
        ScopedId { org: org.into(), domain: domain.into(), project: project.into(), name: name.into() }.to_string()
    }

    #[test]
    fn upstream_name_vectors() {
        let cases = [
            (
                "u__org__testorg__domain__testdomain__project__testproject__key__testsecret",
                "1-testorg-testdomain-testproject-ORSXG5DTMVRXEZLU",
            ),
            (
                "u__org__test-org__domain__test--domain__project__--testproject--__key__test-secret--",
                "1-test01org-test0101domain-0101testproject0101-ORSXG5BNONSWG4TFOQWS2",
            ),
            (
                "u__org__test0org__domain__test00domain__project__00testproject00__key__testsecret",
                "1-test00org-test0000domain-0000testproject0000-ORSXG5DTMVRXEZLU",
            ),
            (
                "u__org__test01org__domain__test0102domain__project__01testproject0101__key__testsecret",
                "1-test001org-test001002domain-001testproject001001-ORSXG5DTMVRXEZLU",
            ),
            (
                "u__org__test01org__domain__test0101domain__project__01testproject0101__key__test_secret__",
                "1-test001org-test001001domain-001testproject001001-ORSXG5C7ONSWG4TFORPV6",
            ),
            (
                "u__org__test01org__domain__test0101domain__project__01testproject0101__key__TESTSECRET",
                "1-test001org-test001001domain-001testproject001001-KRCVGVCTIVBVERKU",
            ),
        ];
        for (scoped, azure) in cases {
            assert_eq!(encode_name(scoped).unwrap(), azure);
            assert_eq!(decode_name(azure).unwrap().to_string(), scoped);
        }
    }

    #[test]
    fn own_name_vectors() {
        let cases = [
            (
                ("acme", "production", "ml-pipeline", "OPENAI_API_KEY"),
                "1-acme-production-ml01pipeline-J5IEKTSBJFPUCUCJL5FUKWI",
            ),
            (("acme", "", "", "db-password"), "1-acme---MRRC24DBONZXO33SMQ"),
            (("flyte", "development", "", "token"), "1-flyte-development--ORXWWZLO"),
            (("org-0", "dev-01", "p0-1", "x"), "1-org0100-dev01001-p00011-PA"),
            (("acme", "prod", "proj", "clé"), "1-acme-prod-proj-MNWMHKI"),
            (("acme", "prod", "proj", ""), "1-acme-prod-proj-"),
            (("acme", "prod", "proj", "a__b"), "1-acme-prod-proj-MFPV6YQ"),
        ];
        for ((o, d, p, n), azure) in cases {
            let scoped = id(o, d, p, n);
            let enc = encode_name(&scoped).unwrap();
            assert_eq!(enc, azure);
            assert_eq!(enc.len(), azure.len());
            assert_eq!(decode_name(azure).unwrap().to_string(), scoped);
        }
    }

    #[test]
    fn length_limit() {
        let ok = id("acme", "production", "ml-pipeline", &"x".repeat(60));
        assert_eq!(encode_name(&ok).unwrap().len(), 127);
        let long = id("acme", "production", "ml-pipeline", &"x".repeat(61));
        let err = encode_name(&long).unwrap_err();
        assert_eq!(err, AzureError::TooLong(129));
        assert_eq!(err.to_string(), "encoded secret name with length 129 exceeds maximum length: 127");
    }

    #[test]
    fn decode_errors() {
        assert_eq!(decode_name("2-a-b-c-MY"), Err(AzureError::Format));
        assert_eq!(decode_name("1-test01org00-test01domain0000test01project001-testsecret"), Err(AzureError::Format));
        let e = decode_name("1-test02org-b-c-MY").unwrap_err().to_string();
        assert!(e.ends_with("unexpected escape sequence: 02"), "{e}");
        assert!(decode_name("1-a-b-c-my").is_err());
        assert!(decode_name("1-a-b-MY").is_err());
    }

    #[test]
    fn envelopes() {
        let s = |x: &str| SecretValue::string(x.into()).unwrap();
        assert_eq!(envelope(&s("test-value")), r#"{"type":"STRING","value":"test-value"}"#);
        assert_eq!(envelope(&s("hunter2")), r#"{"type":"STRING","value":"hunter2"}"#);
        let b = SecretValue::binary(vec![0x48, 0x65, 0x6C, 0x6C, 0x6F]).unwrap();
        assert_eq!(envelope(&b), r#"{"type":"BINARY","value":"SGVsbG8="}"#);
        let b = SecretValue::binary(vec![0xde, 0xad, 0xbe, 0xef]).unwrap();
        assert_eq!(envelope(&b), r#"{"type":"BINARY","value":"3q2+7w=="}"#);
        assert_eq!(envelope(&s("<a&b>\n\u{2028}")), r#"{"type":"STRING","value":"\u003ca\u0026b\u003e\n\u2028"}"#);

        let v = open_envelope(r#"{"type":"BINARY","value":"3q2+7w=="}"#).unwrap();
        assert_eq!(v.expose_bytes(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(open_envelope(r#"{"value":"x"}"#).unwrap().expose_str().unwrap(), "x");
        let e = open_envelope(r#"{"type":0,"value":"x"}"#).unwrap_err().to_string();
        assert!(e.contains("azureSecretValueType should be a string, got 0"), "{e}");
        assert!(open_envelope("not json").is_err());
        assert!(open_envelope(r#"{"type":"BINARY","value":"!!"}"#).is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn name_round_trip(o in "[a-z0-9-]{1,10}", d in "[a-z0-9-]{0,10}", p in "[a-z0-9-]{0,10}", n in "[A-Za-z0-9._-]{1,30}") {
                let scoped = id(&o, &d, &p, &n);
                let enc = encode_name(&scoped).unwrap();
                prop_assert!(enc.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
                prop_assert_eq!(decode_name(&enc).unwrap().to_string(), scoped);
            }

            #[test]
            fn envelope_round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..200)) {
                let v = SecretValue::detect(bytes.clone()).unwrap();
                let back = open_envelope(&envelope(&v)).unwrap();
                prop_assert_eq!(back.expose_bytes(), &bytes[..]);
                prop_assert_eq!(back.kind(), v.kind());
            }

            #[test]
            fn decode_never_panics(s in ".{0,80}") {
                let _ = decode_name(&s);
                let _ = open_envelope(&s);
            }
        }
    }
}
