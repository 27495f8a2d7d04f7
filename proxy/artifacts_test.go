package proxy

import (
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// fakeStore is an ArtifactStore at the package boundary: it records what it
// was asked to do and answers 200.
type fakeStore struct {
	mu    sync.Mutex
	calls []storeCall
}

type storeCall struct {
	op      authz.StoreOp
	path    string
	body    string
	replace bool
}

func (s *fakeStore) ServeArtifact(w http.ResponseWriter, r *http.Request, op authz.StoreOp, path string, body []byte, replace bool) {
	streamed, _ := io.ReadAll(r.Body)
	if body == nil {
		body = streamed
	}
	s.mu.Lock()
	s.calls = append(s.calls, storeCall{op, path, string(body), replace})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{}`)
}

// TestArtifactRoutesGoToTheStore: with a store configured, the artifact
// proxy API's routes are served by it after the decision, with the
// percent-decoded path, and MLflow sees none of them; a write may replace a
// file only for a caller who may delete; a denied call reaches neither.
// Under Workspaces MLflow keeps serving them.
func TestArtifactRoutesGoToTheStore(t *testing.T) {
	echo := newEcho(t)
	store := &fakeStore{}
	f := newFixture(t, echo.URL, func(c *Config) { c.Artifacts = store })
	const root = "1/0123456789abcdef0123456789abcdef/artifacts"
	cases := []struct {
		method, target, token, body string
		want                        storeCall
	}{
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=" + root, "alice-token", "", storeCall{op: authz.StoreList, path: root}},
		{"GET", "/ajax-api/2.0/mlflow-artifacts/artifacts/" + root + "/a%20b.txt", "alice-token", "", storeCall{op: authz.StoreDownload, path: root + "/a b.txt"}},
		{"HEAD", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/a.txt", "alice-token", "", storeCall{op: authz.StoreDownload, path: root + "/a.txt"}},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/a.txt", "alice-token", "bytes", storeCall{op: authz.StoreUpload, path: root + "/a.txt", body: "bytes"}},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/a.txt", "root-token", "bytes", storeCall{op: authz.StoreUpload, path: root + "/a.txt", body: "bytes", replace: true}},
		{"DELETE", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/a.txt", "root-token", "", storeCall{op: authz.StoreDelete, path: root + "/a.txt"}},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/create/" + root, "alice-token", `{"path":"a.bin","num_parts":2}`, storeCall{op: authz.StoreMultipartCreate, path: root, body: `{"path":"a.bin","num_parts":2}`}},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/complete/" + root, "root-token", `{"path":"a.bin","upload_id":"u","parts":[]}`, storeCall{op: authz.StoreMultipartComplete, path: root, body: `{"path":"a.bin","upload_id":"u","parts":[]}`, replace: true}},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/abort/" + root, "root-token", `{"path":"a.bin","upload_id":"u"}`, storeCall{op: authz.StoreMultipartAbort, path: root, body: `{"path":"a.bin","upload_id":"u"}`}},
		{"GET", "/api/2.0/mlflow-artifacts/presigned/" + root + "/a.txt", "alice-token", "", storeCall{op: authz.StorePresignedDownload, path: root + "/a.txt"}},
	}
	for _, c := range cases {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		resp := f.do(t, c.method, c.target, c.token, body)
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %d %s", c.method, c.target, resp.StatusCode, b)
		}
		store.mu.Lock()
		got := store.calls[len(store.calls)-1]
		store.mu.Unlock()
		if got != c.want {
			t.Errorf("%s %s as %s: the store got %+v, want %+v", c.method, c.target, c.token, got, c.want)
		}
	}
	if n := echo.count(); n != 0 {
		t.Errorf("MLflow received %d artifact requests", n)
	}

	// Denied (Default may not delete or abort): neither the store nor MLflow.
	n := len(store.calls)
	mlflowError(t, f.do(t, "DELETE", "/api/2.0/mlflow-artifacts/artifacts/"+root+"/a.txt", "alice-token", nil), http.StatusForbidden, "PERMISSION_DENIED")
	mlflowError(t, f.do(t, "POST", "/api/2.0/mlflow-artifacts/mpu/abort/"+root, "alice-token", []byte(`{"path":"a.bin","upload_id":"u"}`)), http.StatusForbidden, "PERMISSION_DENIED")
	if len(store.calls) != n || echo.count() != 0 {
		t.Errorf("a denied call reached the store (%d calls) or MLflow (%d)", len(store.calls)-n, echo.count())
	}

	// Routes whose bytes MLflow serves still go to MLflow.
	f.do(t, "GET", "/get-artifact?run_id=0123456789abcdef0123456789abcdef&path=a.txt", "alice-token", nil)
	if echo.count() != 1 {
		t.Errorf("get-artifact did not reach MLflow")
	}

	// Under Workspaces the store is not used.
	ws := newFixture(t, echo.URL, func(c *Config) { c.Artifacts = store; c.Workspaces = true })
	n = len(store.calls)
	ws.do(t, "GET", "/api/2.0/mlflow-artifacts/artifacts?path="+root, "alice-token", nil)
	if len(store.calls) != n || echo.count() != 2 {
		t.Errorf("with Workspaces the listing went to the store")
	}
}
