#!/usr/bin/env python3
"""Writes the known-answer vectors in this folder with an independent implementation of the
record format (Python `cryptography`), so the Rust code is checked against something it did not
produce itself. Run: python3 generate.py  (needs `pip install cryptography`)."""
import json, struct
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

def aad(org, project, domain, name, version):
    out = b""
    for p in (org, project, domain, name):
        b = p.encode()
        out += struct.pack(">I", len(b)) + b
    return out + struct.pack(">I", version)

def seal(kek_id, kek, dek, wrap_nonce, nonce, rec, kind, value):
    value_aad = b"coffer-value-v1\0" + rec
    dek_aad = b"coffer-dek-v1\0" + bytes([len(kek_id)]) + kek_id.encode() + rec
    ct = AESGCM(dek).encrypt(nonce, bytes([kind]) + value, value_aad)
    wrapped = AESGCM(kek).encrypt(wrap_nonce, dek, dek_aad)
    return b"cfr\x01" + bytes([len(kek_id)]) + kek_id.encode() + wrap_nonce + wrapped + nonce + ct

def vector(fname, desc, scope, name, version, kind, value, kek_id="kek-test-1", expect="ok", mutate=None, open_as=None, error=None):
    kek = bytes(range(32))
    dek = bytes(range(100, 132))
    wrap_nonce = bytes(range(200, 212))
    nonce = bytes(range(1, 13))
    rec = aad(*scope, name, version)
    sealed = seal(kek_id, kek, dek, wrap_nonce, nonce, rec, kind, value)
    if mutate:
        sealed = mutate(sealed)
    v = {
        "description": desc, "expect": expect,
        "kek_id": kek_id, "kek": kek.hex(), "dek": dek.hex(), "wrap_nonce": wrap_nonce.hex(), "nonce": nonce.hex(),
        "org": scope[0], "project": scope[1], "domain": scope[2], "name": name, "version": version,
        "kind": "string" if kind == 1 else "binary", "value": value.hex(), "sealed": sealed.hex(),
    }
    if open_as:
        v["open_as"] = open_as
    if error:
        v["error"] = error
    with open(fname, "w") as f:
        json.dump(v, f, indent=2)
        f.write("\n")

vector("ok_string_org_scope.json", "string value at org scope", ("acme", "", "", ), "db-password", 1, 1, b"hunter2")
vector("ok_binary_project_domain.json", "binary value at project+domain scope", ("acme", "ml", "dev"), "tls.key", 3, 0, bytes([0, 1, 2, 255]))
vector("ok_string_domain_utf8.json", "UTF-8 value at domain scope", ("flyte", "", "development"), "token", 12, 1, "clé ✓".encode())
def flip(i):
    return lambda s: s[:i] + bytes([s[i] ^ 1]) + s[i + 1:]
vector("fail_bit_flip_ciphertext.json", "one bit flipped in the value ciphertext", ("acme", "", ""), "db-password", 1, 1, b"hunter2", expect="fail", mutate=lambda s: s[:-1] + bytes([s[-1] ^ 0x80]), error="decrypt")
vector("fail_bit_flip_wrapped_key.json", "one bit flipped in the wrapped data key", ("acme", "", ""), "db-password", 1, 1, b"hunter2", expect="fail", mutate=flip(4 + 1 + 10 + 12 + 3), error="unwrap")
vector("fail_truncated.json", "record cut short", ("acme", "", ""), "db-password", 1, 1, b"hunter2", expect="fail", mutate=lambda s: s[:40], error="malformed")
vector("fail_bad_magic.json", "unknown format version", ("acme", "", ""), "db-password", 1, 1, b"hunter2", expect="fail", mutate=lambda s: b"cfr\x02" + s[4:], error="malformed")
vector("fail_swapped_name.json", "record of db-password opened as api-key", ("acme", "", ""), "db-password", 1, 1, b"hunter2", expect="fail", open_as={"name": "api-key"}, error="unwrap")
vector("fail_swapped_version.json", "version 1 opened as version 2", ("acme", "", ""), "db-password", 1, 1, b"hunter2", expect="fail", open_as={"version": 2}, error="unwrap")
vector("fail_swapped_scope.json", "org-scope record opened at project scope", ("acme", "", ""), "db-password", 1, 1, b"hunter2", expect="fail", open_as={"project": "ml"}, error="unwrap")
vector("fail_unknown_kek.json", "sealed under a key the ring lacks", ("acme", "", ""), "db-password", 1, 1, b"hunter2", expect="fail", mutate=lambda s: s[:5] + b"kek-other-" + s[15:], error="unknown_kek")
