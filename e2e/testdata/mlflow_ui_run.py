"""One run for the browser tests, logged through mlflow-gate with the stock client.

Credentials come from the standard variables (MLFLOW_TRACKING_URI plus
MLFLOW_TRACKING_TOKEN). Creates experiment GATE_EXPERIMENT with run GATE_RUN
holding a param, a metric and an image artifact (mlflow.log_image of a small
numpy array). Prints one JSON object: experiment_id, run_id.
"""
import json
import os
import sys

import numpy as np

import mlflow

exp_id = mlflow.create_experiment(os.environ["GATE_EXPERIMENT"])
with mlflow.start_run(experiment_id=exp_id, run_name=os.environ["GATE_RUN"]) as run:
    mlflow.log_param("optimizer_name", "adamw-sgd")
    mlflow.log_metric("validation_loss", 0.25)
    # A 32x32 gradient, red rising left to right, blue top to bottom.
    img = np.zeros((32, 32, 3), dtype=np.uint8)
    img[:, :, 0] = np.arange(32, dtype=np.uint8)[None, :] * 8
    img[:, :, 2] = np.arange(32, dtype=np.uint8)[:, None] * 8
    mlflow.log_image(img, artifact_file="gradient.png")
json.dump({"experiment_id": exp_id, "run_id": run.info.run_id}, sys.stdout)
