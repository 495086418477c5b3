//! Deny by default, proven: every route × every role × in-scope / out-of-scope / cascade-parent
//! target, with the exact allow/deny outcome; denials never reveal whether a secret exists.

mod common;

use common::Server;
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    In,
    Out,
    Parent,
}

impl Target {
    fn query(self) -> &'static str {
        match self {
            Target::In => "org=acme&project=ml&domain=dev",
            Target::Out => "org=acme&project=web&domain=dev",
            Target::Parent => "org=acme",
        }
    }

    fn body(self) -> serde_json::Value {
        match self {
            Target::In => json!({"org": "acme", "project": "ml", "domain": "dev"}),
            Target::Out => json!({"org": "acme", "project": "web", "domain": "dev"}),
            Target::Parent => json!({"org": "acme"}),
        }
    }
}

fn with(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

const ROLES: [&str; 4] = ["admin", "writer", "reader", "fetcher"];
const TARGETS: [Target; 3] = [Target::In, Target::Out, Target::Parent];

#[test]
fn route_role_scope_matrix() {
    let s = Server::start();
    for t in TARGETS {
        let r = s.post("/v1/secrets", &with(t.body(), json!({"name": "s", "string_value": "v"})));
        assert_eq!(r.status, 201, "{}", r.text);
    }
    s.post("/v1/secrets", &json!({"org": "acme", "name": "parent-only", "string_value": "from-org"}));
    let tokens: Vec<(&str, String)> =
        ROLES.iter().map(|r| (*r, s.token(r, "acme", Some("ml"), Some("dev")).1)).collect();

    let mut checked = 0;
    for (role, tok) in &tokens {
        let tok = Some(tok.as_str());
        for t in TARGETS {
            let q = t.query();
            let in_scope = t == Target::In;
            let writes = matches!(*role, "admin" | "writer") && in_scope;
            let reads_meta = matches!(*role, "admin" | "writer" | "reader") && in_scope;
            let tag = format!("{role}-{t:?}").to_lowercase();
            // Fixtures the global admin creates, so every route has something to act on.
            s.post("/v1/secrets", &with(t.body(), json!({"name": format!("del-{tag}"), "string_value": "v"})));
            s.post("/v1/secrets", &with(t.body(), json!({"name": format!("purge-{tag}"), "string_value": "v"})));

            let cases: Vec<(&str, common::Http, bool)> = vec![
                (
                    "create",
                    s.as_token(
                        "POST",
                        "/v1/secrets",
                        tok,
                        Some(&with(t.body(), json!({"name": format!("new-{tag}"), "string_value": "x"}))),
                    ),
                    writes,
                ),
                (
                    "update",
                    s.as_token(
                        "POST",
                        &format!("/v1/secrets/s/versions?{q}"),
                        tok,
                        Some(&json!({"string_value": "y"})),
                    ),
                    writes,
                ),
                ("metadata", s.as_token("GET", &format!("/v1/secrets/s?{q}"), tok, None), reads_meta),
                ("versions", s.as_token("GET", &format!("/v1/secrets/s/versions?{q}"), tok, None), reads_meta),
                (
                    "value",
                    s.as_token("GET", &format!("/v1/secrets/s/value?{q}"), tok, None),
                    *role == "admin" && in_scope,
                ),
                (
                    "list",
                    s.as_token("GET", &format!("/v1/secrets?{q}"), tok, None),
                    // With no project/domain filter a scoped token lists inside its own scope.
                    matches!(*role, "admin" | "writer" | "reader") && t != Target::Out,
                ),
                ("delete", s.as_token("DELETE", &format!("/v1/secrets/del-{tag}?{q}"), tok, None), writes),
                ("purge", s.as_token("DELETE", &format!("/v1/secrets/purge-{tag}?{q}&purge=true"), tok, None), writes),
                (
                    "resolve",
                    s.as_token(
                        "POST",
                        "/v1/resolve",
                        tok,
                        Some(&with(t.body(), json!({"secrets": [{"key": "s"}, {"key": "parent-only"}]}))),
                    ),
                    matches!(*role, "admin" | "fetcher") && in_scope,
                ),
                (
                    "token-create",
                    s.as_token("POST", "/v1/tokens", tok, Some(&with(t.body(), json!({"role": "reader"})))),
                    *role == "admin" && in_scope,
                ),
                ("token-list", s.as_token("GET", "/v1/tokens", tok, None), *role == "admin"),
                ("audit-list", s.as_token("GET", "/v1/audit", tok, None), false),
                ("audit-verify", s.as_token("GET", "/v1/audit/verify", tok, None), false),
                ("rotate-kek", s.as_token("POST", "/v1/admin/rotate-kek", tok, None), false),
            ];
            for (route, resp, allowed) in cases {
                checked += 1;
                if allowed {
                    assert!(
                        (200..300).contains(&resp.status),
                        "{route} as {role} on {t:?}: expected allow, got {}: {}",
                        resp.status,
                        resp.text
                    );
                } else {
                    assert_eq!(resp.status, 403, "{route} as {role} on {t:?}: expected 403, got {}", resp.text);
                    assert_eq!(resp.body["error"]["code"], "permission_denied");
                    let msg = resp.body["error"]["message"].as_str().unwrap();
                    assert!(msg.contains("lacks the permission") || msg.contains("only within scope"), "{msg}");
                    assert!(!msg.contains("not found") && !msg.contains("exists"), "{msg}");
                }
            }
            // Restore what an allowed delete removed, for the next rounds.
            if writes {
                let r = s.as_token("POST", &format!("/v1/secrets/del-{tag}/restore?{q}"), tok, None);
                assert_eq!(r.status, 200, "{}", r.text);
            }
        }
    }
    assert_eq!(checked, ROLES.len() * TARGETS.len() * 14);
}

#[test]
fn fetcher_gets_the_cascade_and_nothing_else() {
    let s = Server::start();
    let put = |b: serde_json::Value| assert_eq!(s.post("/v1/secrets", &b).status, 201);
    put(json!({"org": "acme", "name": "org-key", "string_value": "o"}));
    put(json!({"org": "acme", "domain": "dev", "name": "dom-key", "string_value": "d"}));
    put(json!({"org": "acme", "project": "ml", "name": "proj-key", "string_value": "p"}));
    put(json!({"org": "acme", "project": "web", "domain": "dev", "name": "other-key", "string_value": "x"}));
    put(json!({"org": "other", "name": "org-key", "string_value": "elsewhere"}));
    let (_, f) = s.token("fetcher", "acme", Some("ml"), Some("dev"));
    let resolve = |ctx: serde_json::Value, key: &str| {
        s.as_token("POST", "/v1/resolve", Some(&f), Some(&with(ctx, json!({"secrets": [{"key": key}]}))))
    };
    let ctx = json!({"org": "acme", "project": "ml", "domain": "dev"});
    for (key, value, found_in) in
        [("org-key", "o", "acme/*/*"), ("dom-key", "d", "acme/*/dev"), ("proj-key", "p", "acme/ml/*")]
    {
        let r = resolve(ctx.clone(), key);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            (r.body["secrets"][0]["string_value"].as_str(), r.body["secrets"][0]["found_in"].as_str()),
            (Some(value), Some(found_in))
        );
    }
    // Another project's secret is not in the cascade: not found, exactly like a missing one.
    let r = resolve(ctx.clone(), "other-key");
    assert_eq!(r.status, 404);
    let ghost = resolve(ctx, "never-existed");
    assert_eq!(ghost.status, 404);
    // Other contexts, other orgs, direct reads: denied.
    for c in [
        json!({"org": "acme", "project": "web", "domain": "dev"}),
        json!({"org": "acme", "project": "ml"}),
        json!({"org": "other", "project": "ml", "domain": "dev"}),
    ] {
        assert_eq!(resolve(c.clone(), "org-key").status, 403, "{c}");
    }
    assert_eq!(s.as_token("GET", "/v1/secrets/org-key/value?org=acme", Some(&f), None).status, 403);
    assert_eq!(s.as_token("GET", "/v1/secrets?org=acme&project=ml&domain=dev", Some(&f), None).status, 403);
}

