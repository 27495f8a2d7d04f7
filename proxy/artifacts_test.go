package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
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
	op                 authz.StoreOp
	path, rel, rootURI string
	body               string
	replace            bool
}

func (s *fakeStore) ServeArtifact(w http.ResponseWriter, r *http.Request, c ArtifactCall) {
	streamed, _ := io.ReadAll(r.Body)
	body := c.Body
	if body == nil {
		body = streamed
	}
	s.mu.Lock()
	s.calls = append(s.calls, storeCall{op: c.Op, path: c.Path, rel: c.Rel, rootURI: c.RootURI, body: string(body), replace: c.Replace})
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

	// get-artifact: a run whose root is the gate's layout is served by the
	// store at <root>/<path>; another root, or a path MLflow would refuse, is
	// left to MLflow.
	seen := map[string]int{}
	var mu sync.Mutex
	mlflow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("run_id") {
		case "r1":
			_, _ = io.WriteString(w, `{"run":{"info":{"experiment_id":"1","artifact_uri":"mlflow-artifacts:/1/r1/artifacts"}}}`)
		case "r2":
			_, _ = io.WriteString(w, `{"run":{"info":{"experiment_id":"1","artifact_uri":"s3://elsewhere/1/r2"}}}`)
		default:
			_, _ = io.WriteString(w, `{}`)
		}
	}))
	defer mlflow.Close()
	g := newFixture(t, mlflow.URL, func(c *Config) { c.Artifacts = store })
	n = len(store.calls)
	for i := range 2 {
		if resp := g.do(t, "GET", "/get-artifact?run_id=r1&path=sub/a.txt", "alice-token", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("get-artifact: %d", resp.StatusCode)
		}
		if got := store.calls[len(store.calls)-1]; len(store.calls) != n+i+1 || got != (storeCall{op: authz.StoreDownload, path: "1/r1/artifacts/sub/a.txt"}) {
			t.Fatalf("get-artifact: the store got %+v", got)
		}
	}
	g.do(t, "GET", "/api/2.0/mlflow/artifacts/list?run_id=r1&path=sub", "alice-token", nil)
	if got := store.calls[len(store.calls)-1]; got != (storeCall{op: authz.StoreRootList, path: "1/r1/artifacts", rel: "sub", rootURI: "mlflow-artifacts:/1/r1/artifacts"}) {
		t.Errorf("artifacts/list: the store got %+v", got)
	}
	n++
	g.do(t, "GET", "/get-artifact?run_uuid=r2&path=a.txt", "alice-token", nil)
	g.do(t, "GET", "/get-artifact?run_id=r1&path=../a.txt", "alice-token", nil)
	mu.Lock()
	if seen["/api/2.0/mlflow/runs/get"] != 2 || seen["/get-artifact"] != 2 || len(store.calls) != n+2 {
		t.Errorf("MLflow saw %v (the run looked up once each, the other two get-artifact forwarded); store calls %d", seen, len(store.calls)-n)
	}
	mu.Unlock()

	// Under Workspaces the store is not used.
	ws := newFixture(t, echo.URL, func(c *Config) { c.Artifacts = store; c.Workspaces = true })
	n = len(store.calls)
	ws.do(t, "GET", "/api/2.0/mlflow-artifacts/artifacts?path="+root, "alice-token", nil)
	if len(store.calls) != n || echo.count() != 1 {
		t.Errorf("with Workspaces the listing went to the store")
	}
}
