"""The stock mlflow client with the credentials in its environment: search
experiments and create one named GATE_EXPERIMENT. Prints one JSON line:
{"ok": true, "experiment_id": ...} or {"ok": false, "error": ...}."""
import json
import os

from mlflow.tracking import MlflowClient

try:
    client = MlflowClient()
    client.search_experiments(max_results=1)
    eid = client.create_experiment(os.environ["GATE_EXPERIMENT"])
    print(json.dumps({"ok": True, "experiment_id": eid}))
except Exception as e:  # the test reads the error: a 401 from the gate
    print(json.dumps({"ok": False, "error": str(e)[:500]}))
