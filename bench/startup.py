#!/usr/bin/env python3
"""Milliseconds from spawning a server to its first 200, polled every millisecond.

    python3 bench/startup.py URL PIDFILE -- COMMAND...

Prints the milliseconds, writes the server's pid to PIDFILE, and leaves it running.
"""
import os
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

url, pidfile = sys.argv[1], sys.argv[2]
command = sys.argv[sys.argv.index("--") + 1:]
u = urlparse(url)
request = f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.hostname}\r\nConnection: close\r\n\r\n".encode()
start = time.monotonic()
proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(os.devnull, "w"))
with open(pidfile, "w") as f:
    f.write(str(proc.pid))
deadline = start + 20
while time.monotonic() < deadline:
    try:
        with socket.create_connection((u.hostname, u.port), timeout=1) as s:
            s.sendall(request)
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                print(round((time.monotonic() - start) * 1000, 1))
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.001)
sys.exit("no 200 within 20 s")