#[test]
fn denials_do_not_reveal_existence() {
    let s = Server::start();
    s.post("/v1/secrets", &json!({"org": "acme", "project": "web", "name": "real", "string_value": "v"}));
    let (_, reader) = s.token("reader", "acme", Some("ml"), None);
    let (_, writer) = s.token("writer", "acme", Some("ml"), None);
    for (tok, method, suffix) in
        [(&reader, "GET", ""), (&reader, "GET", "/versions"), (&writer, "DELETE", ""), (&writer, "POST", "/restore")]
    {
        let real = s.as_token(method, &format!("/v1/secrets/real{suffix}?org=acme&project=web"), Some(tok), None);
        let ghost = s.as_token(method, &format!("/v1/secrets/ghost{suffix}?org=acme&project=web"), Some(tok), None);
        assert_eq!(real.status, 403);
        assert_eq!(real.body["error"], ghost.body["error"], "{method} {suffix}");
    }
    // An org admin cannot mint tokens beyond its org, nor touch other orgs.
    let (_, org_admin) = s.token("admin", "acme", None, None);
    let r = s.as_token("POST", "/v1/tokens", Some(&org_admin), Some(&json!({"role": "admin"})));
    assert_eq!(r.status, 403, "{}", r.text);
    let r = s.as_token("POST", "/v1/tokens", Some(&org_admin), Some(&json!({"role": "reader", "org": "other"})));
    assert_eq!(r.status, 403);
    let r = s.as_token(
        "POST",
        "/v1/tokens",
        Some(&org_admin),
        Some(&json!({"role": "fetcher", "org": "acme", "project": "ml"})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(s.as_token("GET", "/v1/secrets/x/value?org=other", Some(&org_admin), None).status, 403);
    // Its token list shows only tokens inside acme.
    let list = s.as_token("GET", "/v1/tokens", Some(&org_admin), None);
    assert!(list.body["tokens"].as_array().unwrap().iter().all(|t| t["org"] == "acme"), "{}", list.text);
}

#[test]
fn tokens_expire_and_revoke() {
    let s = Server::start();
    s.post("/v1/secrets", &json!({"org": "acme", "name": "k", "string_value": "v"}));
    let ctx = json!({"org": "acme", "secrets": [{"key": "k"}]});
    // CLI: the token alone on stdout; -o json has it in `token`.
    let out = s.cli(&["token", "create", "--role", "fetcher", "--org", "acme", "--ttl", "24h", "--name", "ci-job"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = common::stdout(&out).trim().to_owned();
    assert!(text.starts_with("coffer_") && !text.contains(' '), "{text}");
    assert!(!common::stderr(&out).contains(&text));
    assert_eq!(s.as_token("POST", "/v1/resolve", Some(&text), Some(&ctx)).status, 200);
    let out = s.cli(&["token", "create", "--role", "reader", "-o", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(j["token"].as_str().unwrap().starts_with("coffer_"));
    let listed = common::stdout(&s.cli(&["token", "list"]));
    assert!(listed.contains("ci-job") && listed.contains("fetcher") && !listed.contains(&text), "{listed}");
    let id = s.cli(&["token", "list", "-o", "json"]);
    let tokens: serde_json::Value = serde_json::from_slice(&id.stdout).unwrap();
    let ci =
        tokens.as_array().unwrap().iter().find(|t| t["name"] == "ci-job").unwrap()["id"].as_str().unwrap().to_owned();
    assert!(s.cli(&["token", "revoke", &ci]).status.success());
    let r = s.as_token("POST", "/v1/resolve", Some(&text), Some(&ctx));
    assert_eq!(r.status, 401);
    assert!(r.text.contains("revoked"), "{}", r.text);
    assert!(common::stdout(&s.cli(&["token", "list"])).contains("revoked"));
    // Expiry.
    let r = s.post("/v1/tokens", &json!({"role": "fetcher", "org": "acme", "ttl_seconds": 1}));
    let short = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(s.as_token("POST", "/v1/resolve", Some(&short), Some(&ctx)).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let r = s.as_token("POST", "/v1/resolve", Some(&short), Some(&ctx));
    assert_eq!(r.status, 401);
    assert!(r.text.contains("expired"), "{}", r.text);
    // Bad requests.
    assert_eq!(s.post("/v1/tokens", &json!({"role": "root"})).status, 400);
    assert_eq!(s.post("/v1/tokens", &json!({"role": "reader", "project": "Bad"})).status, 400);
    assert_eq!(s.post("/v1/tokens", &json!({"role": "reader", "ttl_seconds": 0})).status, 400);
    assert_eq!(s.delete("/v1/tokens/tok_nope").status, 404);
    assert_eq!(s.cli(&["token", "create", "--role", "root"]).status.code(), Some(2));
}
