package idp

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

func TestCodeFlowWithPKCE(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth(storage.CLIClientID, "http://127.0.0.1:43117/callback") // any loopback port (RFC 8252)
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	code := b.authorize(cfg, verifier, "admin", adminPassword, oidc.Nonce("n0nce"))
	tok, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" || !strings.HasPrefix(tok.RefreshToken, refreshPrefix) {
		t.Errorf("refresh token = %q, want an opaque %s token", tok.RefreshToken, refreshPrefix)
	}

	// The ID token, verified the way any relying party would.
	op, err := oidc.NewProvider(e.ctx, e.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := op.Verifier(&oidc.Config{ClientID: storage.CLIClientID}).Verify(e.ctx, rawID)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != "n0nce" {
		t.Errorf("nonce = %q", idt.Nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var idc struct {
		Sub   string   `json:"sub"`
		Roles []string `json:"roles"`
		Name  string   `json:"preferred_username"`
	}
	if err := idt.Claims(&idc); err != nil {
		t.Fatal(err)
	}
	admin, _ := e.st.UserByName(e.ctx, "admin")
	if idc.Sub != admin.ID || !slices.Contains(idc.Roles, storage.RoleAdmin) || idc.Name != "admin" {
		t.Errorf("ID token claims = %+v", idc)
	}

	// The access token: RFC 9068 shape, accepted by the strict verifier.
	hdr, _, payload, _, err := splitJWS(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Typ != "at+jwt" || hdr.Alg != AlgES256 {
		t.Errorf("access token header = %+v", hdr)
	}
	var at map[string]any
	_ = json.Unmarshal(payload, &at)
	for _, claim := range []string{"iss", "sub", "aud", "client_id", "exp", "iat", "jti", "scope", "roles", "preferred_username"} {
		if _, ok := at[claim]; !ok {
			t.Errorf("access token lacks %s: %v", claim, at)
		}
	}
	if at["aud"] != e.issuer+"/api" || at["client_id"] != storage.CLIClientID {
		t.Errorf("aud/client_id = %v/%v", at["aud"], at["client_id"])
	}
	p, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if p.Kind != KindAccessToken || p.Username != "admin" || !p.HasRole(storage.RoleAdmin) || p.ClientID != storage.CLIClientID {
		t.Errorf("principal = %+v", p)
	}

	// Userinfo with the access token.
	ui, err := op.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if ui.Subject != admin.ID {
		t.Errorf("userinfo sub = %q", ui.Subject)
	}
}

func TestSSOOnSecondAuthorization(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	b := e.browser()
	v1 := oauth2.GenerateVerifier()
	b.authorize(cfg, v1, "admin", adminPassword)
	// Second time: no login form, straight back to the client with a code.
	v2 := oauth2.GenerateVerifier()
	pg := b.get(cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(v2)))
	q := callback(t, pg)
	if q.Get("code") == "" {
		t.Fatalf("second authorization did not use the session: %v", q)
	}
	if _, err := cfg.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(v2)); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	// prompt=login forces the form despite the session.
	pg = b.get(cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(v2), oauth2.SetAuthURLParam("prompt", "login")))
	if pg.status != http.StatusOK || !strings.Contains(pg.body, `name="password"`) {
		t.Fatalf("prompt=login did not show the form: %d", pg.status)
	}
}

