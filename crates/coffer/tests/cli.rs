//! The CLI walkthrough against a real `coffer serve`: create, get, reveal, update, versions,
//! delete, restore, purge, exit codes, and the messages that say what to do next.

mod common;

use common::{Server, stderr, stdout};

#[test]
fn walkthrough() {
    let s = Server::start();

    // From stdin (the normal way): no warning, exact bytes.
    let out = s.cli_stdin(&["create", "secret", "db-password"], Some(b"pa55word\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "secret/db-password created in default/*/* (version 1)\n");
    assert!(!stderr(&out).contains("warning"));

    // Positional value, as `flyte create secret KEY VALUE`: accepted with a warning.
    let out = s.cli(&["create", "secret", "OPENAI_KEY", "sk-positional", "-p", "ml", "-d", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("shell history"), "{}", stderr(&out));

    // From a file, binary, byte-exact.
    let file = s.dir.path().join("key.bin");
    std::fs::write(&file, [0u8, 1, 2, 255, 10]).unwrap();
    let out = s.cli(&["create", "secret", "tls.key", "--from-file", file.to_str().unwrap(), "--org", "acme"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = s.cli(&["get", "secret", "db-password", "--reveal"]);
    assert_eq!(out.stdout, b"pa55word\n");
    let out = s.cli(&["get", "secret", "tls.key", "--org", "acme", "--reveal"]);
    assert_eq!(out.stdout, [0u8, 1, 2, 255, 10]);

    // Listing never shows values.
    let out = s.cli(&["get", "secrets"]);
    let list = stdout(&out);
    assert!(list.starts_with("NAME"), "{list}");
    assert!(list.contains("db-password") && list.contains("OPENAI_KEY") && list.contains("default/ml/dev"));
    assert!(!list.contains("pa55word") && !list.contains("sk-positional"));
    let out = s.cli(&["get", "secrets", "-p", "ml", "-o", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["name"], "OPENAI_KEY");
    let out = s.cli(&["get", "secret", "OPENAI_KEY", "-p", "ml", "-d", "dev", "-o", "yaml"]);
    assert!(stdout(&out).contains("name: OPENAI_KEY"), "{}", stdout(&out));

    // New versions; old ones stay readable.
    let out = s.cli_stdin(&["update", "secret", "db-password"], Some(b"second"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("version 2"));
    assert_eq!(s.cli(&["get", "secret", "db-password", "--reveal"]).stdout, b"second");
    assert_eq!(s.cli(&["get", "secret", "db-password", "--reveal", "--version", "1"]).stdout, b"pa55word\n");
    let versions = stdout(&s.cli(&["get", "secret", "db-password", "--versions"]));
    assert!(versions.contains("VERSION") && versions.lines().count() == 4, "{versions}");

    // Delete is soft; re-creating is refused with directions; restore brings it back.
    let out = s.cli(&["delete", "secret", "db-password"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("coffer restore secret db-password"), "{}", stdout(&out));
    let out = s.cli_stdin(&["create", "secret", "db-password"], Some(b"again"));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("scheduled for deletion") && err.contains("coffer restore secret db-password"), "{err}");
    assert!(err.contains("--purge"), "{err}");
    assert_eq!(s.cli(&["get", "secret", "db-password", "--reveal"]).status.code(), Some(1));
    let listed = stdout(&s.cli(&["get", "secrets", "--include-deleted"]));
    assert!(listed.contains("deleted (purge at"), "{listed}");
    assert!(s.cli(&["restore", "secret", "db-password"]).status.success());
    assert_eq!(s.cli(&["get", "secret", "db-password", "--reveal"]).stdout, b"second");

    // Purge is immediate; then the name is free and starts again at version 1.
    assert!(s.cli(&["delete", "secret", "db-password", "--purge"]).status.success());
    let out = s.cli(&["get", "secret", "db-password"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not found") && stderr(&out).contains("hint:"), "{}", stderr(&out));
    let out = s.cli_stdin(&["create", "secret", "db-password"], Some(b"fresh"));
    assert!(stdout(&out).contains("version 1"));
}

#[test]
fn exit_codes_and_bad_input() {
    let s = Server::start();
    // Usage errors exit 2 and change nothing.
    for args in [
        vec!["create", "secret", "bad/name", "x"],
        vec!["create", "secret", "ok", "x", "-p", "Bad_Project"],
        vec!["create", "secret", "ok", "x", "-d", "-dev"],
        vec!["create", "secret", "ok", "x", "--org", "UPPER"],
        vec!["create", "secret", "ok", "x", "--value", "y"],
        vec!["get", "secret", "--reveal"],
        vec!["frobnicate"],
    ] {
        let out = s.cli(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = s.cli(&["create", "secret", "bad/name", "x"]);
    assert!(stderr(&out).contains("A-Z, a-z, 0-9"), "{}", stderr(&out));
    assert_eq!(stdout(&s.cli(&["get", "secrets", "-o", "json"])).trim(), "[]");

    // Runtime errors exit 1 with a hint.
    let out = s.cli_stdin(&["create", "secret", "empty"], Some(b""));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
    let big = vec![b'x'; 64 * 1024 + 1];
    let out = s.cli_stdin(&["create", "secret", "big"], Some(&big));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("64 KiB"), "{}", stderr(&out));
    let ok = vec![b'x'; 64 * 1024];
    assert!(s.cli_stdin(&["create", "secret", "max"], Some(&ok)).status.success());
    assert_eq!(s.cli(&["get", "secret", "max", "--reveal"]).stdout.len(), 64 * 1024);

    assert!(s.cli_stdin(&["create", "secret", "dup"], Some(b"1")).status.success());
    let out = s.cli_stdin(&["create", "secret", "dup"], Some(b"2"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("already exists") && stderr(&out).contains("coffer update secret"),
        "{}",
        stderr(&out)
    );
    assert_eq!(s.cli(&["get", "secret", "dup", "--reveal"]).stdout, b"1");

    // Wrong token, unreachable service.
    let out =
        s.cli_env(&["get", "secrets"], None, &[("COFFER_TOKEN", "coffer_wrongwrongwrongwrongwrongwrongwrongwrongwro")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("invalid token") && stderr(&out).contains("COFFER_TOKEN"), "{}", stderr(&out));
    let out =
        s.cli_env(&["get", "secrets"], None, &[("COFFER_TOKEN", &s.token), ("COFFER_ADDR", "http://127.0.0.1:1")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot reach coffer") && stderr(&out).contains("coffer serve"), "{}", stderr(&out));
}

#[test]
fn finds_service_and_token_from_the_data_dir() {
    let s = Server::start();
    // No COFFER_ADDR, no COFFER_TOKEN: the data dir's endpoint and admin.token are enough.
    let mut cmd = std::process::Command::new(common::BIN);
    cmd.args(["get", "secrets", "-o", "json"])
        .env_remove("COFFER_ADDR")
        .env_remove("COFFER_TOKEN")
        .current_dir(s.dir.path())
        .env("COFFER_DATA_DIR", "data");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // And a data dir without a token says how to fix it.
    let out = std::process::Command::new(common::BIN)
        .args(["get", "secrets"])
        .env_remove("COFFER_TOKEN")
        .env("COFFER_ADDR", &s.addr)
        .env("COFFER_DATA_DIR", s.dir.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no token") && stderr(&out).contains("hint:"), "{}", stderr(&out));
}
