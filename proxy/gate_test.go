package proxy

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

func TestForwardsRawPathQueryAndBodyExactly(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	for _, tc := range []struct {
		name, method, target string
		body                 []byte
	}{
		{"escaped artifact path", "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/a%20b%2Bc%7E%E2%82%AC.txt", []byte("raw bytes \x00\xff")},
		{"escaped query", "GET", "/api/2.0/mlflow/runs/get?run_id=abc%2Fd%20e", nil},
		{"unescaped sub-delims", "GET", "/api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/x;y=(z)!$&'*,@", nil},
		{"body kept byte for byte", "POST", "/api/2.0/mlflow/runs/log-batch",
			[]byte("{ \"run_id\" : \"r\\u0031\",\n\t\"metrics\": [{\"key\":\"m\",\"value\":1.50e0,\"timestamp\":1}] }")},
		{"ajax prefix", "POST", "/ajax-api/2.0/mlflow/experiments/search", []byte(`{"max_results":1}`)},
		{"large body", "POST", "/api/2.0/mlflow/runs/log-batch",
			[]byte(`{"run_id":"r","params":[` + strings.Repeat(`{"key":"k","value":"v"},`, 20000) + `{"key":"z","value":"\u00e9"}]}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do(t, tc.method, tc.target, "alice-token", tc.body)
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			got := up.got(t)
			if got.RequestURI != tc.target {
				t.Errorf("upstream got %q, want %q", got.RequestURI, tc.target)
			}
			if string(got.Body) != string(tc.body) {
				t.Errorf("upstream body %q, want %q", got.Body, tc.body)
			}
			if got.ContentLength != int64(len(tc.body)) {
				t.Errorf("upstream Content-Length %d, want %d", got.ContentLength, len(tc.body))
			}
		})
	}
}

func TestUpstreamBasePath(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL+"/mlflow/", nil)
	f.do(t, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=1", "alice-token", nil)
	if got := up.got(t).RequestURI; got != "/mlflow/api/2.0/mlflow/experiments/get?experiment_id=1" {
		t.Fatalf("upstream got %q", got)
	}
}

func TestChunkedBodyIsForwardedWithLength(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	body := `{"run_id":"r1","key":"k","value":"v"}`
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/2.0/mlflow/runs/set-tag", io.NopCloser(strings.NewReader(body)))
	req.ContentLength = -1 // sent chunked
	req.Header.Set("Authorization", "Bearer alice-token")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := up.got(t)
	if string(got.Body) != body || got.ContentLength != int64(len(body)) || len(got.TE) != 0 {
		t.Fatalf("upstream got body %q length %d transfer-encoding %v", got.Body, got.ContentLength, got.TE)
	}
}

func TestHeadersTowardMLflow(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	resp := f.do(t, "POST", "/api/2.0/mlflow/runs/log-metric", "alice-token",
		[]byte(`{"run_id":"r1","key":"m","value":1,"timestamp":1}`),
		"Cookie", "__Host-mlflow-gate=secret-session",
		"X-Forwarded-For", "6.6.6.6", "X-Forwarded-Host", "evil", "X-Forwarded-Proto", "https", "Forwarded", "for=6.6.6.6",
		"X-Forwarded-User", "mallory", "X-Forwarded-Email", "m@evil", "X-Remote-User", "mallory", "Remote-User", "mallory",
		"X-Mlflow-Gate-User", "mallory", "X-Mlflow-Gate-Client", "evil", "X-Auth-Request-User", "mallory", "X-Real-Ip", "6.6.6.6",
		"X-Mlflow-Workspace", "other-team", "X-Mlflow-Authorization", "Basic bWFsbG9yeTpwdw==",
		"X-Mlflow-Assistant-Delegation", "forged", "X-Mlflow-Guardrail-Bypass", "1", "Origin", f.srv.URL,
		"Connection", "X-Hop", "X-Hop", "1", "Upgrade", "websocket",
		"User-Agent", "mlflow-python-client/3.18.0", "X-Mlflow-Client-Version", "3.18.0", "Traceparent", "00-abc-def-01")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Error("MLflow's Set-Cookie reached the client")
	}
	h := up.got(t).Header
	for _, k := range []string{"Authorization", "Cookie", "Forwarded", "X-Forwarded-User", "X-Forwarded-Email", "X-Remote-User",
		"Remote-User", "X-Auth-Request-User", "X-Real-Ip", "X-Mlflow-Workspace", "X-Mlflow-Authorization",
		"X-Mlflow-Assistant-Delegation", "X-Mlflow-Guardrail-Bypass", "Origin", "X-Hop", "Upgrade"} {
		if v, ok := h[k]; ok {
			t.Errorf("%s reached MLflow: %q", k, v)
		}
	}
	want := map[string]string{
		"X-Mlflow-Gate-User": "alice", "X-Mlflow-Gate-Client": "mlflow-cli", "X-Forwarded-For": "127.0.0.1",
		"X-Forwarded-Host": f.srv.Listener.Addr().String(), "X-Forwarded-Proto": "http",
		"User-Agent": "mlflow-python-client/3.18.0", "X-Mlflow-Client-Version": "3.18.0", "Traceparent": "00-abc-def-01",
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want exactly %q", k, got, v)
		}
	}
	if host := up.got(t).Host; host != up.Listener.Addr().String() {
		t.Errorf("Host toward MLflow %q, want the upstream's %q", host, up.Listener.Addr().String())
	}
}

// MLflow's Flask side reads headers from the WSGI environ, where "_" and "-"
// are one: every underscore spelling of a stripped header would arrive as the
// header itself. No header whose name has an underscore reaches MLflow.
func TestUnderscoreHeadersNeverReachMLflow(t *testing.T) {
	for _, workspaces := range []bool{false, true} {
		up := newEcho(t)
		f := newFixture(t, up.URL, func(c *Config) { c.Workspaces = workspaces })
		resp := f.do(t, "POST", "/api/2.0/mlflow/runs/log-metric", "alice-token",
			[]byte(`{"run_id":"r1","key":"m","value":1,"timestamp":1}`),
			"X_Remote_User", "mallory", "X_Forwarded_For", "6.6.6.6", "X_Mlflow_Gate_User", "mallory",
			"X_MLFLOW_WORKSPACE", "other-team", "X-Mlflow_Gate-Client", "evil", "Remote_User", "mallory",
			"X_Mlflow_Assistant_Delegation", "forged", "If_None_Match", "*", "Some_Header", "x",
			"X-Mlflow-Client-Version", "3.18.0")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		h := up.got(t).Header
		for k, v := range h {
			if strings.Contains(k, "_") {
				t.Errorf("workspaces=%v: %s reached MLflow: %q", workspaces, k, v)
			}
		}
		if got := h.Values("X-Mlflow-Gate-User"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("X-Mlflow-Gate-User = %q, want exactly alice", got)
		}
		if got := h.Get("X-Mlflow-Client-Version"); got != "3.18.0" {
			t.Errorf("an ordinary header was dropped: X-Mlflow-Client-Version = %q", got)
		}
	}
}

func TestWorkspaceHeaderWhenEnabled(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, func(c *Config) { c.Workspaces = true })
	f.do(t, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=1", "alice-token", nil, "X-Mlflow-Workspace", "team-a")
	if got := up.got(t).Header.Get("X-Mlflow-Workspace"); got != "team-a" {
		t.Fatalf("X-MLFLOW-WORKSPACE = %q with workspaces on", got)
	}
}

func TestGatewayCredentialHeader(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	const path = "/gateway/chat/mlflow/invocations"
	// The gate's credential in X-MLflow-Authorization; the caller's provider key
	// in Authorization goes on to MLflow, which passes it to the provider.
	resp := f.do(t, "POST", path, "", []byte(`{"messages":[]}`),
		"X-Mlflow-Authorization", "Bearer root-token", "Authorization", "Bearer sk-provider-key")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	h := up.got(t).Header
	if h.Get("Authorization") != "Bearer sk-provider-key" || h.Get("X-Mlflow-Authorization") != "" || h.Get("X-Mlflow-Gate-User") != "root" {
		t.Fatalf("toward MLflow: Authorization %q, X-MLflow-Authorization %q, user %q",
			h.Get("Authorization"), h.Get("X-Mlflow-Authorization"), h.Get("X-Mlflow-Gate-User"))
	}
	// The gate's credential in both headers is not passed on to a provider.
	f.do(t, "POST", path, "root-token", []byte(`{"messages":[]}`), "X-Mlflow-Authorization", "Bearer root-token")
	if a := up.got(t).Header.Get("Authorization"); a != "" {
		t.Fatalf("the gate's credential reached MLflow: %q", a)
	}
	// Without the dedicated header, Authorization is the gate's and is stripped.
	f.do(t, "POST", path, "root-token", []byte(`{"messages":[]}`))
	if a := up.got(t).Header.Get("Authorization"); a != "" {
		t.Fatalf("the gate's credential reached MLflow: %q", a)
	}
	// Off /gateway/ the dedicated header is not a credential.
	resp = f.do(t, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=1", "", nil, "X-Mlflow-Authorization", "Bearer alice-token")
	mlflowError(t, resp, http.StatusUnauthorized, codeUnauthenticated)
}

func TestMisdirectedHost(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	for _, host := range []string{"evil.example", "gate.example.test.evil", "127.0.0.2", "gate.example.tes"} {
		resp := f.do(t, "GET", "/api/2.0/mlflow/experiments/search", "alice-token", nil, "Host", host)
		mlflowError(t, resp, http.StatusMisdirectedRequest, codeMisdirected)
	}
	if f.auth.calls != 0 || up.count() != 0 {
		t.Fatalf("a misdirected request reached the authenticator (%d) or MLflow (%d)", f.auth.calls, up.count())
	}
	for _, host := range []string{"gate.example.test", "GATE.example.test:8443"} {
		if resp := f.do(t, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=1", "alice-token", nil, "Host", host); resp.StatusCode != 200 {
			t.Errorf("Host %q: status %d", host, resp.StatusCode)
		}
	}
}

// The 421 says what to do: the host it got, the issuer's address, and the
// setting that would let that host in; a browser gets it as a page, with
// the request's Host escaped.
func TestMisdirectedSaysWhatToDo(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, func(c *Config) {
		c.Origin, c.HostsSetting = "http://127.0.0.1:8080", "MLFLOW_GATE_ALLOWED_HOSTS"
		c.Hosts = []string{"127.0.0.1:8080"}
	})
	resp := f.do(t, "GET", "/api/2.0/mlflow/experiments/search", "", nil, "Host", "localhost:8080")
	msg := mlflowError(t, resp, http.StatusMisdirectedRequest, codeMisdirected)
	for _, want := range []string{`host "localhost:8080"`, "its issuer is http://127.0.0.1:8080", "open http://127.0.0.1:8080/ instead",
		"add localhost:8080 to MLFLOW_GATE_ALLOWED_HOSTS"} {
		if !strings.Contains(msg, want) {
			t.Errorf("421 message %q lacks %q", msg, want)
		}
	}
	if f.metrics.get(OutcomeMisdirected) != 1 {
		t.Errorf("misdirected requests counted %d times, want 1", f.metrics.get(OutcomeMisdirected))
	}

	resp = f.do(t, "GET", "/", "", nil, "Host", "localhost:8080", "Accept", "text/html,application/xhtml+xml")
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("browser 421: %d %v", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{"<code>localhost:8080</code>", `<a href="http://127.0.0.1:8080/">http://127.0.0.1:8080</a>`,
		"add <code>localhost:8080</code> to <code>MLFLOW_GATE_ALLOWED_HOSTS</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("421 page lacks %q:\n%s", want, page)
		}
	}

	// A Host that is no host name is echoed escaped and not offered for the list.
	resp = f.do(t, "GET", "/", "", nil, "Host", "<script>x</script>", "Accept", "text/html")
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusMisdirectedRequest || strings.Contains(string(b), "<script>") || strings.Contains(string(b), "MLFLOW_GATE_ALLOWED_HOSTS") {
		t.Fatalf("421 page for a hostile Host: %d\n%s", resp.StatusCode, b)
	}
	if up.count() != 0 || f.auth.calls != 0 {
		t.Fatal("a misdirected request went further than the Host check")
	}
}

func TestRefusals(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, func(c *Config) { c.MaxBody = 64 })
	t.Run("no credentials", func(t *testing.T) {
		resp := f.do(t, "GET", "/api/2.0/mlflow/experiments/search", "", nil)
		mlflowError(t, resp, http.StatusUnauthorized, codeUnauthenticated)
		if got := resp.Header.Values("Www-Authenticate"); !slices.Equal(got, []string{`Bearer realm="mlflow-gate"`, `Basic realm="mlflow-gate"`}) {
			t.Fatalf("WWW-Authenticate %q", got)
		}
	})
	t.Run("no credentials from the UI: no Basic dialog", func(t *testing.T) {
		resp := f.do(t, "GET", "/ajax-api/2.0/mlflow/experiments/search", "", nil)
		mlflowError(t, resp, http.StatusUnauthorized, codeUnauthenticated)
		if got := resp.Header.Values("Www-Authenticate"); !slices.Equal(got, []string{`Bearer realm="mlflow-gate"`}) {
			t.Fatalf("WWW-Authenticate %q", got)
		}
	})
	t.Run("bad credentials", func(t *testing.T) {
		resp := f.do(t, "GET", "/api/2.0/mlflow/experiments/search", "garbage", nil)
		mlflowError(t, resp, http.StatusUnauthorized, codeUnauthenticated)
		if got := resp.Header.Get("Www-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
			t.Fatalf("WWW-Authenticate %q", got)
		}
	})
	t.Run("verifier down", func(t *testing.T) {
		msg := mlflowError(t, f.do(t, "GET", "/api/2.0/mlflow/experiments/search", "broken", nil), http.StatusServiceUnavailable, codeUnavailable)
		if strings.Contains(msg, "10.1.2.3") || strings.Contains(msg, "refused") {
			t.Fatalf("internals in the message: %q", msg)
		}
	})
	t.Run("denied by policy", func(t *testing.T) {
		msg := mlflowError(t, f.do(t, "POST", "/api/2.0/mlflow/runs/delete", "alice-token", []byte(`{"run_id":"r1"}`)), http.StatusForbidden, codeDenied)
		if !strings.Contains(msg, "delete") || !strings.Contains(msg, "runs") {
			t.Fatalf("message %q does not say what was refused", msg)
		}
	})
	t.Run("unknown route", func(t *testing.T) {
		mlflowError(t, f.do(t, "GET", "/api/2.0/mlflow/no-such-route", "root-token", nil), http.StatusForbidden, codeDenied)
	})
	for name, target := range map[string]string{
		"dot segment":     "/api/2.0/mlflow-artifacts/artifacts/1/%2e%2e/2",
		"encoded slash":   "/api/2.0/mlflow/runs%2Fget?run_id=1",
		"repeated query":  "/api/2.0/mlflow/runs/get?run_id=1&run_id=2",
		"semicolon query": "/api/2.0/mlflow/runs/get?run_id=1;run_id=2",
	} {
		t.Run(name, func(t *testing.T) {
			mlflowError(t, f.do(t, "GET", target, "alice-token", nil), http.StatusBadRequest, codeBadRequest)
		})
	}
	for name, body := range map[string]string{
		"duplicate key":  `{"run_id":"a","run_id":"b"}`,
		"both spellings": `{"run_id":"a","runId":"b"}`,
		"oversize":       `{"run_id":"` + strings.Repeat("a", 80) + `"}`,
		"not JSON":       `{"run_id":`,
	} {
		t.Run(name, func(t *testing.T) {
			mlflowError(t, f.do(t, "POST", "/api/2.0/mlflow/runs/update", "alice-token", []byte(body)), http.StatusBadRequest, codeBadRequest)
		})
	}
	t.Run("GET with a body", func(t *testing.T) {
		// MLflow would read run_id from this body, the query being empty.
		mlflowError(t, f.do(t, "GET", "/api/2.0/mlflow/runs/get", "alice-token", []byte(`{"run_id":"r"}`)), http.StatusBadRequest, codeBadRequest)
	})
	t.Run("compressed body on a body route", func(t *testing.T) {
		resp := f.do(t, "POST", "/api/2.0/mlflow/runs/update", "alice-token", []byte(`{"run_id":"a"}`), "Content-Encoding", "gzip")
		mlflowError(t, resp, http.StatusBadRequest, codeBadRequest)
	})
	if up.count() != 0 {
		t.Fatalf("%d refused requests reached MLflow", up.count())
	}
}

