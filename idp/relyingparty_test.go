package idp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// What relying parties other than MLflow meet with their default settings:
// RS256 ID tokens unless a client asks otherwise, profile and email claims,
// the groups claim, one rule for redirect URIs, and back-channel logout.

// webLogin registers a confidential code-flow client (redirect
// http://127.0.0.1/cb) with spec's other settings, logs admin in through it
// and returns the tokens.
func (e *env) webLogin(t *testing.T, spec ClientSpec, scopes ...string) (*oauth2.Token, *browser) {
	t.Helper()
	spec.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	spec.RedirectURIs = []string{"http://127.0.0.1/cb"}
	secret, err := createClient(e.ctx, e.st, spec)
	if err != nil {
		t.Fatal(err)
	}
	return e.codeLogin(t, spec.ID, secret, scopes...)
}

// codeLogin signs admin in through a confidential client with redirect
// http://127.0.0.1/cb in a new browser and exchanges the code.
func (e *env) codeLogin(t *testing.T, id, secret string, scopes ...string) (*oauth2.Token, *browser) {
	t.Helper()
	cfg := e.oauth(id, "http://127.0.0.1/cb", scopes...)
	cfg.ClientSecret = secret
	b := e.browser()
	v := oauth2.GenerateVerifier()
	tok, err := cfg.Exchange(e.ctx, b.authorize(cfg, v, "admin", adminPassword), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	return tok, b
}

func TestIDTokenAlgorithmPerClient(t *testing.T) {
	for _, accessAlg := range []string{AlgES256, AlgRS256} {
		t.Run("access "+accessAlg, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.SigningAlg = accessAlg })
			rp, err := oidc.NewProvider(e.ctx, e.issuer) // discovery, as a relying party reads it
			if err != nil {
				t.Fatal(err)
			}
			var d struct {
				Algs []string `json:"id_token_signing_alg_values_supported"`
			}
			if err := rp.Claims(&d); err != nil || !slices.Equal(d.Algs, []string{AlgRS256, AlgES256}) {
				t.Fatalf("id_token_signing_alg_values_supported = %v (%v)", d.Algs, err)
			}
			jwks := e.p.keys.jwks()
			have := map[string]bool{}
			for _, k := range jwks.Keys {
				have[k.Algorithm] = true
			}
			if !have[AlgRS256] || !have[AlgES256] {
				t.Fatalf("JWKS algorithms %v, want both", have)
			}
			for _, tc := range []struct{ client, alg, want string }{
				{"default-app", "", AlgRS256}, {"rs-app", AlgRS256, AlgRS256}, {"es-app", AlgES256, AlgES256},
			} {
				tok, _ := e.webLogin(t, ClientSpec{ID: tc.client, IDTokenAlg: tc.alg})
				raw, _ := tok.Extra("id_token").(string)
				idHdr, _, _, _, err := splitJWS(raw)
				if err != nil || idHdr.Alg != tc.want {
					t.Errorf("%s: ID token alg %q (%v), want %s", tc.client, idHdr.Alg, err, tc.want)
				}
				// A relying party that pins RS256, the common default, or takes
				// whatever discovery offers, verifies it.
				pinned := []string{tc.want}
				if _, err := rp.Verifier(&oidc.Config{ClientID: tc.client, SupportedSigningAlgs: pinned}).Verify(e.ctx, raw); err != nil {
					t.Errorf("%s: ID token does not verify: %v", tc.client, err)
				}
				atHdr, _, _, _, err := splitJWS(tok.AccessToken)
				if err != nil || atHdr.Alg != accessAlg {
					t.Errorf("%s: access token alg %q, want %s", tc.client, atHdr.Alg, accessAlg)
				}
				if _, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken); err != nil {
					t.Errorf("%s: access token refused: %v", tc.client, err)
				}
			}
		})
	}
	if _, _, err := NewClient(ClientSpec{ID: "bad-alg", GrantTypes: []string{GrantClientCredentials}, IDTokenAlg: "HS256"}); err == nil ||
		!strings.Contains(err.Error(), "use RS256 or ES256") {
		t.Errorf("HS256 accepted: %v", err)
	}
}

