package idp

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

func TestLogoutEndsSession(t *testing.T) {
	e := newEnv(t)
	secret, err := CreateClient(e.ctx, e.st, "test", ClientSpec{ID: "webapp",
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
