"""The authlib relying party of the conformance test (e2e/conformance_test.go).

authlib's OAuth2Session speaks the protocol (PKCE, client_secret_basic, refresh,
RFC 7009 revocation, RFC 7662 introspection); its OpenID Connect classes check
the discovery document (OpenIDProviderMetadata, RP-Initiated Logout metadata)
and the ID token (CodeIDToken: iss, aud, exp, iat, nonce, azp, at_hash), with
signatures verified by joserfc (authlib's JOSE library) pinned to the one
algorithm each token must carry, the way authlib's own parse_id_token does it.

A person's part (signing in, approving a device), the clock (expiring a code)
and the application's back-channel logout endpoint are played by the Go test:
this script asks with one JSON line on stdout and reads the answer on stdin.
It ends with {"op": "result", "report": {...}}, flat keys the Go test compares
with its table; a failure of the protocol exits non-zero with the reason on
stderr.

Environment: GATE_ISSUER, GATE_CLIENT_ID, GATE_CLIENT_SECRET, GATE_REDIRECT_URI,
GATE_POST_LOGOUT_URI, GATE_ID_TOKEN_ALG, GATE_ACCESS_TOKEN_ALG, and
AUTHLIB_INSECURE_TRANSPORT (the gate is plain http on the loopback interface).
"""
import base64
import json
import os
import sys
import time
import urllib.parse

import requests
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.claims import JWTClaims
from authlib.oidc import rpinitiated
from authlib.oidc.core import CodeIDToken, IDToken, UserInfo
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.jwk import KeySet

ISSUER = os.environ["GATE_ISSUER"]
CLIENT_ID = os.environ["GATE_CLIENT_ID"]
CLIENT_SECRET = os.environ["GATE_CLIENT_SECRET"]
REDIRECT_URI = os.environ["GATE_REDIRECT_URI"]
POST_LOGOUT_URI = os.environ["GATE_POST_LOGOUT_URI"]
ID_ALG = os.environ["GATE_ID_TOKEN_ALG"]
AT_ALG = os.environ["GATE_ACCESS_TOKEN_ALG"]
SCOPE = "openid profile email offline_access"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
PROFILE = ["email", "email_verified", "name", "given_name", "family_name", "preferred_username", "groups"]


class Failed(Exception):
    """A step of a flow went wrong; its section is reported as failed."""


def fail(msg):
    raise Failed(msg)


def ask(op, **kw):
    """One request to the Go test, answered on stdin."""
    print(json.dumps(dict(op=op, **kw)), flush=True)
    line = sys.stdin.readline()
    if not line:
        print(f"{op}: no answer", file=sys.stderr)
        sys.exit(1)
    answer = json.loads(line)
    if "error" in answer:
        fail(f"{op}: {answer['error']}")
    return answer


def header(token):
    """The JWT's header, read only to report it: joserfc verifies."""
    seg = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def as_list(v):
    return [v] if isinstance(v, str) else v


