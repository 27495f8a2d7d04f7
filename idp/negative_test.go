package idp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
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

// forge signs arbitrary header and claims with priv (ES256 math), so tests
// can build every kind of hostile token.
func forge(t testing.TB, priv *ecdsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	d := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, priv, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig)
}

// goodClaims are claims the verifier accepts for the admin user.
func (e *env) goodClaims() map[string]any {
	admin, _ := e.st.UserByName(e.ctx, "admin")
	now := e.clock.Now()
	return map[string]any{"iss": e.issuer, "sub": admin.ID, "aud": e.issuer + APIAudienceSuffix, "client_id": storage.CLIClientID,
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": "jti-" + b64.EncodeToString(key32()[:8]),
		"scope": "openid", "roles": []string{"Admin"}, "preferred_username": "admin"}
}

func TestVerifierRefuses(t *testing.T) {
	e := newEnv(t)
	k := e.p.keys.signingKey(AlgES256)
	ours := k.priv.(*ecdsa.PrivateKey)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	hdr := func(kv ...any) map[string]any {
		h := map[string]any{"alg": "ES256", "kid": k.kid, "typ": "at+jwt"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(h, kv[i].(string))
			} else {
				h[kv[i].(string)] = kv[i+1]
			}
		}
		return h
	}
	with := func(kv ...any) map[string]any {
		c := e.goodClaims()
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	good := forge(t, ours, hdr(), with())
	if _, err := e.p.Verifier().Verify(e.ctx, good); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
	otherJWK, _ := json.Marshal(map[string]any{"kty": "EC", "crv": "P-256",
		"x": b64.EncodeToString(other.X.FillBytes(make([]byte, 32))), "y": b64.EncodeToString(other.Y.FillBytes(make([]byte, 32)))})
	noneHeader := b64.EncodeToString([]byte(`{"alg":"none","kid":"` + k.kid + `","typ":"at+jwt"}`))
	goodPayload := strings.Split(good, ".")[1]
	idToken := forge(t, ours, hdr("typ", "JWT"), with("aud", storage.CLIClientID))

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"unknown key", forge(t, other, hdr("kid", "not-our-kid"), with()), ErrUnknownKey},
		{"our kid, another key", forge(t, other, hdr(), with()), ErrSignature},
		{"alg none without signature", noneHeader + "." + goodPayload + ".", ErrMalformed},
		{"alg none with signature", noneHeader + "." + goodPayload + ".AAAA", ErrAlgorithm},
		{"alg HS256 on our key", forge(t, ours, hdr("alg", "HS256"), with()), ErrAlgorithm},
		{"own jwk", forge(t, other, hdr("jwk", json.RawMessage(otherJWK)), with()), ErrHeader},
		{"own jku", forge(t, other, hdr("jku", "https://evil.example/keys"), with()), ErrHeader},
		{"x5u", forge(t, ours, hdr("x5u", "https://evil.example/cert"), with()), ErrHeader},
		{"crit", forge(t, ours, hdr("crit", []string{"exp"}), with()), ErrHeader},
		{"wrong audience", forge(t, ours, hdr(), with("aud", "someone-else")), ErrAudience},
		{"client id as audience", forge(t, ours, hdr(), with("aud", storage.CLIClientID)), ErrAudience},
		{"ID token as access token", idToken, ErrTokenType},
		{"no typ", forge(t, ours, hdr("typ", nil), with()), ErrTokenType},
		{"wrong issuer", forge(t, ours, hdr(), with("iss", "https://evil.example")), ErrIssuer},
		{"expired", forge(t, ours, hdr(), with("exp", e.clock.Now().Add(-time.Second).Unix())), ErrExpired},
		{"no jti", forge(t, ours, hdr(), with("jti", "")), ErrClaims},
		{"refresh token", "mgr_" + b64.EncodeToString(key32()), ErrMalformed},
		{"garbage", "a.b.c", ErrMalformed},
		{"PAT with bad checksum", mangleChecksum(t, e), ErrPATChecksum},
		{"PAT of wrong length", PATPrefix + "abc", ErrPATMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.p.Verifier().Verify(e.ctx, tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func mangleChecksum(t testing.TB, e *env) string {
	tok, _, err := createPAT(e.ctx, e.st, "admin", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	last := tok[len(tok)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return tok[:len(tok)-1] + string(repl)
}

func TestExpiredAndDisabled(t *testing.T) {
	e := newEnv(t)
	e.addUser("carol", "carol has a long passphrase")
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	verifier := oauth2.GenerateVerifier()
	code := e.browser().authorize(cfg, verifier, "carol", "carol has a long passphrase")
	tok, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	v := e.p.Verifier()
	if _, err := v.Verify(e.ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	// A seen token still expires: the cache keeps its exp.
	e.clock.Advance(11 * time.Minute)
	if _, err := v.Verify(e.ctx, tok.AccessToken); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: got %v", err)
	}
	e.clock.Advance(-11 * time.Minute)

	if err := e.st.SetDisabled(e.ctx, testActor, "carol", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "disabled user's token refused", func() bool {
		_, err := v.Verify(e.ctx, tok.AccessToken)
		return errors.Is(err, ErrUserDisabled) || errors.Is(err, ErrRevoked)
	})
	_, err = cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	if oauthError(err) != "invalid_grant" {
		t.Fatalf("refresh of a disabled user: %v", err)
	}
	// And login: the same message as a wrong password.
	b := e.browser()
	pg := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	pg = b.login(pg, "carol", "carol has a long passphrase")
	if pg.status != http.StatusUnauthorized || !strings.Contains(pg.body, msgBadCredentials) {
		t.Fatalf("disabled login: %d %.200s", pg.status, pg.body)
	}
}

func TestCodeReplayRevokesTokens(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	verifier := oauth2.GenerateVerifier()
	code := e.browser().authorize(cfg, verifier, "admin", adminPassword)
	tok, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier))
	if oauthError(err) != "invalid_grant" {
		t.Fatalf("replay: %v", err)
	}
	eventually(t, "first exchange's access token revoked", func() bool {
		_, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken)
		return errors.Is(err, ErrRevoked)
	})
	_, err = cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	if oauthError(err) != "invalid_grant" {
		t.Fatalf("refresh after replay: %v", err)
	}
}

// tokenCall posts a form to the token endpoint and returns status and body.
func (e *env) tokenCall(t testing.TB, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := http.PostForm(e.issuer+PathToken, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("token endpoint answered non-JSON %q", raw)
	}
	return resp.StatusCode, body, resp.Header
}

func TestCodeExchangeRefusals(t *testing.T) {
	e := newEnv(t)
	if err := e.st.CreateClient(e.ctx, testActor, storage.Client{ID: "other-cli", Public: true, Native: true,
		GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{cliRedirect}}); err != nil {
		t.Fatal(err)
	}
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	code := b.authorize(cfg, verifier, "admin", adminPassword)
	base := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {storage.CLIClientID},
		"redirect_uri": {cliRedirect}, "code_verifier": {verifier}}
	mod := func(kv ...string) url.Values {
		f := url.Values{}
		for k, v := range base {
			f[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		return f
	}
	cases := []struct {
		name, wantErr, wantDesc string
		form                    url.Values
	}{
		{"another client's code", "invalid_grant", "another client", mod("client_id", "other-cli")},
		{"unknown client", "invalid_client", "", mod("client_id", "nobody")},
		{"wrong redirect_uri", "invalid_grant", "redirect_uri", mod("redirect_uri", "http://127.0.0.1:9/callback")},
		{"missing verifier", "invalid_grant", "code_verifier is required", mod("code_verifier", "")},
		{"wrong verifier", "invalid_grant", "does not match", mod("code_verifier", oauth2.GenerateVerifier())},
		{"unknown code", "invalid_grant", "invalid or expired", mod("code", "nope")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := e.tokenCall(t, tc.form)
			if body["error"] != tc.wantErr || !strings.Contains(body["error_description"].(string)+" ", tc.wantDesc) {
				t.Fatalf("got %d %v, want %s (%s)", status, body, tc.wantErr, tc.wantDesc)
			}
			if hdr.Get("Cache-Control") != "no-store" || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Errorf("headers: %v", hdr)
			}
		})
	}
	// None of those burned the code: the rightful exchange still works.
	status, body, hdr := e.tokenCall(t, base)
	if status != http.StatusOK || body["access_token"] == nil || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("rightful exchange after refusals: %d %v", status, body)
	}
	// Parameters in the query string are refused (RFC 6749 section 3.2).
	resp, err := http.Post(e.issuer+PathToken+"?"+base.Encode(), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("query parameters: %d", resp.StatusCode)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	authz := func(kv ...string) page {
		q := url.Values{"response_type": {"code"}, "client_id": {storage.CLIClientID}, "redirect_uri": {cliRedirect},
			"scope": {"openid"}, "state": {"xyz"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				q.Del(kv[i])
			} else {
				q.Set(kv[i], kv[i+1])
			}
		}
		return b.get(e.issuer + PathAuthorize + "?" + q.Encode())
	}
	// Not redirected: the redirect_uri is not trusted.
	for _, uri := range []string{"http://127.0.0.1/other", "https://127.0.0.1/callback", "http://localhost/callback",
		"http://127.0.0.1:8080/callback#frag", "http://evil@127.0.0.1/callback", "http://127.0.0.2/callback", "https://evil.example/cb",
		"http://127.0.0.1:99999/callback", "http://127.0.0.1:0/callback", "http://127.0.0.1:65536/callback", "http://[::1]:70000/callback"} {
		pg := authz("redirect_uri", uri)
		if pg.status != http.StatusBadRequest || pg.header.Get("Location") != "" || !strings.Contains(pg.body, "invalid_request") {
			t.Errorf("redirect_uri %q: %d %q", uri, pg.status, pg.body)
		}
	}
	pg := authz("client_id", "nobody")
	if pg.status == http.StatusFound || !strings.Contains(pg.body, "invalid_client") {
		t.Errorf("unknown client: %d %s", pg.status, pg.body)
	}
	// Redirected with an error: the redirect_uri is fine, the request is not.
	redirected := []struct {
		name, want string
		kv         []string
	}{
		{"plain PKCE", "invalid_request", []string{"code_challenge_method", "plain"}},
		{"challenge without method (means plain)", "invalid_request", []string{"code_challenge_method", ""}},
		{"no PKCE from a public client", "invalid_request", []string{"code_challenge", "", "code_challenge_method", ""}},
		{"implicit flow", "unsupported_response_type", []string{"response_type", "token"}},
		{"hybrid flow", "unsupported_response_type", []string{"response_type", "code id_token"}},
		{"request object", "request_not_supported", []string{"request", "eyJhbGciOiJub25lIn0.e30."}},
		{"request by reference", "request_uri_not_supported", []string{"request_uri", "https://client.example/req.jwt"}},
	}
	for _, tc := range redirected {
		t.Run(tc.name, func(t *testing.T) {
			q := callback(t, authz(tc.kv...))
			if q.Get("error") != tc.want || q.Get("code") != "" || q.Get("iss") != e.issuer {
				t.Fatalf("got %v, want error=%s with iss", q, tc.want)
			}
		})
	}
}

func TestUnsupportedGrants(t *testing.T) {
	e := newEnv(t)
	for _, gt := range []string{"urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:ietf:params:oauth:grant-type:token-exchange",
		"password", "implicit"} {
		status, body, _ := e.tokenCall(t, url.Values{"grant_type": {gt}, "client_id": {storage.CLIClientID},
			"assertion": {"x"}, "subject_token": {"x"}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}})
		if status < 400 || body["access_token"] != nil {
			t.Errorf("%s: %d %v", gt, status, body)
		}
	}
}

func TestPasswordChangeRevokesAccessTokens(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	verifier := oauth2.GenerateVerifier()
	code := e.browser().authorize(cfg, verifier, "admin", adminPassword)
	tok, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetPassword(e.ctx, testActor, "admin", "irrelevant-hash"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "token of an ended session refused", func() bool {
		_, err := e.p.Verifier().Verify(e.ctx, tok.AccessToken)
		return errors.Is(err, ErrRevoked)
	})
}