func TestCrossOriginBrowserWrites(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	body := []byte(`{"experiment_id":"1","key":"k","value":"v"}`)
	const path = "/ajax-api/2.0/mlflow/experiments/set-experiment-tag"
	mlflowError(t, f.do(t, "POST", path, "alice-token", body, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden, codeDenied)
	mlflowError(t, f.do(t, "POST", path, "alice-token", body, "Origin", "https://evil.example"), http.StatusForbidden, codeDenied)
	if up.count() != 0 {
		t.Fatal("a cross-origin write reached MLflow")
	}
	resp := f.do(t, "POST", path, "alice-token", body, "Host", "gate.example.test", "Origin", "https://gate.example.test", "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusOK || up.got(t).Header.Get("Origin") != "" {
		t.Fatalf("same-origin write: status %d, Origin toward MLflow %q", resp.StatusCode, up.got(t).Header.Get("Origin"))
	}
	if n := f.metrics.get(OutcomeCrossOrigin); n != 2 {
		t.Fatalf("cross-origin outcomes counted %d, want 2", n)
	}
}

func TestArtifactResponsesAreSandboxed(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	resp := f.do(t, "GET", "/get-artifact?path=index.html&run_uuid=r1", "alice-token", nil)
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "sandbox" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("artifact response CSP %q nosniff %q", csp, resp.Header.Get("X-Content-Type-Options"))
	}
	resp = f.do(t, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=1", "alice-token", nil)
	if resp.Header.Get("Content-Security-Policy") != "" {
		t.Fatal("CSP sandbox on a non-artifact response")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	policy := authz.NewHolder(nil)
	for name, cfg := range map[string]Config{
		"no upstream": {Hosts: []string{"h"}, Policy: policy, Auth: &staticAuth{}},
		"no hosts":    {Upstream: mustURL("http://127.0.0.1:1"), Policy: policy, Auth: &staticAuth{}},
		"no auth":     {Upstream: mustURL("http://127.0.0.1:1"), Hosts: []string{"h"}, Policy: policy},
		"timeout with own transport": {Upstream: mustURL("http://127.0.0.1:1"), Hosts: []string{"h"}, Policy: policy,
			Auth: &staticAuth{}, Transport: http.DefaultTransport, UpstreamTimeout: 1},
		"bad host": {Upstream: mustURL("http://127.0.0.1:1"), Hosts: []string{"http://h/"}, Policy: policy, Auth: &staticAuth{}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}
