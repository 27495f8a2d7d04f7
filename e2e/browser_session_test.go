package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var hiddenField = regexp.MustCompile(`name="(auth|return_to|csrf)" value="([^"]*)"`)

// TestBrowserSessionThroughTheGate: a browser logs in at the gate's login page
// and uses the MLflow UI's calls with its session cookie only; a cross-site
// write with that cookie never reaches MLflow; disabling the user ends it.
func TestBrowserSessionThroughTheGate(t *testing.T) {
	h := newHostileRig(t, nil)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}

	// Without a session, the UI is sent to the login page.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(h.g.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/oauth/login?return_to=%2F" {
		t.Fatalf("GET / without a session: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// submit fetches a page with a form, fills its hidden fields and posts it.
	submit := func(pagePath, action string, form url.Values) *http.Response {
		t.Helper()
		resp, err := c.Get(h.g.URL + pagePath)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, m := range hiddenField.FindAllStringSubmatch(string(page), -1) {
			form.Set(m[1], strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#x2F;", "/", "&#34;", `"`).Replace(m[2]))
		}
		if form.Get("csrf") == "" {
			t.Fatalf("no csrf field on %s: %.500s", pagePath, page)
		}
		resp, err = c.PostForm(h.g.URL+action, form)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	login := func() {
		t.Helper()
		resp := submit("/oauth/login?return_to=/", "/oauth/login", url.Values{"username": {"alice"}, "password": {"correct horse battery staple"}})
		index, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/" || !strings.Contains(string(index), "<html") {
			t.Fatalf("after login: %d at %s: %.300s", resp.StatusCode, resp.Request.URL, index)
		}
	}
	login()

	write := func(name, origin string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", h.g.URL+"/ajax-api/2.0/mlflow/experiments/create", strings.NewReader(`{"name":"`+name+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	okName := "browser-session-" + randomSecret()[:8]
	if st, body := write(okName, h.g.URL); st != 200 || !strings.Contains(body, "experiment_id") {
		t.Fatalf("same-origin create: %d %s", st, body)
	}
	evilName := "browser-evil-" + randomSecret()[:8]
	if st, body := write(evilName, "http://evil.example"); st != http.StatusForbidden {
		t.Fatalf("cross-site create: %d %s", st, body)
	}
	if st, _, _ := h.call(t, h.alice, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name="+okName, nil); st != 200 {
		t.Fatalf("the same-origin experiment is not in MLflow: %d", st)
	}
	if st, body, _ := h.call(t, h.alice, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name="+evilName, nil); st != http.StatusNotFound {
		t.Fatalf("the cross-site experiment reached MLflow: %d %s", st, body)
	}
	db := h.env["MLFLOW_GATE_DATABASE_URL"]
	waitAudit(t, db, `actor = 'alice' AND decision = 'allow' AND detail->>'credential' = 'session'
			AND detail->>'path' = '/ajax-api/2.0/mlflow/experiments/create'`, "the browser's create with credential session")

	// The UI learns who it is from the gate.
	resp, err = c.Get(h.g.URL + "/ajax-api/2.0/mlflow/users/current")
	if err != nil {
		t.Fatal(err)
	}
	me, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(me), `"username":"alice"`) {
		t.Fatalf("users/current: %d %s", resp.StatusCode, me)
	}

	// Logging out (the page's button: a same-origin POST with its CSRF token) ends
	// the session everywhere: the old cookie, replayed, is refused.
	gate, _ := url.Parse(h.g.URL)
	old := jar.Cookies(gate)
	resp = submit("/oauth/logout", "/oauth/logout", url.Values{})
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("logout: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	replay, _ := http.NewRequest("GET", h.g.URL+"/ajax-api/2.0/mlflow/experiments/search?max_results=1", nil)
	for _, ck := range old {
		replay.AddCookie(ck)
	}
	if resp, err = noFollow.Do(replay); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the cookie from before logout still works: %d", resp.StatusCode)
	}

	login()
	if out, err := cli(t, h.env, "", "user", "disable", "alice"); err != nil {
		t.Fatalf("user disable: %v\n%s", err, out)
	}
	start := time.Now()
	for {
		resp, err := c.Get(h.g.URL + "/ajax-api/2.0/mlflow/experiments/search?max_results=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("the disabled user's cookie still works after %v: %d", time.Since(start), resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
