"""schemathesis hooks for Keycard (SCHEMATHESIS_HOOKS=hooks, this folder on PYTHONPATH).

- The bare-token media types are read as strings, so those responses are validated too.
- One check of Keycard's own, for the flow the document's links describe (log in →
  GET /me → POST /revoke → refused): whenever POST /revoke answers 200 for an access
  token, that token is sent to GET /me at once and must be refused with 401
  `invalid_token` "token revoked". (The run's configured login replaces the
  Authorization a link would carry, so the check sends it itself.) How many tokens were
  revoked and refused is written to $KEYCARD_ST_COUNTS, for the test to show the flow ran.
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request

import schemathesis

COUNTS = {"revoked": 0, "refused_after_revoke": 0}


@schemathesis.deserializer("application/jwt", "application/keycard-revocations+jwt")
def compact_jws(ctx, response):
    return response.content.decode("ascii")


def _save():
    path = os.environ.get("KEYCARD_ST_COUNTS")
    if path:
        with open(path, "w") as f:
            json.dump(COUNTS, f)


def _revoked_token(case):
    """The access token a POST /revoke body names, if any."""
    body = case.body
    if isinstance(body, str):
        body = dict(urllib.parse.parse_qsl(body))
    if not isinstance(body, dict):
        return None
    token = body.get("token")
    if isinstance(token, str) and token.count(".") == 2 and token.isascii():
        return token
    return None


@schemathesis.check
def revoked_tokens_are_refused(ctx, response, case):
    if case.operation.path != "/revoke" or case.operation.method.upper() != "POST":
        return None
    if response.status_code != 200:
        return None
    token = _revoked_token(case)
    if token is None:
        return None
    COUNTS["revoked"] += 1
    url = urllib.parse.urljoin(response.request.url, "/me")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as me:
            status, body = me.status, me.read()
    except urllib.error.HTTPError as refused:
        status, body = refused.code, refused.read()
    verdict = json.loads(body) if status != 200 else None
    if status == 200:
        raise AssertionError("a token POST /revoke revoked was accepted at GET /me")
    if status == 401 and verdict.get("error") == "invalid_token":
        # Not ours, not signed by this issuer: nothing was revoked, and that is refused too.
        if verdict.get("error_description") == "token revoked":
            COUNTS["refused_after_revoke"] += 1
        _save()
        return None
    raise AssertionError(f"GET /me with a revoked token answered {status}: {body!r}")
