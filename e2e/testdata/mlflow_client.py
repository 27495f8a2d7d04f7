"""The stock MLflow client through mlflow-gate.

Credentials come from the standard variables (MLFLOW_TRACKING_URI plus
MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and _PASSWORD). Does what a
user does - experiment, run, params, metrics, batch, tags, artifact, search,
registered model and version - then tries every kind of delete. Prints one
JSON object: what each step returned (an MLflow error code for a refusal).

Environment: GATE_PREFIX (names unique to this run), GATE_FAKE_USER (what the
client claims as mlflow.user).
"""
import json
import os
import sys
import tempfile

import requests

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

prefix = os.environ["GATE_PREFIX"]
out = {}


def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except MlflowException as e:
        out[name] = e.error_code
    except requests.HTTPError as e:
        # The artifact repository raises the HTTP error itself; the gate's
        # answer is in MLflow's JSON shape either way.
        try:
            out[name] = e.response.json()["error_code"]
        except ValueError:
            out[name] = f"HTTP {e.response.status_code}"
    except Exception as e:  # the client's own errors (for example HTTP 401) land here
        out[name] = type(e).__name__ + ": " + str(e)[:200]


c = MlflowClient()
exp_id = c.create_experiment(prefix + "-exp")
run = c.create_run(exp_id, tags={"mlflow.user": os.environ["GATE_FAKE_USER"], "team": "ml"})
rid = run.info.run_id
c.log_param(rid, "lr", "0.1")
c.log_metric(rid, "loss", 0.5, step=1)
c.log_batch(rid, metrics=[Metric("acc", 0.9, 0, 2)], params=[Param("epochs", "3")], tags=[RunTag("stage", "train")])
c.set_tag(rid, "note", "hello")

with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "model.txt")
    with open(path, "w") as f:
        f.write("weights " + prefix)
    c.log_artifact(rid, path)
    got = c.download_artifacts(rid, "model.txt", os.path.join(d, "dl"))
    with open(got) as f:
        out["artifact_roundtrip"] = f.read() == "weights " + prefix
out["artifacts_listed"] = [a.path for a in c.list_artifacts(rid)]

out["runs_found"] = len(c.search_runs([exp_id]))
r = c.get_run(rid)
out["mlflow_user"] = r.data.tags.get("mlflow.user")
out["params"] = r.data.params
out["metric_keys"] = sorted(r.data.metrics)

model = prefix + "-model"
c.create_registered_model(model)
mv = c.create_model_version(model, source=run.info.artifact_uri + "/model", run_id=rid)
out["model_version"] = mv.version

# A Default user may change ordinary tags, but never mlflow.user.
attempt("set_tag_mlflow_user", lambda: c.set_tag(rid, "mlflow.user", "mallory"))

# Deletes, in an order that also works when they are allowed.
attempt("delete_tag", lambda: c.delete_tag(rid, "note"))
attempt("delete_artifact", lambda: get_artifact_repository(run.info.artifact_uri).delete_artifacts("model.txt"))
attempt("delete_model_version", lambda: c.delete_model_version(model, mv.version))
attempt("delete_registered_model", lambda: c.delete_registered_model(model))
attempt("delete_run", lambda: c.delete_run(rid))
attempt("delete_experiment", lambda: c.delete_experiment(exp_id))

json.dump(out, sys.stdout)
