#!/usr/bin/env python3
"""moto's server (standing in for AWS Secrets Manager and STS) on a port of its own choosing,
printed as "ready PORT" once it listens, so parallel tests never race for a port."""
import threading
from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(f"ready {server._server.server_address[1]}", flush=True)
threading.Event().wait()
