"""Refreshing: a long run of many threads and processes on one cache, and what goes wrong.

The gate's access tokens live MLFLOW_GATE_TEST_ACCESS_TTL seconds and the front holds every
refresh answer back, so a refresh takes a while and concurrent ones overlap. The race is forced:
before each round every worker waits at a barrier, reads when the cached token falls due, and
all of them make their next call at that very moment.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest
from conftest import ACCESS_TTL, GATE, USERNAME, families, front_refreshes, lose_next_refresh, run_login

from mlflow_gate import cache, tokens

THREADS, PROCESSES, ROUNDS, CALLS = 4, 2, 4, 3


def due_at(cfg: str) -> float:
    """When the cached login's access token falls due for a refresh."""
    try:
        with open(cache.GateFile(GATE, Path(cfg)).path) as f:
            e = json.load(f)["logins"].get(USERNAME)
    except FileNotFoundError:
        e = None
    if not e or not e.get("expires_at"):
        return time.time()  # the login is gone (the unlocked race): fire now
    return e["expires_at"] - tokens.margin(e["lifetime"])


def work(name: str, barrier, run_id: str, locking: bool, cfg: str, results) -> None:
    """One worker: ROUNDS rounds of CALLS metric logs, the first call of each at the due moment."""
    cache.LOCKING = locking  # per process; the threads of one process share it
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    ok, errors = 0, []
    try:
        for rnd in range(ROUNDS):
            barrier.wait(timeout=120)
            fire = due_at(cfg) + 0.05
            barrier.wait(timeout=120)  # everyone has read the same moment
            time.sleep(max(0.0, fire - time.time()))
            for i in range(CALLS):
                try:
                    client.log_metric(run_id, f"loss_{name}", 1.0 / (1 + rnd * CALLS + i), step=rnd * CALLS + i)
                    ok += 1
                except Exception as e:  # noqa: BLE001 - every failure is what the test counts
                    errors.append(str(e).splitlines()[0][:300])
    except Exception as e:  # noqa: BLE001 - a worker that broke must still report
        errors.append(f"worker {name}: {type(e).__name__}: {e}")
        barrier.abort()
    finally:
        results.put((name, ok, errors))


def process_main(name, barrier, run_id, locking, cfg, results):
    work(name, barrier, run_id, locking, cfg, results)


def race(cfg, locking: bool):
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    exp = client.create_experiment(f"refresh-race-{'locked' if locking else 'unlocked'}-{time.time_ns()}")
    run_id = client.create_run(exp).info.run_id
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(THREADS + PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=process_main, args=(f"p{i}", barrier, run_id, locking, str(cfg), results))
             for i in range(PROCESSES)]
    for p in procs:
        p.start()
    old = cache.LOCKING
    cache.LOCKING = locking
    try:
        threads = [threading.Thread(target=work, args=(f"t{i}", barrier, run_id, locking, str(cfg), results))
                   for i in range(THREADS)]
        started = time.time()
        for t in threads:
            t.start()
        got = [results.get(timeout=300) for _ in range(THREADS + PROCESSES)]
        took = time.time() - started
        for t in threads:
            t.join(timeout=30)
        for p in procs:
            p.join(timeout=30)
    finally:
        cache.LOCKING = old
    return client, run_id, got, took


def test_a_long_run_of_threads_and_processes_refreshes_once_per_expiry(logged_in):
    fam = families()[0]
    before = front_refreshes()
    client, run_id, got, took = race(logged_in, locking=True)
    errors = [e for _, _, errs in got for e in errs]
    assert errors == [], errors  # zero 401s, zero errors of any kind
    assert sum(ok for _, ok, _ in got) == (THREADS + PROCESSES) * ROUNDS * CALLS
    assert took > 2 * ACCESS_TTL, f"the run lasted {took:.1f} s, not well past the {ACCESS_TTL} s token lifetime"
    now = families()[0]
    refreshes = front_refreshes() - before
    assert now["family"] == fam["family"] and now["revoked"] == 0, now  # the login was never revoked
    assert refreshes >= ROUNDS, f"{refreshes} refreshes in {ROUNDS} rounds past the expiry"
    assert now["tokens"] - fam["tokens"] == refreshes  # every refresh rotated once: none reused a token
    for name, _, _ in got:  # and MLflow holds every metric
        assert len(client.get_metric_history(run_id, f"loss_{name}")) == ROUNDS * CALLS


def test_the_same_race_without_the_lock_loses_the_login(logged_in):
    # The control: if this passed with the lock off, the test above would prove nothing.
    fam = families()[0]
    _, _, got, _ = race(logged_in, locking=False)
    errors = [e for _, _, errs in got for e in errs]
    now = [f for f in families() if f["family"] == fam["family"]][0]
    assert now["revoked"] > 0, "without the lock, concurrent refreshes should have reused a token and ended the login"
    assert errors, "without the lock some calls should have failed"
    assert any("run `mlflow-gate-login`" in e or "401" in e for e in errors), errors[:5]


