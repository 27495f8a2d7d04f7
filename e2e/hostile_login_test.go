package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// browser is one cookie jar: one person's browser.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
	xff    string // the address a trusted proxy in front of the gate reports
}

func newBrowser(t *testing.T, base, addr string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, xff: addr, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if b.xff != "" {
		req.Header.Set("X-Forwarded-For", b.xff)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// login submits the sign-in form the way a person does and returns the status.
func (b *browser) login(user, password string) int {
	b.t.Helper()
	code, page := b.do("GET", "/oauth/login?return_to=%2F", nil)
	m := csrfField.FindStringSubmatch(page)
	if code != 200 || m == nil {
		b.t.Fatalf("login page: %d %s", code, page)
	}
	code, _ = b.do("POST", "/oauth/login", url.Values{"return_to": {"/"}, "csrf": {m[1]}, "username": {user}, "password": {password}})
	return code
}

// TestHostileLoginCannotLockOutOrLogOut: through the built binary, a stranger's
// wrong passwords for alice from another address do not stop alice signing in
// from hers, and a stranger holding alice's ID token cannot end her sessions with
// end_session: the gate asks for confirmation and ends nothing.
func TestHostileLoginCannotLockOutOrLogOut(t *testing.T) {
	env := gateEnv(t, storagetest.EmptyDatabase(t))
	env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = "bootstrap passphrase for e2e"
	// The test's browsers all connect from 127.0.0.1; a trusted proxy on loopback
	// lets each one name its own address (documentation ranges, only in a header).
	env["MLFLOW_GATE_TRUSTED_PROXIES"] = "127.0.0.1/32"
	g := startGate(t, env)
	const pw = "correct horse battery staple"
	if out, err := cli(t, env, pw+"\n", "user", "add", "alice", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}

	stranger := newBrowser(t, g.URL, "203.0.113.9")
	for i := 0; i < 12; i++ {
		if code := stranger.login("alice", "wrong password number "+string(rune('a'+i))); code == http.StatusSeeOther {
			t.Fatal("a wrong password signed in")
		}
	}
	if code := stranger.login("alice", pw); code != http.StatusTooManyRequests {
		t.Errorf("the stranger's address is not slowed down after 12 failures: %d", code)
	}
	alice := newBrowser(t, g.URL, "198.51.100.7")
	if code := alice.login("alice", pw); code != http.StatusSeeOther {
		t.Fatalf("alice is locked out by a stranger's guesses: %d", code)
	}

	// Another of alice's sign-ins (the authlib client's own browser) gave an ID
	// token whose sid names that session.
	_, idToken := loginTokens(t, g.URL, "alice", pw)
	before := mustSessions(t, env)
	if n := strings.Count(before, "active"); n < 2 {
		t.Fatalf("want two active sessions of alice:\n%s", before)
	}
	stranger.client.CheckRedirect = nil // follow end_session to wherever it sends the browser
	code, page := stranger.do("GET", "/oauth/end_session?id_token_hint="+url.QueryEscape(idToken), nil)
	if code != http.StatusOK || !strings.Contains(strings.ToLower(page), "sign out") && !strings.Contains(strings.ToLower(page), "log out") {
		t.Errorf("end_session from another browser: %d, want the confirmation page\n%.300s", code, page)
	}
	if after := mustSessions(t, env); strings.Count(after, "active") != strings.Count(before, "active") {
		t.Fatalf("a stranger's end_session ended alice's sessions:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func mustSessions(t *testing.T, env map[string]string) string {
	t.Helper()
	out, err := cli(t, env, "", "session", "list", "--user", "alice")
	if err != nil {
		t.Fatalf("session list: %v\n%s", err, out)
	}
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "session") {
			rows = append(rows, l)
		}
	}
	return strings.Join(rows, "\n")
}
