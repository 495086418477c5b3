//! Known-answer vectors (written by `tests/vectors/generate.py`, an independent Python
//! implementation) and tamper tests for sealed records.

use std::path::Path;

use coffer_core::{Scope, SecretName, SecretValue, ValueKind, Version};
use coffer_crypto::{CryptoError, Kek, KekId, Keyring, RecordAad, SealMaterial};
use serde_json::Value;

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn hex12(v: &Value) -> [u8; 12] {
    hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn scope(org: &str, project: &str, domain: &str) -> Scope {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Scope::new(org.parse().unwrap(), opt(project).map(|p| p.parse().unwrap()), opt(domain).map(|d| d.parse().unwrap()))
}

fn aad_of(v: &Value) -> RecordAad {
    let open_as = v.get("open_as").cloned().unwrap_or(Value::Null);
    let field = |k: &str| open_as.get(k).or(v.get(k)).unwrap().clone();
    let s =
        scope(field("org").as_str().unwrap(), field("project").as_str().unwrap(), field("domain").as_str().unwrap());
    let name: SecretName = field("name").as_str().unwrap().parse().unwrap();
    let version = Version::new(field("version").as_u64().unwrap() as u32).unwrap();
    RecordAad::new(&s, &name, version)
}

#[test]
fn known_answer_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        count += 1;
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let ring = Keyring::single(Kek::new(KekId::parse(v["kek_id"].as_str().unwrap()).unwrap(), hex32(&v["kek"])));
        let sealed = hex::decode(v["sealed"].as_str().unwrap()).unwrap();
        let aad = aad_of(&v);
        let value_bytes = hex::decode(v["value"].as_str().unwrap()).unwrap();
        match v["expect"].as_str().unwrap() {
            "ok" => {
                // Seal with the vector's fixed material and compare bytes, then open.
                let kind = if v["kind"] == "string" { ValueKind::String } else { ValueKind::Binary };
                let value = SecretValue::new(kind, value_bytes.clone()).unwrap();
                let m = SealMaterial::dangerous_fixed(hex32(&v["dek"]), hex12(&v["wrap_nonce"]), hex12(&v["nonce"]));
                assert_eq!(hex::encode(ring.seal_with(&aad, &value, &m).unwrap()), v["sealed"], "{file}");
                let opened = ring.open(&aad, &sealed).unwrap();
                assert_eq!(opened.expose_bytes(), &value_bytes[..], "{file}");
                assert_eq!(opened.kind(), kind, "{file}");
            }
            "fail" => {
                let err = ring.open(&aad, &sealed).expect_err(&file);
                let want = v["error"].as_str().unwrap();
                let got = match &err {
                    CryptoError::Decrypt => "decrypt",
                    CryptoError::Unwrap => "unwrap",
                    CryptoError::Malformed(_) => "malformed",
                    CryptoError::UnknownKek(_) => "unknown_kek",
                    other => panic!("{file}: unexpected {other:?}"),
                };
                assert_eq!(got, want, "{file}: {err}");
                // The message is clear and carries no value bytes.
                let msg = err.to_string();
                assert!(!msg.contains("hunter2"), "{msg}");
            }
            other => panic!("{file}: unknown expect {other}"),
        }
    }
    assert!(count >= 10, "expected the vector files, found {count}");
}

fn sample() -> (Keyring, RecordAad, Vec<u8>) {
    let ring = Keyring::generate().unwrap();
    let aad = RecordAad::new(&scope("acme", "ml", "dev"), &"api-key".parse().unwrap(), Version::FIRST);
    let sealed = ring.seal(&aad, &SecretValue::string("s3cr3t-value".into()).unwrap()).unwrap();
    (ring, aad, sealed)
}

#[test]
fn every_single_bit_flip_and_truncation_fails() {
    let (ring, aad, sealed) = sample();
    for i in 0..sealed.len() {
        for bit in [0x01, 0x80] {
            let mut bad = sealed.clone();
            bad[i] ^= bit;
            assert!(ring.open(&aad, &bad).is_err(), "flip at byte {i}");
        }
    }
    for len in 0..sealed.len() {
        assert!(ring.open(&aad, &sealed[..len]).is_err(), "truncated to {len}");
    }
}

#[test]
fn records_do_not_open_elsewhere() {
    let (ring, _, sealed) = sample();
    let name: SecretName = "api-key".parse().unwrap();
    let other_name: SecretName = "api-key2".parse().unwrap();
    let s = scope("acme", "ml", "dev");
    assert!(ring.open(&RecordAad::new(&s, &name, Version::new(2).unwrap()), &sealed).is_err());
    assert!(ring.open(&RecordAad::new(&s, &other_name, Version::FIRST), &sealed).is_err());
    assert!(ring.open(&RecordAad::new(&scope("acme", "ml", ""), &name, Version::FIRST), &sealed).is_err());
    assert!(ring.open(&RecordAad::new(&scope("acme", "", "dev"), &name, Version::FIRST), &sealed).is_err());
    // A different keyring (another installation) cannot open it either.
    let other = Keyring::generate().unwrap();
    assert!(matches!(other.open(&RecordAad::new(&s, &name, Version::FIRST), &sealed), Err(CryptoError::UnknownKek(_))));
}

#[test]
fn fresh_data_key_per_seal() {
    let (ring, aad, sealed) = sample();
    let again = ring.seal(&aad, &SecretValue::string("s3cr3t-value".into()).unwrap()).unwrap();
    assert_ne!(sealed, again);
    assert!(!sealed.windows(12).any(|w| w == b"s3cr3t-value"));
}

#[test]
fn rotation_rewraps_without_reencrypting() {
    let (mut ring, aad, sealed) = sample();
    let old = ring.active_id().clone();
    let new = ring.rotate().unwrap();
    assert_ne!(old, new);
    // Old records still open before the re-wrap.
    assert_eq!(ring.open(&aad, &sealed).unwrap().expose_str().unwrap(), "s3cr3t-value");
    let rewrapped = ring.rewrap(&aad, &sealed).unwrap().expect("needs re-wrap");
    assert_eq!(Keyring::kek_of(&rewrapped).unwrap(), new.as_str());
    // The value nonce and ciphertext are byte-identical: only the key header changed.
    let tail = 12 + 28; // value nonce + ciphertext ("s3cr3t-value" + kind byte + tag)
    assert_eq!(&sealed[sealed.len() - tail..], &rewrapped[rewrapped.len() - tail..]);
    assert!(ring.rewrap(&aad, &rewrapped).unwrap().is_none());
    // Once nothing uses the old key it can be retired, and the record still opens.
    assert!(ring.retire(&old));
    assert_eq!(ring.open(&aad, &rewrapped).unwrap().expose_str().unwrap(), "s3cr3t-value");
    assert!(matches!(ring.open(&aad, &sealed), Err(CryptoError::UnknownKek(_))));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn seal_open_round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..2048), v in 1u32..1000) {
            let ring = Keyring::generate().unwrap();
            let aad = RecordAad::new(&scope("acme", "", "prod"), &"k".parse().unwrap(), Version::new(v).unwrap());
            let value = SecretValue::detect(bytes.clone()).unwrap();
            let sealed = ring.seal(&aad, &value).unwrap();
            let opened = ring.open(&aad, &sealed).unwrap();
            prop_assert_eq!(opened.expose_bytes(), &bytes[..]);
            prop_assert_eq!(opened.kind(), value.kind());
        }
    }
}
