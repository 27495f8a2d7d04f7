"""``mlflow-gate-login``: log in to a gate, log out, show who is logged in, print a token.

    mlflow-gate-login [login] [--device | --browser]   log in to the gate at MLFLOW_TRACKING_URI
    mlflow-gate-login logout                            revoke the login and forget it
    mlflow-gate-login status                            who is logged in to which gate, until when
    mlflow-gate-login token                             print a fresh access token (for curl)

Also ``python -m mlflow_gate <command>``. Errors are one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time

import requests

from . import __version__, cache
from .errors import MlflowGateError
from .gate import TIMEOUT, Gate, check_transport, discover
from .login import CLIENT_ID, browser_login, device_login, save_login
from .tokens import USER_AGENT, UserLogin

EPILOG = """\
environment:
  MLFLOW_TRACKING_URI        the gate (https://..., or http:// on this machine only)
  MLFLOW_TRACKING_AUTH       set it to mlflow-gate so MLflow sends the login's token
  MLFLOW_GATE_USER           which cached login to use when several people logged in to one gate
  MLFLOW_GATE_CONFIG_DIR     where tokens are cached (default: the platform's config folder)
  MLFLOW_GATE_CLIENT_ID, MLFLOW_GATE_CLIENT_SECRET
                             a service client: MLflow uses client credentials, no login needed
"""


def _gate_url(args) -> str:
    url = args.gate or os.environ.get("MLFLOW_TRACKING_URI", "")
    if not url:
        raise MlflowGateError("set MLFLOW_TRACKING_URI to the gate's URL (or pass --gate URL)")
    return url


def _when(ts: float) -> str:
    left = ts - time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))
    if left <= 0:
        return f"{stamp} (expired)"
    return f"{stamp} (in {_span(left)})"


def _span(s: float) -> str:
    s = int(s)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _prefer_browser() -> bool:
    if os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"):
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("BROWSER"))


def cmd_login(args) -> int:
    gate = discover(_gate_url(args))
    f = cache.GateFile(gate.origin)
    old = copy.deepcopy(f.read())
    browser = args.browser or (not args.device and _prefer_browser())
    tok = browser_login(gate, args.client_id) if browser else device_login(gate, args.client_id)
    entry = save_login(gate, tok, args.client_id, f)
    replaced = (old.get("logins") or {}).get(entry["username"])
    if replaced and replaced.get("refresh_token") and replaced["refresh_token"] != entry.get("refresh_token"):
        _revoke(gate, replaced)  # the login this one replaces is of no further use
    print(f"Logged in to {gate.origin} as {entry['username']}. Tokens are cached in {f.path}.", file=sys.stderr)
    if os.environ.get("MLFLOW_TRACKING_AUTH") != "mlflow-gate":
        print("For MLflow to use this login, set MLFLOW_TRACKING_AUTH=mlflow-gate.", file=sys.stderr)
    return 0


def _revoke(gate: Gate, entry: dict) -> bool:
    if not gate.revocation_endpoint or not entry.get("refresh_token"):
        return False
    try:
        r = requests.post(gate.revocation_endpoint, timeout=TIMEOUT, allow_redirects=False,
                          data={"token": entry["refresh_token"], "token_type_hint": "refresh_token",
                                "client_id": entry.get("client_id") or CLIENT_ID},
                          headers={"User-Agent": USER_AGENT})
    except requests.RequestException:
        return False
    return r.status_code == 200


def cmd_logout(args) -> int:
    o = check_transport(_gate_url(args))
    f = cache.GateFile(o)
    with f.locked():
        data = copy.deepcopy(f.read())
        name = args.user or os.environ.get("MLFLOW_GATE_USER") or data.get("current")
        entry = (data.get("logins") or {}).pop(name, None) if name else None
        if entry is None:
            print(f"Not logged in to {o}; nothing to do.", file=sys.stderr)
            return 0
        revoked = _revoke(Gate.from_json(data["gate"]), entry) if data.get("gate") else False
        if data.get("current") == name:
            data["current"] = next(iter(data["logins"]), None)
        f.write(data)
    if revoked:
        print(f"Logged out {name} from {o}: the gate revoked the login and it is removed from this machine.", file=sys.stderr)
    else:
        print(f"Removed {name}'s login to {o} from this machine, but the gate could not be told "
              "(it ends by itself when its refresh token expires).", file=sys.stderr)
    return 0


def cmd_status(args) -> int:
    folder = cache.config_dir()
    gates = cache.all_gates()
    if args.gate or os.environ.get("MLFLOW_TRACKING_URI"):
        want = check_transport(_gate_url(args))
        gates = [g for g in gates if g == want] or []
        if not gates:
            print(f"Not logged in to {want} (token cache: {folder / 'tokens'}).")
            return 1
    if not gates:
        print(f"Not logged in to any gate (token cache: {folder / 'tokens'}).")
        return 1
    for g in gates:
        data = cache.GateFile(g).read()
        for name, e in sorted((data.get("logins") or {}).items()):
            mark = "*" if name == data.get("current") else " "
            print(f"{mark} {name} @ {g}")
            if e.get("state") == "lost":
                print("    ended: the answer to a token refresh was lost; run mlflow-gate-login")
                continue
            if e.get("logged_in_at"):
                print(f"    logged in   {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(e['logged_in_at']))}")
            print(f"    access till {_when(e['expires_at'])}")
            print(f"    refreshes   {'yes, automatically' if e.get('refresh_token') else 'no (log in again when it expires)'}"
                  f" ({e.get('refreshes', 0)} so far)")
    print(f"(token cache: {folder / 'tokens'})")
    return 0


def cmd_token(args) -> int:
    o = check_transport(_gate_url(args))
    print(UserLogin(o, args.user or os.environ.get("MLFLOW_GATE_USER") or None).access_token())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mlflow-gate-login",
        description="Log in to an mlflow-gate from a training machine; MLflow then renews its token by itself "
                    "(MLFLOW_TRACKING_AUTH=mlflow-gate).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"mlflow-gate-client {__version__}")
    p.add_argument("command", nargs="?", default="login", choices=["login", "logout", "status", "token"],
                   help="login (default): log in; logout: revoke and forget the login; status: who is logged in where; "
                        "token: print a fresh access token")
    p.add_argument("--gate", metavar="URL", help="the gate's URL (default: MLFLOW_TRACKING_URI)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--device", action="store_true", help="log in with a code approved on another device (default without a display)")
    mode.add_argument("--browser", action="store_true", help="log in in this machine's browser (default with a display)")
    p.add_argument("--client-id", default=CLIENT_ID, help=f"the gate's public client to log in with (default {CLIENT_ID})")
    p.add_argument("--user", help="logout/token: which cached login (default MLFLOW_GATE_USER, else the last one)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return {"login": cmd_login, "logout": cmd_logout, "status": cmd_status, "token": cmd_token}[args.command](args)
    except MlflowGateError as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mlflow-gate: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
