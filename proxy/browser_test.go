package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

const testOrigin = "https://gate.example.test"

func browserFixture(t *testing.T) (*echoUpstream, *fixture) {
	up := newEcho(t)
	return up, newFixture(t, up.URL, func(c *Config) { c.Origin, c.LoginPath = testOrigin, "/oauth/login" })
}

// noRedirect does one request without following redirects.
func (f *fixture) raw(t *testing.T, method, target string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	cl := *f.srv.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestBrowserWithoutCredentialsIsSentToLogin(t *testing.T) {
	up, f := browserFixture(t)
	for _, tc := range []struct{ method, target, location string }{
		{"GET", "/", "/oauth/login?return_to=%2F"},
		{"HEAD", "/", "/oauth/login?return_to=%2F"},
		{"GET", "/experiments/1?x=a%26b", "/oauth/login?return_to=%2Fexperiments%2F1%3Fx%3Da%2526b"},
		{"GET", "/build/x.js", "/oauth/login?return_to=%2Fbuild%2Fx.js"},
	} {
		resp := f.raw(t, tc.method, tc.target)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.location {
			t.Errorf("%s %s: %d Location %q, want 303 %q", tc.method, tc.target, resp.StatusCode, resp.Header.Get("Location"), tc.location)
		}
	}
	for _, target := range []string{"/api/2.0/mlflow/experiments/search", "/ajax-api/2.0/mlflow/experiments/search",
		"/graphql", "/get-artifact?path=a&run_uuid=r", "/model-versions/get-artifact?path=a&name=m&version=1",
		"/v1/traces", "/gateway/x/invocations"} {
		mlflowError(t, f.raw(t, "GET", target), http.StatusUnauthorized, codeUnauthenticated)
	}
	// Not a GET of the UI: 401, not a redirect (a form post must not be replayed after login).
	mlflowError(t, f.raw(t, "POST", "/experiments"), http.StatusUnauthorized, codeUnauthenticated)
	if resp := f.raw(t, "HEAD", "/experiments"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("HEAD of a UI page: status %d", resp.StatusCode)
	}
	// A bad cookie is a bad credential, not a redirect loop.
	mlflowError(t, f.raw(t, "GET", "/api/2.0/mlflow/experiments/search", "Cookie", "sso=mallory"), http.StatusUnauthorized, codeUnauthenticated)
	if up.count() != 0 {
		t.Fatalf("%d unauthenticated requests reached MLflow", up.count())
	}

	// Without a login path configured, the UI gets the 401 as before.
	up2 := newEcho(t)
	g := newFixture(t, up2.URL, nil)
	mlflowError(t, g.raw(t, "GET", "/"), http.StatusUnauthorized, codeUnauthenticated)
}

func TestPublicAssetsNeedNoIdentity(t *testing.T) {
	up, f := browserFixture(t)
	for _, target := range []string{"/static-files/static/js/main.js", "/favicon.ico"} {
		resp := f.raw(t, "GET", target)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", target, resp.StatusCode)
		}
		got := up.got(t)
		if got.RequestURI != target || got.Header.Get("X-Mlflow-Gate-User") != "" {
			t.Fatalf("%s: MLflow got %q with user %q", target, got.RequestURI, got.Header.Get("X-Mlflow-Gate-User"))
		}
	}
	// Nothing else rides on the public prefix: a dot segment is not normalized
	// into an API path, and a write is not public.
	n := up.count()
	if resp := f.raw(t, "GET", "/static-files/../api/2.0/mlflow/experiments/search"); resp.StatusCode == http.StatusOK {
		t.Fatalf("dot segment under /static-files: status %d", resp.StatusCode)
	}
	mlflowError(t, f.raw(t, "POST", "/static-files/x"), http.StatusUnauthorized, codeUnauthenticated)
	if up.count() != n {
		t.Fatal("a non-public request reached MLflow without identity")
	}
	if f.auth.calls != 0+2 { // only the two refused requests were identified
		t.Fatalf("the authenticator was asked %d times", f.auth.calls)
	}
}

