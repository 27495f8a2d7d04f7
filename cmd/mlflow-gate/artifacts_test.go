package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStartupWarnsWhenMLflowsArtifactRootBypassesTheGate: a default
// experiment whose artifacts live at s3://... (MLflow started with
// --default-artifact-root) makes the gate warn with the fix; mlflow-artifacts:/
// does not.
func TestStartupWarnsWhenMLflowsArtifactRootBypassesTheGate(t *testing.T) {
	for loc, warn := range map[string]bool{"s3://other-bucket/mlruns/0": true, "/srv/mlruns/0": true, "mlflow-artifacts:/0": false} {
		mlflow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/2.0/mlflow/experiments/get" || r.URL.Query().Get("experiment_id") != "0" {
				http.NotFound(w, r)
				return
			}
			_, _ = io.WriteString(w, `{"experiment":{"experiment_id":"0","artifact_location":"`+loc+`"}}`)
		}))
		var logs strings.Builder
		cfg := &Config{S3Bucket: "mlflow", S3Prefix: "artifacts"}
		checkArtifactRoot(context.Background(), mlflow.Client(), mlflow.URL, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		mlflow.Close()
		got := strings.Contains(logs.String(), "BYPASSES THE GATE") && strings.Contains(logs.String(), "--artifacts-destination s3://mlflow/artifacts")
		if got != warn {
			t.Errorf("artifact_location %s: warned %v, want %v:\n%s", loc, got, warn, logs.String())
		}
	}
}
