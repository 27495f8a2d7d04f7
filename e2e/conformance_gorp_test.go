package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// goRP is the Go relying party: golang.org/x/oauth2 for the protocol,
// github.com/coreos/go-oidc for discovery and every token's signature and
// claims. Neither has a client for introspection (RFC 7662) or revocation
// (RFC 7009), so those two are plain requests with the client's Basic
// credentials, as an application using this pair would write them.
func goRP(ctx context.Context, _ *testing.T, r *rpRun) (map[string]any, error) {
	polls := &pollRecorder{base: http.DefaultTransport, errs: map[string][]string{}}
	hc := &http.Client{Transport: polls, Timeout: 30 * time.Second}
	ctx = oidc.ClientContext(ctx, hc)
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	g := &goRun{ctx: ctx, r: r, hc: hc, polls: polls, rep: map[string]any{}}
	if err := g.discover(); err != nil {
		g.rep["discovery.failed"] = err.Error()
		return g.rep, nil
	}
	// A failed section is reported, and the others still run.
	for _, s := range []struct {
		name string
		run  func() error
	}{
		{"authorize.prompt_none", g.promptNone}, {"code", g.codeFlow}, {"refresh", g.refreshes}, {"code.misuse", g.codeMisuse},
		{"introspect", g.introspectRevoke}, {"device", g.device}, {"logout", g.logout},
	} {
		if err := s.run(); err != nil {
			g.rep[s.name+".failed"] = err.Error()
		}
	}
	return g.rep, nil
}

// goRun is one run of the Go relying party.
type goRun struct {
	ctx      context.Context
	r        *rpRun
	hc       *http.Client
	polls    *pollRecorder
	rep      map[string]any
	provider *oidc.Provider
	cfg      *oauth2.Config
	idv, atv *oidc.IDTokenVerifier
	meta     struct {
		EndSession    string `json:"end_session_endpoint"`
		Introspection string `json:"introspection_endpoint"`
		Revocation    string `json:"revocation_endpoint"`
	}
	rawID string // the first code flow's ID token, the logout hint
}

func (g *goRun) discover() error {
	c := g.r.client
	var err error
	if g.provider, err = oidc.NewProvider(g.ctx, g.r.g.URL); err != nil { // refuses a document whose issuer is not the URL
		return err
	}
	g.rep["discovery.issuer"] = g.r.g.URL
	if err := g.provider.Claims(&g.meta); err != nil {
		return err
	}
	endpoint := g.provider.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic
	g.cfg = &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, Endpoint: endpoint, RedirectURL: c.redirectURI(),
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
	// Each verifier accepts one algorithm: the client's registered ID-token
	// algorithm, and the gate's access-token algorithm.
	g.idv = g.provider.VerifierContext(g.ctx, &oidc.Config{ClientID: c.ID, SupportedSigningAlgs: []string{c.IDTokenAlg}})
	g.atv = g.provider.VerifierContext(g.ctx, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{g.r.g.atAlg}})
	return nil
}

// promptNone: prompt=none in a browser without a session, an error redirect.
func (g *goRun) promptNone() error {
	state, verifier := randomSecret()[:16], oauth2.GenerateVerifier()
	cb, err := newRPBrowser(g.r.g.URL, confUser, confPassword).browse(g.ctx,
		g.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")), g.r.client.redirectURI())
	if err != nil {
		return err
	}
	q := query(cb)
	g.rep["authorize.prompt_none.error"], g.rep["authorize.prompt_none.iss"] = q.Get("error"), q.Get("iss")
	g.rep["authorize.prompt_none.state"] = q.Get("state") == state
	return nil
}

// login runs the code flow in the person's browser up to the code.
func (g *goRun) login() (code, verifier, nonce string, err error) {
	state, verifier, nonce := randomSecret()[:16], oauth2.GenerateVerifier(), randomSecret()[:16]
	cb, err := g.r.browser.browse(g.ctx, g.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), g.r.client.redirectURI())
	if err != nil {
		return "", "", "", err
	}
	q := query(cb)
	if q.Get("state") != state || q.Get("iss") != g.r.g.URL || q.Get("code") == "" {
		return "", "", "", fmt.Errorf("authorization response %s: want state, iss and code", cb)
	}
	return q.Get("code"), verifier, nonce, nil
}

