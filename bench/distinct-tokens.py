"""Writes N distinct HS256 tokens for the benchmark's HS256 secret, one per line, each
with its own subject, an hour ahead: what a server sees when every request brings a
token it never saw (the verified-token cache's worst case).

    python3 bench/distinct-tokens.py N OUT     # AUTHENTICATION_SECRET in the environment

With AUD set, each token also carries that audience (bench/peers requires one).
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    secret = os.environ["AUTHENTICATION_SECRET"].encode()
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    with open(out, "w") as f:
        for i in range(n):
            claims = {"sub": f"user{i:06d}", "username": f"user{i:06d}", "role": "user",
                      "iat": now, "exp": now + 3600, "jti": f"bench-{i:06d}"}
            if os.environ.get("AUD"):
                claims["aud"] = os.environ["AUD"]
            signing_input = header + b"." + b64(json.dumps(claims).encode())
            sig = b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
            f.write((signing_input + b"." + sig).decode() + "\n")


if __name__ == "__main__":
    main()
