"""The example training script runs against the gate with nothing but the provider."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import USERNAME

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train.py"


def test_the_example_training_script_logs_a_whole_run(logged_in):
    from mlflow.tracking import MlflowClient

    name = f"example-{time.time_ns()}"
    epochs = 12
    # Long enough to outlive an access token of the test gate: the login renews itself meanwhile.
    r = subprocess.run([sys.executable, str(EXAMPLE), "--experiment", name, "--epochs", str(epochs)],
                       capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert r.returncode == 0, r.stderr[-3000:]
    c = MlflowClient()
    exp = c.get_experiment_by_name(name)
    (run,) = c.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED" and run.info.user_id == USERNAME
    assert run.data.params["model"] == "SGDClassifier" and run.data.params["epochs"] == str(epochs)
    for key in ("train_loss", "test_loss", "test_accuracy"):
        assert [m.step for m in c.get_metric_history(run.info.run_id, key)] == list(range(epochs))
    assert run.data.metrics["test_accuracy"] > 0.8
    assert [a.path for a in c.list_artifacts(run.info.run_id, "evaluation")] == ["evaluation/confusion_matrix.json"]
    models = c.search_logged_models(experiment_ids=[exp.experiment_id])
    assert len(models) == 1 and models[0].source_run_id == run.info.run_id
    import mlflow.sklearn

    model = mlflow.sklearn.load_model(f"models:/{models[0].model_id}")
    assert model.predict(__import__("numpy").zeros((1, 64))).shape == (1,)
