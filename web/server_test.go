package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/idp"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// fakeSessions stands in for the identity provider at the package boundary:
// a request carrying the cookie "sid=<id>" is signed in as users[id].
type fakeSessions struct {
	users    map[string]idp.Visit
	password string // what Reauthenticate accepts
	reauths  int
}

func (f *fakeSessions) BrowserVisit(r *http.Request) (idp.Visit, bool) {
	ck, err := r.Cookie("sid")
	if err != nil {
		return idp.Visit{}, false
	}
	v, ok := f.users[ck.Value]
	return v, ok
}

func (f *fakeSessions) Reauthenticate(_ *http.Request, _ idp.Visit, pw string) string {
	f.reauths++
	if pw != f.password {
		return "That is not your password."
	}
	return ""
}

const testOrigin = "https://gate.example"

func newTestServer(t *testing.T, now time.Time) (*Server, *fakeSessions) {
	t.Helper()
	policy, err := authz.Compile(authz.DefaultTable())
	if err != nil {
		t.Fatal(err)
	}
	h := &authz.Holder{}
	h.Store(policy)
	fs := &fakeSessions{password: "right", users: map[string]idp.Visit{
		"alice": {Session: storage.Session{ID: "s-alice", AuthTime: now.Add(-time.Hour)}, User: storage.User{Username: "alice", Roles: []string{"Default"}}},
		"root":  {Session: storage.Session{ID: "s-root", AuthTime: now.Add(-time.Minute)}, User: storage.User{Username: "root", Roles: []string{"Admin"}}},
	}}
	s, err := New(Config{Admin: admin.New(nil, admin.Config{}), Sessions: fs, Policy: h, Issuer: testOrigin, Origin: testOrigin,
		Key: []byte(strings.Repeat("k", 32)), Secure: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return s, fs
}

func do(s *Server, method, target, who string, form url.Values, header map[string]string) *httptest.ResponseRecorder {
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if who != "" {
		r.AddCookie(&http.Cookie{Name: "sid", Value: who})
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestPagesNeedASession(t *testing.T) {
	s, _ := newTestServer(t, time.Now())
	w := do(s, "GET", "/gate/me/tokens?x=1", "", nil, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/oauth/login?return_to=%2Fgate%2Fme%2Ftokens%3Fx%3D1" {
		t.Fatalf("GET without a session: %d %q", w.Code, w.Header().Get("Location"))
	}
	if w := do(s, "POST", "/gate/me/tokens", "", url.Values{"name": {"x"}}, map[string]string{"Origin": testOrigin}); w.Code != http.StatusUnauthorized {
		t.Fatalf("POST without a session: %d", w.Code)
	}
	w = do(s, "GET", "/gate/me", "alice", nil, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Signed in as alice") {
		t.Fatalf("alice's page: %d %.300s", w.Code, w.Body)
	}
	for k, want := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY",
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if strings.Contains(w.Body.String(), `href="/gate/admin/"`) {
		t.Error("a Default user's navigation links to the admin pages")
	}
}

func TestAdminPagesNeedAdmin(t *testing.T) {
	s, _ := newTestServer(t, time.Now())
	if w := do(s, "GET", "/gate/admin/", "alice", nil, nil); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "Only an Admin") {
		t.Fatalf("alice on the admin home: %d %.300s", w.Code, w.Body)
	}
	if w := do(s, "GET", "/gate/admin/", "root", nil, nil); w.Code != http.StatusOK {
		t.Fatalf("an Admin on the admin home: %d", w.Code)
	}
}

func TestWritesNeedSameOriginAndToken(t *testing.T) {
	now := time.Now()
	s, fs := newTestServer(t, now)
	var reached int
	s.handle("POST /gate/me/test", func(w http.ResponseWriter, r *http.Request, v *visit) {
		reached++
		s.done(w, r, MePath, flash{Message: "done it", Secret: "s3cret"})
	})
	csrf := s.newVisit(httptest.NewRequest("GET", "/", nil), fs.users["alice"]).CSRF
	good := url.Values{"csrf": {csrf}}
	for name, c := range map[string]struct {
		form   url.Values
		header map[string]string
	}{
		"foreign origin":         {good, map[string]string{"Origin": "https://evil.example"}},
		"sibling origin":         {good, map[string]string{"Origin": "https://x.gate.example"}},
		"null origin":            {good, map[string]string{"Origin": "null"}},
		"no origin, cross-site":  {good, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		"no origin, no fetch md": {good, nil},
		"own origin, cross-site": {good, map[string]string{"Origin": testOrigin, "Sec-Fetch-Site": "cross-site"}},
		"no token":               {url.Values{}, map[string]string{"Origin": testOrigin}},
		"another session's":      {url.Values{"csrf": {s.newVisit(httptest.NewRequest("GET", "/", nil), fs.users["root"]).CSRF}}, map[string]string{"Origin": testOrigin}},
	} {
		if w := do(s, "POST", "/gate/me/test", "alice", c.form, c.header); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, w.Code)
		}
	}
	if reached != 0 {
		t.Fatalf("a refused write reached its handler %d times", reached)
	}
	w := do(s, "POST", "/gate/me/test", "alice", good, map[string]string{"Origin": testOrigin})
	if w.Code != http.StatusSeeOther || reached != 1 {
		t.Fatalf("a same-origin write with its token: %d, reached %d", w.Code, reached)
	}
	if w := do(s, "POST", "/gate/me/test", "alice", good, map[string]string{"Sec-Fetch-Site": "same-origin"}); w.Code != http.StatusSeeOther {
		t.Fatalf("same-origin by Sec-Fetch-Site: %d", w.Code)
	}
	// The flash is sealed: the next page shows it once, a forged one is ignored.
	var flashCookie *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == s.flashName {
			flashCookie = c
		}
	}
	if flashCookie == nil || strings.Contains(flashCookie.Value, "s3cret") || !flashCookie.HttpOnly || !flashCookie.Secure {
		t.Fatalf("flash cookie: %+v", flashCookie)
	}
	r := httptest.NewRequest("GET", "/gate/me", nil)
	r.AddCookie(&http.Cookie{Name: "sid", Value: "alice"})
	r.AddCookie(flashCookie)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	if !strings.Contains(rec.Body.String(), "done it") || !strings.Contains(rec.Body.String(), `value="s3cret"`) {
		t.Fatalf("the page after the write does not show its flash: %.2000s", rec.Body)
	}
	forged := httptest.NewRequest("GET", "/gate/me", nil)
	forged.AddCookie(&http.Cookie{Name: "sid", Value: "alice"})
	forged.AddCookie(&http.Cookie{Name: s.flashName, Value: "Zm9yZ2Vk"})
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, forged)
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `class="notice"`) {
		t.Fatalf("a forged flash: %d %.500s", rec.Code, rec.Body)
	}
}

