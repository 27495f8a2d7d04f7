package idp

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// TestMLflowScope: only clients with API access get the mlflow scope, by
// default; only tokens carrying it pass VerifyMLflow; the provider's own
// endpoints still accept the others.
func TestMLflowScope(t *testing.T) {
	e := newEnv(t)
	secret, err := createClient(e.ctx, e.st, ClientSpec{ID: "wiki",
		GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: []string{"http://127.0.0.1/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	apiSecret, err := createClient(e.ctx, e.st, ClientSpec{ID: "notebook", API: true,
		GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: []string{"http://127.0.0.1/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"wiki": false, "notebook": true, storage.CLIClientID: true} {
		c, err := e.st.ClientByID(e.ctx, id)
		if err != nil || slices.Contains(c.Scopes, ScopeMLflow) != want {
			t.Errorf("client %s scopes %v (%v), want API access %v", id, c.Scopes, err, want)
		}
	}
	b := e.browser()
	login := func(clientID, secret string, scopes ...string) *oauth2.Token {
		t.Helper()
		redirect := "http://127.0.0.1/cb"
		if clientID == storage.CLIClientID {
			redirect = cliRedirect
		}
		cfg := e.oauth(clientID, redirect, scopes...)
		cfg.ClientSecret = secret
		verifier := oauth2.GenerateVerifier()
		tok, err := cfg.Exchange(e.ctx, b.authorize(cfg, verifier, "admin", adminPassword), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("%s: %v", clientID, err)
		}
		return tok
	}
	claimScope := func(tok *oauth2.Token) string {
		_, _, payload, _, err := splitJWS(tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		var c struct{ Scope string }
		_ = json.Unmarshal(payload, &c)
		return c.Scope
	}
	v := e.p.Verifier()

	// Another application asking for everything, mlflow included, gets no
	// MLflow credential.
	wiki := login("wiki", secret, "openid", "profile", "mlflow")
	if got, _ := wiki.Extra("scope").(string); strings.Contains(got, "mlflow") || strings.Contains(claimScope(wiki), "mlflow") {
		t.Errorf("wiki granted %q, claim %q", got, claimScope(wiki))
	}
	if _, err := v.VerifyMLflow(e.ctx, wiki.AccessToken); !errors.Is(err, ErrNotForAPI) {
		t.Errorf("wiki token on the MLflow API: %v, want ErrNotForAPI", err)
	}
	if _, err := v.Verify(e.ctx, wiki.AccessToken); err != nil {
		t.Errorf("wiki token for the provider: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, e.issuer+PathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+wiki.AccessToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("userinfo with the wiki token: %v %v", resp.Status, err)
	} else {
		resp.Body.Close()
	}

	// Clients with API access get it without asking.
	for _, tc := range []struct{ id, secret string }{{storage.CLIClientID, ""}, {"notebook", apiSecret}} {
		tok := login(tc.id, tc.secret, "openid", "profile")
		if got, _ := tok.Extra("scope").(string); !slices.Contains(strings.Fields(got), ScopeMLflow) ||
			!slices.Contains(strings.Fields(claimScope(tok)), ScopeMLflow) {
			t.Errorf("%s granted %q, claim %q: want mlflow", tc.id, got, claimScope(tok))
		}
		if _, err := v.VerifyMLflow(e.ctx, tok.AccessToken); err != nil {
			t.Errorf("%s token on the MLflow API: %v", tc.id, err)
		}
	}

	// PATs are API credentials whatever the scope.
	pat, _, err := createPAT(e.ctx, e.st, "admin", "laptop", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyMLflow(e.ctx, pat); err != nil {
		t.Errorf("PAT on the MLflow API: %v", err)
	}

	// Discovery names the scope.
	resp, err := http.Get(e.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Scopes []string `json:"scopes_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || !slices.Contains(d.Scopes, ScopeMLflow) {
		t.Errorf("scopes_supported %v (%v)", d.Scopes, err)
	}
}