func TestPromptNoneWithoutSession(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	pg := e.browser().get(cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("prompt", "none")))
	q := callback(t, pg)
	if q.Get("error") != "login_required" || q.Get("state") != "st4te" || q.Get("code") != "" || q.Get("iss") != e.issuer {
		t.Fatalf("prompt=none without session (RFC 9207: iss on errors too): %v", q)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	verifier := oauth2.GenerateVerifier()
	code := e.browser().authorize(cfg, verifier, "admin", adminPassword)
	tok1, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string) (*oauth2.Token, error) {
		return cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
	}
	tok2, err := refresh(tok1.RefreshToken)
	if err != nil {
		t.Fatalf("first refresh: %v", err)
	}
	if tok2.RefreshToken == tok1.RefreshToken || tok2.AccessToken == tok1.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	if _, err := e.p.Verifier().Verify(e.ctx, tok2.AccessToken); err != nil {
		t.Fatalf("refreshed access token: %v", err)
	}
	// Reuse of the rotated token: refused, and the whole family dies.
	if _, err := refresh(tok1.RefreshToken); oauthError(err) != "invalid_grant" {
		t.Fatalf("reuse: got %v, want invalid_grant", err)
	}
	if _, err := refresh(tok2.RefreshToken); oauthError(err) != "invalid_grant" {
		t.Fatalf("newest token after reuse: got %v, want invalid_grant", err)
	}
	eventually(t, "access tokens of the family revoked", func() bool {
		_, err := e.p.Verifier().Verify(e.ctx, tok2.AccessToken)
		return errors.Is(err, ErrRevoked)
	})
}

func TestPATCreateAndVerify(t *testing.T) {
	e := newEnv(t)
	tok, rec, err := createPAT(e.ctx, e.st, "admin", "laptop", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, PATPrefix) || len(tok) != patLen || CheckPATFormat(tok) != nil {
		t.Fatalf("token %q is not a well-formed PAT", tok)
	}
	if rec.ExpiresAt == nil || rec.ExpiresAt.Sub(rec.CreatedAt) != patTTL || !strings.HasPrefix(tok, rec.Prefix) {
		t.Errorf("record = %+v", rec)
	}
	v := e.p.Verifier()
	p, err := v.Verify(e.ctx, tok)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if p.Kind != KindPAT || p.Username != "admin" || p.TokenID != rec.ID || p.ClientID != "" {
		t.Errorf("principal = %+v", p)
	}
	if _, err := v.VerifyBasic(e.ctx, "ADMIN", tok); err != nil {
		t.Errorf("basic with owner: %v", err)
	}
	e.addUser("bob", "another long passphrase")
	if _, err := v.VerifyBasic(e.ctx, "bob", tok); !errors.Is(err, ErrPATOwner) {
		t.Errorf("basic with another user: %v", err)
	}
	if _, err := v.VerifyAccessToken(e.ctx, tok); err == nil {
		t.Error("a PAT was accepted as an access token")
	}
	eventually(t, "last use recorded", func() bool {
		r, _ := e.st.PATByID(e.ctx, rec.ID)
		return r.LastUsedAt != nil
	})
	list, err := e.st.ListPATs(e.ctx, "admin")
	if err != nil || len(list) != 1 || list[0].ID != rec.ID || list[0].Hash == nil {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if strings.Contains(list[0].Prefix+list[0].Name, tok[len(rec.Prefix):]) {
		t.Error("listing shows the secret")
	}
	if err := e.st.RevokePAT(e.ctx, testActor, rec.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revoked PAT refused", func() bool {
		_, err := v.Verify(e.ctx, tok)
		return errors.Is(err, ErrRevoked)
	})
}

// TestDisableEndsPATs: disabling a user revokes the user's PATs, so they stay
// dead after the user is enabled again, on a verifier that had cached them.
func TestDisableEndsPATs(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", "a long enough passphrase")
	tok, _, err := createPAT(e.ctx, e.st, "alice", "laptop", 0)
	if err != nil {
		t.Fatal(err)
	}
	v := e.p.Verifier()
	if _, err := v.Verify(e.ctx, tok); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := e.st.SetDisabled(e.ctx, testActor, "alice", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "PAT of a disabled user refused", func() bool { _, err := v.Verify(e.ctx, tok); return err != nil })
	if err := e.st.SetDisabled(e.ctx, testActor, "alice", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice enabled again", func() bool {
		fresh, _, err := createPAT(e.ctx, e.st, "alice", "new", 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(e.ctx, fresh)
		return err == nil
	})
	if _, err := v.Verify(e.ctx, tok); !errors.Is(err, ErrRevoked) {
		t.Fatalf("old PAT after enable: %v, want ErrRevoked", err)
	}
	list, err := e.st.ListPATs(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list {
		if p.Name == "laptop" && p.RevokedAt == nil {
			t.Error("the old PAT is not marked revoked")
		}
	}
}
