"""Authorization code + PKCE against mlflow-gate with the standard authlib client.

A person's login is scripted through the gate's HTML form, as a browser would
submit it. Prints one JSON line with what the Go test checks; exits non-zero
(with the reason on stderr) on any deviation from the protocol.

Environment: GATE_ISSUER, GATE_USERNAME, GATE_PASSWORD. Optional switches log
in through another client: GATE_CLIENT_ID (default mlflow-gate-cli),
GATE_CLIENT_SECRET (a confidential client's, sent with client_secret_basic),
GATE_REDIRECT_URI and GATE_SCOPE; GATE_TOKENS_ONLY prints the tokens, with
the granted scope, and stops there.
"""
import base64
import html.parser
import json
import os
import sys
import urllib.parse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

ISSUER = os.environ["GATE_ISSUER"]
CLIENT_ID = os.environ.get("GATE_CLIENT_ID", "mlflow-gate-cli")
CLIENT_SECRET = os.environ.get("GATE_CLIENT_SECRET") or None
# RFC 8252: a native client may listen on any loopback port; nothing listens
# here, the redirect is only read from the Location header.
REDIRECT_URI = os.environ.get("GATE_REDIRECT_URI", "http://127.0.0.1:53682/callback")
SCOPE = os.environ.get("GATE_SCOPE", "openid profile offline_access")


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


class FormParser(html.parser.HTMLParser):
    """Collects the login form's action and its inputs."""

    def __init__(self):
        super().__init__()
        self.action, self.fields = None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""


def header(token):
    seg = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def follow_to_callback(browser, url):
    """Follows redirects inside the gate until one points at the client."""
    for _ in range(10):
        if url.startswith(REDIRECT_URI):
            return url
        r = browser.get(url, allow_redirects=False)
        if r.status_code not in (302, 303) or "Location" not in r.headers:
            fail(f"expected a redirect from {url}, got {r.status_code}: {r.text[:300]}")
        url = urllib.parse.urljoin(url, r.headers["Location"])
    fail("too many redirects")


def main():
    disc = requests.get(ISSUER + "/.well-known/openid-configuration", timeout=10).json()
    if disc["issuer"] != ISSUER:
        fail(f"discovery issuer {disc['issuer']!r} != {ISSUER!r}")
    if disc.get("code_challenge_methods_supported") != ["S256"]:
        fail(f"code_challenge_methods_supported: {disc.get('code_challenge_methods_supported')}")

    verifier, nonce = generate_token(64), generate_token(24)
    client = OAuth2Session(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT_URI, scope=SCOPE,
                           code_challenge_method="S256")
    auth_url, state = client.create_authorization_url(disc["authorization_endpoint"], code_verifier=verifier, nonce=nonce)

    browser = requests.Session()
    page = browser.get(auth_url, timeout=10)
    if page.status_code != 200 or "password" not in page.text:
        fail(f"no login page: {page.status_code}")
    form = FormParser()
    form.feed(page.text)
    form.fields.update(username=os.environ["GATE_USERNAME"], password=os.environ["GATE_PASSWORD"])
    action = urllib.parse.urljoin(page.url, form.action)
    r = browser.post(action, data=form.fields, allow_redirects=False, headers={"Origin": ISSUER}, timeout=30)
    if r.status_code not in (302, 303):
        fail(f"login did not redirect: {r.status_code} {r.text[:300]}")
    callback = follow_to_callback(browser, urllib.parse.urljoin(action, r.headers["Location"]))
    got_state = urllib.parse.parse_qs(urllib.parse.urlparse(callback).query).get("state", [None])[0]
    if got_state != state:
        fail("state was not carried back")

    token = client.fetch_token(disc["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    jwks = JsonWebKey.import_key_set(requests.get(disc["jwks_uri"], timeout=10).json())
    claims = jwt.decode(token["id_token"], jwks, claims_options={
        "iss": {"essential": True, "value": ISSUER},
        "aud": {"essential": True, "value": CLIENT_ID},
        "nonce": {"essential": True, "value": nonce},
        "sub": {"essential": True},
    })
    claims.validate()
    if os.environ.get("GATE_TOKENS_ONLY"):
        # Hand the fresh tokens to the caller before anything below revokes them.
        print(json.dumps({"access_token": token["access_token"], "id_token": token["id_token"],
                          "scope": token.get("scope")}))
        return
    at_header = header(token["access_token"])
    at_claims = jwt.decode(token["access_token"], jwks)
    at_claims.validate()

    token_endpoint = disc["token_endpoint"]

    def refresh_raw(rt):
        return requests.post(token_endpoint, data={"grant_type": "refresh_token", "refresh_token": rt,
                                                   "client_id": CLIENT_ID}, timeout=10)

    # Rotation: every use of a refresh token returns a new one.
    refreshed = client.refresh_token(token_endpoint, refresh_token=token["refresh_token"])
    # Reuse of the first one is refused and revokes the whole family,
    # so the newest refresh token stops working too.
    reuse = refresh_raw(token["refresh_token"])
    family = refresh_raw(refreshed["refresh_token"])
    # A second exchange of the same code is refused (single-use codes).
    replay = requests.post(token_endpoint, data={
        "grant_type": "authorization_code", "code": urllib.parse.parse_qs(urllib.parse.urlparse(callback).query)["code"][0],
        "redirect_uri": REDIRECT_URI, "client_id": CLIENT_ID, "code_verifier": verifier}, timeout=10)

    print(json.dumps({
        "sub": claims["sub"],
        "id_token_roles": claims.get("roles"),
        "access_token_typ": at_header.get("typ"),
        "access_token_alg": at_header.get("alg"),
        "access_token_aud": at_claims.get("aud"),
        "access_token_username": at_claims.get("preferred_username"),
        "token_cache_control": replay.headers.get("Cache-Control"),
        "replay_status": replay.status_code,
        "replay_error": replay.json().get("error"),
        "refresh_rotated": refreshed["refresh_token"] != token["refresh_token"],
        "reuse_status": reuse.status_code,
        "reuse_error": reuse.json().get("error"),
        "family_status": family.status_code,
    }))


if __name__ == "__main__":
    main()