def test_a_lost_refresh_answer_ends_the_login_once_and_clearly(logged_in):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    client.search_experiments(max_results=1)
    lose_next_refresh()
    before = front_refreshes()
    time.sleep(max(0.0, due_at(str(logged_in)) - time.time()) + 0.1)
    with pytest.raises(MlflowException) as e:
        client.search_experiments(max_results=1)
    assert "the gate's answer to a token refresh was lost" in str(e.value)
    assert "run `mlflow-gate-login` to log in again" in str(e.value)
    for _ in range(3):  # no silent loop: the used refresh token is never sent again
        with pytest.raises(MlflowException) as e:
            client.search_experiments(max_results=1)
        assert "run `mlflow-gate-login`" in str(e.value)
    assert front_refreshes() - before == 1
    st = run_login("status")
    assert "answer to a token refresh was lost" in st.stdout


def test_an_unreachable_gate_keeps_the_login(logged_in):
    # A copy of the login for a gate that is not there: the refresh never leaves this machine.
    src = cache.GateFile(GATE).read()
    dead = "http://127.0.0.1:9"
    f = cache.GateFile(dead)
    data = copy.deepcopy(src)
    data["origin"] = dead
    data["gate"] = {k: (v.replace(GATE, dead) if isinstance(v, str) else v) for k, v in data["gate"].items()}
    data["logins"][USERNAME]["expires_at"] = time.time() - 1
    with f.locked():
        f.write(data)
    with pytest.raises(Exception) as e:
        tokens.UserLogin(dead).access_token()
    assert str(e.value).startswith(f"mlflow-gate: cannot reach the gate at {dead} (ConnectionError)")
    assert cache.GateFile(dead).read()["logins"][USERNAME]["refresh_token"] == src["logins"][USERNAME]["refresh_token"]


def test_a_revoked_login_says_to_log_in_again(logged_in):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    # The refresh token is revoked behind the client's back (an administrator, another logout).
    entry = cache.GateFile(GATE).read()["logins"][USERNAME]
    import requests

    requests.post(GATE + "/oauth/revoke", data={"token": entry["refresh_token"], "client_id": "mlflow-gate-cli"},
                  timeout=10).raise_for_status()
    time.sleep(max(0.0, due_at(str(logged_in)) - time.time()) + 0.1)
    with pytest.raises(MlflowException) as e:
        MlflowClient().search_experiments(max_results=1)
    assert f"your login to {GATE} has expired or was revoked" in str(e.value)
    with pytest.raises(MlflowException) as e:
        MlflowClient().search_experiments(max_results=1)
    assert "not logged in" in str(e.value) and "run `mlflow-gate-login`" in str(e.value)


def test_client_credentials_need_no_login(gate_env, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_GATE_CLIENT_ID", os.environ["MLFLOW_GATE_TEST_CLIENT_ID"])
    monkeypatch.setenv("MLFLOW_GATE_CLIENT_SECRET", os.environ["MLFLOW_GATE_TEST_CLIENT_SECRET"])
    client = MlflowClient()
    exp = client.create_experiment(f"service-{time.time_ns()}")
    run = client.create_run(exp)
    deadline = time.time() + 2.5 * ACCESS_TTL  # past a token's lifetime: a new grant, no error
    step = 0
    while time.time() < deadline:
        client.log_metric(run.info.run_id, "m", float(step), step=step)
        step += 1
        time.sleep(0.2)
    assert len(client.get_metric_history(run.info.run_id, "m")) == step
    assert client.get_run(run.info.run_id).info.user_id == os.environ["MLFLOW_GATE_TEST_CLIENT_ID"]
    assert not (gate_env / "tokens").exists()  # nothing written to disk
    monkeypatch.setenv("MLFLOW_GATE_CLIENT_SECRET", "wrong")
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as e:
        MlflowClient().search_experiments(max_results=1)
    assert "check MLFLOW_GATE_CLIENT_ID and MLFLOW_GATE_CLIENT_SECRET" in str(e.value)


def test_a_token_the_gate_refuses_says_to_log_in_again(logged_in):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    import requests

    # The access token is revoked at the gate while it is still fresh here: no refresh is due,
    # the gate answers 401, and the person reads what to do instead of a bare 401.
    entry = cache.GateFile(GATE).read()["logins"][USERNAME]
    assert tokens.UserLogin(GATE).access_token() == entry["access_token"]
    requests.post(GATE + "/oauth/revoke", data={"token": entry["access_token"], "client_id": "mlflow-gate-cli"},
                  timeout=10).raise_for_status()
    with pytest.raises(MlflowException) as e:
        MlflowClient().search_experiments(max_results=1)
    assert f"the gate at {GATE} refused your login" in str(e.value)
    assert "run `mlflow-gate-login` to log in again" in str(e.value)