func TestSessionWritesNeedTheIssuersOrigin(t *testing.T) {
	up, f := browserFixture(t)
	body := []byte(`{"experiment_id":"1","key":"k","value":"v"}`)
	const path = "/ajax-api/2.0/mlflow/experiments/set-experiment-tag"
	const cookie = "sso=alice"
	for name, hdr := range map[string][]string{
		"no origin, no fetch metadata": {"Cookie", cookie},
		"evil origin":                  {"Cookie", cookie, "Origin", "http://evil.example"},
		"sibling subdomain":            {"Cookie", cookie, "Origin", "https://x.gate.example.test"},
		"other scheme":                 {"Cookie", cookie, "Origin", "http://gate.example.test"},
		"other port":                   {"Cookie", cookie, "Origin", "https://gate.example.test:8443"},
		"trailing slash":               {"Cookie", cookie, "Origin", testOrigin + "/"},
		"null origin":                  {"Cookie", cookie, "Origin", "null"},
		"two origins":                  {"Cookie", cookie, "Origin", testOrigin, "Origin", "http://evil.example"},
		"same-site, not same-origin":   {"Cookie", cookie, "Sec-Fetch-Site", "same-site"},
		// Origin against Host, the general rule, is not enough for cookies.
		"origin equals Host": {"Cookie", cookie, "Host", "evil.example", "Origin", "https://evil.example", "Sec-Fetch-Site", "same-origin"},
	} {
		t.Run(name, func(t *testing.T) {
			resp := f.do(t, "POST", path, "", body, hdr...)
			if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusMisdirectedRequest {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
	}
	for _, m := range []string{"PUT", "PATCH", "DELETE"} {
		mlflowError(t, f.do(t, m, "/api/3.0/mlflow/traces/tr-1/tags", "", body, "Cookie", cookie), http.StatusForbidden, codeDenied)
	}
	mlflowError(t, f.do(t, "POST", "/graphql", "", []byte(`{"query":"mutation { testMutation { __typename } }"}`), "Cookie", cookie,
		"Origin", "http://evil.example"), http.StatusForbidden, codeDenied)
	if up.count() != 0 {
		t.Fatal("a cross-origin cookie write reached MLflow")
	}

	resp := f.do(t, "POST", path, "", body, "Cookie", cookie, "Origin", testOrigin)
	if resp.StatusCode != http.StatusOK || up.got(t).Header.Get("Origin") != "" || up.got(t).Header.Get("Cookie") != "" {
		t.Fatalf("same-origin write: status %d, Origin %q and Cookie %q toward MLflow", resp.StatusCode,
			up.got(t).Header.Get("Origin"), up.got(t).Header.Get("Cookie"))
	}
	if resp := f.do(t, "POST", path, "", body, "Cookie", cookie, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusOK {
		t.Fatalf("same-origin write without Origin: status %d", resp.StatusCode)
	}
	// Reads need no origin.
	if resp := f.do(t, "GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id=1", "", nil, "Cookie", cookie,
		"Origin", "http://evil.example"); resp.StatusCode != http.StatusOK {
		t.Fatalf("cookie read: status %d", resp.StatusCode)
	}
	var audited bool
	for _, rec := range f.sink.all() {
		if rec.Credential == KindSession && rec.Decision == OutcomeAllow && rec.Path == path {
			audited = true
		}
	}
	if !audited {
		t.Fatalf("no allowed session write audited: %+v", f.sink.all())
	}
	// A token caller keeps the general rule: a script with its own Origin is fine.
	if resp := f.do(t, "POST", path, "alice-token", body); resp.StatusCode != http.StatusOK {
		t.Fatalf("token write: status %d", resp.StatusCode)
	}
}

func TestCurrentUserIsAnsweredByTheGate(t *testing.T) {
	up, f := browserFixture(t)
	for _, tc := range []struct {
		path, token, cookie, user string
		admin                     bool
	}{
		{"/ajax-api/2.0/mlflow/users/current", "", "sso=alice", "alice", false},
		{"/api/2.0/mlflow/users/current", "root-token", "", "root", true},
	} {
		var hdr []string
		if tc.cookie != "" {
			hdr = []string{"Cookie", tc.cookie}
		}
		resp := f.do(t, "GET", tc.path, tc.token, nil, hdr...)
		b, _ := io.ReadAll(resp.Body)
		var got struct {
			User struct {
				ID       string `json:"id"`
				Username string `json:"username"`
				IsAdmin  bool   `json:"is_admin"`
			} `json:"user"`
			IsBasicAuth *bool `json:"is_basic_auth"`
		}
		if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tc.path, resp.StatusCode, b)
		}
		if got.User.Username != tc.user || got.User.IsAdmin != tc.admin || got.User.ID == "" || got.IsBasicAuth == nil || *got.IsBasicAuth {
			t.Fatalf("%s: %s", tc.path, b)
		}
	}
	mlflowError(t, f.raw(t, "GET", "/ajax-api/2.0/mlflow/users/current"), http.StatusUnauthorized, codeUnauthenticated)
	if up.count() != 0 {
		t.Fatal("users/current reached MLflow")
	}
}

func TestNewRefusesBadOrigin(t *testing.T) {
	_, f := browserFixture(t)
	base := Config{Upstream: f.gate.upstream, Hosts: []string{"gate.example.test"}, Policy: f.gate.policy, Auth: f.auth}
	for _, o := range []string{"gate.example.test", "https://gate.example.test/", "https://Gate.example.test", "ftp://x", "https://x/path"} {
		cfg := base
		cfg.Origin = o
		if _, err := New(cfg); err == nil {
			t.Errorf("Origin %q accepted", o)
		}
	}
	for _, l := range []string{"oauth/login", "//evil.example/login", "/login?x=1"} {
		cfg := base
		cfg.LoginPath = l
		if _, err := New(cfg); err == nil {
			t.Errorf("LoginPath %q accepted", l)
		}
	}
	cfg := base
	cfg.Origin, cfg.LoginPath = testOrigin, "/oauth/login"
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = g.Close()
}
