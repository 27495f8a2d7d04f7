package idp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// addService registers a confidential service client and returns its secret.
func (e *env) addService(id string, roles ...string) string {
	e.t.Helper()
	secret, err := createClient(e.ctx, e.st, ClientSpec{ID: id, GrantTypes: []string{GrantClientCredentials},
		Scopes: []string{"openid", "mlflow.read", "mlflow.write"}, Roles: roles})
	if err != nil {
		e.t.Fatal(err)
	}
	if !strings.HasPrefix(secret, ClientSecretPrefix) {
		e.t.Fatalf("secret %q lacks the prefix", secret)
	}
	return secret
}

func (e *env) clientCreds(id, secret string, style oauth2.AuthStyle, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.issuer + PathToken, AuthStyle: style, Scopes: scopes}
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	secret := e.addService("nightly-training", storage.RoleDefault)
	v := e.p.Verifier()
	for name, style := range map[string]oauth2.AuthStyle{"client_secret_basic": oauth2.AuthStyleInHeader, "client_secret_post": oauth2.AuthStyleInParams} {
		t.Run(name, func(t *testing.T) {
			tok, err := e.clientCreds("nightly-training", secret, style, "mlflow.read", "admin", "openid").Token(e.ctx)
			if err != nil {
				t.Fatalf("token: %v", err)
			}
			if tok.RefreshToken != "" || tok.Extra("id_token") != nil {
				t.Errorf("client credentials gave a refresh or ID token")
			}
			if got, _ := tok.Extra("scope").(string); got != "mlflow.read mlflow" { // mlflow: the default scope of a service
				t.Errorf("granted scope %q, want only mlflow.read and the default mlflow", got)
			}
			_, _, payload, _, err := splitJWS(tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			var c map[string]any
			_ = json.Unmarshal(payload, &c)
			if c["sub"] != "nightly-training" || c["client_id"] != "nightly-training" || c["aud"] != e.issuer+"/api" {
				t.Errorf("claims = %v", c)
			}
			if _, ok := c["auth_time"]; ok {
				t.Errorf("auth_time without a user: %v", c)
			}
			p, err := v.VerifyMLflow(e.ctx, tok.AccessToken)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !p.Service || p.Subject != "nightly-training" || p.Username != "nightly-training" || !slices.Equal(p.Roles, []string{storage.RoleDefault}) {
				t.Errorf("principal = %+v", p)
			}
		})
	}

	t.Run("no allowed scope", func(t *testing.T) {
		_, err := e.clientCreds("nightly-training", secret, oauth2.AuthStyleInParams, "admin").Token(e.ctx)
		if oauthError(err) != "invalid_scope" {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("roles and state kept fresh", func(t *testing.T) {
		tok, err := e.clientCreds("nightly-training", secret, oauth2.AuthStyleInHeader).Token(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.st.SetClientRoles(e.ctx, testActor, "nightly-training", []string{storage.RoleAdmin}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "new client roles", func() bool {
			p, err := v.Verify(e.ctx, tok.AccessToken)
			return err == nil && slices.Equal(p.Roles, []string{storage.RoleAdmin})
		})
		if err := e.st.SetClientDisabled(e.ctx, testActor, "nightly-training", true, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "disabled client refused", func() bool {
			_, err := v.Verify(e.ctx, tok.AccessToken)
			return errors.Is(err, ErrRevoked)
		})
		if _, err := e.clientCreds("nightly-training", secret, oauth2.AuthStyleInHeader).Token(e.ctx); oauthError(err) != "invalid_client" {
			t.Errorf("disabled client got a token: %v", err)
		}
		if err := e.st.SetClientDisabled(e.ctx, testActor, "nightly-training", false, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a service's PAT", func(t *testing.T) {
		pat, _, err := createClientPAT(e.ctx, e.st, "nightly-training", "ci")
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "service PAT accepted", func() bool {
			p, err := v.Verify(e.ctx, pat)
			return err == nil && p.Kind == KindPAT && p.Service && p.Subject == "nightly-training"
		})
		if _, _, err := createClientPAT(e.ctx, e.st, storage.CLIClientID, ""); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("PAT for a public client: %v", err)
		}
	})
}

func TestClientCredentialsRefusals(t *testing.T) {
	e := newEnv(t)
	secret := e.addService("svc", storage.RoleDefault)
	post := func(form url.Values, user, pass string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+PathToken, strings.NewReader(form.Encode()))
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
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("non-JSON answer %q", raw)
		}
		return resp.StatusCode, body, resp.Header
	}
	cc := url.Values{"grant_type": {"client_credentials"}}

	status, body, h := post(cc, "svc", secret+"x")
	if status != 401 || body["error"] != "invalid_client" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("wrong secret (basic): %d %v %q", status, body, h.Get("WWW-Authenticate"))
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {"mgs_wrong"}}
	if status, body, _ := post(form, "", ""); status != 401 || body["error"] != "invalid_client" {
		t.Errorf("wrong secret (post): %d %v", status, body)
	}
	if status, body, _ := post(url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}}, "", ""); status != 401 || body["error"] != "invalid_client" {
		t.Errorf("no secret: %d %v", status, body)
	}
	if status, body, _ := post(cc, "nobody", secret); status != 401 || body["error"] != "invalid_client" {
		t.Errorf("unknown client: %d %v", status, body)
	}
	// A public client cannot use the grant, with or without a secret.
	if status, body, _ := post(url.Values{"grant_type": {"client_credentials"}, "client_id": {storage.CLIClientID}}, "", ""); status < 400 || body["access_token"] != nil {
		t.Errorf("public client: %d %v", status, body)
	}
	// A rotated secret: the new one works at once (a secret the cached client
	// refuses is checked against the row itself), the old one stops working
	// as soon as the change feed has told this replica, as every revocation
	// does (clients are cached for the token endpoint).
	fresh, hash := NewClientSecret()
	if err := e.st.SetClientSecret(e.ctx, testActor, "svc", hash); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := post(cc, "svc", fresh); status != 200 || body["access_token"] == nil {
		t.Errorf("new secret: %d %v", status, body)
	}
	refused := false
	for deadline := time.Now().Add(time.Second); !refused && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		status, _, _ := post(cc, "svc", secret)
		refused = status == 401
	}
	if !refused {
		t.Errorf("old secret still accepted a second after rotation")
	}
	// Client ids that could pass for user ids, and unknown grants, are refused at registration.
	for _, spec := range []ClientSpec{
		{ID: "0b5c3f3e-8d7e-4a59-9c1e-2f1f0d9b7a11", GrantTypes: []string{GrantClientCredentials}},
		{ID: "x", GrantTypes: []string{GrantClientCredentials}},
		{ID: "pub", Public: true, GrantTypes: []string{GrantClientCredentials}},
		{ID: "web", GrantTypes: []string{GrantAuthorizationCode}},
		{ID: "imp", GrantTypes: []string{"implicit"}},
		{ID: "http", GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: []string{"http://example.com/cb"}},
	} {
		if _, err := createClient(e.ctx, e.st, spec); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("%+v registered: %v", spec, err)
		}
	}
}

