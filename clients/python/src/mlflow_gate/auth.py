"""The requests auth object: a fresh token of the right gate on every request, and nowhere else.

The gate a request goes to is read from the request's own URL, not from a setting captured
earlier: a request to an origin with no cached login fails with "not logged in to <origin>",
so changing MLFLOW_TRACKING_URI (or an artifact URL on another host) never receives a token of
another gate. requests drops the Authorization header itself when a redirect leaves the host.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import requests

from . import cache
from .errors import LOGIN_COMMAND, MlflowGateError
from .gate import check_transport, origin
from .tokens import ClientCredentials, UserLogin

CLIENT_ID_ENV = "MLFLOW_GATE_CLIENT_ID"
CLIENT_SECRET_ENV = "MLFLOW_GATE_CLIENT_SECRET"
USER_ENV = "MLFLOW_GATE_USER"


class GateAuth(requests.auth.AuthBase):
    """Sets ``Authorization: Bearer`` from the cached login of the request's gate.

    With MLFLOW_GATE_CLIENT_ID and MLFLOW_GATE_CLIENT_SECRET set it uses the client credentials
    grant instead (service accounts: no login, nothing written to disk).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._sources: dict[tuple, object] = {}

    def token_for(self, url: str) -> str:
        gate = check_transport(url)
        cid, secret = os.environ.get(CLIENT_ID_ENV), os.environ.get(CLIENT_SECRET_ENV)
        if cid or secret:
            if not (cid and secret):
                raise MlflowGateError(f"set both {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} (or neither, to use your login)")
            key = ("client", gate, cid, secret)
        else:
            # The cache folder is part of the key: a changed MLFLOW_GATE_CONFIG_DIR is another cache.
            key = ("user", gate, os.environ.get(USER_ENV) or None, str(cache.config_dir()))
        with self._lock:
            src = self._sources.get(key)
            if src is None:
                src = ClientCredentials(gate, cid, secret) if key[0] == "client" else UserLogin(gate, key[2], cache.GateFile(gate, Path(key[3])))
                self._sources[key] = src
        return src.access_token()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = "Bearer " + self.token_for(r.url)
        r.register_hook("response", _refused)
        return r


def _refused(resp: requests.Response, **_) -> requests.Response:
    """A 401 to a token that was fresh here: revoked at the gate (a logout elsewhere, an
    administrator, a disabled user). Said in one line instead of MLflow's bare 401."""
    if resp.status_code == 401 and resp.request is not None and resp.request.headers.get("Authorization", "").startswith("Bearer "):
        who = "MLFLOW_GATE_CLIENT_ID's token" if os.environ.get(CLIENT_ID_ENV) else "your login"
        fix = "check the service client at the gate" if os.environ.get(CLIENT_ID_ENV) else f"run `{LOGIN_COMMAND}` to log in again"
        raise MlflowGateError(f"the gate at {origin(resp.request.url)} refused {who} (revoked, or the account is disabled): {fix}")
    return resp


_shared: GateAuth | None = None
_shared_lock = threading.Lock()


def shared_auth() -> GateAuth:
    """One GateAuth per process, so its memory of tokens lasts across requests."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = GateAuth()
        return _shared
