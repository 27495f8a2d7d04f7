package idp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mlflow-gate/mlflow-gate/idp/password"
	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// testParams keeps argon2id cheap in protocol tests (the benchmark measures
// the real cost).
var testParams = password.Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const (
	adminPassword = "correct horse battery staple"
	cliRedirect   = "http://127.0.0.1/callback"
)

// clock is an adjustable time source shared by the provider and the test.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

type env struct {
	t      testing.TB
	ctx    context.Context
	st     *storage.Store
	p      *Provider
	srv    *httptest.Server
	issuer string
	clock  *clock
}

func key32() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// newEnv starts a provider on a fresh database behind an httptest server,
// with the bootstrap admin and the command-line client.
func newEnv(t testing.TB, mod ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	st := storagetest.Store(t)
	h, err := password.Hash(adminPassword, testParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Bootstrap(ctx, storage.BootstrapAdmin{Username: "admin", PasswordHash: h}, storage.Client{
		ID: storage.CLIClientID, Public: true, Native: true, GrantTypes: []string{"authorization_code", "refresh_token", GrantDeviceCode},
		RedirectURIs: []string{cliRedirect, "http://[::1]/callback"},
		Scopes:       append(slices.Clone(DefaultClientScopes), ScopeMLflow),
	}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	clk := &clock{}
	cfg := Config{
		Issuer: srv.URL, CookieHashKey: key32(), CookieBlockKey: key32(), CodeKey: key32(), KeyEncryptionKey: key32(),
		Hasher: password.NewHasher(testParams, 4), Now: clk.Now,
	}
	for _, m := range mod {
		m(&cfg)
	}
	var logger *slog.Logger
	if os.Getenv("IDP_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	p, err := New(ctx, cfg, st, logger)
	if err != nil {
		t.Fatal(err)
	}
	p.Mount(mux)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return &env{t: t, ctx: ctx, st: st, p: p, srv: srv, issuer: srv.URL, clock: clk}
}

// addUser creates an enabled user holding the Default role.
func (e *env) addUser(name, pw string) storage.User {
	e.t.Helper()
	h, err := password.Hash(pw, testParams)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := e.st.CreateUser(e.ctx, testActor, name, h)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.GrantRole(e.ctx, testActor, storage.RoleDefault, name); err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) oauth(clientID, redirect string, scopes ...string) *oauth2.Config {
	if len(scopes) == 0 {
		scopes = []string{"openid", "profile", "offline_access"}
	}
	return &oauth2.Config{
		ClientID:    clientID,
		Endpoint:    oauth2.Endpoint{AuthURL: e.issuer + PathAuthorize, TokenURL: e.issuer + PathToken, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirect,
		Scopes:      scopes,
	}
}

// browser is a cookie-keeping client that follows redirects on the issuer
// and stops at the first one leaving it (the client's redirect_uri).
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), e.issuer) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return &browser{e: e, c: c}
}

var hiddenRE = regexp.MustCompile(`name="(auth|return_to|csrf)" value="([^"]*)"`)

// page is a response with its body read.
type page struct {
	status int
	header http.Header
	url    *url.URL
	body   string
}

func (b *browser) get(u string) page {
	b.e.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return readPage(b.e.t, resp)
}

func readPage(t testing.TB, resp *http.Response) page {
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, url: resp.Request.URL, body: string(body)}
}

// login posts the login form found on pg.
func (b *browser) login(pg page, username, pw string) page {
	b.e.t.Helper()
	if pg.status != http.StatusOK || !strings.Contains(pg.body, `name="password"`) {
		b.e.t.Fatalf("expected the login form, got %d at %s: %.300s", pg.status, pg.url, pg.body)
	}
	form := url.Values{"username": {username}, "password": {pw}}
	for _, m := range hiddenRE.FindAllStringSubmatch(pg.body, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	resp, err := b.c.PostForm(b.e.issuer+PathLogin, form)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return readPage(b.e.t, resp)
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#x2F;", "/")
	return r.Replace(s)
}

// callback extracts the authorization response from a redirect to the client.
func callback(t testing.TB, pg page) url.Values {
	t.Helper()
	loc := pg.header.Get("Location")
	if pg.status != http.StatusFound && pg.status != http.StatusSeeOther || loc == "" {
		t.Fatalf("expected a redirect to the client, got %d: %.300s", pg.status, pg.body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// authorize runs the browser part of the code flow and returns the code.
func (b *browser) authorize(cfg *oauth2.Config, verifier, user, pw string, opts ...oauth2.AuthCodeOption) string {
	b.e.t.Helper()
	opts = append(opts, oauth2.S256ChallengeOption(verifier))
	pg := b.get(cfg.AuthCodeURL("st4te", opts...))
	if strings.Contains(pg.body, `name="password"`) {
		pg = b.login(pg, user, pw)
	}
	q := callback(b.e.t, pg)
	if q.Get("state") != "st4te" || q.Get("code") == "" || q.Get("iss") != b.e.issuer {
		b.e.t.Fatalf("bad authorization response: %v", q)
	}
	return q.Get("code")
}

// oauthError extracts the OAuth error code from an oauth2 library error.
func oauthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	if err == nil {
		return ""
	}
	return fmt.Sprintf("not an OAuth error: %v", err)
}

// eventually polls cond for up to 3s: notifications are asynchronous.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
