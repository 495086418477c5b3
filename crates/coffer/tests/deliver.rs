//! `coffer run` and `coffer fetch` end to end against a real service, with real flytekit
//! reading every secret the way task code does.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Server, stderr, stdout};
use serde_json::json;

const PW: &str = "pw-Deliver-7f3a9c";
const API: &str = "api-Key-VALUE-2b8e";
const OPENAI: &str = "sk-openai-flyte2-91d0";
const ROT1: &str = "rotating-v1-aa11";
const ROT2: &str = "rotating-v2-bb22";
const MINE: &str = "my-secret-file-c3c3";

fn binary() -> Vec<u8> {
    [0u8, 1, 2, 255, 254, 128, 10, 0].repeat(64)
}

/// The Python of the flytekit venv that scripts/test installs.
fn flytekit_python() -> PathBuf {
    let p = std::env::var_os("COFFER_TEST_FLYTEKIT_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/coffer/venvs/flytekit/bin/python")
    });
    assert!(p.exists(), "flytekit venv missing at {}: run scripts/test, which installs it", p.display());
    p
}

fn seed(s: &Server) {
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, binary());
    for body in [
        json!({"name": "password", "org": "acme", "string_value": PW}),
        json!({"name": "api_key", "org": "acme", "project": "ml", "domain": "dev", "string_value": API}),
        json!({"name": "openai-key", "org": "acme", "domain": "dev", "string_value": OPENAI}),
        json!({"name": "rotating", "org": "acme", "project": "ml", "string_value": ROT1}),
        json!({"name": "tls.key", "org": "acme", "binary_value": b64}),
        json!({"name": "my_secret", "org": "acme", "string_value": MINE}),
    ] {
        let r = s.post("/v1/secrets", &body);
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = s.post("/v1/secrets/rotating/versions?org=acme&project=ml", &json!({"string_value": ROT2}));
    assert_eq!(r.status, 201);
}

fn run_cmd(s: &Server, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .args(["--org", "acme", "-p", "ml", "-d", "dev"])
        .args(args)
        .env("COFFER_ADDR", &s.addr)
        .env("COFFER_TOKEN", &s.token)
        .env_remove("COFFER_ORG")
        .env_remove("COFFER_PROJECT")
        .env_remove("COFFER_DOMAIN");
    cmd
}

const FLYTEKIT_SCRIPT: &str = r#"
import os, sys
import flytekit
from flytekit import Secret, task

want = {k: v for k, v in (line.split("=", 1) for line in open(sys.argv[1]).read().splitlines())}
binary = bytes([0, 1, 2, 255, 254, 128, 10, 0] * 64)

def check(secrets):
    got = {
        "pw": secrets.get(group="db", key="password"),
        "api": secrets.get(key="api_key"),
        "rot1": secrets.get(group="app", key="rotating", group_version="1"),
        "rot2": secrets.get(group="app", key="rotating"),
    }
    for k, v in got.items():
        assert v == want[k], f"{k}: {v!r} != expected"
    # flytekit strips file contents; the bytes here do not start or end with whitespace.
    raw = secrets.get(group="certs", key="tls.key", encode_mode="rb")
    assert raw == binary.strip(), "binary file differs"
    # Flyte 2 style: as_env_var, and /etc/flyte/secrets/<key> with case kept.
    assert os.environ["OPENAI_KEY"] == want["openai"]
    with open(os.path.join(os.environ["FLYTE_SECRETS_DEFAULT_DIR"], "my_secret")) as f:
        assert f.read() == want["mine"]
    with open(os.path.join(os.environ["FLYTE_SECRETS_DEFAULT_DIR"], "certs", "tls.key"), "rb") as f:
        assert f.read() == binary, "binary file is not byte-exact"

check(flytekit.current_context().secrets)

# flytekit's OSS plugin requires a group on every Secret at definition time; key-only lookups
# (Flyte 2 style) are exercised through current_context() above.
@task(secret_requests=[Secret(group="db", key="password"),
                       Secret(group="app", key="rotating", group_version="1"),
                       Secret(group="certs", key="tls.key", mount_requirement=Secret.MountType.FILE)])
