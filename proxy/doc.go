// Package proxy is the MLflow gate: it identifies the caller of every request
// (gate access token, personal access token, or browser session), decides it
// against the compiled permission policy from package authz, forwards what is
// allowed to MLflow with httputil.ReverseProxy, and serves artifacts from S3.
//
// It never touches the database on the hot path: it holds a compiled policy
// and caches kept fresh by PostgreSQL notifications, and declares the small
// interfaces it needs (token verifier, presigner) itself.
package proxy