// tokens runs the code flow and the exchange.
func (g *goRun) tokens() (*oauth2.Token, error) {
	code, verifier, _, err := g.login()
	if err != nil {
		return nil, err
	}
	return g.cfg.Exchange(g.ctx, code, oauth2.VerifierOption(verifier))
}

// codeFlow: code + PKCE, the ID token, the access token, userinfo.
func (g *goRun) codeFlow() error {
	code, verifier, nonce, err := g.login()
	if err != nil {
		return err
	}
	tok, err := g.cfg.Exchange(g.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	g.rawID, _ = tok.Extra("id_token").(string)
	idt, err := g.idv.Verify(g.ctx, g.rawID)
	if err != nil {
		return fmt.Errorf("ID token: %w", err)
	}
	if idt.Nonce != nonce {
		return fmt.Errorf("ID token nonce %q, want %q", idt.Nonce, nonce)
	}
	g.rep["id_token.at_hash_checked"] = errString(idt.VerifyAccessToken(tok.AccessToken), true)
	if err := claimsInto(g.rep, "id_token.", g.rawID, idt.Claims); err != nil {
		return err
	}
	at, err := g.atv.Verify(g.ctx, tok.AccessToken)
	if err != nil {
		return fmt.Errorf("access token: %w", err)
	}
	if err := claimsInto(g.rep, "access_token.", tok.AccessToken, at.Claims); err != nil {
		return err
	}
	ui, err := g.provider.UserInfo(g.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	return claimsInto(g.rep, "userinfo.", "", ui.Claims)
}

func (g *goRun) refresh(rt string) (*oauth2.Token, error) {
	return g.cfg.TokenSource(g.ctx, &oauth2.Token{RefreshToken: rt}).Token()
}

// refreshes: a new refresh token every time; the old one used again
// revokes the family.
func (g *goRun) refreshes() error {
	tok, err := g.tokens()
	if err != nil {
		return err
	}
	tok2, err := g.refresh(tok.RefreshToken)
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	g.rep["refresh.rotated"] = tok2.RefreshToken != "" && tok2.RefreshToken != tok.RefreshToken
	if raw, _ := tok2.Extra("id_token").(string); raw != "" {
		id2, err := g.idv.Verify(g.ctx, raw)
		if err != nil {
			return fmt.Errorf("refreshed ID token: %w", err)
		}
		g.rep["refresh.id_token_alg"], g.rep["refresh.sub"] = jwtHeader(raw)["alg"], id2.Subject
	}
	_, err = g.refresh(tok.RefreshToken)
	g.rep["refresh.reuse"] = oauthError(err)
	_, err = g.refresh(tok2.RefreshToken)
	g.rep["refresh.family"] = oauthError(err)
	return nil
}

// codeMisuse: a used code, and an expired one.
func (g *goRun) codeMisuse() error {
	code, verifier, _, err := g.login()
	if err != nil {
		return err
	}
	if _, err := g.cfg.Exchange(g.ctx, code, oauth2.VerifierOption(verifier)); err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	_, err = g.cfg.Exchange(g.ctx, code, oauth2.VerifierOption(verifier))
	g.rep["code.replay"] = oauthError(err)
	code, verifier, _, err = g.login()
	if err != nil {
		return err
	}
	if err := g.r.g.expireCode(g.ctx, code); err != nil {
		return err
	}
	_, err = g.cfg.Exchange(g.ctx, code, oauth2.VerifierOption(verifier))
	g.rep["code.expired"] = oauthError(err)
	return nil
}

// form posts to an endpoint with the client's Basic credentials.
func (g *goRun) form(endpoint string, v url.Values) (int, map[string]any, error) {
	c := g.r.client
	req, _ := http.NewRequestWithContext(g.ctx, http.MethodPost, endpoint, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret)) // RFC 6749 section 2.3.1
	resp, err := g.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, nil
}

// introspectRevoke: introspection and revocation of a fresh pair.
func (g *goRun) introspectRevoke() error {
	tok, err := g.tokens()
	if err != nil {
		return err
	}
	st, in, err := g.form(g.meta.Introspection, url.Values{"token": {tok.AccessToken}})
	if err != nil || st != http.StatusOK {
		return fmt.Errorf("introspection: %d %v %v", st, in, err)
	}
	g.rep["introspect.active"], g.rep["introspect.sub"], g.rep["introspect.client_id"] = in["active"], in["sub"], in["client_id"]
	if st, _, err := g.form(g.meta.Revocation, url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}); err != nil || st != http.StatusOK {
		return fmt.Errorf("revoking the access token: %d %v", st, err)
	}
	if _, in, err = g.form(g.meta.Introspection, url.Values{"token": {tok.AccessToken}}); err != nil {
		return err
	}
	g.rep["introspect.revoked.active"] = in["active"]
	if st, _, err := g.form(g.meta.Revocation, url.Values{"token": {"unknown-" + randomSecret()}}); err == nil && st == http.StatusOK {
		g.rep["revoke.unknown"] = "ok"
	} else {
		g.rep["revoke.unknown"] = fmt.Sprintf("%d %v", st, err)
	}
	if st, _, err := g.form(g.meta.Revocation, url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}); err != nil || st != http.StatusOK {
		return fmt.Errorf("revoking the refresh token: %d %v", st, err)
	}
	_, err = g.refresh(tok.RefreshToken)
	g.rep["revoke.refresh"] = oauthError(err)
	return nil
}

