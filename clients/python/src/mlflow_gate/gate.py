"""Where a gate is: its origin, the endpoints its discovery document names, and the http rule.

A token is only ever sent to the origin of the gate that issued it, so everything here works on
origins (``scheme://host[:port]``, lower case, default port dropped): the tracking URI's origin
must be the issuer's, and every endpoint the discovery document names must be on it too.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.parse
from dataclasses import dataclass

import requests

from .errors import GateUnreachable, InsecureGate, WrongGate

DISCOVERY_PATH = "/.well-known/openid-configuration"
TIMEOUT = (10, 30)  # connect, read (seconds)


def origin(url: str) -> str:
    """The origin of an http(s) URL; raises WrongGate for anything else."""
    if not isinstance(url, str):
        raise WrongGate(f"{url!r} is not a URL: set MLFLOW_TRACKING_URI to the gate's https URL")
    try:
        u = urllib.parse.urlsplit(url.strip())
        port = u.port
    except ValueError as e:
        raise WrongGate(f"{url!r} is not a URL ({e}): set MLFLOW_TRACKING_URI to the gate's https URL") from None
    scheme = u.scheme.lower()
    if scheme not in ("http", "https") or not u.hostname:
        raise WrongGate(f"{url!r} is not an http(s) URL: set MLFLOW_TRACKING_URI to the gate's https URL")
    host = u.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(url: str) -> str:
    """The origin of url, refusing plain http except to this machine."""
    o = origin(url)
    u = urllib.parse.urlsplit(o)
    if u.scheme == "http" and not is_loopback(u.hostname or ""):
        raise InsecureGate(o)
    return o


@dataclass(frozen=True)
class Gate:
    """The endpoints of one gate, all on its origin."""

    origin: str
    issuer: str
    token_endpoint: str
    device_authorization_endpoint: str | None
    authorization_endpoint: str | None
    revocation_endpoint: str | None

    def to_json(self) -> dict:
        return {
            "origin": self.origin,
            "issuer": self.issuer,
            "token_endpoint": self.token_endpoint,
            "device_authorization_endpoint": self.device_authorization_endpoint,
            "authorization_endpoint": self.authorization_endpoint,
            "revocation_endpoint": self.revocation_endpoint,
        }

    @classmethod
    def from_json(cls, d: dict) -> "Gate":
        g = cls(
            origin=d["origin"],
            issuer=d["issuer"],
            token_endpoint=d["token_endpoint"],
            device_authorization_endpoint=d.get("device_authorization_endpoint"),
            authorization_endpoint=d.get("authorization_endpoint"),
            revocation_endpoint=d.get("revocation_endpoint"),
        )
        g._check()
        return g

    def _check(self) -> None:
        for name in ("issuer", "token_endpoint", "device_authorization_endpoint", "authorization_endpoint", "revocation_endpoint"):
            v = getattr(self, name)
            if v is None:
                continue
            if origin(v) != self.origin:
                raise WrongGate(
                    f"the gate at {self.origin} names {name} {v}, on another origin; "
                    "tokens stay on the gate's origin, so this gate cannot be used: check MLFLOW_TRACKING_URI"
                )


def discover(url: str, session: requests.Session | None = None) -> Gate:
    """Reads the discovery document of the gate at url (MLFLOW_TRACKING_URI)."""
    o = check_transport(url)
    http = session or requests
    try:
        r = http.get(o + DISCOVERY_PATH, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as e:
        raise GateUnreachable(o, type(e).__name__) from None
    if r.status_code >= 500:
        raise GateUnreachable(o, f"HTTP {r.status_code} from its discovery document")
    try:
        d = r.json() if r.status_code == 200 else None
    except (ValueError, json.JSONDecodeError):
        d = None
    if not isinstance(d, dict) or not isinstance(d.get("issuer"), str) or not isinstance(d.get("token_endpoint"), str):
        raise WrongGate(
            f"{o} is not an mlflow-gate (no OpenID discovery document at {DISCOVERY_PATH}, HTTP {r.status_code}): "
            "set MLFLOW_TRACKING_URI to the gate's URL"
        )
    iss = origin(d["issuer"])
    if iss != o:
        raise WrongGate(
            f"MLFLOW_TRACKING_URI points at {o} but the gate there calls itself {d['issuer']}: "
            f"set MLFLOW_TRACKING_URI={d['issuer']}"
        )
    return Gate.from_json(dict(d, origin=o))