func TestSensitiveActionsAskForThePasswordWhenTheLoginIsOld(t *testing.T) {
	now := time.Now()
	s, fs := newTestServer(t, now)
	var outcome string
	s.handle("POST /gate/me/sensitive", func(w http.ResponseWriter, r *http.Request, v *visit) {
		outcome = s.confirm(r, v)
	})
	post := func(who string, form url.Values) {
		t.Helper()
		v := s.newVisit(httptest.NewRequest("GET", "/", nil), fs.users[who])
		form.Set("csrf", v.CSRF)
		outcome = "not reached"
		do(s, "POST", "/gate/me/sensitive", who, form, map[string]string{"Origin": testOrigin})
	}
	post("root", url.Values{})
	if outcome != "" || fs.reauths != 0 {
		t.Fatalf("a login a minute old: %q after %d password checks", outcome, fs.reauths)
	}
	post("alice", url.Values{})
	if !strings.Contains(outcome, "needs your password") {
		t.Fatalf("an hour-old login without the password: %q", outcome)
	}
	post("alice", url.Values{"confirm_password": {"wrong"}})
	if outcome != "That is not your password." {
		t.Fatalf("the wrong password: %q", outcome)
	}
	post("alice", url.Values{"confirm_password": {"right"}})
	if outcome != "" {
		t.Fatalf("the right password: %q", outcome)
	}
}

func TestStaticAndUnknownPages(t *testing.T) {
	s, _ := newTestServer(t, time.Now())
	w := do(s, "GET", "/gate/static/gate.css", "", nil, nil)
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if w := do(s, "GET", "/gate/no-such-page", "alice", nil, nil); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no such page") {
		t.Fatalf("unknown page: %d %.300s", w.Code, w.Body)
	}
	if w := do(s, "GET", "/gate/", "alice", nil, nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != MePath {
		t.Fatalf("/gate/: %d %q", w.Code, w.Header().Get("Location"))
	}
}

func TestEveryTemplateParses(t *testing.T) {
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"error", "me", "me_tokens", "me_sessions", "me_password", "admin_home"} {
		if pages[name] == nil {
			t.Errorf("no template %q", name)
		}
	}
}
