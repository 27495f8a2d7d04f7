// Package e2e runs the mlflow-gate binary, built from the tree, against the
// real PostgreSQL, S3 and MLflow that scripts/services starts, and drives it
// as users and operators would.
package e2e
