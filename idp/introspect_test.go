package idp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// postForm posts form to path, with Basic credentials when user is set.
func (e *env) postForm(t testing.TB, path string, form url.Values, user, pass string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("%s answered non-JSON %q", path, raw)
		}
	}
	return resp.StatusCode, body, resp.Header
}

// userTokens runs code + PKCE for admin and returns the tokens.
func (e *env) userTokens(t testing.TB) *oauth2.Token {
	t.Helper()
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	verifier := oauth2.GenerateVerifier()
	code := e.browser().authorize(cfg, verifier, "admin", adminPassword)
	tok, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestIntrospection(t *testing.T) {
	e := newEnv(t)
	secret := e.addService("resource-server")
	user := e.userTokens(t)
	introspect := func(tok string) map[string]any {
		t.Helper()
		status, body, h := e.postForm(t, PathIntrospect, url.Values{"token": {tok}}, "resource-server", secret)
		if status != 200 || h.Get("Cache-Control") != "no-store" {
			t.Fatalf("introspect: %d %v %v", status, body, h)
		}
		return body
	}

	got := introspect(user.AccessToken)
	admin, _ := e.st.UserByName(e.ctx, "admin")
	if got["active"] != true || got["sub"] != admin.ID || got["client_id"] != storage.CLIClientID || got["username"] != "admin" ||
		got["token_type"] != "Bearer" || got["exp"] == nil || !sameJSON(got["aud"], []string{e.issuer + "/api"}) {
		t.Errorf("active access token: %v", got)
	}
	if roles, _ := got["roles"].([]any); len(roles) != 2 {
		t.Errorf("roles: %v", got["roles"])
	}
	// The refresh token is not the resource server's: it learns nothing.
	if got := introspect(user.RefreshToken); got["active"] != false || len(got) != 1 {
		t.Errorf("another client's refresh token: %v", got)
	}
	for _, junk := range []string{"nonsense", user.Extra("id_token").(string), mangleChecksum(t, e)} {
		if got := introspect(junk); got["active"] != false || len(got) != 1 {
			t.Errorf("%.20s...: %v", junk, got)
		}
	}

	t.Run("revoked", func(t *testing.T) {
		tok := e.userTokens(t)
		if status, body, _ := e.postForm(t, PathRevoke, url.Values{"token": {tok.AccessToken}, "client_id": {storage.CLIClientID}}, "", ""); status != 200 {
			t.Fatalf("revoke: %d %v", status, body)
		}
		if got := introspect(tok.AccessToken); got["active"] != false {
			t.Errorf("revoked access token: %v", got)
		}
	})

	t.Run("expired", func(t *testing.T) {
		tok := e.userTokens(t)
		e.clock.Advance(e.p.cfg.AccessTokenTTL + time.Second)
		defer e.clock.Advance(-e.p.cfg.AccessTokenTTL - time.Second)
		if got := introspect(tok.AccessToken); got["active"] != false {
			t.Errorf("expired access token: %v", got)
		}
	})

	t.Run("confidential clients only", func(t *testing.T) {
		form := url.Values{"token": {user.AccessToken}}
		if status, body, h := e.postForm(t, PathIntrospect, form, "resource-server", secret+"x"); status != 401 || body["error"] != "invalid_client" || h.Get("WWW-Authenticate") == "" {
			t.Errorf("wrong secret: %d %v", status, body)
		}
		form.Set("client_id", storage.CLIClientID)
		if status, body, _ := e.postForm(t, PathIntrospect, form, "", ""); status != 401 || body["error"] != "invalid_client" {
			t.Errorf("public client: %d %v", status, body)
		}
	})

	t.Run("own refresh token", func(t *testing.T) {
		svc := "confidential-app"
		sec, err := createClient(e.ctx, e.st, ClientSpec{ID: svc, GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken},
			RedirectURIs: []string{"https://app.example.com/cb"}})
		if err != nil {
			t.Fatal(err)
		}
		cfg := e.oauth(svc, "https://app.example.com/cb")
		cfg.ClientSecret = sec
		verifier := oauth2.GenerateVerifier()
		code := e.browser().authorize(cfg, verifier, "admin", adminPassword)
		tok, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		status, body, _ := e.postForm(t, PathIntrospect, url.Values{"token": {tok.RefreshToken}}, svc, sec)
		if status != 200 || body["active"] != true || body["token_type"] != "refresh_token" || body["sub"] != admin.ID {
			t.Errorf("own refresh token: %d %v", status, body)
		}
	})
}