def t() -> str:
    check(flytekit.current_context().secrets)
    return "task-ok"

assert t() == "task-ok"
for pid in (os.getpid(), os.getppid()):
    cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
    for v in want.values():
        assert v.encode() not in cmdline, f"value in /proc/{pid}/cmdline"
print("FLYTEKIT-OK", os.environ["FLYTE_SECRETS_DEFAULT_DIR"])
"#;

#[test]
fn flytekit_reads_every_secret() {
    let s = Server::start();
    seed(&s);
    let script = s.dir.path().join("check.py");
    std::fs::write(&script, FLYTEKIT_SCRIPT).unwrap();
    let expected = s.dir.path().join("expected.txt");
    std::fs::write(&expected, format!("pw={PW}\napi={API}\nrot1={ROT1}\nrot2={ROT2}\nopenai={OPENAI}\nmine={MINE}\n"))
        .unwrap();
    let python = flytekit_python();
    let out = run_cmd(
        &s,
        &[
            "--secret",
            "db/password",
            "--secret",
            "api_key",
            "--secret",
            "app/rotating@1",
            "--secret",
            "app/rotating",
            "--file",
            "certs/tls.key",
            "--env",
            "OPENAI_KEY=openai-key",
            "--file",
            "my_secret",
            "--",
        ],
    )
    .arg(&python)
    .arg(&script)
    .arg(&expected)
    .env("FLYTE_INTERNAL_IMAGE", "")
    .output()
    .unwrap();
    assert!(out.status.success(), "stdout: {}\nstderr: {}", stdout(&out), stderr(&out));
    let line = stdout(&out);
    assert!(line.contains("FLYTEKIT-OK"), "{line}");
    let dir = line.split_whitespace().last().unwrap();
    assert!(!PathBuf::from(dir).exists(), "secrets dir {dir} left behind");
    assert!(!stderr(&out).contains(PW));
}

