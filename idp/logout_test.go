package idp

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

func TestLogoutEndsSession(t *testing.T) {
	e := newEnv(t)
	secret, err := createClient(e.ctx, e.st, ClientSpec{ID: "webapp",
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, RedirectURIs: []string{"http://127.0.0.1/cb"},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1/bye"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.oauth("webapp", "http://127.0.0.1/cb")
	cfg.ClientSecret = secret
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	tok, err := cfg.Exchange(e.ctx, b.authorize(cfg, verifier, "admin", adminPassword), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	if _, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	logout := func(kv ...string) page {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return b.get(e.issuer + PathEndSession + "?" + q.Encode())
	}

	// Refused, and nothing redirected: no hint, a post-logout URI not
	// registered exactly, another client's id.
	for name, kv := range map[string][]string{
		"no hint":          {"post_logout_redirect_uri", "http://127.0.0.1/bye"},
		"unregistered uri": {"id_token_hint", idToken, "post_logout_redirect_uri", "http://127.0.0.1/bye/"},
		"another uri":      {"id_token_hint", idToken, "post_logout_redirect_uri", "https://evil.example/"},
		"another client":   {"id_token_hint", idToken, "client_id", "mlflow-gate-cli", "post_logout_redirect_uri", "http://127.0.0.1/bye"},
		"forged hint":      {"id_token_hint", tok.AccessToken},
	} {
		if pg := logout(kv...); pg.status != http.StatusBadRequest || pg.header.Get("Location") != "" {
			t.Errorf("%s: %d %q", name, pg.status, pg.header.Get("Location"))
		}
	}
	if _, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken); err != nil {
		t.Fatalf("a refused logout ended the session: %v", err)
	}

	pg := logout("id_token_hint", idToken, "post_logout_redirect_uri", "http://127.0.0.1/bye", "state", "s1")
	if pg.status != http.StatusFound && pg.status != http.StatusSeeOther || pg.header.Get("Location") != "http://127.0.0.1/bye?state=s1" {
		t.Fatalf("logout: %d %q", pg.status, pg.header.Get("Location"))
	}
	if c := strings.Join(pg.header.Values("Set-Cookie"), "; "); !strings.Contains(c, "mlflow-gate-sso=;") && !strings.Contains(c, "Max-Age=0") {
		t.Errorf("SSO cookie not cleared: %q", c)
	}
	// The session's tokens stop, its refresh token too, and the browser logs in again.
	if _, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken); !errors.Is(err, ErrRevoked) {
		t.Errorf("access token after logout: %v", err)
	}
	if _, err := cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthError(err) != "invalid_grant" {
		t.Errorf("refresh after logout: %v", err)
	}
	if pg := b.get(cfg.AuthCodeURL("x", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); !strings.Contains(pg.body, `name="password"`) {
		t.Errorf("authorization after logout did not ask to log in: %d", pg.status)
	}
	// Without a post-logout URI the browser lands on the provider's page.
	if pg := logout("id_token_hint", idToken); pg.status != 200 || !strings.Contains(pg.body, "signed out") {
		t.Errorf("logout without redirect: %d %.200s", pg.status, pg.body)
	}
}

// confirmForm posts the logout confirmation form found on pg.
func (b *browser) confirmForm(pg page, mod ...func(url.Values)) page {
	b.e.t.Helper()
	if pg.status != http.StatusOK || !strings.Contains(pg.body, `action="/oauth/logout"`) {
		b.e.t.Fatalf("expected the logout confirmation, got %d at %s: %.300s", pg.status, pg.url, pg.body)
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`name="([a-z_]+)" value="([^"]*)"`).FindAllStringSubmatch(pg.body, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	for _, m := range mod {
		m(form)
	}
	resp, err := b.c.PostForm(b.e.issuer+PathLogoutConfirm, form)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return readPage(b.e.t, resp)
}

// TestLogoutIsNotCrossSite: two browsers. Alice's id_token_hint, presented
// by another browser (the attacker's, or any page that makes a browser GET
// end_session), ends nothing of alice's; the other browser is asked to
// confirm, and confirming ends only its own session.
func TestLogoutIsNotCrossSite(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", "alice's long passphrase")
	e.addUser("mallory", "mallory's long passphrase")
	secret, err := createClient(e.ctx, e.st, ClientSpec{ID: "webapp",
		GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: []string{"http://127.0.0.1/cb"},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1/bye"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.oauth("webapp", "http://127.0.0.1/cb", "openid")
	cfg.ClientSecret = secret
	login := func(b *browser, user, pw string) (access, idToken string) {
		t.Helper()
		v := oauth2.GenerateVerifier()
		tok, err := cfg.Exchange(e.ctx, b.authorize(cfg, v, user, pw), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := tok.Extra("id_token").(string)
		return tok.AccessToken, id
	}
	alive := func(what, access string) {
		t.Helper()
		if _, err := e.p.Verifier().Verify(e.ctx, access); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	alice, mallory := e.browser(), e.browser()
	aliceAT, aliceID := login(alice, "alice", "alice's long passphrase")
	malloryAT, _ := login(mallory, "mallory", "mallory's long passphrase")
	endSession := func(b *browser, kv ...string) page {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return b.get(e.issuer + PathEndSession + "?" + q.Encode())
	}

	// Mallory's browser (another user's session) with alice's hint.
	pg := endSession(mallory, "id_token_hint", aliceID, "post_logout_redirect_uri", "http://127.0.0.1/bye")
	if pg.url.Path != PathLogoutConfirm || pg.header.Get("Location") != "" {
		t.Fatalf("another user's browser with alice's hint: %d at %s", pg.status, pg.url)
	}
	alive("alice after mallory's browser presented her hint", aliceAT)
	alive("mallory before confirming", malloryAT)

	// A browser with no session at all, while the hint's sid is live.
	stranger := e.browser()
	pg = endSession(stranger, "id_token_hint", aliceID)
	if pg.url.Path != PathLogoutConfirm {
		t.Fatalf("a browser without session with alice's live hint: %d at %s", pg.status, pg.url)
	}
	if done := stranger.confirmForm(pg); done.status != http.StatusOK || done.url.Path != PathLoggedOut {
		t.Fatalf("stranger confirming: %d at %s", done.status, done.url)
	}
	alive("alice after a stranger confirmed a logout", aliceAT)

	// The confirmation form needs its CSRF token and the same origin.
	pg = endSession(mallory, "id_token_hint", aliceID, "post_logout_redirect_uri", "http://127.0.0.1/bye")
	if bad := mallory.confirmForm(pg, func(f url.Values) { f.Set("csrf", "forged") }); bad.status != http.StatusForbidden {
		t.Fatalf("forged CSRF token: %d", bad.status)
	}
	if bad := mallory.confirmForm(pg, func(f url.Values) { f.Set("post_logout_redirect_uri", "https://evil.example/") }); bad.status != http.StatusForbidden {
		t.Fatalf("tampered redirect: %d", bad.status)
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`name="([a-z_]+)" value="([^"]*)"`).FindAllStringSubmatch(pg.body, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	req, _ := http.NewRequest(http.MethodPost, e.issuer+PathLogoutConfirm, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := mallory.c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST of the confirmation: %v %v", resp.Status, err)
	} else {
		resp.Body.Close()
	}
	alive("mallory after refused confirmations", malloryAT)

	// Confirming in mallory's browser ends mallory's own session only.
	done := mallory.confirmForm(pg)
	if done.status != http.StatusSeeOther || done.header.Get("Location") != "http://127.0.0.1/bye" {
		t.Fatalf("mallory confirming: %d %q", done.status, done.header.Get("Location"))
	}
	eventually(t, "mallory's session ended", func() bool {
		_, err := e.p.Verifier().Verify(e.ctx, malloryAT)
		return errors.Is(err, ErrRevoked)
	})
	alive("alice after mallory logged herself out", aliceAT)

	// Without a hint: a confirmation page, not an error.
	pg = endSession(alice, "client_id", "webapp", "post_logout_redirect_uri", "http://127.0.0.1/bye", "state", "s2")
	if pg.url.Path != PathLogoutConfirm || !strings.Contains(pg.body, "Sign out") {
		t.Fatalf("no hint: %d at %s", pg.status, pg.url)
	}
	alive("alice before confirming", aliceAT)

	// Alice's own browser with her own hint ends her session at once.
	pg = endSession(alice, "id_token_hint", aliceID, "post_logout_redirect_uri", "http://127.0.0.1/bye")
	if pg.status != http.StatusFound && pg.status != http.StatusSeeOther || pg.header.Get("Location") != "http://127.0.0.1/bye" {
		t.Fatalf("alice's own logout: %d %q", pg.status, pg.header.Get("Location"))
	}
	if _, err := e.p.Verifier().Verify(e.ctx, aliceAT); !errors.Is(err, ErrRevoked) {
		t.Fatalf("alice's token after her own logout: %v", err)
	}
}

// TestLogoutWithoutHintConfirms: RP-initiated logout without id_token_hint
// asks, and the confirmed POST ends this browser's session.
func TestLogoutWithoutHintConfirms(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	cfg := e.oauth("mlflow-gate-cli", cliRedirect)
	v := oauth2.GenerateVerifier()
	tok, err := cfg.Exchange(e.ctx, b.authorize(cfg, v, "admin", adminPassword), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	pg := b.get(e.issuer + PathEndSession)
	if pg.status != http.StatusOK || pg.url.Path != PathLogoutConfirm {
		t.Fatalf("end_session without hint: %d at %s %.200s", pg.status, pg.url, pg.body)
	}
	if _, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken); err != nil {
		t.Fatalf("the page alone ended the session: %v", err)
	}
	done := b.confirmForm(pg)
	if done.status != http.StatusOK || done.url.Path != PathLoggedOut || !strings.Contains(done.body, "signed out") {
		t.Fatalf("confirmed: %d at %s", done.status, done.url)
	}
	if _, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken); !errors.Is(err, ErrRevoked) {
		t.Fatalf("token after confirmed logout: %v", err)
	}
}
