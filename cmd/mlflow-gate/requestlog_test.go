package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// MLFLOW_GATE_REQUEST_LOG: errors (the default) logs answers of 400 and
// above, all logs every answer, off none; the metrics count them all.
func TestRequestLogModes(t *testing.T) {
	answer := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "no", http.StatusForbidden)
		}
	}
	for mode, want := range map[string][]string{
		requestLogErrors: {"/bad"}, requestLogAll: {"/ok", "/bad"}, requestLogOff: nil,
	} {
		var buf bytes.Buffer
		m := newMetrics()
		h := observe(slog.New(slog.NewJSONHandler(&buf, nil)), m, mode)(http.HandlerFunc(answer))
		for _, p := range []string{"/ok", "/bad"} {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p+"?code=secret", nil))
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(want) == 0 && buf.Len() != 0 || len(want) > 0 && len(lines) != len(want) {
			t.Fatalf("mode %s: logged %q, want lines for %v", mode, buf.String(), want)
		}
		for i, p := range want {
			if !strings.Contains(lines[i], `"path":"`+p+`"`) || strings.Contains(lines[i], "secret") {
				t.Errorf("mode %s: line %q, want path %s and no query", mode, lines[i], p)
			}
		}
		rec := httptest.NewRecorder()
		m.handler(false).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		for _, code := range []string{`code="200"`, `code="403"`} {
			if !strings.Contains(rec.Body.String(), `mlflow_gate_http_requests_total{`+code+`,method="GET"} 1`) {
				t.Errorf("mode %s: metrics lack %s", mode, code)
			}
		}
	}
}