#[test]
fn requests_file_and_flyte_annotations() {
    let s = Server::start();
    seed(&s);
    let yaml = s.dir.path().join("requests.yaml");
    std::fs::write(
        &yaml,
        "- {group: db, key: password, mount_requirement: ENV_VAR, env_var: DB_PASSWORD}\n- key: my_secret\n  mount_requirement: FILE\n",
    )
    .unwrap();
    let out = run_cmd(&s, &["--requests", yaml.to_str().unwrap(), "--"])
        .args([
            "sh",
            "-c",
            "printf '%s|%s|' \"$DB_PASSWORD\" \"$_FSEC_DB_PASSWORD\"; cat \"$FLYTE_SECRETS_DEFAULT_DIR/my_secret\"",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{PW}|{PW}|{MINE}"));

    // Annotations exactly as Flyte writes them (downward-API file), decoded with the codec.
    let enc = |r: coffer_core_req::Req| r.encode();
    let ann = s.dir.path().join("annotations");
    std::fs::write(
        &ann,
        format!(
            "inject-flyte-secrets=\"true\"\nflyte.secrets/s0=\"{}\"\nflyte.secrets/s1=\"{}\"\n",
            enc(coffer_core_req::Req::env("openai-key", "OPENAI_KEY")),
            enc(coffer_core_req::Req::file("my_secret")),
        ),
    )
    .unwrap();
    let out = run_cmd(&s, &["--annotations", ann.to_str().unwrap(), "--"])
        .args(["sh", "-c", "printf '%s|' \"$OPENAI_KEY\"; cat \"$FLYTE_SECRETS_DEFAULT_DIR/my_secret\""])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{OPENAI}|{MINE}"));
}

/// Spec vectors for the two annotations used above (flyte-secrets.md §2.2).
mod coffer_core_req {
    pub(crate) enum Req {
        Env,
        File,
    }
    impl Req {
        pub(crate) fn env(key: &str, var: &str) -> Self {
            assert_eq!((key, var), ("openai-key", "OPENAI_KEY"));
            Req::Env
        }
        pub(crate) fn file(key: &str) -> Self {
            assert_eq!(key, "my_secret");
            Req::File
        }
        pub(crate) fn encode(&self) -> &'static str {
            match self {
                Req::Env => {
                    "nnsxsoraejxxazlomfus112fperau2lpovxhix2smvyxk1lsmvwwk2tuhiqektswl4lecuqkmvxhmx2wmfzduibcj4iektsbjfpuwrkzeifa"
                }
                Req::File => "nnsxsoraejwxsx2tmvrxezlueifg122vnz1f53tfof1ws3tfnvsw34b1ebdestcfbi",
            }
        }
    }
}

#[test]
fn exit_codes_stdin_and_masking() {
    let s = Server::start();
    seed(&s);
    let out = run_cmd(&s, &["--secret", "db/password", "--", "sh", "-c", "exit 7"]).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    let mut child = run_cmd(&s, &["--secret", "db/password", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"from-stdin").unwrap();
    assert_eq!(child.wait_with_output().unwrap().stdout, b"from-stdin");
    // Without --mask the child's output is its own; with it, values become <redacted>.
    let script = "echo \"pw=$_FSEC_DB_PASSWORD\"; echo \"err=$_FSEC_DB_PASSWORD\" >&2";
    let out = run_cmd(&s, &["--secret", "db/password", "--", "sh", "-c", script]).output().unwrap();
    assert_eq!(stdout(&out), format!("pw={PW}\n"));
    let out = run_cmd(&s, &["--mask", "--secret", "db/password", "--", "sh", "-c", script]).output().unwrap();
    assert_eq!(stdout(&out), "pw=<redacted>\n");
    assert_eq!(stderr(&out), "err=<redacted>\n");
    // The child never sees coffer's own token.
    let out = run_cmd(&s, &["--secret", "db/password", "--", "sh", "-c", "echo \"[$COFFER_TOKEN]\""]).output().unwrap();
    assert_eq!(stdout(&out), "[]\n");
}

#[test]
fn missing_secret_or_unreachable_service_fails_before_the_command() {
    let s = Server::start();
    seed(&s);
    let marker = s.dir.path().join("ran");
    let out = run_cmd(&s, &["--secret", "db/password", "--secret", "nope", "--"])
        .args(["touch", marker.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!marker.exists(), "the command ran despite a missing secret");
    let err = stderr(&out);
    assert!(err.contains("nope") && err.contains("acme/ml/dev, acme/ml/*, acme/*/dev, acme/*/*"), "{err}");
    assert!(!err.contains(PW));

    let start = Instant::now();
    let out = run_cmd(&s, &["--timeout", "2", "--secret", "db/password", "--"])
        .env("COFFER_ADDR", "http://127.0.0.1:1")
        .args(["touch", marker.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!marker.exists());
    assert!(start.elapsed() < Duration::from_secs(10));
    let err = stderr(&out);
    assert!(err.contains("gave up after") && err.contains("attempts"), "{err}");

    // Bad requests are usage errors.
    let out = run_cmd(&s, &["--env", "lower=x", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run_cmd(&s, &["--secret", "g/k@latest", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a coffer version number"), "{}", stderr(&out));
    let out = run_cmd(&s, &["--env", "TLS=tls.key", "--", "true"]).output().unwrap();
    assert!(stderr(&out).contains("request it as a file"), "{}", stderr(&out));
}

/// Starts `coffer run` around `exec sleep`, waits until the child is up, and returns the
/// process, the child's pid and the secrets dir.
fn start_sleeper(s: &Server) -> (std::process::Child, u32, PathBuf) {
    let info = s.dir.path().join(format!("info-{}", std::process::id()));
    let _ = std::fs::remove_file(&info);
    let script =
        format!("echo \"$$ $FLYTE_SECRETS_DEFAULT_DIR\" > {}.tmp && mv {0}.tmp {0} && exec sleep 60", info.display());
    let child = run_cmd(s, &["--secret", "db/password", "--", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !info.exists() {
        assert!(Instant::now() < deadline, "child never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&info).unwrap();
    let (pid, dir) = text.trim().split_once(' ').unwrap();
    (child, pid.parse().unwrap(), PathBuf::from(dir))
}

fn wait_exit(mut child: std::process::Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        assert!(Instant::now() < deadline, "coffer run did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn secrets_dir_is_removed_however_the_child_ends() {
    let s = Server::start();
    seed(&s);
    // SIGTERM to coffer run is forwarded; the child dies of it; the dir goes.
    let (run, child_pid, dir) = start_sleeper(&s);
    assert!(dir.join("db/password").exists());
    assert!(common::is_memory_fs_path(&dir), "{} is not on tmpfs", dir.display());
    // No value in any involved process's command line.
    for pid in [run.id(), child_pid] {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(!cmdline.windows(PW.len()).any(|w| w == PW.as_bytes()), "value in /proc/{pid}/cmdline");
    }
    Command::new("kill").args(["-TERM", &run.id().to_string()]).status().unwrap();
    assert_eq!(wait_exit(run), Some(128 + 15));
    assert!(!dir.exists(), "dir left after SIGTERM");

    // SIGKILL of the child itself.
    let (run, child_pid, dir) = start_sleeper(&s);
    Command::new("kill").args(["-KILL", &child_pid.to_string()]).status().unwrap();
    assert_eq!(wait_exit(run), Some(128 + 9));
    assert!(!dir.exists(), "dir left after SIGKILL of the child");

    // SIGTERM to the child itself.
    let (run, child_pid, dir) = start_sleeper(&s);
    Command::new("kill").args(["-TERM", &child_pid.to_string()]).status().unwrap();
    assert_eq!(wait_exit(run), Some(128 + 15));
    assert!(!dir.exists(), "dir left after SIGTERM of the child");
}

#[test]
fn fetch_writes_files_and_an_env_file() {
    let s = Server::start();
    seed(&s);
    let dir = s.dir.path().join("fetched");
    let fetch = |extra: &[&str]| {
        Command::new(BIN)
            .args(["fetch", "--org", "acme", "-p", "ml", "-d", "dev", "--dir", dir.to_str().unwrap()])
            .args(extra)
            .env("COFFER_ADDR", &s.addr)
            .env("COFFER_TOKEN", &s.token)
            .output()
            .unwrap()
    };
    let out = fetch(&[
        "--mount-path",
        "/etc/flyte/secrets",
        "--secret",
        "db/password",
        "--file",
        "certs/tls.key",
        "--env",
        "OPENAI_KEY=openai-key",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("fetched 3 secrets"), "{}", stdout(&out));
    assert_eq!(std::fs::read(dir.join("db/password")).unwrap(), PW.as_bytes());
    assert_eq!(std::fs::read(dir.join("certs/tls.key")).unwrap(), binary());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(dir.join("db/password")).unwrap().permissions().mode() & 0o777, 0o400);
    let env = dir.join("coffer.env");
    let sourced = Command::new("sh")
        .arg("-c")
        .arg(format!(
            ". {}; printf '%s|%s|%s' \"$OPENAI_KEY\" \"$_FSEC_DB_PASSWORD\" \"$FLYTE_SECRETS_DEFAULT_DIR\"",
            env.display()
        ))
        .output()
        .unwrap();
    assert_eq!(stdout(&sourced), format!("{OPENAI}|{PW}|/etc/flyte/secrets"));

    // A second fetch into the same dir refuses to overwrite, and says so on one line.
    let out = fetch(&["--secret", "db/password"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    // A missing secret: non-zero, one line, nothing written.
    let other = s.dir.path().join("other");
    let out = Command::new(BIN)
        .args(["fetch", "--org", "acme", "--dir", other.to_str().unwrap(), "--secret", "nope"])
        .env("COFFER_ADDR", &s.addr)
        .env("COFFER_TOKEN", &s.token)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("nope"), "{err}");
    assert!(!other.join("coffer.env").exists());
    // Bounded total time when the service is down.
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(["fetch", "--timeout", "1", "--dir", other.to_str().unwrap(), "--secret", "x"])
        .env("COFFER_ADDR", "http://127.0.0.1:1")
        .env("COFFER_TOKEN", &s.token)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(start.elapsed() < Duration::from_secs(6));
}