func TestProfileAndGroupsClaims(t *testing.T) {
	e := newEnv(t)
	if err := e.st.SetProfile(e.ctx, testActor, "admin", storage.Profile{Email: "ada@example.com", EmailVerified: true,
		Name: "Ada Lovelace", GivenName: "Ada", FamilyName: "Lovelace"}); err != nil {
		t.Fatal(err)
	}
	rp, err := oidc.NewProvider(e.ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	type claims struct {
		Username      string   `json:"preferred_username"`
		Name          string   `json:"name"`
		Given         string   `json:"given_name"`
		Family        string   `json:"family_name"`
		Email         string   `json:"email"`
		EmailVerified *bool    `json:"email_verified"`
		Groups        []string `json:"groups"`
		Roles         []string `json:"roles"`
	}
	check := func(what string, got claims, profile, email bool) {
		t.Helper()
		if !slices.Contains(got.Groups, storage.RoleAdmin) || !slices.Equal(got.Groups, got.Roles) {
			t.Errorf("%s: groups %v, roles %v", what, got.Groups, got.Roles)
		}
		if profile != (got.Name == "Ada Lovelace" && got.Given == "Ada" && got.Family == "Lovelace" && got.Username == "admin") {
			t.Errorf("%s: profile claims %+v, want them %v", what, got, profile)
		}
		if email != (got.Email == "ada@example.com" && got.EmailVerified != nil && *got.EmailVerified) {
			t.Errorf("%s: email claims %+v, want them %v", what, got, email)
		}
	}
	for name, tc := range map[string]struct {
		scopes         []string
		profile, email bool
	}{
		"profile and email": {[]string{"openid", "profile", "email"}, true, true},
		"openid only":       {[]string{"openid"}, false, false},
		"email only":        {[]string{"openid", "email"}, false, true},
	} {
		t.Run(name, func(t *testing.T) {
			id := strings.ReplaceAll(name, " ", "-")
			tok, _ := e.webLogin(t, ClientSpec{ID: id}, tc.scopes...)
			raw, _ := tok.Extra("id_token").(string)
			idt, err := rp.Verifier(&oidc.Config{ClientID: id}).Verify(e.ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			var c claims
			if err := idt.Claims(&c); err != nil {
				t.Fatal(err)
			}
			check("ID token", c, tc.profile, tc.email)
			ui, err := rp.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatal(err)
			}
			var uc claims
			if err := ui.Claims(&uc); err != nil {
				t.Fatal(err)
			}
			check("userinfo", uc, tc.profile, tc.email)
		})
	}

	// An unverified email says so (false, not absent), and a changed name
	// reaches userinfo at once.
	if err := e.st.SetProfile(e.ctx, testActor, "admin", storage.Profile{Email: "ada@example.org", Name: "Ada King"}); err != nil {
		t.Fatal(err)
	}
	tok, _ := e.webLogin(t, ClientSpec{ID: "after-change"}, "openid", "profile", "email")
	req, _ := http.NewRequest(http.MethodGet, e.issuer+PathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if raw["email_verified"] != false || raw["email"] != "ada@example.org" || raw["name"] != "Ada King" {
		t.Errorf("userinfo after the change: %v", raw)
	}

	// The claim's name is configurable, and can be left out.
	for claim, want := range map[string]string{"memberOf": "memberOf", NoGroupsClaim: ""} {
		e2 := newEnv(t, func(c *Config) { c.GroupsClaim = claim })
		tok, _ := e2.webLogin(t, ClientSpec{ID: "app"})
		raw, _ := tok.Extra("id_token").(string)
		_, _, payload, _, _ := splitJWS(raw)
		var m map[string]any
		_ = json.Unmarshal(payload, &m)
		_, hasGroups := m["groups"]
		_, hasWant := m[want]
		if hasGroups || (want != "" && !hasWant) {
			t.Errorf("groups claim %q: ID token %v", claim, m)
		}
	}
	if _, err := New(e.ctx, Config{Issuer: e.issuer, CookieHashKey: key32(), CookieBlockKey: key32(), CodeKey: key32(),
		KeyEncryptionKey: key32(), GroupsClaim: "sub"}, e.st, nil); err == nil || !strings.Contains(err.Error(), "groups claim") {
		t.Errorf("groups claim named sub: %v", err)
	}
}

// TestRedirectRuleIsOne: whatever registration accepts, authorization
// accepts (a public client's http loopback redirect included), and each
// refusal names its reason.
func TestRedirectRuleIsOne(t *testing.T) {
	e := newEnv(t)
	for _, uri := range []string{"http://127.0.0.1:8765/cb", "http://localhost:8765/cb", "http://[::1]:8765/cb"} {
		id := "spa-" + strings.NewReplacer(":", "", "/", "", ".", "", "[", "", "]", "").Replace(uri)
		if _, err := createClient(e.ctx, e.st, ClientSpec{ID: id, Public: true, GrantTypes: []string{GrantAuthorizationCode},
			RedirectURIs: []string{uri}}); err != nil {
			t.Fatalf("%s: registration refused: %v", uri, err)
		}
		cfg := e.oauth(id, uri, "openid")
		v := oauth2.GenerateVerifier()
		if _, err := cfg.Exchange(e.ctx, e.browser().authorize(cfg, v, "admin", adminPassword), oauth2.VerifierOption(v)); err != nil {
			t.Errorf("%s: registered, but the flow fails: %v", uri, err)
		}
	}
	for uri, reason := range map[string]string{
		"http://app.example/cb":     "plain http only on a loopback address",
		"https://app.example/cb#x":  "must not have a fragment",
		"https://u:p@app.example/":  "must not carry a user name",
		"com.example.app:/cb":       "is for native apps",
		"/relative":                 "absolute",
		"https://app.example/a b":   "without spaces",
		"https://app.example:0/cb":  "the port must be",
		"ftp://app.example/cb":      "use https",
		"http://127.0.0.1:8765/cb2": "is not registered",
	} {
		c := storage.Client{RedirectURIs: []string{"http://127.0.0.1:8765/cb"}}
		err := checkAuthRedirect(&c, uri)
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: %v, want %q", uri, err, reason)
		}
		if reason != "is not registered" {
			if _, _, err := NewClient(ClientSpec{ID: "x-app", Public: true, GrantTypes: []string{GrantAuthorizationCode},
				RedirectURIs: []string{uri}}); err == nil || !strings.Contains(err.Error(), reason) {
				t.Errorf("registration of %s: %v, want %q", uri, err, reason)
			}
		}
	}
	// The authorization endpoint shows the reason too, and redirects nothing.
	pg := e.browser().get(e.oauth(storage.CLIClientID, "http://127.0.0.1/other").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if pg.status != http.StatusBadRequest || pg.header.Get("Location") != "" || !strings.Contains(pg.body, "not registered for this client") {
		t.Errorf("unregistered redirect: %d %q %.300s", pg.status, pg.header.Get("Location"), pg.body)
	}
}

// TestClientUpdate: a client changed in place keeps its id, secret and
// tokens; the result meets the rules of a new client.
func TestClientUpdate(t *testing.T) {
	e := newEnv(t)
	tok, _ := e.webLogin(t, ClientSpec{ID: "app"})
	old, err := e.st.ClientByID(e.ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	alg, uris := AlgES256, []string{"http://127.0.0.1/cb", "https://app.example/cb"}
	up := ClientUpdate{IDTokenAlg: &alg, RedirectURIs: &uris}
	got, err := e.st.UpdateClient(e.ctx, testActor, "app", up.Apply)
	if err != nil {
		t.Fatal(err)
	}
	if got.IDTokenAlg != AlgES256 || !slices.Equal(got.RedirectURIs, uris) || !slices.Equal(got.SecretHash, old.SecretHash) ||
		!slices.Equal(got.GrantTypes, old.GrantTypes) {
		t.Errorf("updated client = %+v", got)
	}
	if _, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken); err != nil {
		t.Errorf("an update ended the client's tokens: %v", err)
	}
	tok2, _ := e.webLoginExisting(t, "app")
	raw, _ := tok2.Extra("id_token").(string)
	if h, _, _, _, _ := splitJWS(raw); h.Alg != AlgES256 {
		t.Errorf("after the update, ID token alg %s", h.Alg)
	}
	bad := "https://app.example/cb#frag"
	none := []string{}
	for name, up := range map[string]ClientUpdate{
		"fragment":          {BackchannelLogoutURI: &bad},
		"no redirect":       {RedirectURIs: &none},
		"roles without cc":  {Roles: &[]string{storage.RoleDefault}},
		"unknown algorithm": {IDTokenAlg: new("none")},
	} {
		if _, err := e.st.UpdateClient(e.ctx, testActor, "app", up.Apply); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	if _, err := e.st.UpdateClient(e.ctx, testActor, "nope", up.Apply); !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown client: %v", err)
	}
	after, _ := e.st.ClientByID(e.ctx, "app")
	if after.IDTokenAlg != AlgES256 || !slices.Equal(after.RedirectURIs, uris) {
		t.Errorf("a refused update changed the client: %+v", after)
	}
}

// webLoginExisting logs admin in again through an existing client whose
// secret is not known: it rotates one in first.
func (e *env) webLoginExisting(t *testing.T, id string) (*oauth2.Token, *browser) {
	t.Helper()
	secret, hash := NewClientSecret()
	if err := e.st.SetClientSecret(e.ctx, testActor, id, hash); err != nil {
		t.Fatal(err)
	}
	return e.codeLogin(t, id, secret)
}

// TestReplayRevokesBeforeAnswering: the replica that sees a code or a
// refresh token used twice refuses their tokens before it answers, without
// waiting for its own notification (held back here).
func TestReplayRevokesBeforeAnswering(t *testing.T) {
	e := newEnv(t)
	hold := &holdFeed{}
	_ = e.p.Close() // the provider's own feed stops; this one holds every change back
	feed := storage.NewFeed(e.st, nil)
	feed.Subscribe("hold", hold)
	e.p.ver.Subscribe(feed)
	if err := feed.Connect(e.ctx); err != nil {
		t.Fatal(err)
	}
	go func() { _ = feed.Run(e.ctx) }()
	t.Cleanup(func() { hold.release(); feed.Close() })

	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	v := oauth2.GenerateVerifier()
	code := e.browser().authorize(cfg, v, "admin", adminPassword)
	tok, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	hold.block()
	if _, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(v)); oauthError(err) != "invalid_grant" {
		t.Fatalf("replayed code: %v", err)
	}
	if _, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken); !errors.Is(err, ErrRevoked) {
		t.Fatalf("right after the replay's answer, its access token: %v (want revoked)", err)
	}
	hold.release()

	// A reused refresh token: the family's newest access token is refused
	// as soon as the reuse is answered.
	code = e.browser().authorize(cfg, v, "admin", adminPassword)
	tok, err = cfg.Exchange(e.ctx, code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	next, err := cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	hold.block()
	if _, err := cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthError(err) != "invalid_grant" {
		t.Fatalf("reused refresh token: %v", err)
	}
	if _, err := e.p.Verifier().Verify(e.ctx, next.AccessToken); !errors.Is(err, ErrRevoked) {
		t.Fatalf("right after the reuse's answer, the family's access token: %v (want revoked)", err)
	}
}

// holdFeed is a subscriber ahead of the verifier that can hold every change
// back, as a slow notification would.
type holdFeed struct {
	mu   sync.Mutex
	gate chan struct{}
}

func (h *holdFeed) block() {
	h.mu.Lock()
	h.gate = make(chan struct{})
	h.mu.Unlock()
}

func (h *holdFeed) release() {
	h.mu.Lock()
	if h.gate != nil {
		close(h.gate)
		h.gate = nil
	}
	h.mu.Unlock()
}

func (h *holdFeed) Reload(context.Context) error { return nil }
func (h *holdFeed) Changed(ctx context.Context, _ storage.Change) error {
	h.mu.Lock()
	g := h.gate
	h.mu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-ctx.Done():
		}
	}
	return nil
}

