//! Test support: a real `coffer serve` process on a free port with a temporary data dir,
//! driven through the real CLI binary and plain HTTP.

#![allow(dead_code, unreachable_pub)] // Each test binary uses a different subset; the module is test-private.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_coffer");

pub struct Server {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub addr: String,
    pub token: String,
    log: PathBuf,
    extra_args: Vec<String>,
    envs: Vec<(String, String)>,
}

pub struct Http {
    pub status: u16,
    pub body: serde_json::Value,
    pub text: String,
    pub headers: Vec<(String, String)>,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[], &[])
    }

    pub fn start_with(extra_args: &[&str], envs: &[(&str, &str)]) -> Self {
        let s = Self::start_shared(extra_args, envs);
        assert!(!s.token.is_empty(), "no bootstrap admin token was written");
        s
    }

    /// Like `start_with`, for a replica of an existing database: no admin token file is
    /// expected (only the first replica writes one), so `token` may be empty.
    pub fn start_shared(extra_args: &[&str], envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Server {
            log: dir.path().join("serve.log"),
            dir,
            child: None,
            addr: String::new(),
            token: String::new(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            envs: envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        s.spawn().expect("server starts");
        s.token = std::fs::read_to_string(s.data_dir().join("admin.token")).unwrap_or_default().trim().to_owned();
        s
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the process; returns its stderr if it exits before it is ready.
    pub fn spawn(&mut self) -> Result<(), String> {
        let endpoint = self.data_dir().join("endpoint");
        let _ = std::fs::remove_file(&endpoint);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(&self.extra_args)
            .env("COFFER_LOG", "debug")
            .env_remove("COFFER_KEK")
            .env_remove("COFFER_DATABASE_URL")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!("exited with {status}: {}", self.logs()));
            }
            if let Ok(e) = std::fs::read_to_string(&endpoint)
                && !e.trim().is_empty()
            {
                self.addr = e.trim().to_owned();
                if self.get_raw("/healthz", None).status == 200 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "server did not become ready: {}", self.logs());
            std::thread::sleep(Duration::from_millis(25));
        }
        self.child = Some(child);
        Ok(())
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&mut self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap();
        assert!(ok.success());
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill9(&mut self) {
        self.signal("KILL");
        self.child.take().unwrap().wait().unwrap();
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the CLI against this server with the admin token.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_stdin(args, None)
    }

    pub fn cli_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        self.cli_env(args, stdin, &[("COFFER_TOKEN", &self.token)])
    }

    pub fn cli_env(&self, args: &[&str], stdin: Option<&[u8]>, envs: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("COFFER_ADDR", &self.addr)
            .env_remove("COFFER_TOKEN")
            .env_remove("COFFER_ORG")
            .env("COFFER_DATA_DIR", self.data_dir())
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into()
    }

    fn finish(mut resp: ureq::http::Response<ureq::Body>) -> Http {
        let status = resp.status().as_u16();
        let headers =
            resp.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
        let text = resp.body_mut().with_config().limit(64 << 20).read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Http { status, body, text, headers }
    }

    pub fn get_raw(&self, path: &str, token: Option<&str>) -> Http {
        let mut req = Self::agent().get(format!("{}{path}", self.addr));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        match req.call() {
            Ok(r) => Self::finish(r),
            Err(_) => Http { status: 0, body: serde_json::Value::Null, text: String::new(), headers: vec![] },
        }
    }

    pub fn get(&self, path: &str) -> Http {
        self.get_raw(path, Some(&self.token))
    }

    /// Sends `method` with a raw body and content type.
    pub fn send_raw(&self, method: &str, path: &str, token: Option<&str>, ctype: &str, body: &[u8]) -> Http {
        let url = format!("{}{path}", self.addr);
        let agent = Self::agent();
        let req = match method {
            "POST" => agent.post(&url),
            "PUT" => agent.put(&url),
            "PATCH" => agent.patch(&url),
            other => panic!("unsupported {other}"),
        };
        let req = req.header("Content-Type", ctype);
        let req = match token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        };
        Self::finish(req.send(body).unwrap())
    }

    pub fn post(&self, path: &str, body: &serde_json::Value) -> Http {
        self.send_raw("POST", path, Some(&self.token), "application/json", body.to_string().as_bytes())
    }

    pub fn delete(&self, path: &str) -> Http {
        let req = Self::agent()
            .delete(format!("{}{path}", self.addr))
            .header("Authorization", format!("Bearer {}", self.token));
        Self::finish(req.call().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file under `dir`, concatenated (database, WAL, keyring excluded by the caller).
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(p);
            }
        }
    }
    hits
}

