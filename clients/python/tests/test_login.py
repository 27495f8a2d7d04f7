"""Logging in, looking, logging out: the commands a person types, against the real gate."""

from __future__ import annotations

import http.server
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import urllib.parse

import pytest
import requests
from conftest import GATE, LOGIN, PASSWORD, USERNAME, LoginProcess, approve_device, device_login, families, form_of, run_login

from mlflow_gate import cache


def cache_file(cfg) -> str:
    files = sorted((cfg / "tokens").glob("*.json"))
    assert len(files) == 1, files
    return str(files[0])


def test_device_login_caches_a_private_login_and_never_prints_tokens(gate_env):
    code, out, err = device_login()
    assert code == 0, err
    assert f"Logged in to {GATE} as {USERNAME}" in err
    path = cache_file(gate_env)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(gate_env / "tokens").st_mode) == 0o700
    with open(path) as f:
        entry = json.load(f)["logins"][USERNAME]
    assert entry["refresh_token"] and entry["access_token"]
    for secret in (entry["refresh_token"], entry["access_token"]):
        assert secret not in out and secret not in err

    st = run_login("status")
    assert st.returncode == 0, st.stderr
    assert f"* {USERNAME} @ {GATE}" in st.stdout and "access till" in st.stdout
    assert entry["refresh_token"] not in st.stdout and entry["access_token"] not in st.stdout

    # `token` prints an access token that opens the MLflow API, as curl would send it.
    tok = run_login("token")
    assert tok.returncode == 0, tok.stderr
    r = requests.get(GATE + "/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                     headers={"Authorization": "Bearer " + tok.stdout.strip()}, timeout=10)
    assert r.status_code == 200, r.text


def test_device_login_denied_says_so(gate_env):
    p = LoginProcess("--device")
    url = p.wait_for(r"or open (\S+)").group(1)
    approve_device(url, action="deny")
    code, _, err = p.finish()
    assert code == 1 and "the login was denied" in err.splitlines()[-1]
    assert not (gate_env / "tokens").exists() or not list((gate_env / "tokens").glob("*.json"))


BROWSER_SCRIPT = textwrap.dedent("""\
    # A stand-in for a person's browser: webbrowser runs it with the URL to open.
    import os, sys, urllib.parse, requests
    sys.path.insert(0, os.environ["TEST_DIR"])
    from conftest import form_of
    url = sys.argv[1]
    if os.environ.get("FORGE_STATE"):
        # Another page sends the listener an answer of its own before the real one.
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        cb = q["redirect_uri"][0]
        print(requests.get(cb, params={"code": "forged", "state": "forged"}, timeout=10).status_code, file=sys.stderr)
        sys.exit(0)
    b = requests.Session()
    page = b.get(url, timeout=10)
    form = form_of(page)
    form.fields.update(username=os.environ["TEST_USER"], password=os.environ["TEST_PASSWORD"])
    done = b.post(urllib.parse.urljoin(page.url, form.action), data=form.fields,
                  headers={"Origin": os.environ["MLFLOW_TRACKING_URI"]}, timeout=30)
    assert done.status_code == 200 and "You are logged in" in done.text, (done.status_code, done.url)
    assert urllib.parse.urlsplit(done.url).hostname == "127.0.0.1", done.url
    """)


def browser_env(tmp_path, **extra) -> dict:
    script = tmp_path / "browser.py"
    script.write_text(BROWSER_SCRIPT)
    env = dict(os.environ, BROWSER=f"{sys.executable} {script} %s", TEST_USER=USERNAME, TEST_PASSWORD=PASSWORD,
               TEST_DIR=os.path.dirname(__file__), **extra)
    return env


def test_browser_login_with_pkce_and_a_loopback_listener(gate_env, tmp_path):
    r = run_login("--browser", env=browser_env(tmp_path))
    assert r.returncode == 0, r.stderr
    assert f"Logged in to {GATE} as {USERNAME}" in r.stderr
    # The URL it printed asks for S256 PKCE and a redirect to 127.0.0.1 only.
    url = next(w for w in r.stderr.split() if w.startswith(GATE + "/"))
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert q["code_challenge_method"] == ["S256"] and len(q["state"][0]) >= 32
    assert urllib.parse.urlsplit(q["redirect_uri"][0]).hostname == "127.0.0.1"
    assert run_login("token").returncode == 0


def test_browser_login_refuses_an_answer_with_another_state(gate_env, tmp_path):
    r = run_login("--browser", env=browser_env(tmp_path, FORGE_STATE="1"), timeout=30)
    assert r.returncode == 1
    assert "did not carry this login's state" in r.stderr.splitlines()[-1]
    assert not list((gate_env / "tokens").glob("*.json")) if (gate_env / "tokens").exists() else True


def test_logout_revokes_the_login_and_the_next_call_says_what_to_run(logged_in):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    client.search_experiments(max_results=1)
    fam = families()[0]
    r = run_login("logout")
    assert r.returncode == 0 and "the gate revoked the login" in r.stderr, r.stderr
    assert families()[0]["family"] == fam["family"] and families()[0]["revoked"] == families()[0]["tokens"]
    with pytest.raises(MlflowException) as e:
        client.search_experiments(max_results=1)
    assert f"mlflow-gate: not logged in to {GATE}: run `mlflow-gate-login`" in str(e.value)
    st = run_login("status")
    assert st.returncode == 1 and "Not logged in" in st.stdout


class Recorder(http.server.BaseHTTPRequestHandler):
    """A second tracking server that records what it is sent."""

    seen: list = []

    def _any(self):
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        body = b'{"error_code": "NOT_FOUND"}'
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _any

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    Recorder.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", Recorder.seen
    srv.shutdown()


def test_a_token_never_goes_to_another_tracking_uri(logged_in, recorder, monkeypatch):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    MlflowClient().search_experiments(max_results=1)  # logged in and working
    other, seen = recorder
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)
    with pytest.raises(MlflowException) as e:
        MlflowClient().search_experiments(max_results=1)
    assert f"not logged in to {other} (logged in to {GATE})" in str(e.value)
    assert all(auth is None for _, _, auth in seen), seen
    # Nor does the login command send anything of the gate's to a server that is not one.
    r = run_login("--device", "--gate", other)
    assert r.returncode == 1 and f"{other} is not an mlflow-gate" in r.stderr
    assert all(auth is None for _, _, auth in seen), seen


