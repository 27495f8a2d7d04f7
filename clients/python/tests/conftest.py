"""Fixtures of the login package's tests: a real gate (behind the test's front), MLflow, PostgreSQL.

The Go test e2e/python_login_test.go starts the rig and a gate whose access tokens live a few
seconds, puts a front before it that holds every refresh answer back a while (so concurrent
refreshes overlap) and can lose one answer on request, installs this package's wheel into a fresh
virtual environment beside MLflow, and runs pytest there with:

  MLFLOW_GATE_TEST_GATE_URL         the gate, as clients see it (the front)
  MLFLOW_GATE_TEST_FRONT_CONTROL    the front's control address: GET /refreshes, POST /lose-next-refresh
  MLFLOW_GATE_TEST_USERNAME, _PASSWORD            a person with the Default role
  MLFLOW_GATE_TEST_CLIENT_ID, _CLIENT_SECRET      a service client with the Default role
  MLFLOW_GATE_TEST_DATABASE_URL     the gate's database (to look at refresh-token families)
  MLFLOW_GATE_TEST_ACCESS_TTL       the gate's access-token lifetime in seconds
"""

from __future__ import annotations

import html.parser
import os
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import psycopg2
import pytest
import requests

ENV_NAMES = ["MLFLOW_GATE_TEST_GATE_URL", "MLFLOW_GATE_TEST_FRONT_CONTROL", "MLFLOW_GATE_TEST_USERNAME",
             "MLFLOW_GATE_TEST_PASSWORD", "MLFLOW_GATE_TEST_CLIENT_ID", "MLFLOW_GATE_TEST_CLIENT_SECRET",
             "MLFLOW_GATE_TEST_DATABASE_URL", "MLFLOW_GATE_TEST_ACCESS_TTL"]


def pytest_configure(config):
    missing = [n for n in ENV_NAMES if not os.environ.get(n)]
    if missing:
        # Not a skip: without a gate these tests prove nothing, and must not look green.
        raise pytest.UsageError(f"{', '.join(missing)} not set: run these tests through `scripts/test` "
                                "(go test ./e2e -run TestPythonLogin), which starts the gate they need")


GATE = os.environ.get("MLFLOW_GATE_TEST_GATE_URL", "")
CONTROL = os.environ.get("MLFLOW_GATE_TEST_FRONT_CONTROL", "")
USERNAME = os.environ.get("MLFLOW_GATE_TEST_USERNAME", "")
PASSWORD = os.environ.get("MLFLOW_GATE_TEST_PASSWORD", "")
ACCESS_TTL = float(os.environ.get("MLFLOW_GATE_TEST_ACCESS_TTL") or 0)
LOGIN = [str(Path(sys.executable).parent / "mlflow-gate-login")]


@pytest.fixture
def gate_env(tmp_path, monkeypatch):
    """A clean environment pointing MLflow at the gate through the provider, with its own cache."""
    cfg = tmp_path / "config"
    for k in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
              "MLFLOW_GATE_CLIENT_ID", "MLFLOW_GATE_CLIENT_SECRET", "MLFLOW_GATE_USER", "DISPLAY", "BROWSER"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("MLFLOW_GATE_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", GATE)
    monkeypatch.setenv("MLFLOW_TRACKING_AUTH", "mlflow-gate")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return cfg


class FormParser(html.parser.HTMLParser):
    """A page's first form: its action and named inputs."""

    def __init__(self):
        super().__init__()
        self.action, self.fields, self._forms = None, {}, 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._forms += 1
            if self._forms == 1:
                self.action = a.get("action")
        elif tag == "input" and a.get("name") and self._forms == 1:
            self.fields[a["name"]] = a.get("value") or ""


def form_of(page: requests.Response) -> FormParser:
    f = FormParser()
    f.feed(page.text)
    assert f.action is not None, f"no form on {page.url}: {page.text[:300]}"
    return f


def approve_device(url: str, username: str = USERNAME, password: str = PASSWORD, action: str = "approve") -> requests.Response:
    """The person's side of a device login, as a browser submits it: log in, read, approve."""
    browser = requests.Session()
    page = browser.get(url, timeout=10)
    assert page.status_code == 200 and 'name="password"' in page.text, f"expected the login form: {page.status_code}"
    form = form_of(page)
    form.fields.update(username=username, password=password)
    page = browser.post(urllib.parse.urljoin(page.url, form.action), data=form.fields, headers={"Origin": GATE}, timeout=30)
    assert page.status_code == 200 and 'value="approve"' in page.text, f"expected the approval page: {page.status_code} {page.text[:300]}"
    form = form_of(page)
    done = browser.post(urllib.parse.urljoin(page.url, form.action), data=dict(form.fields, action=action),
                        headers={"Origin": GATE}, timeout=10)
    assert done.status_code == 200, done.text[:300]
    return done


class LoginProcess:
    """`mlflow-gate-login` running in a subprocess; its stderr is read as it comes."""

    def __init__(self, *args: str, env: dict | None = None):
        self.proc = subprocess.Popen(LOGIN + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env or os.environ.copy())
        self.err_lines: list[str] = []

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.err_lines.append(line)
            m = rx.search(line)
            if m:
                return m
        raise AssertionError(f"mlflow-gate-login never printed {pattern!r}; it printed:\n{''.join(self.err_lines)}")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, "".join(self.err_lines) + err


def device_login(username: str = USERNAME, password: str = PASSWORD) -> tuple[int, str, str]:
    """A whole scripted device login with the real command; returns (status, stdout, stderr)."""
    p = LoginProcess("--device")
    url = p.wait_for(r"or open (\S+)").group(1)
    approve_device(url, username, password)
    return p.finish()


@pytest.fixture
def logged_in(gate_env):
    code, out, err = device_login()
    assert code == 0, err
    return gate_env


def run_login(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(LOGIN + list(args), capture_output=True, text=True, env=env or os.environ.copy(), timeout=timeout)


def front_refreshes() -> int:
    return int(requests.get(CONTROL + "/refreshes", timeout=5).text)


def lose_next_refresh() -> None:
    requests.post(CONTROL + "/lose-next-refresh", timeout=5).raise_for_status()


def families(username: str = USERNAME) -> list[dict]:
    """The user's refresh-token families at the gate, newest first."""
    with psycopg2.connect(os.environ["MLFLOW_GATE_TEST_DATABASE_URL"]) as db, db.cursor() as cur:
        cur.execute("""
            SELECT family_id, count(*), count(revoked_at), count(rotated_at), min(issued_at)
            FROM refresh_tokens WHERE user_id = (SELECT id FROM users WHERE username = %s)
            GROUP BY family_id ORDER BY min(issued_at) DESC""", (username,))
        return [{"family": r[0], "tokens": r[1], "revoked": r[2], "rotated": r[3]} for r in cur.fetchall()]
