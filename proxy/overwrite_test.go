package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeMLflow answers the gate's lookups from a set of existing artifact files and
// traces, and records every other request it receives.
type fakeMLflow struct {
	mu       sync.Mutex
	files    map[string][]string // listing path -> file names as MLflow lists them
	traces   map[string]bool
	lookups  int
	received []string
	failList bool
}

func (m *fakeMLflow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && (r.URL.Path == "/api/2.0/mlflow-artifacts/artifacts" || r.URL.Path == "/api/2.0/mlflow/artifacts/list"):
		m.lookups++
		if m.failList {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		key := r.URL.Query().Get("path")
		if id := r.URL.Query().Get("run_id"); id != "" {
			key = id + ":" + key
		}
		var b strings.Builder
		b.WriteString(`{"files":[`)
		for i, f := range m.files[key] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"path":"` + f + `","is_dir":false,"file_size":3}`)
		}
		b.WriteString(`]}`)
		_, _ = w.Write([]byte(b.String()))
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/3.0/mlflow/traces/"):
		m.lookups++
		if m.traces[strings.TrimPrefix(r.URL.Path, "/api/3.0/mlflow/traces/")] {
			_, _ = w.Write([]byte(`{"trace":{}}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no"}`))
	default:
		m.received = append(m.received, r.Method+" "+r.URL.Path)
		_, _ = w.Write([]byte(`{}`))
	}
}

// TestWritesOverExistingDataAreDeletes: an upload over an existing file, or a trace
// started under an existing id, is decided as a delete; new files and traces are
// writes; Admin pays no lookup; and a refused write never reaches MLflow.
func TestWritesOverExistingDataAreDeletes(t *testing.T) {
	m := &fakeMLflow{
		files: map[string][]string{
			"1/r1/artifacts":   {"model.bin"},
			"1/r1/artifacts/d": {"a.txt"},
			"r1:d":             {"d/a.txt"},
			"r1:":              {"top.txt"},
		},
		traces: map[string]bool{"tr-old": true},
	}
	up := httptest.NewServer(m)
	defer up.Close()
	f := newFixture(t, up.URL, nil)
	cases := []struct {
		name, method, target, token, body string
		status                            int
	}{
		{"PUT over a file", "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/model.bin", "alice-token", "x", 403},
		{"empty PUT over a file", "PUT", "/ajax-api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/d/a.txt", "alice-token", "", 403},
		{"PUT of a new file", "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/new.bin", "alice-token", "x", 200},
		{"PUT over a file as Admin", "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/model.bin", "root-token", "x", 200},
		{"multipart over a file", "POST", "/api/2.0/mlflow-artifacts/mpu/complete/1/r1/artifacts", "alice-token", `{"path":"model.bin","upload_id":"u","parts":[]}`, 403},
		{"multipart with an old client's full path", "POST", "/api/2.0/mlflow-artifacts/mpu/create/1/r1/artifacts", "alice-token", `{"path":"/home/me/model.bin","num_parts":2}`, 403},
		{"multipart of a new file", "POST", "/api/2.0/mlflow-artifacts/mpu/create/1/r1/artifacts", "alice-token", `{"path":"fresh.bin","num_parts":2}`, 200},
		{"multipart with an encoded name", "POST", "/api/2.0/mlflow-artifacts/mpu/create/1/r1/artifacts", "alice-token", `{"path":"a%2F..","num_parts":2}`, 400},
		{"UI upload over a file", "POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=r1&path=d/a.txt", "alice-token", "x", 403},
		{"UI upload over a top file", "POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=r1&path=top.txt", "alice-token", "x", 403},
		{"UI upload of a new file", "POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=r1&path=d/b.txt", "alice-token", "x", 200},
		{"UI upload with a dot segment", "POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=r1&path=d/./a.txt", "alice-token", "x", 400},
		{"trace over an existing one", "POST", "/api/3.0/mlflow/traces", "alice-token", `{"trace":{"trace_info":{"trace_id":"tr-old","trace_location":{"mlflow_experiment":{"experiment_id":"1"}}}}}`, 403},
		{"trace over an existing one, camelCase", "POST", "/ajax-api/3.0/mlflow/traces", "alice-token", `{"trace":{"traceInfo":{"traceId":"tr-old"}}}`, 403},
		{"new trace", "POST", "/api/3.0/mlflow/traces", "alice-token", `{"trace":{"trace_info":{"trace_id":"tr-new"}}}`, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m.mu.Lock()
			before, lookups := len(m.received), m.lookups
			m.mu.Unlock()
			resp := f.do(t, c.method, c.target, c.token, []byte(c.body), "Content-Type", "application/json")
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if c.status == 403 {
				msg := mlflowError(t, resp, 403, codeDenied)
				if !strings.Contains(msg, "overwrites an existing") {
					t.Errorf("refusal does not say why: %s", msg)
				}
			} else {
				resp.Body.Close()
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			forwarded := len(m.received) > before
			if forwarded != (c.status == 200) {
				t.Errorf("forwarded to MLflow: %v (received %v)", forwarded, m.received[before:])
			}
			if c.token == "root-token" && m.lookups != lookups {
				t.Errorf("Admin's write cost %d lookups", m.lookups-lookups)
			}
		})
	}
}

// TestOverwriteCheckFailsClosed: when MLflow cannot answer the lookup the write is
// refused with 502, never forwarded unchecked.
func TestOverwriteCheckFailsClosed(t *testing.T) {
	m := &fakeMLflow{failList: true}
	up := httptest.NewServer(m)
	defer up.Close()
	f := newFixture(t, up.URL, nil)
	resp := f.do(t, "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/x.bin", "alice-token", []byte("x"))
	msg := mlflowError(t, resp, http.StatusBadGateway, codeBadGateway)
	if strings.Contains(msg, "500") || strings.Contains(msg, up.URL) {
		t.Errorf("internals in %q", msg)
	}
	if len(m.received) != 0 {
		t.Errorf("forwarded unchecked: %v", m.received)
	}
}