/// Whether `path` is on tmpfs (per /proc/mounts, longest matching mount point).
pub fn is_memory_fs_path(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut best: Option<(usize, bool)> = None;
    for line in mounts.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 3 {
            continue;
        }
        let (mp, fstype) = (parts[1], parts[2]);
        if path.starts_with(mp) && best.is_none_or(|(len, _)| mp.len() > len) {
            best = Some((mp.len(), fstype == "tmpfs" || fstype == "ramfs"));
        }
    }
    best.is_some_and(|(_, mem)| mem)
}

impl Server {
    /// A request as a given token (or none): GET, DELETE, or POST/PUT/PATCH with a JSON body.
    pub fn as_token(&self, method: &str, path: &str, token: Option<&str>, body: Option<&serde_json::Value>) -> Http {
        let url = format!("{}{path}", self.addr);
        let agent = Self::agent();
        let auth = token.map(|t| format!("Bearer {t}"));
        let resp = match method {
            "GET" | "DELETE" => {
                let mut req = if method == "GET" { agent.get(&url) } else { agent.delete(&url) };
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            _ => {
                let mut req = agent.post(&url).header("Content-Type", "application/json");
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.send(body.map(|b| b.to_string()).unwrap_or_else(|| "{}".into()).as_bytes())
            }
        };
        Self::finish(resp.unwrap())
    }

    /// Creates a token through the API with the admin token; returns (id, text).
    pub fn token(&self, role: &str, org: &str, project: Option<&str>, domain: Option<&str>) -> (String, String) {
        let mut body = serde_json::json!({"role": role, "org": org});
        if let Some(p) = project {
            body["project"] = p.into();
        }
        if let Some(d) = domain {
            body["domain"] = d.into();
        }
        let r = self.post("/v1/tokens", &body);
        assert_eq!(r.status, 201, "{}", r.text);
        (r.body["id"].as_str().unwrap().to_owned(), r.body["token"].as_str().unwrap().to_owned())
    }

    /// Runs SQL against the live database with Python's sqlite3 (the real file, no coffer code).
    pub fn sql(&self, sql: &str) -> String {
        sql_on(&self.data_dir().join("coffer.db"), sql)
    }
}

/// Runs SQL against a database file with Python's standard sqlite3 module; returns rows as
/// lines of `|`-joined values.
pub fn sql_on(db: &Path, sql: &str) -> String {
    let script = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
rows = []
if sys.argv[2].lstrip().upper().startswith("SELECT"):
    rows = c.execute(sys.argv[2]).fetchall()
else:
    c.executescript(sys.argv[2])
c.commit()
for r in rows:
    print("|".join("" if v is None else (v.hex() if isinstance(v, bytes) else str(v)) for v in r))
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(db).arg(sql).output().unwrap();
    assert!(out.status.success(), "sql failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A helper process (a peer server, a proxy), killed and reaped when dropped.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a helper that binds a port of its own choosing and prints `ready PORT` once it
/// listens (the test stubs under tests/support do), so no other process can take the port
/// between choosing and binding it.
pub fn spawn_reporting_port(mut cmd: Command, what: &str) -> (Reaped, u16) {
    use std::io::BufRead as _;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    let out = child.stdout.take().unwrap();
    std::io::BufReader::new(out).read_line(&mut line).unwrap();
    let port = line.trim().strip_prefix("ready ").and_then(|p| p.parse().ok());
    let child = Reaped(child);
    match port {
        Some(p) => (child, p),
        None => panic!("{what} did not report its port (printed {line:?})"),
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
