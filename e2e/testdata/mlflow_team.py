"""A team member's work and a stranger's view of it, with the stock MLflow client.

MODE=create: sets an experiment (the gate records the creator as its owner from
MLflow's answer, and the next call already works), logs a run with a param, a
metric history and a text artifact, a trace, a logged model, and registers a
model with a version. Prints the ids as JSON.

MODE=look: what this caller sees: the names search_experiments and
search_registered_models return (paged with max_results=2, so the gate's page
tokens are followed), and the outcome of reading the run named by RUN_ID.

Environment: MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN, GATE_PREFIX.
"""
import json
import os
import sys

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

prefix = os.environ["GATE_PREFIX"]
result_stream, sys.stdout = sys.stdout, sys.stderr
client = MlflowClient()
out = {}

if os.environ["MODE"] == "create":
    exp = mlflow.set_experiment(prefix + "-exp")
    out["experiment_id"] = exp.experiment_id
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", "0.5")
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_text("private notes", "notes.txt")
    out["run_id"] = run.info.run_id
    with mlflow.start_span(name="answer") as span:
        span.set_inputs({"q": "why"})
        span.set_outputs({"a": "because"})
    if hasattr(mlflow, "flush_trace_async_logging"):
        mlflow.flush_trace_async_logging()
    out["trace_id"] = mlflow.get_last_active_trace_id()
    model = mlflow.initialize_logged_model(name="tiny")
    out["model_id"] = model.model_id
    name = prefix + "-model"
    client.create_registered_model(name)
    mv = client.create_model_version(name, source=f"models:/{model.model_id}", run_id=run.info.run_id, model_id=model.model_id)
    out["registered_model"] = name
    out["version"] = str(mv.version)
else:
    for key, search in (("experiments", client.search_experiments), ("registered_models", client.search_registered_models)):
        names, token, pages = [], None, 0
        while True:
            page = search(max_results=2, page_token=token)
            names += [x.name for x in page if x.name.startswith(prefix)]
            token, pages = page.token, pages + 1
            if not token or pages > 100:
                break
        out[key] = sorted(names)
    try:
        client.get_run(os.environ["RUN_ID"])
        out["get_run"] = "ok"
    except MlflowException as e:
        out["get_run"] = e.error_code

print(json.dumps(out), file=result_stream)
