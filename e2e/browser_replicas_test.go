package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

const browserPassword = "correct horse battery staple"

// browserLogin signs alice in at gateURL the way a browser does (the login
// page, its hidden fields, the form post, back to /) with a fresh cookie jar,
// and returns the session cookies it was given.
func browserLogin(t *testing.T, gateURL string) []*http.Cookie {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := c.Get(gateURL + "/oauth/login?return_to=/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := url.Values{"username": {"alice"}, "password": {browserPassword}}
	for _, m := range hiddenField.FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#x2F;", "/", "&#34;", `"`).Replace(m[2]))
	}
	if form.Get("csrf") == "" {
		t.Fatalf("no csrf field on the login page: %.500s", page)
	}
	resp, err = c.PostForm(gateURL+"/oauth/login", form)
	if err != nil {
		t.Fatal(err)
	}
	index, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/" || !strings.Contains(string(index), "<html") {
		t.Fatalf("after login: %d at %s: %.300s", resp.StatusCode, resp.Request.URL, index)
	}
	u, _ := url.Parse(gateURL)
	cookies := jar.Cookies(u)
	if len(cookies) == 0 {
		t.Fatal("login set no cookie")
	}
	return cookies
}

// browserLogout posts the logout page's form on gateURL with cookies.
func browserLogout(t *testing.T, gateURL string, cookies []*http.Cookie) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(gateURL)
	jar.SetCookies(u, cookies)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := c.Get(gateURL + "/oauth/logout")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], m[2])
	}
	if form.Get("csrf") == "" {
		t.Fatalf("no csrf field on the logout page: %d %.500s", resp.StatusCode, page)
	}
	req, _ := http.NewRequest("POST", gateURL+"/oauth/logout", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", gateURL)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("logout: %d at %s", resp.StatusCode, resp.Request.URL)
	}
}

// uiCall replays cookies by hand on one of the UI's reads at gateURL (no
// redirects followed) and returns the status.
func uiCall(t *testing.T, gateURL string, cookies []*http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest("GET", gateURL+"/ajax-api/2.0/mlflow/experiments/search?max_results=1", nil)
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// refusedWithinASecond waits until every gate refuses cookies with 401, and
// fails if one still accepts them a second after start.
func refusedWithinASecond(t *testing.T, what string, start time.Time, cookies []*http.Cookie, gates ...*gateProc) {
	t.Helper()
	for _, g := range gates {
		for {
			st := uiCall(t, g.URL, cookies)
			if st == http.StatusUnauthorized {
				break
			}
			if time.Since(start) > time.Second {
				t.Fatalf("%s: %s still answers %d after %v", what, g.URL, st, time.Since(start))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("%s: refused on every replica after %s", what, time.Since(start).Round(time.Millisecond))
}

// browserUser makes a database with alice on it and returns a serve
// environment for it.
func browserUser(t *testing.T) (string, map[string]string) {
	t.Helper()
	db := storagetest.EmptyDatabase(t)
	env := gateEnv(t, db)
	env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = "bootstrap passphrase for e2e"
	return db, env
}

func addAlice(t *testing.T, env map[string]string) {
	t.Helper()
	if out, err := cli(t, env, browserPassword+"\n", "user", "add", "alice", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
}

// TestBrowserReplicaSessions: two gates on one database with one secret; a
// browser session made on A works on B; logging out on A and disabling the
// user each end it on both within a second.
func TestBrowserReplicaSessions(t *testing.T) {
	db, envA := browserUser(t)
	a := startGate(t, envA)
	envB := gateEnv(t, db)
	envB["MLFLOW_GATE_SECRET"] = envA["MLFLOW_GATE_SECRET"]
	b := startGate(t, envB)
	addAlice(t, envA)

	cookies := browserLogin(t, a.URL)
	for _, g := range []*gateProc{a, b} {
		if st := uiCall(t, g.URL, cookies); st != 200 {
			t.Fatalf("the session from A on %s: %d, want 200", g.URL, st)
		}
	}

	browserLogout(t, a.URL, cookies)
	refusedWithinASecond(t, "logout on A", time.Now(), cookies, a, b)

	cookies = browserLogin(t, a.URL)
	if st := uiCall(t, b.URL, cookies); st != 200 {
		t.Fatalf("the new session on B: %d, want 200", st)
	}
	start := time.Now()
	if out, err := cli(t, envA, "", "user", "disable", "alice"); err != nil {
		t.Fatalf("user disable: %v\n%s", err, out)
	}
	refusedWithinASecond(t, "user disable", start, cookies, a, b)
}

// TestBrowserReplicaSessionLifetimes: with short idle and absolute lifetimes,
// a cookie left unused longer than the idle lifetime is refused, and one used
// every second still ends at the absolute lifetime.
func TestBrowserReplicaSessionLifetimes(t *testing.T) {
	const idle, absolute = 2 * time.Second, 6 * time.Second
	_, env := browserUser(t)
	env["MLFLOW_GATE_SESSION_IDLE_TTL"] = idle.String()
	env["MLFLOW_GATE_SESSION_TTL"] = absolute.String()
	g := startGate(t, env)
	addAlice(t, env)

	cookies := browserLogin(t, g.URL)
	if st := uiCall(t, g.URL, cookies); st != 200 {
		t.Fatalf("fresh session: %d, want 200", st)
	}
	time.Sleep(idle + 500*time.Millisecond)
	if st := uiCall(t, g.URL, cookies); st != http.StatusUnauthorized {
		t.Fatalf("a session unused for %v: %d, want 401", idle+500*time.Millisecond, st)
	}

	begin := time.Now()
	cookies = browserLogin(t, g.URL)
	loggedIn := time.Now()
	for {
		st := uiCall(t, g.URL, cookies)
		// The session was made between begin and loggedIn: it must live
		// until begin+absolute and be gone by loggedIn+absolute.
		switch {
		case st == 200 && time.Since(loggedIn) > absolute+500*time.Millisecond:
			t.Fatalf("a session used every second still works %v after login (absolute lifetime %v)", time.Since(loggedIn), absolute)
		case st == http.StatusUnauthorized:
			if time.Since(begin) < absolute-500*time.Millisecond {
				t.Fatalf("a session used every second ended after %v, before its absolute lifetime %v", time.Since(begin), absolute)
			}
			t.Logf("used every second, ended %v after login", time.Since(loggedIn).Round(time.Millisecond))
			return
		case st != 200:
			t.Fatalf("session in use: %d", st)
		}
		time.Sleep(time.Second)
	}
}
