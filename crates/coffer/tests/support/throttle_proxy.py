#!/usr/bin/env python3
"""A test-only HTTP proxy that answers the first N requests with AWS's throttling error and
forwards the rest to a real upstream (moto), so coffer's bounded retries on throttling can be
tested against real responses. Usage: throttle_proxy.py PORT UPSTREAM N LOG   (PORT 0: any free
port, printed as "ready PORT" once listening)"""
import http.client, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from urllib.parse import urlparse

port, upstream, limit, log_path = int(sys.argv[1]), urlparse(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
seen = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen[0] += 1
        with open(log_path, "a") as f:
            f.write(f"{seen[0]}\n")
        if seen[0] <= limit:
            data = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        c = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        headers["Host"] = self.headers.get("Host")
        c.request("POST", self.path, body, headers)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", port), Handler)
print(f"ready {srv.server_address[1]}", flush=True)
srv.serve_forever()
