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

func TestCleanPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/api/2.0/mlflow/runs/get": true, "/static-files/": true, "*": true, "/a.b/..c": true,
		"//x": false, "/a//b": false, "/a/./b": false, "/a/../b": false, "/..": false, "/a/.": false, "/a/..": false,
	} {
		if got := cleanPath(p); got != want {
			t.Errorf("cleanPath(%q) = %v, want %v", p, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { cleanPath("/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/x.txt") }); n != 0 {
		t.Errorf("cleanPath allocates %v times per request", n)
	}
}
