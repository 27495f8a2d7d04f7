# MLflow tracking server for compose.yaml. The official image is only
# `pip install mlflow`: it has neither a PostgreSQL driver nor boto3 for S3
# artifacts, so add them. Keep MLFLOW_VERSION equal to scripts/versions.env
# (deploy/compose_test.go checks it); the driver versions are the
# ones the test rig's virtual environment runs.
ARG MLFLOW_VERSION=3.18.0
FROM ghcr.io/mlflow/mlflow:v${MLFLOW_VERSION}
RUN pip install --no-cache-dir psycopg2-binary==2.9.13 boto3==1.44.8
