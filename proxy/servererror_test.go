package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/internal/testlog"
)

// MLflow's 5xx bodies carry SQL, parameters and Python internals: the caller
// gets the error code and the request id, the log the original. 4xx, 2xx and
// event streams pass untouched.
func TestServerErrorBodiesAreHidden(t *testing.T) {
	const sqlLeak = `{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "(psycopg2.OperationalError) [SQL: SELECT runs.run_uuid FROM runs WHERE runs.run_uuid = %(p)s] [parameters: {'p': 'secret-ish'}]"}`
	answers := map[string]struct {
		status int
		ct     string
		body   string
	}{
		"/api/2.0/mlflow/runs/get":              {503, "application/json", sqlLeak},
		"/api/2.0/mlflow/metrics/get-history":   {500, "application/json", `{"error_code": "INTERNAL_ERROR", "message": "'dict' object has no attribute 'key'"}`},
		"/api/2.0/mlflow/artifacts/list":        {500, "text/html", "<p>Traceback (most recent call last): File \"/srv/mlflow/handlers.py\"</p>"},
		"/api/2.0/mlflow/experiments/get":       {500, "application/json", `{"error_code": "<script>", "message": "x"}`},
		"/api/2.0/mlflow/registered-models/get": {404, "application/json", `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Registered Model with name=m not found"}`},
		"/ajax-api/3.0/mlflow/traces/get":       {500, "text/event-stream", "data: stream internals\n\n"},
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[r.URL.Path]
		w.Header().Set("Content-Type", a.ct)
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(up.Close)
	logs := &testlog.Buffer{}
	f := newFixture(t, up.URL, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		c.RequestID = func(http.ResponseWriter, *http.Request) string { return "req-42" }
	})
	for path, want := range map[string]struct {
		status int
		code   string
	}{
		"/api/2.0/mlflow/runs/get":            {503, "TEMPORARILY_UNAVAILABLE"},
		"/api/2.0/mlflow/metrics/get-history": {500, "INTERNAL_ERROR"},
		"/api/2.0/mlflow/artifacts/list":      {500, "INTERNAL_ERROR"},
		"/api/2.0/mlflow/experiments/get":     {500, "INTERNAL_ERROR"},
	} {
		resp := f.do(t, "GET", path+"?run_id=r1&experiment_id=1&metric_key=m", "alice-token", nil)
		msg := mlflowError(t, resp, want.status, want.code)
		if !strings.Contains(msg, "req-42") || strings.ContainsAny(msg, "[]'<") || strings.Contains(msg, "SQL") {
			t.Errorf("%s: message %q must name the request id and nothing of MLflow's", path, msg)
		}
	}
	for _, leak := range []string{"[SQL: SELECT runs.run_uuid", "has no attribute", "Traceback (most recent call last)", "<script>"} {
		if !strings.Contains(logs.String(), leak) {
			t.Errorf("the log lacks MLflow's original %q:\n%s", leak, logs)
		}
	}
	if !strings.Contains(logs.String(), `"request_id":"req-42"`) {
		t.Errorf("the log does not name the request id:\n%s", logs)
	}
	for path, a := range map[string]string{
		"/api/2.0/mlflow/registered-models/get?name=m": answers["/api/2.0/mlflow/registered-models/get"].body,
		"/ajax-api/3.0/mlflow/traces/get?trace_id=t":   answers["/ajax-api/3.0/mlflow/traces/get"].body,
	} {
		resp := f.do(t, "GET", path, "alice-token", nil)
		if b, _ := io.ReadAll(resp.Body); string(b) != a {
			t.Errorf("%s: body %q changed, want MLflow's %q", path, b, a)
		}
	}
}

func TestServerErrorBodyLoggedBounded(t *testing.T) {
	big := strings.Repeat("S", 1<<20)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		_, _ = io.WriteString(w, big)
	}))
	t.Cleanup(up.Close)
	logs := &testlog.Buffer{}
	f := newFixture(t, up.URL, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
	mlflowError(t, f.do(t, "GET", "/api/2.0/mlflow/runs/get?run_id=r1", "alice-token", nil), 500, "INTERNAL_ERROR")
	if n := strings.Count(logs.String(), "S"); n < maxLoggedError || n > maxLoggedError+100 {
		t.Fatalf("logged %d bytes of the body, want about %d", n, maxLoggedError)
	}
}

// MLflow passes database errors on in some 400s (a foreign-key violation on
// log-metric with an unknown model_id, a unique violation on rename): the caller
// keeps the status and code, the statement goes to the log; clean 4xx pass as they are.
func TestClientErrorInternalsAreHidden(t *testing.T) {
	const leak = `{"error_code": "BAD_REQUEST", "message": "(psycopg2.errors.ForeignKeyViolation) insert or update on table \"logged_model_metrics\" violates foreign key constraint [SQL: INSERT INTO logged_model_metrics (model_id) VALUES (%(model_id)s)] [parameters: {'model_id': 'm-nope'}]"}`
	const clean = `{"error_code": "INVALID_PARAMETER_VALUE", "message": "Changing param values is not allowed."}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		if r.URL.Path == "/api/2.0/mlflow/runs/log-metric" {
			_, _ = io.WriteString(w, leak)
			return
		}
		_, _ = io.WriteString(w, clean)
	}))
	t.Cleanup(up.Close)
	logs := &testlog.Buffer{}
	f := newFixture(t, up.URL, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		c.RequestID = func(http.ResponseWriter, *http.Request) string { return "req-7" }
	})
	body := []byte(`{"run_id":"r1","key":"m","value":1,"timestamp":1,"model_id":"m-nope"}`)
	msg := mlflowError(t, f.do(t, "POST", "/api/2.0/mlflow/runs/log-metric", "alice-token", body, "Content-Type", "application/json"), 400, "BAD_REQUEST")
	if strings.Contains(msg, "SQL") || strings.Contains(msg, "logged_model_metrics") || !strings.Contains(msg, "req-7") {
		t.Errorf("caller's message: %q", msg)
	}
	if !strings.Contains(logs.String(), "logged_model_metrics") {
		t.Errorf("the log lost the original: %s", logs.String())
	}
	msg = mlflowError(t, f.do(t, "POST", "/api/2.0/mlflow/runs/log-parameter", "alice-token", []byte(`{"run_id":"r1","key":"k","value":"v"}`), "Content-Type", "application/json"), 400, "INVALID_PARAMETER_VALUE")
	if msg != "Changing param values is not allowed." {
		t.Errorf("a clean refusal changed: %q", msg)
	}
}
