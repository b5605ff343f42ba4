"""Revocation propagation in a fleet: for each sample, log in on issuer A, revoke the
token on A at a random moment, and time how long until issuer B and a verify-only node
refuse it.

    python3 bench/propagation.py A_PORT B_PORT NODE_PORT PASSWORD SAMPLES

Prints "peer_p50 peer_p99 node_p50 node_p99" in milliseconds. Polls every 2 ms, to
127.0.0.1 only; each sample gives up (and fails the run) after 30 s.
"""
import json, random, statistics, sys, time, urllib.error, urllib.request

a, b, node, password, samples = sys.argv[1:6]

def call(port, path, token=None, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

peer, far = [], []
for _ in range(int(samples)):
    status, body = call(a, "/token", body=f"username=alice&password={password}".encode())
    assert status == 200, body
    token = json.loads(body)["access_token"]
    for port in (b, node):
        assert call(port, "/me", token)[0] == 200
    # At a random moment of the node's polling cycle: right after the last sample was
    # seen is right after a poll, which would time a whole interval every time.
    time.sleep(random.uniform(0, 5))
    t0 = time.monotonic()
    status, body = call(a, "/revoke", token, f"token={token}".encode())
    assert status == 200, body
    seen = {}
    while len(seen) < 2:
        for name, port in (("peer", b), ("node", node)):
            if name not in seen and call(port, "/me", token)[0] == 401:
                seen[name] = (time.monotonic() - t0) * 1000
        assert time.monotonic() - t0 < 30, "not refused within 30 s"
        time.sleep(0.002)
    peer.append(seen["peer"])
    far.append(seen["node"])
print("%.1f %.1f %.0f %.0f" % (statistics.median(peer), pct(peer, 99), statistics.median(far), pct(far, 99)))
