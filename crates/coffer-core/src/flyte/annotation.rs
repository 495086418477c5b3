//! The `flyte.secrets/sN` pod annotation: a `core.Secret` in protobuf text format, then
//! Flyte base32 (spec §2.2).
//!
//! [`encode`] reproduces golang/protobuf v1 `MarshalTextString` byte for byte, so annotations
//! coffer writes are identical to Flyte's. [`decode`] accepts general text format (any field
//! order, `'` or `"` strings, all escapes, numeric enums, `,`/`;` separators, `#` comments),
//! because Python's `text_format` and hand-written producers differ from Go's output.

use std::fmt::Write as _;

use super::flyte_base32;
use crate::{MountRequirement, SecretRequest};

/// The annotation key prefix; the full key is `flyte.secrets/s<index>`.
pub const KEY_PREFIX: &str = "flyte.secrets/s";
/// The pod label that marks pods whose annotations carry secret requests.
pub const INJECT_LABEL: (&str, &str) = ("inject-flyte-secrets", "true");
/// Flyte refuses encoded descriptors longer than this.
pub const MAX_ENCODED_LEN: usize = 262_144;

/// Why an annotation value could not be decoded (or a request not encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnotationError {
    /// The encoded value is over [`MAX_ENCODED_LEN`].
    #[error("secret descriptor cannot exceed [{MAX_ENCODED_LEN}]")]
    TooLong,
    /// Not Flyte base32.
    #[error("annotation value is not Flyte base32: {0}")]
    Base32(String),
    /// Not valid UTF-8 once decoded.
    #[error("annotation value does not decode to UTF-8 text")]
    Utf8,
    /// Not protobuf text format for `core.Secret`.
    #[error("annotation value is not a valid Secret in protobuf text format: {reason} (at byte {at})")]
    Syntax {
        /// What is wrong.
        reason: String,
        /// Byte offset in the decoded text.
        at: usize,
    },
}

/// The annotation key for the secret at `index` in the task's `SecurityContext.secrets`.
pub fn key(index: usize) -> String {
    format!("{KEY_PREFIX}{index}")
}

/// Encodes a request the way Flyte does. Fails only when the result would exceed Flyte's limit.
pub fn encode(secret: &SecretRequest) -> Result<String, AnnotationError> {
    let text = to_text(secret);
    let encoded = flyte_base32().encode(text.as_bytes());
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(AnnotationError::TooLong);
    }
    Ok(encoded)
}

/// Decodes an annotation value into a request.
pub fn decode(value: &str) -> Result<SecretRequest, AnnotationError> {
    if value.len() > MAX_ENCODED_LEN {
        return Err(AnnotationError::TooLong);
    }
    let raw = flyte_base32().decode(value.as_bytes()).map_err(|e| AnnotationError::Base32(e.to_string()))?;
    let text = String::from_utf8(raw).map_err(|_| AnnotationError::Utf8)?;
    from_text(&text)
}

/// golang/protobuf v1 non-compact text: declared field order, zero values omitted.
pub fn to_text(s: &SecretRequest) -> String {
    let mut out = String::new();
    let mut field = |name: &str, v: &str| {
        if !v.is_empty() {
            out.push_str(name);
            out.push_str(": ");
            quote_into(&mut out, v);
            out.push('\n');
        }
    };
    field("group", &s.group);
    field("group_version", &s.group_version);
    field("key", &s.key);
    if s.mount_requirement != MountRequirement::Any {
        out.push_str("mount_requirement: ");
        out.push_str(s.mount_requirement.as_str());
        out.push('\n');
    }
    if !s.env_var.is_empty() {
        out.push_str("env_var: ");
        quote_into(&mut out, &s.env_var);
        out.push('\n');
    }
    out
}