def test_wrong_and_insecure_gates_are_refused_with_what_to_set(gate_env):
    r = run_login("--device", "--gate", "http://gate.example.com")
    assert r.returncode == 1
    assert "refusing to send tokens over plain http to http://gate.example.com" in r.stderr
    # The gate calls itself 127.0.0.1; "localhost" is another origin, and the message says which to use.
    port = urllib.parse.urlsplit(GATE).port
    r = run_login("--device", "--gate", f"http://localhost:{port}")
    assert r.returncode == 1 and f"set MLFLOW_TRACKING_URI={GATE}" in r.stderr, r.stderr
    r = run_login("status", "--gate", GATE)
    assert r.returncode == 1 and "Not logged in" in r.stdout
    r = run_login("token")
    assert r.returncode == 1 and r.stderr.strip() == (
        f"mlflow-gate: not logged in to {GATE}: run `mlflow-gate-login` with MLFLOW_TRACKING_URI={GATE}")
    env = dict(os.environ)
    del env["MLFLOW_TRACKING_URI"]
    r = run_login(env=env)
    assert r.returncode == 1 and "set MLFLOW_TRACKING_URI" in r.stderr


def test_the_stock_client_finds_the_provider_through_its_entry_point(logged_in):
    # A fresh interpreter that only imports MLflow: the provider comes from the installed wheel.
    code = textwrap.dedent("""\
        import importlib.metadata as md, json, sys, time
        import mlflow
        from mlflow.tracking import MlflowClient
        eps = [f"{e.name}={e.value}" for e in md.entry_points(group="mlflow.request_auth_provider")]
        before = "mlflow_gate" in sys.modules
        c = MlflowClient()
        exp = c.create_experiment(f"entry-point-{time.time_ns()}")
        run = c.create_run(exp)
        c.log_metric(run.info.run_id, "m", 1.0)
        import mlflow_gate
        print(json.dumps({"eps": eps, "before": before, "after": "mlflow_gate" in sys.modules,
                          "file": mlflow_gate.__file__, "user": c.get_run(run.info.run_id).info.user_id}))
        """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert "mlflow-gate=mlflow_gate.provider:GateAuthProvider" in got["eps"]
    assert got["before"] is False and got["after"] is True
    assert "site-packages" in got["file"], got["file"]  # the installed wheel, not the source tree
    assert got["user"] == USERNAME  # the gate sets the run's user from the token


def test_python_m_mlflow_gate_is_the_same_command(logged_in):
    r = subprocess.run([sys.executable, "-m", "mlflow_gate", "status"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and f"{USERNAME} @ {GATE}" in r.stdout
    assert cache.config_dir() == logged_in
