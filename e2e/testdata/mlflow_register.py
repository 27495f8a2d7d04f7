"""Registering a model and a prompt with the stock MLflow client.

Logs a tiny scikit-learn model in a run (MLflow 3 makes it a logged model), then
mlflow.register_model("runs:/<run>/model", name), which sends
source="models:/m-<id>", and mlflow.genai.register_prompt, which sends
source="dummy-source". Prints one JSON object: "ok" or the error for each step,
the model version's source and the run id.

Environment: MLFLOW_TRACKING_URI and credentials, GATE_PREFIX (unique names).
"""
import json
import os
import sys

import mlflow
import mlflow.sklearn
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

prefix = os.environ["GATE_PREFIX"]
out = {}
# MLflow prints "View run ..." lines on stdout: keep stdout for the JSON answer.
result_stream, sys.stdout = sys.stdout, sys.stderr


def attempt(name, fn):
    try:
        result = fn()
        out[name] = "ok"
        return result
    except MlflowException as e:
        out[name] = f"{e.error_code}: {e.message[:300]}"
    except Exception as e:
        out[name] = type(e).__name__ + ": " + str(e)[:300]
    return None


mlflow.set_experiment(prefix + "-exp")
with mlflow.start_run() as run:
    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
    mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
out["run_id"] = run.info.run_id

mv = attempt("register_model", lambda: mlflow.register_model(f"runs:/{run.info.run_id}/model", prefix + "-model"))
if mv is not None:
    out["source"] = mv.source
    out["version"] = str(mv.version)

prompt = attempt("register_prompt", lambda: mlflow.genai.register_prompt(name=prefix + "-prompt", template="Answer {{question}}"))
if prompt is not None:
    out["prompt_version"] = str(prompt.version)

print(json.dumps(out), file=result_stream)
