"""A small training run against an mlflow-gate, logged by the stock MLflow client.

Log in once, then run it as often as you like; the login renews itself while it runs:

    pip install mlflow scikit-learn ./clients/python      # or the package from your gate's admins
    export MLFLOW_TRACKING_URI=https://mlflow.example.com MLFLOW_TRACKING_AUTH=mlflow-gate
    mlflow-gate-login
    python clients/python/examples/train.py --epochs 20

It trains a linear classifier on scikit-learn's digits, one epoch at a time, and logs its
parameters, the loss and accuracy of every epoch, a confusion matrix as an artifact and the model
itself. Nothing here knows about tokens: MLFLOW_TRACKING_AUTH=mlflow-gate does all of it. The run's
user is the one the gate logged in (the gate sets mlflow.user; it cannot be forged).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import mlflow
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss
from sklearn.model_selection import train_test_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="mlflow-gate-example")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--alpha", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=args.seed, stratify=y)
    classes = np.unique(y)
    model = SGDClassifier(loss="log_loss", alpha=args.alpha, random_state=args.seed)

    mlflow.set_experiment(args.experiment)
    with mlflow.start_run() as run:
        mlflow.log_params({"model": "SGDClassifier", "loss": "log_loss", "alpha": args.alpha,
                           "epochs": args.epochs, "seed": args.seed, "train_rows": len(X_train)})
        for epoch in range(args.epochs):
            model.partial_fit(X_train, y_train, classes=classes)
            mlflow.log_metrics({
                "train_loss": log_loss(y_train, model.predict_proba(X_train), labels=classes),
                "test_loss": log_loss(y_test, model.predict_proba(X_test), labels=classes),
                "test_accuracy": accuracy_score(y_test, model.predict(X_test)),
            }, step=epoch)

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "confusion_matrix.json")
            with open(path, "w") as f:
                json.dump({"labels": classes.tolist(),
                           "matrix": confusion_matrix(y_test, model.predict(X_test), labels=classes).tolist()}, f)
            mlflow.log_artifact(path, artifact_path="evaluation")
        mlflow.sklearn.log_model(model, name="model", input_example=X_test[:2])
        print(f"run {run.info.run_id} in experiment {args.experiment!r}: "
              f"test accuracy {accuracy_score(y_test, model.predict(X_test)):.3f}")


if __name__ == "__main__":
    main()
