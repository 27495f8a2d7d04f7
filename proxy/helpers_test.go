package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// Principals of the unit tests, by bearer token.
var (
	alice = Principal{Subject: "u-alice", Username: "alice", ClientID: "mlflow-cli", Roles: []string{authz.RoleDefault},
		Kind: KindAccessToken, TokenID: "jti-alice"}
	aliceSession = Principal{Subject: "u-alice", Username: "alice", Roles: []string{authz.RoleDefault},
		Kind: KindSession, TokenID: "sid-alice"}
	root = Principal{Subject: "u-root", Username: "root", Roles: []string{authz.RoleAdmin, authz.RoleDefault},
		Kind: KindPAT, TokenID: "pat-root"}
)

// The verifier's internal failure text: it must never reach a client.
const verifierInternals = "dial tcp 10.1.2.3:5432: connect: connection refused"

// staticAuth is a fake Authenticator at the package boundary: bearer tokens map
// to principals; "broken" fails like a verifier whose database is down.
type staticAuth struct {
	mu    sync.Mutex
	calls int
	seen  []string // Authorization values it was shown
}

func (s *staticAuth) Authenticate(r *http.Request) (Principal, error) {
	s.mu.Lock()
	s.calls++
	h := r.Header.Get("Authorization")
	s.seen = append(s.seen, h)
	s.mu.Unlock()
	if h == "" {
		// The browser's session cookie, as the real authenticator reads it
		// when there is no Authorization header.
		if ck, err := r.Cookie("sso"); err == nil {
			if ck.Value == "alice" {
				return aliceSession, nil
			}
			return Principal{}, ErrBadCredentials
		}
		return Principal{}, ErrNoCredentials
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	switch {
	case !ok:
		return Principal{}, ErrBadCredentials
	case tok == "alice-token":
		return alice, nil
	case tok == "root-token":
		return root, nil
	case tok == "broken":
		return Principal{}, errors.New(verifierInternals)
	}
	return Principal{}, ErrBadCredentials
}

type recordingSink struct {
	mu   sync.Mutex
	recs []AuditRecord
}

func (s *recordingSink) Record(r AuditRecord) {
	s.mu.Lock()
	s.recs = append(s.recs, r)
	s.mu.Unlock()
}

func (s *recordingSink) all() []AuditRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AuditRecord(nil), s.recs...)
}

// wait polls until the sink holds at least n records: the gate records after the
// response, so the client can be ahead of it.
func (s *recordingSink) wait(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if len(s.all()) >= n {
			return
		}
	}
	t.Fatalf("the sink has %d records, want %d", len(s.all()), n)
}

type countingMetrics struct {
	mu       sync.Mutex
	outcomes map[string]int
	upstream map[string]int
}

func (m *countingMetrics) Outcome(o string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.outcomes == nil {
		m.outcomes = map[string]int{}
	}
	m.outcomes[o]++
}

func (m *countingMetrics) UpstreamError(k string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.upstream == nil {
		m.upstream = map[string]int{}
	}
	m.upstream[k]++
}

func (m *countingMetrics) get(outcome string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.outcomes[outcome]
}

func (m *countingMetrics) upstreamErr(kind string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.upstream[kind]
}

// seenRequest is what the fake MLflow received.
type seenRequest struct {
	Method        string
	RequestURI    string
	Host          string
	Header        http.Header
	Body          []byte
	ContentLength int64
	TE            []string
}

// echoUpstream is a fake MLflow that remembers the last request it got.
type echoUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	last *seenRequest
	n    int
}

func newEcho(t *testing.T) *echoUpstream {
	e := &echoUpstream{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.last = &seenRequest{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(),
			Body: b, ContentLength: r.ContentLength, TE: r.TransferEncoding}
		e.n++
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "mlflow=1")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *echoUpstream) got(t *testing.T) *seenRequest {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last == nil {
		t.Fatal("the upstream received nothing")
	}
	return e.last
}

func (e *echoUpstream) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

type fixture struct {
	gate    *Gate
	srv     *httptest.Server
	auth    *staticAuth
	sink    *recordingSink
	metrics *countingMetrics
}

func newFixture(t *testing.T, upstream string, mod func(*Config)) *fixture {
	t.Helper()
	policy, err := authz.Compile(authz.DefaultTable())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{auth: &staticAuth{}, sink: &recordingSink{}, metrics: &countingMetrics{}}
	f.srv = httptest.NewUnstartedServer(nil)
	cfg := Config{Upstream: u, Hosts: []string{f.srv.Listener.Addr().String(), "gate.example.test"},
		Policy: authz.NewHolder(policy), Auth: f.auth, Audit: f.sink, Metric: f.metrics}
	if mod != nil {
		mod(&cfg)
	}
	if f.gate, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.gate.Close() }) // runs after the server's Close below
	f.srv.Config.Handler = f.gate
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// do sends one request through the gate. token "" sends no Authorization.
func (f *fixture) do(t *testing.T, method, target, token string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = nil, 0
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// mlflowError checks an error response's status, JSON shape and code.
func mlflowError(t *testing.T, resp *http.Response, status int, code string) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var e struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body is not MLflow's JSON shape: %q", b)
	}
	if e.Code != code || e.Message == "" {
		t.Fatalf("error %+v, want code %s and a message", e, code)
	}
	return e.Message
}