/// Go's `writeQuotedString`: C escapes for `\n \r \t " \`, printable ASCII as is (the single
/// quote included), every other byte as a three-digit octal escape.
fn quote_into(out: &mut String, s: &str) {
    out.push('"');
    for &b in s.as_bytes() {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
}

/// Parses protobuf text format for `core.Secret`.
pub fn from_text(text: &str) -> Result<SecretRequest, AnnotationError> {
    let mut p = Parser { b: text.as_bytes(), i: 0 };
    let mut out = SecretRequest::default();
    let mut seen = [false; 5];
    loop {
        p.skip_space();
        if p.eof() {
            break;
        }
        let at = p.i;
        let name = p.ident()?;
        let slot = match name {
            "group" => 0,
            "group_version" => 1,
            "key" => 2,
            "mount_requirement" => 3,
            "env_var" => 4,
            other => return Err(p.err_at(at, format!("unknown field {other:?}"))),
        };
        if std::mem::replace(&mut seen[slot], true) {
            return Err(p.err_at(at, format!("field {name:?} is set twice")));
        }
        p.skip_space();
        if !p.eat(b':') {
            return Err(p.err(format!("expected ':' after {name:?}")));
        }
        p.skip_space();
        if slot == 3 {
            let at = p.i;
            let tok = p.scalar_token()?;
            out.mount_requirement = match tok {
                "ANY" => MountRequirement::Any,
                "ENV_VAR" => MountRequirement::EnvVar,
                "FILE" => MountRequirement::File,
                n => {
                    let n: i64 =
                        parse_int(n).ok_or_else(|| p.err_at(at, format!("invalid mount requirement [{n}]")))?;
                    MountRequirement::from_number(n).map_err(|e| p.err_at(at, e.to_string()))?
                }
            };
        } else {
            let v = p.string()?;
            match slot {
                0 => out.group = v,
                1 => out.group_version = v,
                2 => out.key = v,
                _ => out.env_var = v,
            }
        }
        p.skip_space();
        // Optional list separators.
        let _ = p.eat(b',') || p.eat(b';');
    }
    Ok(out)
}

fn parse_int(s: &str) -> Option<i64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()
    } else {
        s.parse().ok()
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

// === impl Parser ===

impl<'a> Parser<'a> {
    fn eof(&self) -> bool {
        self.i >= self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn err(&self, reason: String) -> AnnotationError {
        self.err_at(self.i, reason)
    }

    fn err_at(&self, at: usize, reason: String) -> AnnotationError {
        AnnotationError::Syntax { reason, at }
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() {
                self.i += 1;
            } else if c == b'#' {
                while let Some(c) = self.peek() {
                    self.i += 1;
                    if c == b'\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    fn ident(&mut self) -> Result<&'a str, AnnotationError> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            self.i += 1;
        }
        if start == self.i {
            return Err(self.err("expected a field name".into()));
        }
        // Only ASCII was consumed, so this is valid UTF-8.
        std::str::from_utf8(&self.b[start..self.i]).map_err(|_| self.err("bad field name".into()))
    }

    fn scalar_token(&mut self) -> Result<&'a str, AnnotationError> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+' | b'.')) {
            self.i += 1;
        }
        if start == self.i {
            return Err(self.err("expected a value".into()));
        }
        std::str::from_utf8(&self.b[start..self.i]).map_err(|_| self.err("bad value".into()))
    }

    /// One or more adjacent quoted strings, concatenated, decoded to UTF-8.
    fn string(&mut self) -> Result<String, AnnotationError> {
        let mut bytes = Vec::new();
        let mut any = false;
        while let Some(q @ (b'"' | b'\'')) = self.peek() {
            any = true;
            self.i += 1;
            loop {
                let Some(c) = self.peek() else {
                    return Err(self.err("unterminated string".into()));
                };
                self.i += 1;
                match c {
                    c if c == q => break,
                    b'\n' => return Err(self.err("newline inside a string".into())),
                    b'\\' => self.escape(&mut bytes)?,
                    c => bytes.push(c),
                }
            }
            self.skip_space();
        }
        if !any {
            return Err(self.err("expected a quoted string".into()));
        }
        String::from_utf8(bytes).map_err(|_| self.err("string is not valid UTF-8".into()))
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), AnnotationError> {
        let Some(c) = self.peek() else {
            return Err(self.err("unterminated escape".into()));
        };
        self.i += 1;
        match c {
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'?' => out.push(b'?'),
            b'\\' | b'\'' | b'"' => out.push(c),
            b'0'..=b'7' => {
                let mut n = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
                            n = n * 8 + u32::from(d - b'0');
                            self.i += 1;
                        }
                        _ => break,
                    }
                }
                let b = u8::try_from(n).map_err(|_| self.err("octal escape out of range".into()))?;
                out.push(b);
            }
            b'x' | b'X' => {
                let n = self.hex_digits(1, 2)?;
                out.push(n as u8);
            }
            b'u' | b'U' => {
                let len = if c == b'u' { 4 } else { 8 };
                let n = self.hex_digits(len, len)?;
                let ch = char::from_u32(n).ok_or_else(|| self.err("invalid unicode escape".into()))?;
                let mut buf = [0; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            other => return Err(self.err(format!("unknown escape \\{}", other as char))),
        }
        Ok(())
    }

    fn hex_digits(&mut self, min: usize, max: usize) -> Result<u32, AnnotationError> {
        let mut n = 0u32;
        let mut count = 0;
        while count < max {
            match self.peek().and_then(|c| (c as char).to_digit(16)) {
                Some(d) => {
                    n = n * 16 + d;
                    self.i += 1;
                    count += 1;
                }
                None => break,
            }
        }
        if count < min {
            return Err(self.err("too few hex digits in escape".into()));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MountRequirement::{Any, EnvVar, File};

    fn req(group: &str, gv: &str, key: &str, m: MountRequirement, env: &str) -> SecretRequest {
        SecretRequest {
            group: group.into(),
            group_version: gv.into(),
            key: key.into(),
            mount_requirement: m,
            env_var: env.into(),
        }
    }

    /// Spec §2.2: upstream vectors and the spec author's own.
    fn vectors() -> Vec<(SecretRequest, &'static str)> {
        vec![
            (req(";':/\\", "", "", Any, ""), "m4zg54lqhiqceozhhixvyxbcbi"),
            (req("", "", "my_key", Any, ""), "nnsxsoraejwxsx2lmv3secq"),
            (
                req("my_group", "", "my_key", EnvVar, ""),
                "m4zg54lqhiqce2lzl4txe22voarau12fpe4caitnpfpwwzlzeifg122vnz1f53tfof1ws3tfnvsw34b1ebcu3vs6kzavecq",
            ),
            (
                req("my-k8s-secret", "", "api_key", EnvVar, ""),
                "m4zg54lqhiqce2lzfvvtq3znonswg3tfoqrau12fpe4caitbobuv512fperau2lpovxhix2smvyxk1lsmvwwk2tuhiqektswl4lecuqk",
            ),
            (
                req("", "", "openai-key", EnvVar, "OPENAI_KEY"),
                "nnsxsoraejxxazlomfus112fperau2lpovxhix2smvyxk1lsmvwwk2tuhiqektswl4lecuqkmvxhmx2wmfzduibcj4iektsbjfpuwrkzeifa",
            ),
            (req("", "", "my_secret", File, ""), "nnsxsoraejwxsx2tmvrxezlueifg122vnz1f53tfof1ws3tfnvsw34b1ebdestcfbi"),
            (
                req("arn:aws:secretsmanager:us-west-2:123456789012:secret:", "", "my-secret-AbCdEf", File, ""),
                "m4zg54lqhiqceylsny4gc42thjzwky2smv1hg2lbnzqwozlshj1xgllxmvzxiljshiytemzugu2doobzgayteottmvrxezluhirau12fpe4caitnpewxgzldojsxilkbmjbwirlgeifg122vnz1f53tfof1ws3tfnvsw34b1ebdestcfbi",
            ),
            (
                req("https://examplevault.vault.azure.net/secrets/example-secret", "12345", "", File, ""),
                "m4zg54lqhiqce1duoryhgorpf4sxqylnobwgk4tbovwhiltwmf1wy4bomf4hk3tffzxgk4bponswg3tforzs5zlymfwxa2dffvzwky2smv1cecthojxxk3c6ozsxe32jn4xduibcgezdgnbveifg122vnz1f53tfof1ws3tfnvsw34b1ebdestcfbi",
            ),
            (req("naïve\"q", "", "k", Any, ""), "m4zg54lqhiqce2tblqztam13gi1to4tflqrhciqknnsxsoraejvsecq"),
        ]
    }

    #[test]
    fn spec_vectors_encode_and_decode() {
        for (secret, encoded) in vectors() {
            assert_eq!(encode(&secret).unwrap(), encoded, "encode {secret:?}");
            assert_eq!(decode(encoded).unwrap(), secret, "decode {encoded}");
        }
    }

    #[test]
    fn escaping_text() {
        let s = req("naïve\"q", "", "k", Any, "");
        assert_eq!(to_text(&s), "group: \"na\\303\\257ve\\\"q\"\nkey: \"k\"\n");
    }

    #[test]
    fn legacy_compact_form_decodes_with_standard_alphabet_only() {
        // `nnsxsorcnv4v623fperca` is standard base32 of `key:"my_key" ` (spec §2.2 note): it is
        // not Flyte base32 of valid text, so decoding must fail cleanly rather than panic.
        assert!(decode("nnsxsorcnv4v623fperca").is_err());
    }

    #[test]
    fn general_text_format() {
        let text =
            "# a comment\nkey: 'my\\'key' mount_requirement: 2, env_var: \"A\" \"B\"; group_version:\"\\x41\\u00e9\"";
        let s = from_text(text).unwrap();
        assert_eq!(s.key, "my'key");
        assert_eq!(s.mount_requirement, File);
        assert_eq!(s.env_var, "AB");
        assert_eq!(s.group_version, "Aé");
    }

    #[test]
    fn bad_inputs_are_errors() {
        for bad in [
            "nope: \"x\"",
            "key \"x\"",
            "key: \"x",
            "key: x",
            "mount_requirement: 3",
            "mount_requirement: BOTH",
            "key: \"a\" key: \"b\"",
            "key: \"\\400\"",
            "key: \"\\xff\"",
        ] {
            assert!(from_text(bad).is_err(), "{bad}");
        }
        assert!(matches!(decode("0000"), Err(AnnotationError::Base32(_))));
        assert_eq!(decode(&"a".repeat(MAX_ENCODED_LEN + 1)), Err(AnnotationError::TooLong));
        assert_eq!(
            from_text("mount_requirement: 9").unwrap_err().to_string(),
            "annotation value is not a valid Secret in protobuf text format: invalid mount requirement [9]: use ANY, ENV_VAR or FILE (at byte 19)"
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn mount() -> impl Strategy<Value = MountRequirement> {
            prop_oneof![Just(Any), Just(EnvVar), Just(File)]
        }

        proptest! {
            #[test]
            fn round_trip(group in ".{0,40}", gv in ".{0,10}", key in ".{0,40}", m in mount(), env in "[A-Z_]{0,12}") {
                let s = req(&group, &gv, &key, m, &env);
                let enc = encode(&s).unwrap();
                prop_assert_eq!(decode(&enc).unwrap(), s);
            }

            #[test]
            fn decode_never_panics(s in ".{0,200}") {
                let _ = decode(&s);
                let _ = from_text(&s);
            }
        }
    }
}
