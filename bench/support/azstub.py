#!/usr/bin/env python3
"""A small HTTPS stand-in for the Azure endpoints Flyte's Azure init container talks to, so the
real `az` CLI can run its exact command here: ARM cloud metadata, OpenID discovery and the token
endpoint (federated client assertion), the subscription list `az login` needs, and the Key Vault
secret GET with its bearer challenge. No Key Vault emulator runs on this machine, so this stub is
the peer (see shared/spec/incumbent-cost.md); it does no real authentication.

Usage: azstub.py PORT CERT KEY SECRETS_JSON   (SECRETS_JSON: {"name": "value", ...})"""
import base64, json, socketserver, ssl, sys, time, uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse

port, cert, key, secrets_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
SECRETS = json.load(open(secrets_file))
BASE = f"https://127.0.0.1:{port}"
TENANT = "00000000-0000-0000-0000-00000000c0ff"
SUB = "11111111-1111-1111-1111-111111111111"


def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def token(aud):
    now = int(time.time())
    claims = {"aud": aud, "iss": f"{BASE}/{TENANT}/", "tid": TENANT, "oid": str(uuid.uuid4()), "appid": "client",
              "sub": "client", "iat": now, "nbf": now, "exp": now + 3600, "ver": "2.0"}
    return f"{b64({'typ': 'JWT', 'alg': 'none'})}.{b64(claims)}.sig"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def send(self, code, body, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = urlparse(self.path).path.rstrip("/")
        if path == "/metadata/endpoints":
            cloud = {
                "name": "Local", "portal": BASE, "resourceManager": f"{BASE}/", "graph": f"{BASE}/", "graphAudience": f"{BASE}/",
                "media": BASE, "batch": BASE, "sqlManagement": BASE, "gallery": BASE, "vmImageAliasDoc": f"{BASE}/aliases.json",
                "activeDirectoryDataLake": BASE, "microsoftGraphResourceId": f"{BASE}/",
                "authentication": {"loginEndpoint": f"{BASE}/", "audiences": [f"{BASE}/"], "tenant": "common", "identityProvider": "AAD"},
                "suffixes": {"keyVaultDns": "vault.azure.net", "storage": "core.windows.net", "sqlServerHostname": "database.windows.net",
                             "acrLoginServer": "azurecr.io", "azureDataLakeStoreFileSystem": "x", "azureDataLakeAnalyticsCatalogAndJob": "x"},
            }
            return self.send(200, cloud)
        if path.endswith("/.well-known/openid-configuration"):
            tenant = path.split("/")[1]
            return self.send(200, {
                "token_endpoint": f"{BASE}/{tenant}/oauth2/v2.0/token",
                "authorization_endpoint": f"{BASE}/{tenant}/oauth2/v2.0/authorize",
                "issuer": f"{BASE}/{tenant}/v2.0", "device_authorization_endpoint": f"{BASE}/{tenant}/oauth2/v2.0/devicecode",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                "response_types_supported": ["code", "id_token", "token"], "jwks_uri": f"{BASE}/{tenant}/discovery/v2.0/keys",
            })
        if path == "/subscriptions":
            return self.send(200, {"value": [{"id": f"/subscriptions/{SUB}", "subscriptionId": SUB, "tenantId": TENANT,
                                              "displayName": "local", "state": "Enabled", "authorizationSource": "RoleBased"}]})
        if path == "/tenants":
            return self.send(200, {"value": [{"id": f"/tenants/{TENANT}", "tenantId": TENANT}]})
        if path.startswith("/secrets/"):
            if "Authorization" not in self.headers:
                return self.send(401, {"error": {"code": "Unauthorized", "message": "Request is missing a Bearer or PoP token."}},
                                 {"WWW-Authenticate": f'Bearer authorization="{BASE}/{TENANT}", resource="https://vault.azure.net"'})
            parts = path.split("/")
            name, version = parts[2], (parts[3] if len(parts) > 3 else "")
            if name not in SECRETS:
                return self.send(404, {"error": {"code": "SecretNotFound", "message": f"A secret with (name/id) {name} was not found in this key vault."}})
            version = version or "0" * 32
            now = int(time.time())
            return self.send(200, {"value": SECRETS[name], "id": f"{BASE}/secrets/{name}/{version}",
                                   "attributes": {"enabled": True, "created": now, "updated": now, "recoveryLevel": "Recoverable+Purgeable"}})
        self.send(404, {"error": {"code": "NotFound", "message": self.path}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        if urlparse(self.path).path.endswith("/oauth2/v2.0/token"):
            scope = next((p.split("=", 1)[1] for p in body.split("&") if p.startswith("scope=")), "")
            from urllib.parse import unquote_plus
            aud = unquote_plus(scope).split(" ")[0].replace("/.default", "")
            return self.send(200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": token(aud)})
        self.send(404, {"error": {"code": "NotFound", "message": self.path}})


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", port), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("ready", flush=True)
srv.serve_forever()