func TestRevocationReachesAnotherReplica(t *testing.T) {
	e := newEnv(t)
	// A second gate process on the same database: its own provider, its own
	// verifier and revocation set, fed by notifications only.
	cfg := e.p.cfg
	cfg.Hasher = nil
	p2, err := New(e.ctx, cfg, e.st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	v2 := p2.Verifier()

	tok := e.userTokens(t)
	if _, err := v2.Verify(e.ctx, tok.AccessToken); err != nil {
		t.Fatalf("replica 2 before revocation: %v", err)
	}
	// The access token: its jti.
	if status, body, _ := e.postForm(t, PathRevoke, url.Values{"token": {tok.AccessToken}, "client_id": {storage.CLIClientID},
		"token_type_hint": {"access_token"}}, "", ""); status != 200 {
		t.Fatalf("revoke: %d %v", status, body)
	}
	eventually(t, "replica 2 refuses the revoked access token", func() bool {
		_, err := v2.Verify(e.ctx, tok.AccessToken)
		return errors.Is(err, ErrRevoked)
	})
	// The refresh token: its family, and the access tokens minted with it.
	tok2 := e.userTokens(t)
	refreshed, err := e.oauth(storage.CLIClientID, cliRedirect).TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Verify(e.ctx, refreshed.AccessToken); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := e.postForm(t, PathRevoke, url.Values{"token": {refreshed.RefreshToken}, "client_id": {storage.CLIClientID}}, "", ""); status != 200 {
		t.Fatalf("revoke refresh: %d %v", status, body)
	}
	eventually(t, "replica 2 refuses the family's access token", func() bool {
		_, err := v2.Verify(e.ctx, refreshed.AccessToken)
		return errors.Is(err, ErrRevoked)
	})
	status, body, _ := e.tokenCall(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshed.RefreshToken}, "client_id": {storage.CLIClientID}})
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("refresh after revocation: %d %v", status, body)
	}

	// Another client's token is refused; an unknown one is fine (RFC 7009 section 2.2).
	secret := e.addService("svc")
	tok3 := e.userTokens(t)
	if status, body, _ := e.postForm(t, PathRevoke, url.Values{"token": {tok3.AccessToken}}, "svc", secret); status != 400 || body["error"] != "unauthorized_client" {
		t.Errorf("another client's token: %d %v", status, body)
	}
	if status, _, _ := e.postForm(t, PathRevoke, url.Values{"token": {"whatever"}}, "svc", secret); status != 200 {
		t.Errorf("unknown token: %d", status)
	}
	if status, body, h := e.postForm(t, PathRevoke, url.Values{"token": {"whatever"}}, "svc", "bad"); status != 401 || body["error"] != "invalid_client" || h.Get("WWW-Authenticate") == "" {
		t.Errorf("bad secret: %d %v", status, body)
	}
}

func TestUserinfo(t *testing.T) {
	e := newEnv(t)
	provider, err := oidc.NewProvider(e.ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	tok := e.userTokens(t)
	ui, err := provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Sub   string   `json:"sub"`
		Name  string   `json:"preferred_username"`
		Roles []string `json:"roles"`
	}
	if err := ui.Claims(&claims); err != nil || claims.Name != "admin" || len(claims.Roles) != 2 {
		t.Errorf("userinfo %+v %v", claims, err)
	}
	// A service token: its client id, its roles.
	secret := e.addService("svc", storage.RoleDefault)
	st, err := e.clientCreds("svc", secret, oauth2.AuthStyleInHeader).Token(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ui, err = provider.UserInfo(e.ctx, oauth2.StaticTokenSource(st))
	if err != nil || ui.Subject != "svc" {
		t.Errorf("service userinfo: %v %v", ui, err)
	}
	// Revoked, and then refused.
	if status, _, _ := e.postForm(t, PathRevoke, url.Values{"token": {st.AccessToken}}, "svc", secret); status != 200 {
		t.Fatal(status)
	}
	if _, err := provider.UserInfo(context.Background(), oauth2.StaticTokenSource(st)); err == nil {
		t.Error("userinfo with a revoked token")
	}
	// RFC 6750 section 3.1: 401, invalid_token, and the challenge that says so;
	// without a token, the bare challenge.
	for _, auth := range []string{"Bearer " + st.AccessToken, "Bearer garbage", ""} {
		req, _ := http.NewRequest(http.MethodGet, e.issuer+PathUserinfo, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		challenge := resp.Header.Get("WWW-Authenticate")
		wantErr := auth != ""
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer") ||
			strings.Contains(challenge, `error="invalid_token"`) != wantErr || (wantErr && body.Error != "invalid_token") {
			t.Errorf("userinfo with %q: %d %q %+v", auth, resp.StatusCode, challenge, body)
		}
	}
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
