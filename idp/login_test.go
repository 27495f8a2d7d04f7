package idp

import (
	"fmt"
	"net/http"
	"net/netip"
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
		c.AccountAddressThrottle = storage.LoginThrottle{Free: 3, Base: time.Minute, Max: 10 * time.Minute, Window: time.Hour}
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
	if _, err := e.st.CreateUser(e.ctx, testActor, "dave", h); err != nil {
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

// fromAddr makes b's requests arrive through the trusted proxy as from addr.
type fromAddr struct {
	addr *string
	next http.RoundTripper
}

func (f fromAddr) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", *f.addr)
	return f.next.RoundTrip(r)
}

func (e *env) browserAt(addr *string) *browser {
	b := e.browser()
	b.c.Transport = fromAddr{addr: addr, next: http.DefaultTransport}
	return b
}

// TestLoginThrottleNoLockout: strangers failing alice's password elsewhere
// neither stop her login from her own address nor, once her browser holds a
// device cookie, from that browser even at the per-account ceiling; the
// attacker is still slowed down.
func TestLoginThrottleNoLockout(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		c.AccountAddressThrottle = storage.LoginThrottle{Free: 3, Base: time.Minute, Max: 10 * time.Minute, Window: time.Hour}
		c.AccountThrottle = storage.LoginThrottle{Free: 10, Base: time.Minute, Max: 10 * time.Minute, Window: time.Hour}
	})
	const alicePW = "alice's long passphrase"
	e.addUser("alice", alicePW)
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	form := func(b *browser) page {
		t.Helper()
		return b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login")))
	}
	attackerAddr, aliceAddr := "198.51.100.7", "203.0.113.5"
	attacker, alice := e.browserAt(&attackerAddr), e.browserAt(&aliceAddr)

	start := form(attacker)
	for i := range 3 {
		if pg := attacker.login(start, "alice", "guess guess guess"); pg.status != http.StatusUnauthorized {
			t.Fatalf("attacker guess %d: %d", i, pg.status)
		}
	}
	// The attacker is slowed down at his address, for every password.
	if pg := attacker.login(start, "alice", "guess guess guess"); pg.status != http.StatusUnauthorized {
		t.Fatalf("4th guess: %d", pg.status)
	}
	if pg := attacker.login(start, "alice", alicePW); pg.status != http.StatusTooManyRequests {
		t.Fatalf("attacker after 4 failures: %d, want 429", pg.status)
	}
	// Alice, from her address, is not held by his failures.
	pg := alice.login(form(alice), "alice", alicePW)
	if pg.status != http.StatusSeeOther {
		t.Fatalf("alice from her own address: %d %.200s", pg.status, pg.body)
	}
	var device string
	for _, c := range pg.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "mlflow-gate-device=") {
			device = c
		}
	}
	if !strings.Contains(device, "HttpOnly") || !strings.Contains(device, "Path=/") {
		t.Fatalf("device cookie after a successful login: %q", device)
	}
	// A distributed guesser reaches the per-account ceiling.
	for i := range 12 {
		attackerAddr = fmt.Sprintf("198.51.100.%d", 20+i)
		attacker.login(form(attacker), "alice", "guess guess guess")
	}
	attackerAddr = "198.51.100.99"
	if pg := attacker.login(form(attacker), "alice", alicePW); pg.status != http.StatusTooManyRequests {
		t.Fatalf("a fresh address past the account ceiling: %d, want 429", pg.status)
	}
	// A browser of alice's without a device cookie is held by the ceiling...
	newBrowser := e.browserAt(&aliceAddr)
	if pg := newBrowser.login(form(newBrowser), "alice", alicePW); pg.status != http.StatusTooManyRequests {
		t.Fatalf("alice's new browser past the ceiling: %d, want 429", pg.status)
	}
	// ...the browser she signed in with before is not.
	if pg := alice.login(form(alice), "alice", alicePW); pg.status != http.StatusSeeOther {
		t.Fatalf("alice's browser with a device cookie past the ceiling: %d %.200s", pg.status, pg.body)
	}
	// A device cookie speaks only for its username and cannot be forged.
	if pg := alice.login(form(alice), "admin", "wrong wrong wrong"); pg.status != http.StatusUnauthorized {
		t.Fatalf("another username from alice's browser: %d", pg.status)
	}
	forged := e.browserAt(&attackerAddr)
	u := mustURL(t, e.issuer)
	forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: "mlflow-gate-device", Value: b64.EncodeToString([]byte("alice")) + "." + newSecret() + "." + newSecret()}})
	if pg := forged.login(form(forged), "alice", alicePW); pg.status != http.StatusTooManyRequests {
		t.Fatalf("a forged device cookie: %d, want 429", pg.status)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
