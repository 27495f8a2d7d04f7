package idp

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mlflow-gate/mlflow-gate/idp/password"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

func TestLoginPageHeadersAndCookies(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	b := e.browser()
	pg := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if !strings.Contains(pg.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		pg.header.Get("X-Frame-Options") != "DENY" || pg.header.Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(pg.header.Get("Content-Type"), "text/html") {
		t.Errorf("login page headers: %v", pg.header)
	}
	// The authorization response set the browser-binding cookie.
	u, _ := url.Parse(e.issuer)
	var names []string
	for _, c := range b.c.Jar.Cookies(u) {
		names = append(names, c.Name)
	}
	if len(names) != 1 || names[0] != "mlflow-gate-browser" {
		t.Errorf("cookies before login: %v", names)
	}
	// Login sets the SSO cookie: HttpOnly, Lax, and rotated at each login.
	form := url.Values{"username": {"admin"}, "password": {adminPassword}}
	for _, m := range hiddenRE.FindAllStringSubmatch(pg.body, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	resp, err := b.c.PostForm(e.issuer+PathLogin, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sso *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "mlflow-gate-sso" {
			sso = c
		}
	}
	if sso == nil || !sso.HttpOnly || sso.SameSite != http.SameSiteLaxMode || sso.Path != "/" || sso.Secure {
		t.Fatalf("SSO cookie: %+v", sso)
	}
	// A login page for a plain sign-in accepts only paths on the issuer.
	for _, bad := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "/%0d%0aSet-Cookie:x"} {
		pg := b.get(e.issuer + PathLogin + "?return_to=" + url.QueryEscape(bad))
		if pg.status != http.StatusBadRequest {
			t.Errorf("return_to %q accepted: %d", bad, pg.status)
		}
	}
	pg = b.get(e.issuer + PathLogin + "?return_to=" + url.QueryEscape("/admin/users?x=1"))
	pg = b.login(pg, "admin", adminPassword)
	if pg.url.Path != "/admin/users" || pg.url.RawQuery != "x=1" || pg.url.Host != u.Host {
		t.Errorf("return after login went to %s", pg.url)
	}
	if _, ok := e.p.SessionUser(&http.Request{Header: http.Header{"Cookie": {cookieHeader(b, e)}}}); !ok {
		t.Error("SessionUser does not see the session")
	}
}

func cookieHeader(b *browser, e *env) string {
	u, _ := url.Parse(e.issuer)
	var parts []string
	for _, c := range b.c.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

func TestLoginBoundToBrowserAndCSRF(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	victim := e.browser()
	pg := victim.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	// Another browser opening the victim's login URL is refused.
	other := e.browser()
	if got := other.get(pg.url.String()); got.status != http.StatusBadRequest || strings.Contains(got.body, `name="password"`) {
		t.Fatalf("login page in another browser: %d", got.status)
	}
	// A forged post without the CSRF token is refused.
	form := url.Values{"username": {"admin"}, "password": {adminPassword}, "auth": {pg.url.Query().Get("auth")}}
	resp, err := victim.c.PostForm(e.issuer+PathLogin, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("post without CSRF token: %d", resp.StatusCode)
	}
	// A cross-site post is refused by the origin check.
	req, _ := http.NewRequest(http.MethodPost, e.issuer+PathLogin, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = victim.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", resp.StatusCode)
	}
}

func TestLoginThrottling(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.AccountThrottle = storage.LoginThrottle{Free: 3, Base: time.Minute, Max: 10 * time.Minute, Window: time.Hour}
	})
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	b := e.browser()
	start := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	// Unknown user and wrong password: same status, same message.
	unknown := b.login(start, "nobody", "whatever whatever")
	wrong := b.login(start, "admin", "wrong wrong wrong")
	if unknown.status != http.StatusUnauthorized || wrong.status != http.StatusUnauthorized ||
		!strings.Contains(unknown.body, msgBadCredentials) || !strings.Contains(wrong.body, msgBadCredentials) {
		t.Fatalf("unknown user %d, wrong password %d", unknown.status, wrong.status)
	}
	for range 3 {
		b.login(start, "admin", "wrong wrong wrong")
	}
	// Four failures of admin, three free: the account is locked, even for the right password.
	locked := b.login(start, "admin", adminPassword)
	if locked.status != http.StatusTooManyRequests || locked.header.Get("Retry-After") == "" {
		t.Fatalf("after 4 failures: %d", locked.status)
	}
	// The lock is temporary.
	e.clock.Advance(2 * time.Minute)
	if pg := b.login(start, "admin", adminPassword); pg.status != http.StatusSeeOther {
		t.Fatalf("after the lock expired: %d %.200s", pg.status, pg.body)
	}
	events, err := e.st.ListEvents(e.ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, ev := range events {
		counts[ev.Action]++
		if strings.Contains(ev.Actor+ev.RemoteAddr, "wrong") {
			t.Errorf("audit event holds a password: %+v", ev)
		}
	}
	if counts["login.failure"] != 6 || counts["login.success"] != 1 { // 1 unknown, 4 wrong, 1 while locked
		t.Errorf("audit counts: %v", counts)
	}
}

func TestLoginBusyHasher(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Hasher = password.NewHasher(password.DefaultParams, 1)
		c.HashWait = time.Millisecond
	})
	// A user whose stored hash has the real cost, so that checks overlap.
	h, err := password.Hash("dave's long passphrase", password.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateUser(e.ctx, "test", "dave", h); err != nil {
		t.Fatal(err)
	}
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	b := e.browser()
	start := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	results := make(chan int, 12)
	for range 12 {
		go func() { results <- b.login(start, "dave", "dave's long passphrase").status }()
	}
	busy := 0
	for range 12 {
		s := <-results
		if s == http.StatusTooManyRequests {
			busy++
		} else if s >= 500 {
			t.Errorf("login under load: %d", s)
		}
	}
	if busy == 0 {
		t.Error("no login was refused with 429 while the hasher was saturated")
	}
}
