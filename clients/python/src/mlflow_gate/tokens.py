"""Fresh access tokens: a cached login refreshed under the gate's lock, or client credentials.

The gate rotates refresh tokens on every use and, when a used one comes back, revokes the whole
login (RFC 9700 section 4.14.2). So a refresh must happen once, by one thread of one process, and
everyone else must pick up its result:

1. Without any lock, read the cache; a token with more than the margin left is used as is.
2. Otherwise take the gate's lock, read the cache again (another thread or process may have
   refreshed meanwhile) and use what is there if it is fresh now.
3. Still due: send the refresh token once. A new pair is written before the lock is released.
   If the answer never arrived, the gate may have rotated the token already, so the refresh
   token is dropped, never sent again, and the person is told to log in again.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from dataclasses import dataclass

import requests

from . import cache
from .errors import ClientCredentialsRefused, GateUnreachable, LoginExpired, MlflowGateError, NotLoggedIn
from .gate import TIMEOUT, Gate, discover

# Refresh this long before expiry: a fifth of the token's lifetime, at most a minute.
MAX_MARGIN = 60.0
MARGIN_SHARE = 0.2
# A token with less than this left is not sent at all (clock skew, request time).
MIN_LEFT = 0.5

USER_AGENT = "mlflow-gate-client"

LOST = "lost"  # state of a login whose refresh answer was lost


def margin(lifetime: float) -> float:
    return min(MAX_MARGIN, max(0.0, lifetime) * MARGIN_SHARE)


def _claims(jwt: str) -> dict:
    """The payload of a JWT, unverified: only for names shown to the person."""
    try:
        seg = jwt.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))
    except (IndexError, ValueError):
        return {}


def login_from_response(tok: dict, now: float, client_id: str, previous: dict | None = None) -> dict:
    """The cache entry of a token response."""
    if not isinstance(tok.get("access_token"), str):
        raise MlflowGateError("the gate answered a token request without an access token: report this to its administrator")
    lifetime = _lifetime(tok)
    claims = _claims(tok["access_token"])
    entry = dict(previous or {})
    entry.update(
        access_token=tok["access_token"],
        expires_at=now + lifetime,
        lifetime=lifetime,
        refresh_token=tok.get("refresh_token"),
        scope=tok.get("scope", entry.get("scope", "")),
        client_id=client_id,
        subject=claims.get("sub", entry.get("subject")),
        username=claims.get("preferred_username") or entry.get("username") or claims.get("sub"),
        state=None,
    )
    if previous is None:
        entry["logged_in_at"] = now
        entry["refreshes"] = 0
    else:
        entry["refreshed_at"] = now
        entry["refreshes"] = int(previous.get("refreshes", 0)) + 1
    return entry


def _lifetime(tok: dict) -> float:
    """expires_in of a token response; 5 minutes when it is missing or not a number."""
    try:
        v = float(tok.get("expires_in") or 300)
    except (TypeError, ValueError):
        return 300.0
    return v if v > 0 else 300.0


def _post(url: str, data: dict, auth=None) -> requests.Response:
    return requests.post(url, data=data, auth=auth, timeout=TIMEOUT, allow_redirects=False,
                         headers={"Accept": "application/json", "User-Agent": USER_AGENT})


def _oauth_error(r: requests.Response) -> tuple[str, str]:
    try:
        body = r.json()
        return str(body.get("error", "")), str(body.get("error_description", ""))
    except ValueError:
        return "", ""


def _never_sent(e: requests.RequestException) -> bool:
    """True when the request certainly did not reach the gate (so the token is unused)."""
    if isinstance(e, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(e, (requests.exceptions.SSLError, requests.exceptions.ProxyError, requests.exceptions.InvalidURL)):
        return True
    if isinstance(e, requests.exceptions.ConnectionError):
        # urllib3 wraps a failed connect (refused, DNS) as NewConnectionError inside MaxRetryError.
        reason = getattr(e.args[0], "reason", None) if e.args else None
        return type(reason).__name__ in ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError")
    return False


@dataclass
class Token:
    value: str
    expires_at: float


class UserLogin:
    """The access tokens of a person's cached login to one gate."""

    def __init__(self, gate_origin: str, user: str | None = None, file: cache.GateFile | None = None):
        self.origin = gate_origin
        self.user = user
        self.file = file or cache.GateFile(gate_origin)

    def _pick(self, data: dict) -> tuple[str, dict]:
        logins = data.get("logins") or {}
        name = self.user or data.get("current")
        if not name or name not in logins:
            others = [g for g in cache.all_gates(self.file.folder.parent) if g != self.origin]
            raise NotLoggedIn(self.origin, others)
        return name, logins[name]

    def access_token(self) -> str:
        now = time.time()
        _, entry = self._pick(self.file.read())
        if self._fresh(entry, now):
            return entry["access_token"]
        with self.file.locked():
            data = copy.deepcopy(self.file.read())  # someone may have refreshed while we waited
            name, entry = self._pick(data)
            now = time.time()
            if self._fresh(entry, now):
                return entry["access_token"]
            return self._refresh(data, name, entry, now)

    @staticmethod
    def _fresh(entry: dict, now: float) -> bool:
        if entry.get("state") == LOST or not entry.get("access_token"):
            return False
        return entry.get("expires_at", 0) - now > margin(entry.get("lifetime", 0))

    @staticmethod
    def _usable(entry: dict, now: float) -> bool:
        return bool(entry.get("access_token")) and entry.get("state") != LOST and entry.get("expires_at", 0) - now > MIN_LEFT

    def _refresh(self, data: dict, name: str, entry: dict, now: float) -> str:
        if entry.get("state") == LOST:
            raise LoginExpired(self.origin, "ended: the gate's answer to a token refresh was lost, and a refresh token is never sent twice")
        rt = entry.get("refresh_token")
        if not rt:
            if self._usable(entry, now):
                return entry["access_token"]
            raise LoginExpired(self.origin, "has expired (it holds no refresh token)")
        gate = Gate.from_json(data["gate"])
        try:
            r = _post(gate.token_endpoint, {"grant_type": "refresh_token", "refresh_token": rt,
                                            "client_id": entry.get("client_id", "")})
        except requests.RequestException as e:
            if _never_sent(e):
                if self._usable(entry, now):
                    return entry["access_token"]  # still valid: try again on a later call
                raise GateUnreachable(self.origin, type(e).__name__) from None
            self._lose(data, name, entry)
            raise LoginExpired(self.origin, f"ended: the gate's answer to a token refresh was lost ({type(e).__name__})") from None
        if r.status_code == 200:
            try:
                tok = r.json()
            except ValueError:
                tok = {}
            if not isinstance(tok, dict) or not tok.get("access_token"):
                self._lose(data, name, entry)
                raise LoginExpired(self.origin, "ended: the gate's answer to a token refresh was not a token")
            data["logins"][name] = login_from_response(tok, time.time(), entry.get("client_id", ""), entry)
            self.file.write(data)
            return data["logins"][name]["access_token"]
        if r.status_code in (502, 504):
            # A proxy in front of the gate gave up waiting: the gate may have rotated the token.
            self._lose(data, name, entry)
            raise LoginExpired(self.origin, f"ended: the gate's answer to a token refresh was lost (HTTP {r.status_code})")
        if r.status_code >= 500:
            if self._usable(entry, now):
                return entry["access_token"]
            raise GateUnreachable(self.origin, f"HTTP {r.status_code} to a token refresh")
        err, desc = _oauth_error(r)
        del data["logins"][name]
        if data.get("current") == name:
            data["current"] = None
        self.file.write(data)
        why = desc or err or f"HTTP {r.status_code}"
        raise LoginExpired(self.origin, f"has expired or was revoked ({why})")

    def _lose(self, data: dict, name: str, entry: dict) -> None:
        entry = dict(entry, refresh_token=None, access_token=None, state=LOST)
        data["logins"][name] = entry
        self.file.write(data)