class Client:
    def __init__(self, disc):
        self.disc = disc
        self.keys = KeySet.import_key_set(requests.get(disc["jwks_uri"], timeout=10).json())
        self.session = OAuth2Session(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT_URI, scope=SCOPE,
                                     code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")
        # OAuthError carries the error code only; the status is read here.
        self.last_status = None
        self.session.hooks["response"].append(self._record)

    def _record(self, resp, *args, **kwargs):
        self.last_status = resp.status_code

    def refused(self, call):
        """The status and error code of a token request that must fail."""
        try:
            call()
        except OAuthError as e:
            return {"status": self.last_status, "error": e.error}
        return "no error"

    def decode(self, token, alg):
        return jwt.decode(token, self.keys, algorithms=[alg])

    def id_token(self, token, nonce=None, access_token=None, cls=CodeIDToken):
        t = self.decode(token, ID_ALG)
        params = {"client_id": CLIENT_ID}
        if nonce:
            params["nonce"] = nonce
        if access_token:
            params["access_token"] = access_token
        claims = cls(t.claims, t.header, {"iss": {"essential": True, "value": ISSUER},
                                          "aud": {"essential": True, "value": CLIENT_ID}}, params)
        claims.validate(leeway=60)
        return claims

    def login(self, extra=None, fresh=False):
        """The code flow in the person's browser, up to the callback URL."""
        verifier, nonce = generate_token(64), generate_token(24)
        url, state = self.session.create_authorization_url(self.disc["authorization_endpoint"], code_verifier=verifier,
                                                           nonce=nonce, **(extra or {}))
        callback = ask("browse", url=url, stop=REDIRECT_URI, fresh=fresh)["url"]
        return callback, state, verifier, nonce

    def exchange(self, callback, state, verifier):
        # authlib checks the state and takes the code from the callback URL.
        return self.session.fetch_token(self.disc["token_endpoint"], authorization_response=callback, state=state,
                                        code_verifier=verifier)


def main():
    rep, st = {}, {}
    disc = requests.get(ISSUER + "/.well-known/openid-configuration", timeout=10).json()
    try:
        meta = OpenIDProviderMetadata(disc)
        meta.validate(metadata_classes=[rpinitiated.OpenIDProviderMetadata])
        if meta["issuer"] != ISSUER:
            fail(f"discovery issuer {meta['issuer']!r} != {ISSUER!r}")
        rep["discovery.issuer"] = meta["issuer"]
    except (Failed, ValueError) as e:
        # Reported (the Go test fails on it); the flows still run, so that
        # the report shows what else holds.
        rep["discovery.failed"] = f"{type(e).__name__}: {e}"
    c = Client(disc)

    def prompt_none():
        """prompt=none in a browser without a session."""
        callback, state, _, _ = c.login({"prompt": "none"}, fresh=True)
        q = urllib.parse.parse_qs(urllib.parse.urlparse(callback).query)
        rep["authorize.prompt_none.error"] = q.get("error", [None])[0]
        rep["authorize.prompt_none.iss"] = q.get("iss", [None])[0]
        rep["authorize.prompt_none.state"] = q.get("state", [None])[0] == state

    def code():
        """Code + PKCE, the ID token, the access token, userinfo."""
        callback, state, verifier, nonce = c.login()
        q = urllib.parse.parse_qs(urllib.parse.urlparse(callback).query)
        if q.get("iss") != [ISSUER]:
            fail(f"authorization response without iss={ISSUER} (RFC 9207): {callback}")
        token = c.exchange(callback, state, verifier)
        st["id_token"] = token["id_token"]
        idt = c.id_token(token["id_token"], nonce=nonce, access_token=token["access_token"])
        rep["id_token.at_hash_checked"] = "at_hash" in idt  # CodeIDToken.validate checked it when present
        for k, v in idt.items():
            rep["id_token." + k] = as_list(v) if k == "aud" else v
        rep["id_token.alg"] = header(token["id_token"]).get("alg")
        at = c.decode(token["access_token"], AT_ALG)
        at_claims = JWTClaims(at.claims, at.header, {"iss": {"essential": True, "value": ISSUER},
                                                     "aud": {"essential": True, "value": ISSUER + "/api"}})
        at_claims.validate(leeway=60)
        for k, v in at_claims.items():
            rep["access_token." + k] = as_list(v) if k == "aud" else v
        rep["access_token.alg"], rep["access_token.typ"] = at.header.get("alg"), at.header.get("typ")
        ui = c.session.get(disc["userinfo_endpoint"], timeout=10)
        ui.raise_for_status()
        for k, v in UserInfo(ui.json()).items():
            rep["userinfo." + k] = v

    def refresh():
        """Rotation, and reuse revoking the family."""
        token = c.exchange(*c.login()[:3])
        first_rt = token["refresh_token"]
        refreshed = c.session.refresh_token(disc["token_endpoint"], refresh_token=first_rt)
        rep["refresh.rotated"] = bool(refreshed.get("refresh_token")) and refreshed["refresh_token"] != first_rt
        if refreshed.get("id_token"):
            rid = c.id_token(refreshed["id_token"], cls=IDToken)
            rep["refresh.id_token_alg"], rep["refresh.sub"] = header(refreshed["id_token"]).get("alg"), rid["sub"]
        rep["refresh.reuse"] = c.refused(lambda: c.session.refresh_token(disc["token_endpoint"], refresh_token=first_rt))
        rep["refresh.family"] = c.refused(
            lambda: c.session.refresh_token(disc["token_endpoint"], refresh_token=refreshed["refresh_token"]))

    def code_misuse():
        """A used code, and an expired one (single sign-on gives the codes)."""
        callback, state, verifier, _ = c.login()
        c.exchange(callback, state, verifier)
        rep["code.replay"] = c.refused(lambda: c.exchange(callback, state, verifier))
        callback, state, verifier, _ = c.login()
        ask("expire_code", code=urllib.parse.parse_qs(urllib.parse.urlparse(callback).query)["code"][0])
        rep["code.expired"] = c.refused(lambda: c.exchange(callback, state, verifier))

    def introspect():
        """Introspection (RFC 7662) and revocation (RFC 7009) of a fresh pair."""
        token = c.exchange(*c.login()[:3])
        intro = c.session.introspect_token(disc["introspection_endpoint"], token=token["access_token"])
        intro.raise_for_status()
        body = intro.json()
        rep["introspect.active"], rep["introspect.sub"], rep["introspect.client_id"] = \
            body.get("active"), body.get("sub"), body.get("client_id")
        c.session.revoke_token(disc["revocation_endpoint"], token=token["access_token"],
                               token_type_hint="access_token").raise_for_status()
        rep["introspect.revoked.active"] = c.session.introspect_token(disc["introspection_endpoint"],
                                                                      token=token["access_token"]).json().get("active")
        r = c.session.revoke_token(disc["revocation_endpoint"], token="unknown-" + generate_token(20))
        rep["revoke.unknown"] = "ok" if r.status_code == 200 else f"{r.status_code} {r.text[:200]}"
        c.session.revoke_token(disc["revocation_endpoint"], token=token["refresh_token"],
                               token_type_hint="refresh_token").raise_for_status()
        rep["revoke.refresh"] = c.refused(
            lambda: c.session.refresh_token(disc["token_endpoint"], refresh_token=token["refresh_token"]))

    def logout():
        """RP-initiated logout with the ID token as hint (the URL as authlib's
        create_logout_url builds it), then the back-channel logout token,
        checked as OpenID Back-Channel Logout 1.0 section 2.6 asks."""
        if "id_token" not in st:
            fail("no ID token from the code flow to send as id_token_hint")
        state = generate_token(20)
        url = add_params_to_uri(disc["end_session_endpoint"], {"id_token_hint": st["id_token"],
                                                               "post_logout_redirect_uri": POST_LOGOUT_URI,
                                                               "state": state, "client_id": CLIENT_ID})
        out = ask("browse", url=url, stop=POST_LOGOUT_URI)["url"]
        rep["logout.state"] = urllib.parse.parse_qs(urllib.parse.urlparse(out).query).get("state") == [state]
        raw = ask("logout_token")["logout_token"]
        lt = c.decode(raw, ID_ALG)
        claims = JWTClaims(lt.claims, lt.header, {"iss": {"essential": True, "value": ISSUER},
                                                  "aud": {"essential": True, "value": CLIENT_ID},
                                                  "iat": {"essential": True}, "jti": {"essential": True},
                                                  "events": {"essential": True}})
        claims.validate(leeway=60)
        rep["logout.token.alg"], rep["logout.token.typ"] = lt.header.get("alg"), lt.header.get("typ")
        rep["logout.token.iss"], rep["logout.token.aud"] = claims["iss"], as_list(claims["aud"])
        rep["logout.token.sub"], rep["logout.token.sid"] = claims.get("sub"), claims.get("sid")
        rep["logout.token.event"] = LOGOUT_EVENT in (claims.get("events") or {})
        rep["logout.token.jti"], rep["logout.token.nonce"] = bool(claims.get("jti")), "nonce" in claims

    for name, section in [("authorize.prompt_none", prompt_none), ("code", code), ("refresh", refresh),
                          ("code.misuse", code_misuse), ("introspect", introspect),
                          ("device", lambda: device(c, disc, rep)), ("logout", logout)]:
        try:
            section()
        except Exception as e:  # noqa: BLE001 -- reported to the Go test, which fails on it
            rep[name + ".failed"] = f"{type(e).__name__}: {e}"
    print(json.dumps({"op": "result", "report": rep}), flush=True)


def device(c, disc, rep):
    """Three device authorizations (RFC 8628): approved, denied, expired."""
    def start():
        r = c.session.post(disc["device_authorization_endpoint"], data={"scope": SCOPE}, withhold_token=True,
                           auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)
        if r.status_code != 200:
            fail(f"device authorization: {r.status_code} {r.text[:300]}")
        return r.json()

    def poll(da):
        return c.session.fetch_token(disc["token_endpoint"], grant_type=DEVICE_GRANT, device_code=da["device_code"])

    def until_done(da, interval):
        """Polls as RFC 8628 section 3.5 asks: every interval seconds, five more after slow_down."""
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(interval)
            try:
                return poll(da)
            except OAuthError as e:
                if e.error == "slow_down":
                    interval += 5
                elif e.error != "authorization_pending":
                    fail(f"polling an approved device: {e.error}")
        fail("no tokens within 60s of approving the device")

    def error_of(refused):
        return refused.get("error") if isinstance(refused, dict) else refused

    approved, denied, expired = start(), start(), start()
    # The first poll, and one sooner than the interval.
    rep["device.first_poll"] = error_of(c.refused(lambda: poll(approved)))
    rep["device.fast_poll"] = error_of(c.refused(lambda: poll(approved)))
    ask("device", url=approved["verification_uri_complete"], action="approve")
    ask("device", url=denied["verification_uri_complete"], action="deny")
    ask("expire_device", device_code=expired["device_code"])
    token = until_done(approved, approved.get("interval", 5) + 5)
    idt = c.id_token(token["id_token"], cls=IDToken)
    rep["device.id_token_alg"], rep["device.sub"] = header(token["id_token"]).get("alg"), idt["sub"]
    rep["device.denied"] = c.refused(lambda: poll(denied))
    rep["device.expired"] = c.refused(lambda: poll(expired))
    rep["device.replay"] = c.refused(lambda: poll(approved))


if __name__ == "__main__":
    main()