// TestRemovedClientMadeAgain: a client removed and added again under the
// same id works at once (its tokens are not refused as the removed one's),
// while the removed client's access tokens stay refused until they expire,
// after a reload of the revocation set too.
func TestRemovedClientMadeAgain(t *testing.T) {
	e := newEnv(t)
	v := e.p.Verifier()
	secret := e.addService("again", storage.RoleDefault)
	old, err := e.clientCreds("again", secret, oauth2.AuthStyleInHeader).Token(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(e.ctx, old.AccessToken); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // iat has whole seconds: the new client is made a second later
	if err := e.st.DeleteClient(e.ctx, testActor, "again"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the removed client's token refused", func() bool {
		_, err := v.Verify(e.ctx, old.AccessToken)
		return errors.Is(err, ErrRevoked)
	})
	secret = e.addService("again", storage.RoleDefault)
	fresh, err := e.clientCreds("again", secret, oauth2.AuthStyleInHeader).Token(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new client's token accepted", func() bool {
		_, err := v.Verify(e.ctx, fresh.AccessToken)
		return err == nil
	})
	check := func(when string) {
		t.Helper()
		if _, err := v.Verify(e.ctx, old.AccessToken); !errors.Is(err, ErrRevoked) {
			t.Errorf("%s: the removed client's token: %v, want ErrRevoked", when, err)
		}
		if _, err := v.Verify(e.ctx, fresh.AccessToken); err != nil {
			t.Errorf("%s: the new client's token: %v", when, err)
		}
		req, _ := http.NewRequest(http.MethodGet, e.issuer+PathUserinfo, nil)
		req.Header.Set("Authorization", "Bearer "+fresh.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: userinfo with the new client's token: %d", when, resp.StatusCode)
		}
	}
	check("after the change")
	if err := v.reloadAll(e.ctx); err != nil {
		t.Fatal(err)
	}
	check("after a reload")
}
