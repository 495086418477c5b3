//! The HTTP API against a real service: every bad input gets a clear 4xx and changes nothing;
//! resolution goes through the scope cascade; listing pages with opaque tokens.

mod common;

use base64::Engine as _;
use common::Server;
use serde_json::json;

fn count(s: &Server) -> usize {
    s.get("/v1/secrets?include_deleted=true&limit=1000").body["secrets"].as_array().unwrap().len()
}

fn error_code(r: &common::Http) -> &str {
    r.body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {}", r.text))
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let s = Server::start();
    let r = s.post("/v1/secrets", &json!({"name": "keep", "string_value": "original"}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["version"], 1);
    let before = count(&s);

    let cases: Vec<(serde_json::Value, u16, &str)> = vec![
        (json!({"name": "bad name", "string_value": "x"}), 400, "invalid_argument"),
        (json!({"name": "", "string_value": "x"}), 400, "invalid_argument"),
        (json!({"name": "..", "string_value": "x"}), 400, "invalid_argument"),
        (json!({"name": "x".repeat(129), "string_value": "x"}), 400, "invalid_argument"),
        (json!({"name": "ok", "project": "Bad", "string_value": "x"}), 400, "invalid_argument"),
        (json!({"name": "ok", "domain": "dev_1", "string_value": "x"}), 400, "invalid_argument"),
        (json!({"name": "ok", "org": "-acme", "string_value": "x"}), 400, "invalid_argument"),
        (json!({"name": "ok", "type": "weird", "string_value": "x"}), 400, "invalid_argument"),
        (json!({"name": "ok", "string_value": ""}), 400, "invalid_argument"),
        (json!({"name": "ok"}), 400, "invalid_argument"),
        (json!({"name": "ok", "string_value": "a", "binary_value": "YQ=="}), 400, "invalid_argument"),
        (json!({"name": "ok", "binary_value": "not base64!"}), 400, "invalid_argument"),
        (json!({"name": "ok", "string_value": "x".repeat(64 * 1024 + 1)}), 413, "value_too_large"),
        (json!({"name": "ok", "string_value": "x", "extra": 1}), 400, "invalid_argument"),
        (json!({"name": "keep", "string_value": "dup"}), 409, "already_exists"),
    ];
    for (body, status, code) in cases {
        let r = s.post("/v1/secrets", &body);
        assert_eq!((r.status, error_code(&r)), (status, code), "{body}: {}", r.text);
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
    }
    // Exactly 64 KiB is fine.
    let r = s.post("/v1/secrets", &json!({"name": "max", "string_value": "y".repeat(64 * 1024)}));
    assert_eq!(r.status, 201, "{}", r.text);
    s.delete("/v1/secrets/max?purge=true");

    // Malformed JSON, wrong content type, oversized body, wrong types.
    let r = s.send_raw("POST", "/v1/secrets", Some(&s.token), "application/json", b"{\"name\": ");
    assert_eq!((r.status, error_code(&r)), (400, "invalid_argument"));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("not valid JSON"));
    let r = s.send_raw("POST", "/v1/secrets", Some(&s.token), "text/plain", b"name=x");
    assert_eq!((r.status, error_code(&r)), (415, "unsupported_media_type"));
    let huge = format!("{{\"name\":\"big\",\"string_value\":\"{}\"}}", "z".repeat(300 * 1024));
    let r = s.send_raw("POST", "/v1/secrets", Some(&s.token), "application/json", huge.as_bytes());
    assert_eq!((r.status, error_code(&r)), (413, "payload_too_large"));
    let r =
        s.send_raw("POST", "/v1/secrets", Some(&s.token), "application/json", br#"{"name": 5, "string_value": "x"}"#);
    assert_eq!((r.status, error_code(&r)), (400, "invalid_argument"));

    // Tokens.
    let body = br#"{"name":"t","string_value":"x"}"#;
    let r = s.send_raw("POST", "/v1/secrets", None, "application/json", body);
    assert_eq!((r.status, error_code(&r)), (401, "unauthenticated"));
    assert!(r.headers.iter().any(|(k, v)| k == "www-authenticate" && v.starts_with("Bearer")));
    let r = s.send_raw(
        "POST",
        "/v1/secrets",
        Some("coffer_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        "application/json",
        body,
    );
    assert_eq!((r.status, error_code(&r)), (401, "unauthenticated"));
    let r = s.send_raw("POST", "/v1/secrets", Some("not-a-token"), "application/json", body);
    assert_eq!(r.status, 401);
    assert_eq!(s.get_raw("/v1/secrets", None).status, 401);

    // Missing things, unknown routes and methods.
    let r = s.get("/v1/secrets/ghost");
    assert_eq!((r.status, error_code(&r)), (404, "not_found"));
    let r = s.post("/v1/secrets/ghost/versions", &json!({"string_value": "x"}));
    assert_eq!((r.status, error_code(&r)), (404, "not_found"));
    let r = s.get("/v1/secrets/keep/value?version=7");
    assert_eq!((r.status, error_code(&r)), (404, "not_found"));
    let r = s.get("/v1/secrets/keep/value?version=zero");
    assert_eq!((r.status, error_code(&r)), (400, "invalid_argument"));
    let r = s.get("/v1/nope");
    assert_eq!((r.status, error_code(&r)), (404, "not_found"));
    let r = s.send_raw("PATCH", "/v1/secrets", Some(&s.token), "application/json", b"{}");
    assert_eq!((r.status, error_code(&r)), (405, "method_not_allowed"));
    let r = s.get("/v1/secrets?limit=0");
    assert_eq!(r.status, 400);
    let r = s.delete("/v1/secrets/keep?recovery_window_days=1000");
    assert_eq!(r.status, 400);

    // Nothing changed.
    assert_eq!(count(&s), before);
    let r = s.get("/v1/secrets/keep/value");
    assert_eq!(r.body["string_value"], "original");
    assert_eq!(r.body["version"], 1);
}

#[test]
fn values_versions_and_lifecycle_over_http() {
    let s = Server::start();
    let bin = base64::engine::general_purpose::STANDARD.encode([0u8, 159, 146, 150]);
    let r = s.post("/v1/secrets", &json!({"name": "blob", "org": "acme", "project": "ml", "binary_value": bin}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["scope"], "acme/ml/*");
    assert!(r.body.get("binary_value").is_none(), "metadata never carries a value");
    let r = s.get("/v1/secrets/blob/value?org=acme&project=ml");
    assert_eq!(r.body["binary_value"], bin);
    let r = s.post("/v1/secrets/blob/versions?org=acme&project=ml", &json!({"string_value": "text now"}));
    assert_eq!((r.status, r.body["version"].as_u64()), (201, Some(2)));
    let r = s.get("/v1/secrets/blob/versions?org=acme&project=ml");
    assert_eq!(r.body["versions"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["versions"][1]["current"], true);
    // Same name, other scope: a different secret.
    assert_eq!(s.get("/v1/secrets/blob?org=acme").status, 404);

    let r = s.delete("/v1/secrets/blob?org=acme&project=ml&recovery_window_days=30");
    assert_eq!(r.status, 200);
    assert!(r.body["purge_at"].is_string());
    let r = s.get("/v1/secrets/blob/value?org=acme&project=ml");
    assert_eq!((r.status, error_code(&r)), (409, "pending_deletion"));
    let r = s.post("/v1/secrets", &json!({"name": "blob", "org": "acme", "project": "ml", "string_value": "x"}));
    assert_eq!((r.status, error_code(&r)), (409, "pending_deletion"));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("restore"));
    let r = s.delete("/v1/secrets/blob?org=acme&project=ml");
    assert_eq!((r.status, error_code(&r)), (409, "pending_deletion"));
    let r = s.post("/v1/secrets/blob/restore?org=acme&project=ml", &json!({}));
    assert_eq!(r.status, 200);
    let r = s.post("/v1/secrets/blob/restore?org=acme&project=ml", &json!({}));
    assert_eq!((r.status, error_code(&r)), (409, "not_deleted"));
    let r = s.delete("/v1/secrets/blob?org=acme&project=ml&purge=true");
    assert_eq!((r.status, r.body["purged"].as_bool()), (200, Some(true)));
    assert_eq!(s.get("/v1/secrets/blob?org=acme&project=ml").status, 404);
}

#[test]
fn resolve_walks_the_cascade() {
    let s = Server::start();
    let put = |body: serde_json::Value| {
        let r = s.post("/v1/secrets", &body);
        assert_eq!(r.status, 201, "{}", r.text);
    };
    put(json!({"name": "api", "org": "acme", "string_value": "org-level"}));
    put(json!({"name": "api", "org": "acme", "domain": "dev", "string_value": "domain-level"}));
    put(json!({"name": "api", "org": "acme", "project": "ml", "string_value": "project-level"}));
    put(json!({"name": "api", "org": "acme", "project": "ml", "domain": "dev", "string_value": "pd-level"}));
    put(json!({"name": "only-org", "org": "acme", "string_value": "o"}));
    put(json!({"name": "api", "org": "other", "string_value": "other-org"}));

    let resolve = |ctx: serde_json::Value, keys: serde_json::Value| {
        let mut body = ctx;
        body["secrets"] = keys;
        s.post("/v1/resolve", &body)
    };
    let cases = [
        (json!({"org": "acme", "project": "ml", "domain": "dev"}), "pd-level", "acme/ml/dev"),
        (json!({"org": "acme", "project": "ml", "domain": "prod"}), "project-level", "acme/ml/*"),
        (json!({"org": "acme", "project": "web", "domain": "dev"}), "domain-level", "acme/*/dev"),
        (json!({"org": "acme", "project": "web", "domain": "prod"}), "org-level", "acme/*/*"),
    ];
    for (ctx, want, found_in) in cases {
        let r = resolve(ctx.clone(), json!([{"key": "api"}, {"key": "only-org"}]));
        assert_eq!(r.status, 200, "{ctx}: {}", r.text);
        assert_eq!(r.body["secrets"][0]["string_value"], want, "{ctx}");
        assert_eq!(r.body["secrets"][0]["found_in"], found_in, "{ctx}");
        assert_eq!(r.body["secrets"][1]["string_value"], "o");
    }
    // Orgs never mix.
    let r = resolve(json!({"org": "other", "project": "ml", "domain": "dev"}), json!([{"key": "api"}]));
    assert_eq!(
        (r.body["secrets"][0]["string_value"].as_str(), r.body["secrets"][0]["found_in"].as_str()),
        (Some("other-org"), Some("other/*/*"))
    );
    let r = resolve(json!({"org": "other", "project": "ml", "domain": "dev"}), json!([{"key": "only-org"}]));
    assert_eq!(r.status, 404);

    // All or nothing: one missing key fails the call and names every scope searched.
    let r = resolve(json!({"org": "acme", "project": "ml", "domain": "dev"}), json!([{"key": "api"}, {"key": "nope"}]));
    assert_eq!((r.status, error_code(&r)), (404, "not_found"));
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("nope") && msg.contains("acme/ml/dev, acme/ml/*, acme/*/dev, acme/*/*"), "{msg}");
    assert!(!msg.contains("pd-level"));
    assert_eq!(r.body["error"]["details"]["missing"][0]["searched"].as_array().unwrap().len(), 4);

    // A pinned version; a version missing from the most specific secret is an error, not a
    // fall-through to a broader scope's version.
    s.post("/v1/secrets/api/versions?org=acme", &json!({"string_value": "org-v2"}));
    let r = resolve(json!({"org": "acme", "project": "web", "domain": "prod"}), json!([{"key": "api", "version": 1}]));
    assert_eq!(r.body["secrets"][0]["string_value"], "org-level");
    let r = resolve(json!({"org": "acme", "project": "web", "domain": "prod"}), json!([{"key": "api"}]));
    assert_eq!(r.body["secrets"][0]["string_value"], "org-v2");
    let r = resolve(json!({"org": "acme", "project": "ml", "domain": "dev"}), json!([{"key": "api", "version": 2}]));
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.text.contains("version 2 of secret api in acme/ml/dev"), "{}", r.text);

    // A secret scheduled for deletion is skipped: the next scope serves.
    s.delete("/v1/secrets/api?org=acme&project=ml&domain=dev");
    let r = resolve(json!({"org": "acme", "project": "ml", "domain": "dev"}), json!([{"key": "api"}]));
    assert_eq!(r.body["secrets"][0]["string_value"], "project-level");

    // Bad requests.
    assert_eq!(resolve(json!({"org": "acme"}), json!([])).status, 400);
    assert_eq!(resolve(json!({"org": "acme"}), json!([{"key": "bad key"}])).status, 400);
    assert_eq!(resolve(json!({"org": "acme", "project": "B A D"}), json!([{"key": "api"}])).status, 400);
    let many: Vec<_> = (0..101).map(|i| json!({"key": format!("k{i}")})).collect();
    assert_eq!(resolve(json!({"org": "acme"}), json!(many)).status, 400);
}

#[test]
fn listing_pages_with_opaque_tokens() {
    let s = Server::start();
    for i in 0..7 {
        let r = s.post("/v1/secrets", &json!({"name": format!("s{i}"), "project": "p", "string_value": "v"}));
        assert_eq!(r.status, 201);
    }
    s.post("/v1/secrets", &json!({"name": "org-wide", "string_value": "v"}));
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            Some(t) => format!("/v1/secrets?project=p&limit=3&page_token={t}"),
            None => "/v1/secrets?project=p&limit=3".to_owned(),
        };
        let r = s.get(&path);
        assert_eq!(r.status, 200, "{}", r.text);
        for item in r.body["secrets"].as_array().unwrap() {
            names.push(item["name"].as_str().unwrap().to_owned());
        }
        match r.body["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["s0", "s1", "s2", "s3", "s4", "s5", "s6"]);
    // A token from one listing does not work for another, and garbage is refused clearly.
    let first = s.get("/v1/secrets?project=p&limit=3");
    let t = first.body["next_page_token"].as_str().unwrap();
    let r = s.get(&format!("/v1/secrets?limit=3&page_token={t}"));
    assert_eq!(r.status, 400);
    assert!(r.text.contains("different listing"), "{}", r.text);
    assert_eq!(s.get("/v1/secrets?page_token=%%%garbage").status, 400);
    assert_eq!(s.get("/v1/secrets?page_token=Zm9v").status, 400);
}

#[test]
fn health_ready_openapi_whoami() {
    let s = Server::start();
    assert_eq!(s.get_raw("/healthz", None).body["status"], "ok");
    assert_eq!(s.get_raw("/readyz", None).body["status"], "ready");
    let doc = s.get_raw("/v1/openapi.json", None);
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert!(doc.body["paths"]["/v1/resolve"]["post"].is_object());
    let me = s.get("/v1/whoami");
    assert_eq!((me.body["role"].as_str(), me.body["org"].as_str()), (Some("admin"), Some("*")));
    assert!(!me.text.contains(&s.token));
    assert!(s.get("/healthz").headers.iter().any(|(k, _)| k == "x-request-id"));
}
