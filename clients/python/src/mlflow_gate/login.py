"""Logging in: the device flow (RFC 8628) or authorization code + PKCE with a loopback redirect.

Both end in :func:`save_login`, which writes the new login under the gate's lock and makes it the
gate's current one.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import http.server
import secrets
import sys
import threading
import time
import urllib.parse
import webbrowser

import requests

from . import cache
from .errors import GateUnreachable, MlflowGateError
from .gate import TIMEOUT, Gate, origin
from .tokens import USER_AGENT, _oauth_error, login_from_response

CLIENT_ID = "mlflow-gate-cli"  # the public client every gate creates for command-line use
SCOPES = "openid profile email offline_access"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
BROWSER_TIMEOUT = 300.0


def _post(url: str, data: dict) -> requests.Response:
    try:
        return requests.post(url, data=data, timeout=TIMEOUT, allow_redirects=False,
                             headers={"Accept": "application/json", "User-Agent": USER_AGENT})
    except requests.RequestException as e:
        raise GateUnreachable(origin(url), type(e).__name__) from None


def _token_or_raise(r: requests.Response, what: str) -> dict:
    if r.status_code == 200:
        tok = r.json()
        if isinstance(tok, dict) and tok.get("access_token"):
            return tok
    err, desc = _oauth_error(r)
    raise MlflowGateError(f"the gate refused the {what} ({desc or err or 'HTTP %d' % r.status_code}): run `mlflow-gate-login` again")


def device_login(gate: Gate, client_id: str = CLIENT_ID, out=sys.stderr) -> dict:
    """Runs the device flow: prints where to approve, polls at the gate's interval."""
    if not gate.device_authorization_endpoint:
        raise MlflowGateError(f"the gate at {gate.origin} offers no device flow: use `mlflow-gate-login --browser`")
    r = _post(gate.device_authorization_endpoint, {"client_id": client_id, "scope": SCOPES})
    if r.status_code != 200:
        err, desc = _oauth_error(r)
        raise MlflowGateError(f"the gate refused to start a device login ({desc or err or 'HTTP %d' % r.status_code})")
    da = r.json()
    interval = max(1, int(da.get("interval") or 5))
    deadline = time.monotonic() + float(da.get("expires_in") or 600)
    print(f"To log in to {gate.origin}, open\n\n    {da['verification_uri']}\n\nand enter the code\n\n    {da['user_code']}\n",
          file=out)
    if da.get("verification_uri_complete"):
        print(f"(or open {da['verification_uri_complete']} , which has the code in it)\n", file=out)
    print("Waiting for you to approve ...", file=out, flush=True)
    while True:
        time.sleep(interval)
        if time.monotonic() > deadline:
            raise MlflowGateError("the login code expired before it was approved: run `mlflow-gate-login` again")
        r = _post(gate.token_endpoint, {"grant_type": DEVICE_GRANT, "device_code": da["device_code"], "client_id": client_id})
        if r.status_code == 200:
            return _token_or_raise(r, "device login")
        err, desc = _oauth_error(r)
        if err == "authorization_pending":
            continue
        if err == "slow_down":
            interval += 5  # RFC 8628 section 3.5
            continue
        if err == "access_denied":
            raise MlflowGateError("the login was denied on the approval page")
        if err == "expired_token":
            raise MlflowGateError("the login code expired before it was approved: run `mlflow-gate-login` again")
        if r.status_code >= 500:
            continue  # the gate failed this poll; the code is still good
        raise MlflowGateError(f"the gate refused the device login ({desc or err or 'HTTP %d' % r.status_code})")


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class _Callback(http.server.BaseHTTPRequestHandler):
    """Answers the one redirect back from the gate, then the listener closes."""

    server_version = "mlflow-gate-login"

    def do_GET(self):  # noqa: N802 - http.server's naming
        u = urllib.parse.urlsplit(self.path)
        if u.path != "/callback":
            self._page(404, "Not found", "This is mlflow-gate-login's one-time login address.")
            return
        q = urllib.parse.parse_qs(u.query)
        srv = self.server
        if srv.done.is_set():
            self._page(410, "Already answered", "This login has already been answered; run mlflow-gate-login again for another.")
            return
        got_state = q.get("state", [""])[0]
        if not secrets.compare_digest(got_state, srv.state):
            srv.result = MlflowGateError("the login answer did not carry this login's state (a forged or stale link): run `mlflow-gate-login` again")
            self._page(400, "Login refused", "This answer does not belong to the login that is waiting. Nothing was changed.")
        elif "error" in q:
            desc = q.get("error_description", q["error"])[0]
            srv.result = MlflowGateError(f"the gate ended the login: {desc}")
            self._page(400, "Login not completed", desc)
        elif "code" in q:
            srv.result = q["code"][0]
            self._page(200, "Logged in", "You are logged in. You can close this tab and return to the terminal.")
        else:
            srv.result = MlflowGateError("the login answer carried no code: run `mlflow-gate-login` again")
            self._page(400, "Login not completed", "The answer carried no code.")
        srv.done.set()

    def _page(self, status: int, title: str, text: str) -> None:
        body = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
                f"<body style='font-family:sans-serif;max-width:32rem;margin:4rem auto'><h1>{html.escape(title)}</h1>"
                f"<p>{html.escape(text)}</p></body></html>").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # the query holds the code: never logged
        pass


def browser_login(gate: Gate, client_id: str = CLIENT_ID, out=sys.stderr, timeout: float = BROWSER_TIMEOUT) -> dict:
    """Authorization code + PKCE (S256) with a redirect to a listener on 127.0.0.1 (RFC 8252)."""
    if not gate.authorization_endpoint:
        raise MlflowGateError(f"the gate at {gate.origin} offers no browser login: use `mlflow-gate-login --device`")
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Callback)
    srv.state = secrets.token_urlsafe(32)
    srv.result = None
    srv.done = threading.Event()
    verifier = secrets.token_urlsafe(64)
    redirect_uri = f"http://127.0.0.1:{srv.server_address[1]}/callback"
    url = gate.authorization_endpoint + "?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": SCOPES,
        "state": srv.state, "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
    })
    t = threading.Thread(target=_serve_until_done, args=(srv,), daemon=True)
    t.start()
    try:
        print(f"Opening your browser to log in to {gate.origin}. If it does not open, visit:\n\n    {url}\n", file=out, flush=True)
        webbrowser.open(url)
        if not srv.done.wait(timeout):
            raise MlflowGateError(f"no login arrived within {int(timeout)} s: run `mlflow-gate-login` again (or add --device)")
    finally:
        srv.shutdown()
        srv.server_close()
    if isinstance(srv.result, Exception):
        raise srv.result
    r = _post(gate.token_endpoint, {"grant_type": "authorization_code", "code": srv.result, "redirect_uri": redirect_uri,
                                    "client_id": client_id, "code_verifier": verifier})
    return _token_or_raise(r, "browser login")


def _serve_until_done(srv: http.server.HTTPServer) -> None:
    # Requests other than the callback (a favicon) are answered and do not end the wait.
    srv.serve_forever(poll_interval=0.1)


def save_login(gate: Gate, tok: dict, client_id: str = CLIENT_ID, file: cache.GateFile | None = None) -> dict:
    """Stores a new login as the gate's current one; returns its entry."""
    f = file or cache.GateFile(gate.origin)
    with f.locked():
        data = copy.deepcopy(f.read())
        entry = login_from_response(tok, time.time(), client_id)
        name = entry.get("username") or "unknown"
        data["gate"] = gate.to_json()
        data["logins"][name] = entry
        data["current"] = name
        f.write(data)
    return entry