// logout: RP-initiated logout with the ID token as hint, then the
// back-channel logout token, checked by go-oidc's verifier like an ID token
// (OpenID Back-Channel Logout 1.0 section 2.6: signature, iss, aud,
// iat/exp), and for what only a logout token has.
func (g *goRun) logout() error {
	c := g.r.client
	if g.rawID == "" {
		return errors.New("no ID token from the code flow to send as id_token_hint")
	}
	state := randomSecret()[:16]
	end := g.meta.EndSession + "?" + url.Values{"id_token_hint": {g.rawID}, "post_logout_redirect_uri": {c.postLogoutURI()},
		"state": {state}, "client_id": {c.ID}}.Encode()
	out, err := g.r.browser.browse(g.ctx, end, c.postLogoutURI())
	if err != nil {
		return err
	}
	g.rep["logout.state"] = query(out).Get("state") == state
	lt, err := g.r.logoutToken(g.ctx)
	if err != nil {
		return err
	}
	ltt, err := g.idv.Verify(g.ctx, lt)
	if err != nil {
		return fmt.Errorf("logout token: %w", err)
	}
	var lc map[string]any
	if err := ltt.Claims(&lc); err != nil {
		return err
	}
	h := jwtHeader(lt)
	events, _ := lc["events"].(map[string]any)
	_, event := events["http://schemas.openid.net/event/backchannel-logout"]
	_, hasNonce := lc["nonce"]
	jti, _ := lc["jti"].(string)
	g.rep["logout.token.alg"], g.rep["logout.token.typ"], g.rep["logout.token.iss"] = h["alg"], h["typ"], ltt.Issuer
	g.rep["logout.token.aud"], g.rep["logout.token.sub"], g.rep["logout.token.sid"] = asList(lc["aud"]), ltt.Subject, lc["sid"]
	g.rep["logout.token.event"], g.rep["logout.token.nonce"], g.rep["logout.token.jti"] = event, hasNonce, jti != ""
	return nil
}

