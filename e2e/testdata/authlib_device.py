"""Device authorization grant (RFC 8628) against mlflow-gate with authlib.

The command-line side (device authorization, polling) uses authlib's
OAuth2Session; the person's side (login and approval) is scripted through the
gate's HTML pages with requests, as a browser would submit them. Prints one
JSON line with what the Go test checks; exits non-zero (reason on stderr) on
any deviation from the protocol.

Environment: GATE_ISSUER, GATE_USERNAME, GATE_PASSWORD.
"""
import base64
import html.parser
import json
import os
import sys
import time
import urllib.parse

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

ISSUER = os.environ["GATE_ISSUER"]
CLIENT_ID = "mlflow-gate-cli"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


class FormParser(html.parser.HTMLParser):
    """Collects a page's form action and its named inputs."""

    def __init__(self):
        super().__init__()
        self.action, self.method, self.fields = None, None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action, self.method = a.get("action"), a.get("method")
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""


def parse_form(page):
    f = FormParser()
    f.feed(page.text)
    return f


def header(token):
    seg = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def main():
    disc = requests.get(ISSUER + "/.well-known/openid-configuration", timeout=10).json()
    if DEVICE_GRANT not in disc.get("grant_types_supported", []):
        fail(f"device grant not advertised: {disc.get('grant_types_supported')}")
    client = OAuth2Session(CLIENT_ID, scope="openid profile offline_access")

    # The device asks for codes.
    r = client.post(disc["device_authorization_endpoint"], data={"client_id": CLIENT_ID, "scope": "openid profile offline_access"},
                    withhold_token=True, timeout=10)
    if r.status_code != 200:
        fail(f"device authorization: {r.status_code} {r.text[:300]}")
    da = r.json()
    interval = da["interval"]

    def poll():
        try:
            return client.fetch_token(disc["token_endpoint"], grant_type=DEVICE_GRANT, device_code=da["device_code"],
                                      client_id=CLIENT_ID), None
        except OAuthError as e:
            return None, e.error

    _, first = poll()

    # The person opens the link, logs in, reads the page and approves.
    browser = requests.Session()
    page = browser.get(da["verification_uri_complete"], timeout=10)
    if page.status_code != 200 or 'name="password"' not in page.text:
        fail(f"expected the login form first: {page.status_code} {page.text[:300]}")
    form = parse_form(page)
    form.fields.update(username=os.environ["GATE_USERNAME"], password=os.environ["GATE_PASSWORD"])
    page = browser.post(urllib.parse.urljoin(page.url, form.action), data=form.fields, headers={"Origin": ISSUER}, timeout=30)
    if page.status_code != 200 or 'value="approve"' not in page.text:
        fail(f"expected the approval page after login: {page.status_code} {page.text[:500]}")
    shows = {k: (v in page.text) for k, v in {"client": CLIENT_ID, "user_code": da["user_code"],
                                              "requested_from": "Requested from", "requested_at": "Requested at"}.items()}
    form = parse_form(page)
    # A post from another site is refused before anything else is looked at.
    forged = browser.post(urllib.parse.urljoin(page.url, form.action), data=dict(form.fields, action="approve"),
                          headers={"Origin": "https://evil.example"}, timeout=10)
    approved = browser.post(urllib.parse.urljoin(page.url, form.action), data=dict(form.fields, action="approve"),
                            headers={"Origin": ISSUER}, timeout=10)
    if approved.status_code != 200 or "Approved" not in approved.text:
        fail(f"approval failed: {approved.status_code} {approved.text[:300]}")

    # The device polls until it gets tokens, slowing down when told.
    token, errors = None, []
    deadline = time.time() + 60
    while token is None and time.time() < deadline:
        time.sleep(interval)
        token, err = poll()
        if err == "slow_down":
            interval += 5
        if err:
            errors.append(err)
        if err not in (None, "slow_down", "authorization_pending"):
            fail(f"poll: {err}")
    if token is None:
        fail(f"no tokens after approval: {errors}")
    _, again = poll()

    jwks = JsonWebKey.import_key_set(requests.get(disc["jwks_uri"], timeout=10).json())
    at = jwt.decode(token["access_token"], jwks)
    at.validate()
    idt = jwt.decode(token["id_token"], jwks, claims_options={"iss": {"essential": True, "value": ISSUER},
                                                              "aud": {"essential": True, "value": CLIENT_ID}})
    idt.validate()
    print(json.dumps({
        "first_poll": first,
        "page_shows": shows,
        "forged_status": forged.status_code,
        "access_token_typ": header(token["access_token"]).get("typ"),
        "access_token_username": at.get("preferred_username"),
        "access_token_client": at.get("client_id"),
        "id_token_sub_matches": idt["sub"] == at["sub"],
        "has_refresh_token": bool(token.get("refresh_token")),
        "second_use": again,
    }))


if __name__ == "__main__":
    main()