class ClientCredentials:
    """Access tokens of a service client (client credentials grant), kept in memory only."""

    def __init__(self, gate_origin: str, client_id: str, client_secret: str):
        self.origin = gate_origin
        self.client_id = client_id
        self._secret = client_secret
        self._lock = threading.Lock()
        self._gate: Gate | None = None
        self._token: Token | None = None
        self._lifetime = 0.0

    def access_token(self) -> str:
        tok = self._token
        now = time.time()
        if tok and tok.expires_at - now > margin(self._lifetime):
            return tok.value
        with self._lock:
            tok = self._token
            now = time.time()
            if tok and tok.expires_at - now > margin(self._lifetime):
                return tok.value
            try:
                return self._grant()
            except GateUnreachable:
                if tok and tok.expires_at - now > MIN_LEFT:
                    return tok.value
                raise

    def _grant(self) -> str:
        if self._gate is None:
            self._gate = discover(self.origin)
        try:
            r = _post(self._gate.token_endpoint, {"grant_type": "client_credentials"},
                      auth=(self.client_id, self._secret))
        except requests.RequestException as e:
            raise GateUnreachable(self.origin, type(e).__name__) from None
        if r.status_code >= 500:
            raise GateUnreachable(self.origin, f"HTTP {r.status_code} to a client credentials grant")
        if r.status_code != 200:
            err, desc = _oauth_error(r)
            raise ClientCredentialsRefused(
                f"the gate at {self.origin} refused client {self.client_id!r} ({desc or err or 'HTTP %d' % r.status_code}): "
                "check MLFLOW_GATE_CLIENT_ID and MLFLOW_GATE_CLIENT_SECRET"
            )
        try:
            tok = r.json()
        except ValueError:
            tok = None
        if not isinstance(tok, dict) or not isinstance(tok.get("access_token"), str):
            raise GateUnreachable(self.origin, "its answer to a client credentials grant was not a token")
        self._lifetime = _lifetime(tok)
        self._token = Token(tok["access_token"], time.time() + self._lifetime)
        return self._token.value