// device runs three device authorizations at once: one approved (polled
// faster than the gate asked, so that x/oauth2 must wait out
// authorization_pending and slow_down), one denied, one expired; then the
// approved one's device code again.
func (g *goRun) device() error {
	ctx, r, cfg, idv, polls, rep := g.ctx, g.r, g.cfg, g.idv, g.polls, g.rep
	// x/oauth2 sends no client credentials to the device authorization
	// endpoint; a confidential client adds its secret (client_secret_post).
	secret := oauth2.SetAuthURLParam("client_secret", cfg.ClientSecret)
	var das [3]*oauth2.DeviceAuthResponse
	for i := range das {
		da, err := cfg.DeviceAuth(ctx, secret)
		if err != nil {
			return fmt.Errorf("device authorization: %w", err)
		}
		das[i] = da
	}
	approved, denied, expired := das[0], das[1], das[2]
	if err := r.browser.device(ctx, denied.VerificationURIComplete, "deny"); err != nil {
		return err
	}
	if err := r.g.expireDevice(ctx, expired.DeviceCode); err != nil {
		return err
	}
	var wg sync.WaitGroup
	var deniedErr, expiredErr error
	wg.Add(2)
	go func() { defer wg.Done(); _, deniedErr = cfg.DeviceAccessToken(ctx, denied) }()
	go func() { defer wg.Done(); _, expiredErr = cfg.DeviceAccessToken(ctx, expired) }()
	approved.Interval = 1 // faster than the gate's interval
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() { t, err := cfg.DeviceAccessToken(ctx, approved); done <- result{t, err} }()
	seen, err := polls.wait(ctx, approved.DeviceCode, 2)
	if err != nil {
		return err
	}
	if err := r.browser.device(ctx, approved.VerificationURIComplete, "approve"); err != nil {
		return err
	}
	res := <-done
	wg.Wait()
	if res.err != nil {
		return fmt.Errorf("device flow: %w", res.err)
	}
	rep["device.first_poll"], rep["device.fast_poll"] = seen[0], seen[1]
	raw, _ := res.tok.Extra("id_token").(string)
	idt, err := idv.Verify(ctx, raw)
	if err != nil {
		return fmt.Errorf("device flow ID token: %w", err)
	}
	rep["device.id_token_alg"], rep["device.sub"] = jwtHeader(raw)["alg"], idt.Subject
	rep["device.denied"], rep["device.expired"] = oauthError(deniedErr), oauthError(expiredErr)
	approved.Interval = 1
	_, err = cfg.DeviceAccessToken(ctx, approved)
	rep["device.replay"] = oauthError(err)
	return nil
}

// pollRecorder records the error of every device-code poll the library
// sends, by device code, so the test can see the polls x/oauth2 makes.
type pollRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	errs map[string][]string
}

func (p *pollRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var dc string
	if req.Body != nil && req.Method == http.MethodPost {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		if v, err := url.ParseQuery(string(b)); err == nil && v.Get("grant_type") == deviceGrant {
			dc = v.Get("device_code")
		}
	}
	resp, err := p.base.RoundTrip(req)
	if err != nil || dc == "" || resp.StatusCode == http.StatusOK {
		return resp, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	p.mu.Lock()
	p.errs[dc] = append(p.errs[dc], e.Error)
	p.mu.Unlock()
	return resp, nil
}

// wait returns the errors of device code dc's polls once there are n.
func (p *pollRecorder) wait(ctx context.Context, dc string, n int) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		p.mu.Lock()
		got := append([]string(nil), p.errs[dc]...)
		p.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("x/oauth2 polled %d times (%v), want %d", len(got), got, n)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// oauthError is the status and error code of a refused token request, as
// x/oauth2 reports it.
func oauthError(err error) any {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return map[string]any{"status": float64(re.Response.StatusCode), "error": re.ErrorCode}
	}
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// claimsInto copies the claims (already verified by the library) under
// prefix, with the JWT header's alg and typ when raw is a JWT.
func claimsInto(rep map[string]any, prefix, raw string, claims func(any) error) error {
	var m map[string]any
	if err := claims(&m); err != nil {
		return err
	}
	for k, v := range m {
		if k == "aud" {
			v = asList(v)
		}
		rep[prefix+k] = v
	}
	if raw != "" {
		h := jwtHeader(raw)
		rep[prefix+"alg"], rep[prefix+"typ"] = h["alg"], h["typ"]
	}
	return nil
}

// jwtHeader decodes a JWT's header. It checks nothing: the libraries verify.
func jwtHeader(raw string) map[string]any {
	seg, _, _ := strings.Cut(raw, ".")
	b, _ := base64.RawURLEncoding.DecodeString(seg)
	var h map[string]any
	_ = json.Unmarshal(b, &h)
	return h
}

func asList(v any) any {
	if s, ok := v.(string); ok {
		return []any{s}
	}
	return v
}

func query(u string) url.Values {
	p, err := url.Parse(u)
	if err != nil {
		return url.Values{}
	}
	return p.Query()
}

// errString is ok when err is nil, else the error's text.
func errString(err error, ok any) any {
	if err != nil {
		return err.Error()
	}
	return ok
}

// jsonSegment decodes one base64url segment of a JWT.
func jsonSegment(seg string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(seg) }
