package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
)

// These tests put the gate in front of the real MLflow that scripts/services
// starts: MLflow's own Host and Origin checks, its protobuf parsing and its store
// are the judges of what the gate forwards.

func realMLflow(t *testing.T) *fixture {
	t.Helper()
	u := os.Getenv("MLFLOW_GATE_TEST_MLFLOW_URL")
	if u == "" {
		t.Fatal("MLFLOW_GATE_TEST_MLFLOW_URL is not set: this test needs the real MLflow the rig starts; run it as `scripts/test ./proxy/` (or `scripts/services run -- go test ./proxy/`)")
	}
	return newFixture(t, u, nil)
}

// call sends JSON through the gate and decodes the JSON answer.
func (f *fixture) call(t *testing.T, method, path, token, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	resp := f.do(t, method, path, token, b, hdr...)
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: status %d, body is not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func (f *fixture) ok(t *testing.T, method, path, token, body string, hdr ...string) map[string]any {
	t.Helper()
	status, out := f.call(t, method, path, token, body, hdr...)
	if status != http.StatusOK {
		t.Fatalf("%s %s: status %d: %v", method, path, status, out)
	}
	return out
}

func runTags(t *testing.T, f *fixture, runID string) (map[string]string, string) {
	t.Helper()
	run := f.ok(t, "GET", "/api/2.0/mlflow/runs/get?run_id="+runID, "alice-token", "")["run"].(map[string]any)
	tags := map[string]string{}
	if data, ok := run["data"].(map[string]any); ok {
		list, _ := data["tags"].([]any)
		for _, e := range list {
			m := e.(map[string]any)
			tags[m["key"].(string)], _ = m["value"].(string)
		}
	}
	userID, _ := run["info"].(map[string]any)["user_id"].(string)
	return tags, userID
}

func TestRealMLflowThroughTheGate(t *testing.T) {
	f := realMLflow(t)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "gate-test-" + hex.EncodeToString(suffix)
	expID := f.ok(t, "POST", "/api/2.0/mlflow/experiments/create", "alice-token", fmt.Sprintf(`{"name":%q}`, name))["experiment_id"].(string)

	createRun := func(t *testing.T, body string) string {
		t.Helper()
		out := f.ok(t, "POST", "/api/2.0/mlflow/runs/create", "alice-token", body)
		return out["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	}

	t.Run("mlflow.user is the gate user whatever the client sent", func(t *testing.T) {
		for name, body := range map[string]string{
			"plain":       `{"experiment_id":%q,"user_id":"mallory","tags":[{"key":"mlflow.user","value":"mallory"},{"key":"team","value":"x"}]}`,
			"escaped key": `{"experiment_id":%q,"userId":"mallory","tags":[{"key":"team","value":"x"},{"key":"mlflow\u002euser","value":"mallory"}]}`,
			"none sent":   `{"experiment_id":%q,"tags":[{"key":"team","value":"x"}]}`,
		} {
			t.Run(name, func(t *testing.T) {
				runID := createRun(t, fmt.Sprintf(body, expID))
				tags, userID := runTags(t, f, runID)
				if tags["mlflow.user"] != "alice" || userID != "alice" || tags["team"] != "x" {
					t.Fatalf("run %s: mlflow.user %q, user_id %q, tags %v", runID, tags["mlflow.user"], userID, tags)
				}
			})
		}
	})

	runID := createRun(t, fmt.Sprintf(`{"experiment_id":%q}`, expID))

	t.Run("Default cannot change mlflow.user", func(t *testing.T) {
		for path, body := range map[string]string{
			"/api/2.0/mlflow/runs/set-tag":         `{"run_id":%q,"key":"mlflow.user","value":"mallory"}`,
			"/ajax-api/2.0/mlflow/runs/set-tag":    `{"run_id":%q,"key":"mlflow\u002eus\u0065r","value":"mallory"}`,
			"/api/2.0/mlflow/runs/log-batch":       `{"run_id":%q,"tags":[{"key":"mlflow.user","value":"mallory"}]}`,
			"/api/2.0/mlflow/runs/delete-tag":      `{"run_id":%q,"key":"mlflow.user"}`,
			"/ajax-api/2.0/mlflow/runs/delete-tag": `{"run_id":%q,"key":"mlflow.user"}`,
		} {
			status, out := f.call(t, "POST", path, "alice-token", fmt.Sprintf(body, runID))
			if status != http.StatusForbidden || out["error_code"] != codeDenied {
				t.Errorf("%s: status %d %v", path, status, out)
			}
		}
		if tags, _ := runTags(t, f, runID); tags["mlflow.user"] != "alice" {
			t.Fatalf("mlflow.user is now %q", tags["mlflow.user"])
		}
		// Other tags are Default's to set.
		f.ok(t, "POST", "/api/2.0/mlflow/runs/set-tag", "alice-token", fmt.Sprintf(`{"run_id":%q,"key":"note","value":"n"}`, runID))
		f.ok(t, "POST", "/api/2.0/mlflow/runs/log-batch", "alice-token",
			fmt.Sprintf(`{"run_id":%q,"params":[{"key":"p","value":"1"}],"tags":[{"key":"stage","value":"dev"}]}`, runID))
		if tags, _ := runTags(t, f, runID); tags["note"] != "n" || tags["stage"] != "dev" {
			t.Fatalf("tags %v", tags)
		}
	})

	t.Run("Admin may change mlflow.user", func(t *testing.T) {
		f.ok(t, "POST", "/api/2.0/mlflow/runs/set-tag", "root-token", fmt.Sprintf(`{"run_id":%q,"key":"mlflow.user","value":"bob"}`, runID))
		if tags, _ := runTags(t, f, runID); tags["mlflow.user"] != "bob" {
			t.Fatalf("mlflow.user is %q after Admin's set-tag", tags["mlflow.user"])
		}
	})

	t.Run("the UI's same-origin write passes MLflow's Host and Origin checks", func(t *testing.T) {
		// Host is the gate's public name and the browser sends Origin: MLflow would
		// answer 403 text/plain to either if the gate forwarded them as they came.
		f.ok(t, "POST", "/ajax-api/2.0/mlflow/runs/set-tag", "alice-token", fmt.Sprintf(`{"run_id":%q,"key":"ui","value":"1"}`, runID),
			"Host", "gate.example.test", "Origin", "https://gate.example.test", "Sec-Fetch-Site", "same-origin")
	})

	t.Run("artifact upload and download stream through", func(t *testing.T) {
		payload := bytes.Repeat([]byte("mlflow-gate "), 100000)
		path := fmt.Sprintf("/api/2.0/mlflow-artifacts/artifacts/%s/%s/artifacts/blob.txt", expID, runID)
		if resp := f.do(t, "PUT", path, "alice-token", payload); resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("upload: status %d: %s", resp.StatusCode, b)
		}
		resp := f.do(t, "GET", path, "alice-token", nil)
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, payload) {
			t.Fatalf("download: status %d, %d bytes (want %d)", resp.StatusCode, len(got), len(payload))
		}
		if resp.Header.Get("Content-Security-Policy") != "sandbox" {
			t.Fatal("artifact download without CSP sandbox")
		}
	})

	t.Run("only Admin deletes runs", func(t *testing.T) {
		body := fmt.Sprintf(`{"run_id":%q}`, runID)
		status, out := f.call(t, "POST", "/api/2.0/mlflow/runs/delete", "alice-token", body)
		if status != http.StatusForbidden || out["error_code"] != codeDenied {
			t.Fatalf("Default's runs/delete: status %d %v", status, out)
		}
		f.ok(t, "POST", "/api/2.0/mlflow/runs/delete", "root-token", body)
		run := f.ok(t, "GET", "/api/2.0/mlflow/runs/get?run_id="+runID, "alice-token", "")["run"].(map[string]any)
		if stage := run["info"].(map[string]any)["lifecycle_stage"]; stage != "deleted" {
			t.Fatalf("lifecycle_stage %v after Admin's delete", stage)
		}
	})
}
