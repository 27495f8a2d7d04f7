package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// With UITelemetry off (the default) the gate answers the UI's telemetry
// calls itself, as MLflow does with telemetry disabled, and nothing reaches
// MLflow; on, they are forwarded.
func TestUITelemetryIsAnsweredByTheGate(t *testing.T) {
	const path = "/ajax-api/3.0/mlflow/ui-telemetry"
	records := []byte(`{"records":[{"event_name":"forged","timestamp_ns":1,"params":{},"installation_id":"x","session_id":"y"}]}`)
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	for _, tc := range []struct {
		method string
		body   []byte
		want   map[string]any
	}{
		{"GET", nil, map[string]any{"disable_ui_telemetry": true, "disable_ui_events": []any{}, "ui_rollout_percentage": float64(0)}},
		{"POST", records, map[string]any{"status": "disabled"}},
	} {
		resp := f.do(t, tc.method, path, "alice-token", tc.body)
		b, _ := io.ReadAll(resp.Body)
		var got map[string]any
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &got) != nil {
			t.Fatalf("%s: %d %q %s", tc.method, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		if gb, _ := json.Marshal(got); string(gb) != mustJSON(t, tc.want) {
			t.Errorf("%s answered %s, want %s", tc.method, gb, mustJSON(t, tc.want))
		}
	}
	if n := up.count(); n != 0 {
		t.Fatalf("%d telemetry calls reached MLflow with UITelemetry off", n)
	}
	// Still identified and decided first.
	mlflowError(t, f.do(t, "POST", path, "", records), http.StatusUnauthorized, codeUnauthenticated)

	on := newFixture(t, up.URL, func(c *Config) { c.UITelemetry = true })
	on.do(t, "POST", path, "alice-token", records)
	if got := up.got(t); got.RequestURI != path || string(got.Body) != string(records) {
		t.Fatalf("with UITelemetry on MLflow got %s %q", got.RequestURI, got.Body)
	}
	on.do(t, "GET", path, "alice-token", nil)
	if up.count() != 2 {
		t.Fatalf("with UITelemetry on %d calls reached MLflow, want 2", up.count())
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
