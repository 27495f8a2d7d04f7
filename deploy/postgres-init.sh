#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume
# (mounted into /docker-entrypoint-initdb.d by compose.yaml).
#
# Two roles and two databases, one each for the gate and for MLflow. Neither
# role is a superuser, and CONNECT on both databases is revoked from PUBLIC, so
# the gate's role cannot open MLflow's database and MLflow's cannot open the
# gate's (users, keys and tokens live there). This mirrors scripts/services.
#
# Passwords come from the environment: psql's \getenv (psql 15+) reads them into
# variables and :'x' quotes them as SQL literals, so no password is written into
# this file or onto a command line.
#
# The image executes this file if it is executable and sources it otherwise; the
# subshell keeps `set -eu` and any exit from leaking into its entrypoint either way.
(
set -eu

: "${GATE_DB_PASSWORD:?set GATE_DB_PASSWORD}"
: "${MLFLOW_DB_PASSWORD:?set MLFLOW_DB_PASSWORD}"

psql -X -v ON_ERROR_STOP=1 --no-password --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
\getenv gate_password GATE_DB_PASSWORD
\getenv mlflow_password MLFLOW_DB_PASSWORD
CREATE ROLE gate LOGIN PASSWORD :'gate_password';
CREATE DATABASE gate OWNER gate;
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
REVOKE CONNECT ON DATABASE mlflow FROM PUBLIC;
REVOKE CONNECT ON DATABASE gate FROM PUBLIC;
SQL
)
