"""Artifacts through the gate with the stock MLflow client, as a user works.

Environment: MLFLOW_TRACKING_URI (the gate), MLFLOW_TRACKING_TOKEN (a PAT),
GATE_EXPERIMENT (a fresh experiment name), GATE_BIG_MB (size of the large
file; 0 skips it), GATE_MPU_MB (size of the file sent with multipart upload
and fetched with multipart download). Prints one JSON object: what was
checked, with the run's and experiment's ids. Any mismatch raises.
"""

import hashlib
import json
import os
import sys
import tempfile

import mlflow
import numpy as np
import requests
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def random_file(path, mib):
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    return sha256(path)


def main():
    out = {}
    client = MlflowClient()
    exp_id = mlflow.create_experiment(os.environ["GATE_EXPERIMENT"])
    out["experiment_id"] = exp_id
    work = tempfile.mkdtemp()
    with mlflow.start_run(experiment_id=exp_id) as run:
        run_id = run.info.run_id
        out["run_id"] = run_id
        out["artifact_uri"] = run.info.artifact_uri

        # One file, and a folder with nested files.
        one = os.path.join(work, "notes.txt")
        with open(one, "w") as f:
            f.write("hello artifacts\n")
        mlflow.log_artifact(one)
        tree = os.path.join(work, "tree")
        os.makedirs(os.path.join(tree, "a", "b"))
        files = {"top.json": '{"k": 1}', "a/mid.csv": "x,y\n1,2\n", "a/b/deep.bin": "\x00\x01\x02"}
        for rel, text in files.items():
            with open(os.path.join(tree, rel), "w") as f:
                f.write(text)
        mlflow.log_artifacts(tree, artifact_path="tree")

        top = sorted((a.path, a.is_dir) for a in client.list_artifacts(run_id))
        assert ("notes.txt", False) in top and ("tree", True) in top, top
        nested = sorted(a.path for a in client.list_artifacts(run_id, "tree/a"))
        assert nested == ["tree/a/b", "tree/a/mid.csv"], nested
        got = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="tree", dst_path=os.path.join(work, "down"))
        for rel, text in files.items():
            with open(os.path.join(got, rel)) as f:
                assert f.read() == text, rel
        out["files"] = "ok"

        # A small scikit-learn model, logged and loaded back.
        X = np.array([[0.0], [1.0], [2.0], [3.0]])
        y = np.array([0, 0, 1, 1])
        model = LogisticRegression().fit(X, y)
        info = mlflow.sklearn.log_model(model, name="model")
        loaded = mlflow.sklearn.load_model(info.model_uri)
        assert list(loaded.predict(X)) == list(model.predict(X))
        out["model"] = "ok"
        out["model_id"] = info.model_id

        # A large file, streamed both ways.
        big_mb = int(os.environ.get("GATE_BIG_MB", "0"))
        if big_mb:
            big = os.path.join(work, "big.bin")
            want = random_file(big, big_mb)
            mlflow.log_artifact(big, artifact_path="large")
            os.remove(big)
            got = client.download_artifacts(run_id, "large/big.bin", os.path.join(work, "bigdown"))
            assert sha256(got) == want, "large file checksum"
            os.remove(got)
            out["big"] = "ok"

        # Multipart upload and multipart (presigned) download: the gate
        # either serves them with presigned URLs or answers 501, on which the
        # client falls back to one streamed request.
        mpu_mb = int(os.environ.get("GATE_MPU_MB", "0"))
        if mpu_mb:
            os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] = "true"
            os.environ["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"] = str(5 << 20)
            os.environ["MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE"] = str(5 << 20)
            os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"] = "true"
            os.environ["MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE"] = str(4 << 20)
            part = os.path.join(work, "parts.bin")
            want = random_file(part, mpu_mb)
            mlflow.log_artifact(part, artifact_path="mpu")
            got = client.download_artifacts(run_id, "mpu/parts.bin", os.path.join(work, "mpudown"))
            assert sha256(got) == want, "multipart file checksum"
            out["multipart"] = "ok"
            for k in list(os.environ):
                if k.startswith("MLFLOW_ENABLE_PROXY_MULTIPART") or k.startswith("MLFLOW_MULTIPART"):
                    del os.environ[k]

        # Deleting a file of one's own run (the artifact repository's delete):
        # "ok" when it went, else MLflow's error code, and the file must stay.
        repo = get_artifact_repository(run.info.artifact_uri)
        try:
            repo.delete_artifacts("notes.txt")
            out["delete"] = "ok"
        except requests.HTTPError as e:
            out["delete"] = e.response.json().get("error_code", str(e.response.status_code))
        left = [a.path for a in client.list_artifacts(run_id)]
        assert ("notes.txt" in left) == (out["delete"] != "ok"), left
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
