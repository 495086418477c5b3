#!/usr/bin/env python3
"""Loads N secrets of 64-512 bytes (deterministic per name) into coffer or OpenBao over HTTP,
with a few threads. Usage: load.py coffer|bao ADDR TOKEN COUNT [PREFIX]"""
import http.client, json, random, sys, threading, urllib.parse

kind, addr, token, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
prefix = sys.argv[5] if len(sys.argv) > 5 else "s"
u = urllib.parse.urlparse(addr)

def value(i):
    r = random.Random(i)
    n = r.randint(64, 512)
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))

def worker(ids, errors):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    for i in ids:
        name = f"{prefix}{i}"
        if kind == "coffer":
            path, body, headers = "/v1/secrets", {"name": name, "string_value": value(i)}, {"Authorization": f"Bearer {token}"}
        else:
            path, body, headers = f"/v1/secret/data/{name}", {"data": {"value": value(i)}}, {"X-Vault-Token": token}
        headers["Content-Type"] = "application/json"
        c.request("POST", path, json.dumps(body), headers)
        r = c.getresponse()
        r.read()
        if r.status not in (200, 201, 204):
            errors.append((name, r.status))

threads, errors = [], []
for t in range(8):
    th = threading.Thread(target=worker, args=(range(t, count, 8), errors))
    th.start()
    threads.append(th)
for th in threads:
    th.join()
if errors:
    sys.exit(f"{len(errors)} writes failed, e.g. {errors[:3]}")
