package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// BenchmarkGateForward measures the gate beside a bare httputil.ReverseProxy,
// same run, same trivial upstream, same transport settings, so the difference
// is the gate's own cost: identify (a map lookup here; the real verifier is
// benchmarked in idp), normalize, match, read the body when ids are in it,
// decide, rewrite headers, record. "handler" calls ServeHTTP with a recorder
// (allocations are the proxy's and the in-process upstream's); "http" adds a
// client and a listener in front, as a deployment has, and "direct" is the client
// talking to the upstream with no proxy: what a proxy adds is its time minus
// direct's.
//
//	go test -run '^$' -bench BenchmarkGateForward -benchmem ./proxy/
func BenchmarkGateForward(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"run":{"info":{"run_id":"0123456789abcdef"}}}`))
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)

	bare := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = target.Host },
		Transport: NewTransport(0),
	}
	policy, err := authz.Compile(authz.DefaultTable())
	if err != nil {
		b.Fatal(err)
	}
	gate, err := New(Config{Upstream: target, Hosts: []string{"example.com", "127.0.0.1"}, Policy: authz.NewHolder(policy),
		Auth: &benchAuth{}, Audit: nopSink{}})
	if err != nil {
		b.Fatal(err)
	}
	// The same gate with resource grants in force as a first start stores
	// them (role defaults, no grant naming the caller): the cost of the
	// resource step on the path every request takes.
	set, err := authz.CompileGrants(nil, map[string]authz.Level{authz.RoleDefault: authz.LevelWrite, authz.RoleAdmin: authz.LevelManage})
	if err != nil {
		b.Fatal(err)
	}
	holder := &authz.GrantHolder{}
	holder.Store(set)
	granted, err := New(Config{Upstream: target, Hosts: []string{"example.com", "127.0.0.1"}, Policy: authz.NewHolder(policy),
		Auth: &benchAuth{}, Audit: nopSink{}, Grants: holder})
	if err != nil {
		b.Fatal(err)
	}

	const get = "/api/2.0/mlflow/runs/get?run_id=0123456789abcdef"
	const post = "/api/2.0/mlflow/runs/log-metric"
	body := []byte(`{"run_id":"0123456789abcdef","key":"loss","value":0.25,"timestamp":1700000000000,"step":3}`)
	cases := []struct {
		name, method, path string
		body               []byte
	}{
		{"GET runs/get", "GET", get, nil},
		{"POST log-metric", "POST", post, body},
	}
	for _, tc := range cases {
		for _, p := range []struct {
			name string
			h    http.Handler
		}{{"bare", bare}, {"gate", gate}, {"gate+grants", granted}} {
			b.Run("handler/"+tc.name+"/"+p.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest(tc.method, tc.path, bytes.NewReader(tc.body))
					req.Header.Set("Authorization", "Bearer alice-token")
					req.Header.Set("Content-Type", "application/json")
					rec := httptest.NewRecorder()
					p.h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
	for _, tc := range cases {
		for _, p := range []struct {
			name string
			h    http.Handler // nil: the client talks to the upstream directly
		}{{"direct", nil}, {"bare", bare}, {"gate", gate}} {
			b.Run("http/"+tc.name+"/"+p.name, func(b *testing.B) {
				base := up.URL
				if p.h != nil {
					srv := httptest.NewServer(p.h)
					defer srv.Close()
					base = srv.URL
				}
				client := &http.Client{Transport: NewTransport(0)}
				b.ReportAllocs()
				for b.Loop() {
					req, _ := http.NewRequest(tc.method, base+tc.path, bytes.NewReader(tc.body))
					req.Header.Set("Authorization", "Bearer alice-token")
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
		}
	}
}

// benchAuth stands in for the verifier's cache hit without the test fixture's
// locking and bookkeeping.
type benchAuth struct{}

func (benchAuth) Authenticate(r *http.Request) (Principal, error) {
	if r.Header.Get("Authorization") != "Bearer alice-token" {
		return Principal{}, ErrBadCredentials
	}
	return alice, nil
}
