package idp

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.issuer + PathDiscovery)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"issuer": e.issuer, "authorization_endpoint": e.issuer + "/oauth/authorize", "token_endpoint": e.issuer + "/oauth/token",
		"jwks_uri": e.issuer + "/oauth/keys", "userinfo_endpoint": e.issuer + "/oauth/userinfo",
		"code_challenge_methods_supported": []any{"S256"}, "response_types_supported": []any{"code"},
		"grant_types_supported": []any{"authorization_code", "refresh_token", "client_credentials", GrantDeviceCode}, "id_token_signing_alg_values_supported": []any{"RS256", "ES256"},
		"authorization_response_iss_parameter_supported": true, "request_uri_parameter_supported": false,
		"introspection_endpoint": e.issuer + "/oauth/introspect", "device_authorization_endpoint": e.issuer + "/oauth/device_authorization", "revocation_endpoint": e.issuer + "/oauth/revoke",
	}
	for k, v := range want {
		got, _ := json.Marshal(d[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("%s = %s, want %s", k, got, exp)
		}
	}
	for _, absent := range []string{"request_parameter_supported"} {
		if _, ok := d[absent]; ok {
			t.Errorf("discovery advertises %s", absent)
		}
	}
}

func TestKeysSealedAtRest(t *testing.T) {
	e := newEnv(t)
	recs, err := e.st.SigningKeys(e.ctx, time.Now())
	if err != nil || len(recs) != 2 {
		t.Fatalf("keys = %d, %v; want one of each algorithm", len(recs), err)
	}
	algs := map[string]bool{}
	for _, r := range recs {
		algs[r.Alg] = true
		if _, err := x509.ParsePKCS8PrivateKey(r.PrivateKeyEnc); err == nil {
			t.Fatalf("%s private key stored in the clear", r.Alg)
		}
		if strings.Contains(string(r.PublicJWK), `"d"`) || strings.Contains(string(r.PublicJWK), `"p"`) {
			t.Fatalf("%s public JWK holds the private part", r.Alg)
		}
	}
	if !algs[AlgES256] || !algs[AlgRS256] {
		t.Fatalf("algorithms %v, want ES256 and RS256", algs)
	}
	// Another master secret cannot use the keys.
	_, err = New(e.ctx, Config{Issuer: e.issuer, CookieHashKey: key32(), CookieBlockKey: key32(), CodeKey: key32(),
		KeyEncryptionKey: key32()}, e.st, nil)
	if err == nil || !strings.Contains(err.Error(), "does not decrypt") {
		t.Fatalf("wrong key encryption key: %v", err)
	}
	// A second start with the right key reuses the keys, whichever
	// algorithm signs its access tokens.
	p2, err := New(e.ctx, Config{Issuer: e.issuer, CookieHashKey: key32(), CookieBlockKey: key32(), CodeKey: key32(),
		KeyEncryptionKey: e.p.cfg.KeyEncryptionKey, SigningAlg: AlgRS256}, e.st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p2.keys.jwks().Keys); got != 2 {
		t.Fatalf("JWKS has %d keys, want 2", got)
	}
}

func TestStorageFaultIsBareServerError(t *testing.T) {
	e := newEnv(t)
	e.st.Pool.Close()
	resp, err := http.PostForm(e.issuer+PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {"x"},
		"client_id": {storage.CLIClientID}, "redirect_uri": {cliRedirect}, "code_verifier": {oauth2.GenerateVerifier()}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || strings.TrimSpace(string(body)) != `{"error":"server_error"}` {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
}

func TestVerifierFailsClosedWhenStale(t *testing.T) {
	e := newEnv(t)
	tok, _, err := createPAT(e.ctx, e.st, "admin", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	v := e.p.Verifier()
	if _, err := v.Verify(e.ctx, tok); err != nil {
		t.Fatal(err)
	}
	// Never started: refuses.
	p2, err := New(e.ctx, e.p.cfg, e.st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Verifier().Verify(e.ctx, tok); !errors.Is(err, ErrStale) {
		t.Fatalf("unstarted verifier: %v", err)
	}
	// Down for longer than allowed: refuses.
	v.rev.follow(downSince(time.Now().Add(-time.Minute)))
	if _, err := v.Verify(e.ctx, tok); !errors.Is(err, ErrStale) {
		t.Fatalf("stale verifier: %v", err)
	}
	v.rev.follow(e.p.feed)
	// A change made while the listener is away (no notification at all) is
	// picked up by the reload on reconnect.
	if _, err := e.st.Pool.Exec(e.ctx, `UPDATE personal_access_tokens SET revoked_at = now()`); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(e.ctx, tok); err != nil {
		t.Fatalf("cached token before reconnect: %v", err)
	}
	if _, err := e.st.Pool.Exec(e.ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, storage.FeedApplicationName); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reload after reconnect", func() bool {
		_, err := v.Verify(e.ctx, tok)
		return errors.Is(err, ErrRevoked)
	})
}

// liveFeed is a change feed that is always live.
type liveFeed struct{}

func (liveFeed) Stale(time.Time, time.Duration) bool { return false }

// downSince is a change feed down since a moment.
type downSince time.Time

func (d downSince) Stale(now time.Time, maxStale time.Duration) bool {
	return now.Sub(time.Time(d)) > maxStale
}
