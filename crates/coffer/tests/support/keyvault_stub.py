#!/usr/bin/env python3
"""A hand-written Azure Key Vault stand-in for coffer's tests: no Key Vault emulator runs on
this machine (shared/spec/test-environment.md §3), so this HTTPS server follows the REST contract
of shared/spec/wire-protocols.md §2 instead: the bearer challenge on an unauthenticated request,
an Entra-style token endpoint (workload-identity client assertion or client secret), GET of a
secret by version or latest (trailing slash), `api-version` required, 404 SecretNotFound,
403 for a disabled secret, 401 for a bad token, and paging of the secret list.

Usage: keyvault_stub.py PORT CERT KEY CONFIG_JSON LOG   (PORT 0: any free port, printed as
"ready PORT" once listening)
CONFIG_JSON: {"tenant", "client_id", "assertion", "client_secret",
              "secrets": {name: {version: value}}, "disabled": [name], "latest": {name: version}}"""
import json, secrets as rnd, socketserver, ssl, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

port, cert, key, cfg_path, log_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
CFG = json.load(open(cfg_path))
BASE = f"https://127.0.0.1:{port}"
TOKENS = set()


def log(line):
    with open(log_path, "a") as f:
        f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def send(self, code, body, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, code, err, msg, headers=None):
        self.send(code, {"error": {"code": err, "message": msg}}, headers)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        u = urlparse(self.path)
        log(f"POST {u.path}")
        if u.path == f"/{CFG['tenant']}/oauth2/v2.0/token":
            form = {k: v[0] for k, v in parse_qs(body).items()}
            ok = form.get("client_id") == CFG["client_id"] and form.get("grant_type") == "client_credentials"
            ok = ok and form.get("scope") == "https://vault.azure.net/.default"
            by_assertion = (form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                            and form.get("client_assertion") == CFG["assertion"])
            by_secret = form.get("client_secret") == CFG["client_secret"]
            if not (ok and (by_assertion or by_secret)):
                return self.send(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client credentials."})
            token = "kv-" + rnd.token_hex(16)
            TOKENS.add(token)
            return self.send(200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": token})
        self.error(404, "NotFound", u.path)

    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        auth = self.headers.get("Authorization")
        log(f"GET {u.path} auth={'yes' if auth else 'no'}")
        if not auth:
            return self.error(401, "Unauthorized", "Request is missing a Bearer or PoP token.", {
                "WWW-Authenticate": f'Bearer authorization="{BASE}/{CFG["tenant"]}", resource="https://vault.azure.net"'})
        if "api-version" not in q:
            return self.error(400, "BadParameter", "The api-version query parameter is missing.")
        if not auth.startswith("Bearer ") or auth[7:] not in TOKENS:
            return self.error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
        parts = u.path.split("/")
        if u.path.rstrip("/") == "/secrets":
            names = sorted(CFG["secrets"])
            start = int(q.get("$skiptoken", ["0"])[0])
            n = int(q.get("maxresults", ["25"])[0])
            page = [{"id": f"{BASE}/secrets/{m}", "attributes": {"enabled": m not in CFG["disabled"]}} for m in names[start:start + n]]
            nxt = f"{BASE}/secrets?api-version=7.5&$skiptoken={start + n}&maxresults={n}" if start + n < len(names) else None
            return self.send(200, {"value": page, "nextLink": nxt})
        if len(parts) >= 3 and parts[1] == "secrets":
            name = parts[2].lower()
            versions = {k.lower(): v for k, v in CFG["secrets"].items()}.get(name)
            if versions is None:
                return self.error(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault.")
            version = parts[3] if len(parts) > 3 and parts[3] else CFG["latest"][parts[2]]
            if name in [d.lower() for d in CFG["disabled"]]:
                return self.send(403, {"error": {"code": "Forbidden", "message": "Operation get is not allowed on a disabled secret.",
                                                 "innererror": {"code": "SecretDisabled"}}})
            if version not in versions:
                return self.error(404, "SecretNotFound", f"A secret with (name/id) {name}/{version} was not found in this key vault.")
            now = int(time.time())
            return self.send(200, {"value": versions[version], "id": f"{BASE}/secrets/{parts[2]}/{version}",
                                   "attributes": {"enabled": True, "created": now, "updated": now, "recoveryLevel": "Recoverable+Purgeable"}})
        self.error(404, "NotFound", u.path)


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", port), Handler)
port = srv.server_address[1]
BASE = f"https://127.0.0.1:{port}"
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(f"ready {port}", flush=True)
srv.serve_forever()