// logoutReceiver is a relying party's back-channel logout endpoint.
type logoutReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tokens []string
	fail   int // answer 500 this many times first
}

func newLogoutReceiver(t *testing.T) *logoutReceiver {
	r := &logoutReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		form, _ := url.ParseQuery(string(body))
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || form.Get("logout_token") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.fail > 0 {
			r.fail--
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		r.tokens = append(r.tokens, form.Get("logout_token"))
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *logoutReceiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.tokens)
}

func TestBackchannelLogout(t *testing.T) {
	e := newEnv(t)
	rp, err := oidc.NewProvider(e.ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		BCL     bool `json:"backchannel_logout_supported"`
		Session bool `json:"backchannel_logout_session_supported"`
	}
	if err := rp.Claims(&d); err != nil || !d.BCL || !d.Session {
		t.Fatalf("discovery: %+v %v", d, err)
	}
	rsApp, esApp, other := newLogoutReceiver(t), newLogoutReceiver(t), newLogoutReceiver(t)
	// Another browser's session with a third app, which must not hear of
	// this browser's logout.
	e.webLogin(t, ClientSpec{ID: "other-app", BackchannelLogoutURI: other.srv.URL + "/logout"})
	tok, b := e.webLogin(t, ClientSpec{ID: "rs-app", BackchannelLogoutURI: rsApp.srv.URL + "/logout"})
	// The same browser session signs in to a second app (SSO), which uses
	// ES256.
	secret, err := createClient(e.ctx, e.st, ClientSpec{ID: "es-app", IDTokenAlg: AlgES256, GrantTypes: []string{GrantAuthorizationCode},
		RedirectURIs: []string{"http://127.0.0.1/cb"}, BackchannelLogoutURI: esApp.srv.URL + "/logout"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.oauth("es-app", "http://127.0.0.1/cb", "openid")
	cfg.ClientSecret = secret
	v := oauth2.GenerateVerifier()
	esTok, err := cfg.Exchange(e.ctx, b.authorize(cfg, v, "admin", adminPassword), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := rp.Verifier(&oidc.Config{ClientID: "rs-app"}).Verify(e.ctx, rawID)
	if err != nil {
		t.Fatal(err)
	}
	var sid struct {
		SID string `json:"sid"`
	}
	_ = idt.Claims(&sid)

	pg := b.get(e.issuer + PathEndSession + "?" + url.Values{"id_token_hint": {rawID}}.Encode())
	if pg.status != http.StatusOK || pg.url.Path != PathLoggedOut {
		t.Fatalf("logout: %d at %s", pg.status, pg.url)
	}
	eventually(t, "both logout tokens", func() bool { return len(rsApp.received()) == 1 && len(esApp.received()) == 1 })

	// Each is a logout token the relying party's library verifies, signed
	// with its client's algorithm, for the session that ended.
	for _, tc := range []struct {
		client, alg string
		got         []string
	}{{"rs-app", AlgRS256, rsApp.received()}, {"es-app", AlgES256, esApp.received()}} {
		raw := tc.got[0]
		hdr, _, payload, _, err := splitJWS(raw)
		if err != nil || hdr.Typ != typLogoutToken || hdr.Alg != tc.alg {
			t.Errorf("%s: header %+v %v", tc.client, hdr, err)
		}
		lt, err := rp.Verifier(&oidc.Config{ClientID: tc.client, SupportedSigningAlgs: []string{tc.alg}}).Verify(e.ctx, raw)
		if err != nil {
			t.Errorf("%s: logout token does not verify: %v", tc.client, err)
			continue
		}
		var c map[string]any
		_ = json.Unmarshal(payload, &c)
		events, _ := c["events"].(map[string]any)
		_, hasNonce := c["nonce"]
		if _, ok := events[backchannelEvent]; !ok || hasNonce || c["sid"] != sid.SID || lt.Subject != idt.Subject || c["jti"] == "" {
			t.Errorf("%s: logout token claims %v", tc.client, c)
		}
	}
	if got := other.received(); len(got) != 0 {
		t.Errorf("a client of another session was told of this logout: %v", got)
	}
	if _, err := e.p.Verifier().Verify(e.ctx, esTok.AccessToken); !errors.Is(err, ErrRevoked) {
		t.Errorf("the second app's access token after logout: %v", err)
	}

	// A receiver that fails is tried again, with backoff, until it answers.
	flaky := newLogoutReceiver(t)
	flaky.fail = 1
	_, b2 := e.webLogin(t, ClientSpec{ID: "flaky-app", BackchannelLogoutURI: flaky.srv.URL + "/logout"})
	sess, _ := b2.session(t)
	if err := e.st.RevokeSession(e.ctx, sess, e.clock.Now()); err != nil { // an administrator ends it
		t.Fatal(err)
	}
	eventually(t, "the first, failed attempt", func() bool {
		flaky.mu.Lock()
		defer flaky.mu.Unlock()
		return flaky.fail == 0
	})
	if len(flaky.received()) != 0 {
		t.Fatal("delivered before the retry")
	}
	e.clock.Advance(logoutRetryAfter[0] + time.Second)
	e.p.bc.wake()
	eventually(t, "the retry", func() bool { return len(flaky.received()) == 1 })
	var left int
	if err := e.st.Pool.QueryRow(e.ctx, `SELECT count(*) FROM backchannel_logouts`).Scan(&left); err != nil || left != 0 {
		t.Errorf("queue after delivery: %d %v", left, err)
	}
}

// session is the id of the SSO session the browser holds, from an ID token
// of the command-line client.
func (b *browser) session(t *testing.T) (string, *oauth2.Token) {
	t.Helper()
	cfg := b.e.oauth(storage.CLIClientID, cliRedirect, "openid")
	v := oauth2.GenerateVerifier()
	tok, err := cfg.Exchange(b.e.ctx, b.authorize(cfg, v, "admin", adminPassword), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.e.p.Verifier().Verify(b.e.ctx, tok.AccessToken)
	if err != nil || p.SessionID == "" {
		t.Fatalf("no session: %+v %v", p, err)
	}
	return p.SessionID, tok
}

// TestEndSessionWithClientID: no id_token_hint, but the client's id and a
// post-logout URI it registered: the person confirms, the session ends and
// the browser goes back to the client with its state.
func TestEndSessionWithClientID(t *testing.T) {
	e := newEnv(t)
	secret, err := createClient(e.ctx, e.st, ClientSpec{ID: "webapp", GrantTypes: []string{GrantAuthorizationCode},
		RedirectURIs: []string{"http://127.0.0.1/cb"}, PostLogoutRedirectURIs: []string{"http://127.0.0.1/bye"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.oauth("webapp", "http://127.0.0.1/cb", "openid")
	cfg.ClientSecret = secret
	b := e.browser()
	v := oauth2.GenerateVerifier()
	tok, err := cfg.Exchange(e.ctx, b.authorize(cfg, v, "admin", adminPassword), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"client_id": {"webapp"}, "post_logout_redirect_uri": {"http://127.0.0.1/bye"}, "state": {"s-1"}}
	pg := b.get(e.issuer + PathEndSession + "?" + q.Encode())
	if pg.status != http.StatusOK || pg.url.Path != PathLogoutConfirm || !strings.Contains(pg.body, "Sign out") {
		t.Fatalf("end_session with client_id: %d at %s", pg.status, pg.url)
	}
	if _, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken); err != nil {
		t.Fatalf("the confirmation page alone ended the session: %v", err)
	}
	done := b.confirmForm(pg)
	if done.status != http.StatusSeeOther || done.header.Get("Location") != "http://127.0.0.1/bye?state=s-1" {
		t.Fatalf("confirmed: %d %q", done.status, done.header.Get("Location"))
	}
	if _, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after the confirmed logout: %v", err)
	}
	q.Set("post_logout_redirect_uri", "http://127.0.0.1/elsewhere")
	if pg := b.get(e.issuer + PathEndSession + "?" + q.Encode()); pg.status != http.StatusBadRequest || pg.header.Get("Location") != "" {
		t.Errorf("unregistered post-logout URI: %d %q", pg.status, pg.header.Get("Location"))
	}
}
