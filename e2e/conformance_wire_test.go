package e2e

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// The wire checks: every error the provider answers, read as bytes and
// headers and held against the RFC that defines it. The libraries hide
// these details (most only surface the error code), so they are checked
// here with plain requests.

// wireResp is one response as the wire carried it.
type wireResp struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

var noRedirects = &http.Client{Timeout: 30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send makes one request; basic, when not nil, is the client's id and secret.
func send(t *testing.T, method, target string, form url.Values, basic *confClient, header http.Header) wireResp {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic.ID), url.QueryEscape(basic.Secret))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := wireResp{status: resp.StatusCode, header: resp.Header, body: string(b)}
	_ = json.Unmarshal(b, &r.json)
	return r
}

func (g *confGate) post(t *testing.T, path string, form url.Values, basic *confClient) wireResp {
	t.Helper()
	return send(t, http.MethodPost, g.URL+path, form, basic, nil)
}

func mediaType(h http.Header) string {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt
}

// wantError checks an error response of RFC 6749 section 5.2 (which RFC
// 7009, 7662 and 8628 use too): the status, a JSON body with the error
// code, no-store when noStore, and WWW-Authenticate: Basic on a 401 to a
// client that authenticated with Basic. codes lists the acceptable codes
// (the first is the one the RFC names; more only where the RFCs allow a
// choice).
func wantError(t *testing.T, what string, r wireResp, status int, basic, noStore bool, codes ...string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d: %.300s", what, r.status, status, r.body)
	}
	if mt := mediaType(r.header); mt != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json (RFC 6749 section 5.2)", what, r.header.Get("Content-Type"))
	}
	if code, _ := r.json["error"].(string); !slices.Contains(codes, code) {
		t.Errorf("%s: error %q, want %s: %.300s", what, code, strings.Join(codes, " or "), r.body)
	}
	if noStore && !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
		t.Errorf("%s: Cache-Control %q, want no-store (RFC 6749 section 5.1)", what, r.header.Get("Cache-Control"))
	}
	if status == http.StatusUnauthorized && basic && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("%s: 401 to a Basic client without WWW-Authenticate: Basic (RFC 6749 section 5.2), got %q", what, r.header.Get("WWW-Authenticate"))
	}
}

// wantNoClient checks the answer to a request that names no client at
// all: RFC 6749 section 5.2 allows invalid_client (401: "no client
// authentication included") and invalid_request (400: a required parameter
// is missing).
func wantNoClient(t *testing.T, what string, r wireResp) {
	t.Helper()
	if r.status == http.StatusBadRequest {
		wantError(t, what, r, http.StatusBadRequest, false, false, "invalid_request")
		return
	}
	wantError(t, what, r, http.StatusUnauthorized, false, false, "invalid_client")
}

// wireSession is a person signed in to the gate with a browser, and the
// client's tokens from one code flow.
type wireSession struct {
	browser             *rpBrowser
	access, refresh, id string
	sid                 string
}

// codeFor runs the code flow in b for client c up to the code; extra adds
// or replaces authorization request parameters.
func (g *confGate) codeFor(t *testing.T, b *rpBrowser, c confClient, redirect string, extra url.Values) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirect},
		"scope": {"openid profile email offline_access"}, "state": {"st-" + randomSecret()[:8]}, "nonce": {randomSecret()[:12]},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	cb, err := b.browse(context.Background(), g.URL+"/oauth/authorize?"+q.Encode(), redirect)
	if err != nil {
		t.Fatalf("code flow for %s: %v", c.ID, err)
	}
	got := query(cb)
	if got.Get("code") == "" || got.Get("state") != q.Get("state") || got.Get("iss") != g.URL {
		t.Fatalf("authorization response %s: want code, state and iss=%s (RFC 9207)", cb, g.URL)
	}
	return got.Get("code"), verifier
}

func (g *confGate) exchange(t *testing.T, c confClient, code, verifier string) wireResp {
	t.Helper()
	return g.post(t, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {c.redirectURI()}, "code_verifier": {verifier}}, &c)
}

// session signs alice in (or reuses b's session) and returns fresh tokens of c.
func (g *confGate) session(t *testing.T, b *rpBrowser, c confClient) wireSession {
	t.Helper()
	code, verifier := g.codeFor(t, b, c, c.redirectURI(), nil)
	r := g.exchange(t, c, code, verifier)
	if r.status != http.StatusOK {
		t.Fatalf("exchanging a code: %d %s", r.status, r.body)
	}
	s := wireSession{browser: b}
	s.access, _ = r.json["access_token"].(string)
	s.refresh, _ = r.json["refresh_token"].(string)
	s.id, _ = r.json["id_token"].(string)
	seg := strings.Split(s.id, ".")
	if len(seg) == 3 {
		var claims struct {
			SID string `json:"sid"`
		}
		if b, err := jsonSegment(seg[1]); err == nil {
			_ = json.Unmarshal(b, &claims)
		}
		s.sid = claims.SID
	}
	if s.access == "" || s.refresh == "" || s.id == "" {
		t.Fatalf("token response lacks a token: %s", r.body)
	}
	return s
}

// checkDiscovery holds the discovery document and the key set against
// OpenID Connect Discovery 1.0 section 3, RFC 8414, RFC 9207 and OpenID
// Back-Channel Logout 1.0 section 2.1.
func checkDiscovery(t *testing.T, g *confGate) {
	r := send(t, http.MethodGet, g.URL+"/.well-known/openid-configuration", nil, nil, nil)
	if r.status != http.StatusOK || mediaType(r.header) != "application/json" {
		t.Fatalf("discovery: %d %q", r.status, r.header.Get("Content-Type"))
	}
	d := r.json
	strs := func(k string) []string {
		var out []string
		l, _ := d[k].([]any)
		for _, v := range l {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	if d["issuer"] != g.URL {
		t.Errorf("issuer %v, want %s", d["issuer"], g.URL)
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint",
		"revocation_endpoint", "introspection_endpoint", "device_authorization_endpoint"} {
		if s, _ := d[k].(string); !strings.HasPrefix(s, g.URL+"/") {
			t.Errorf("%s = %v, want a URL on the issuer", k, d[k])
		}
	}
	for k, want := range map[string][]string{
		// OpenID Connect Discovery 1.0 section 3: RS256 MUST be included.
		"id_token_signing_alg_values_supported": {"RS256", "ES256"},
		"response_types_supported":              {"code"},
		"subject_types_supported":               {"public"},
		"grant_types_supported":                 {"authorization_code", "refresh_token", deviceGrant},
		"token_endpoint_auth_methods_supported": {"client_secret_basic"},
		"scopes_supported":                      {"openid", "profile", "email", "offline_access"},
	} {
		for _, w := range want {
			if !slices.Contains(strs(k), w) {
				t.Errorf("%s = %v, lacks %s", k, d[k], w)
			}
		}
	}
	if got := strs("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
		t.Errorf("code_challenge_methods_supported = %v, want [S256] (plain is refused)", got)
	}
	for _, k := range []string{"authorization_response_iss_parameter_supported", "backchannel_logout_supported", "backchannel_logout_session_supported"} {
		if d[k] != true {
			t.Errorf("%s = %v, want true", k, d[k])
		}
	}

	jwksURI, _ := d["jwks_uri"].(string)
	k := send(t, http.MethodGet, jwksURI, nil, nil, nil)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(k.body), &set); err != nil || k.status != http.StatusOK {
		t.Fatalf("jwks: %d %v %.200s", k.status, err, k.body)
	}
	kids := map[string]bool{}
	algs := map[string]bool{}
	for _, key := range set.Keys {
		kid, _ := key["kid"].(string)
		if kid == "" || kids[kid] {
			t.Errorf("key without a kid or with a repeated one: %v", key)
		}
		kids[kid] = true
		alg, _ := key["alg"].(string)
		algs[alg] = true
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := key[private]; ok {
				t.Errorf("jwks publishes a private part %q of %s", private, kid)
			}
		}
		want := map[string]string{"ES256": "EC", "RS256": "RSA"}[alg]
		if key["kty"] != want || key["use"] != "sig" {
			t.Errorf("key %s: alg %q kty %v use %v", kid, alg, key["kty"], key["use"])
		}
	}
	if !algs["ES256"] || !algs["RS256"] {
		t.Errorf("jwks has keys for %v, want ES256 and RS256 (ID tokens follow the client, access tokens the gate)", algs)
	}
}

// checkWire runs the wire checks against g, in parallel groups.
func checkWire(t *testing.T, g *confGate) {
	other := g.addClient(t, "wire-other", "ES256")
	b := newRPBrowser(g.URL, confUser, confPassword)
	s := g.session(t, b, g.wire)
	together(t, map[string]func(t *testing.T){
		"token":                    func(t *testing.T) { wireToken(t, g, b, other) },
		"authorize":                func(t *testing.T) { wireAuthorize(t, g) },
		"userinfo":                 func(t *testing.T) { wireUserinfo(t, g, s) },
		"introspection_revocation": func(t *testing.T) { wireIntrospectRevoke(t, g, b) },
		"device":                   func(t *testing.T) { wireDevice(t, g) },
		"end_session":              func(t *testing.T) { wireEndSession(t, g, other) },
		"client_update":            func(t *testing.T) { wireClientUpdate(t, g) },
	})
}

func wireToken(t *testing.T, g *confGate, b *rpBrowser, other confClient) {
	w := g.wire
	wrong := confClient{ID: w.ID, Secret: "wrong-" + randomSecret()}
	nobody := confClient{ID: "nobody", Secret: "x"}
	for _, c := range []struct {
		name   string
		form   url.Values
		basic  *confClient
		status int
		codes  []string
	}{
		{"unsupported grant_type", url.Values{"grant_type": {"urn:example:nope"}}, &w, 400, []string{"unsupported_grant_type"}},
		{"no grant_type", url.Values{}, &w, 400, []string{"invalid_request"}},
		{"authorization_code without code", url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {w.redirectURI()}}, &w, 400, []string{"invalid_request"}},
		{"refresh_token without refresh_token", url.Values{"grant_type": {"refresh_token"}}, &w, 400, []string{"invalid_request"}},
		{"device_code without device_code", url.Values{"grant_type": {deviceGrant}}, &w, 400, []string{"invalid_request"}},
		{"unknown code", url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {w.redirectURI()},
			"code_verifier": {oauth2.GenerateVerifier()}}, &w, 400, []string{"invalid_grant"}},
		{"unknown refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, &w, 400, []string{"invalid_grant"}},
		{"grant the client may not use", url.Values{"grant_type": {"client_credentials"}}, &w, 400, []string{"unauthorized_client"}},
		{"wrong secret with Basic", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, &wrong, 401, []string{"invalid_client"}},
		{"unknown client with Basic", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, &nobody, 401, []string{"invalid_client"}},
		{"wrong secret in the body", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {w.ID},
			"client_secret": {wrong.Secret}}, nil, 0, []string{"invalid_client"}},
		{"confidential client without its secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"},
			"client_id": {w.ID}}, nil, 0, []string{"invalid_client"}},
	} {
		r := g.post(t, "/oauth/token", c.form, c.basic)
		status := c.status
		if status == 0 {
			// invalid_client without Basic: 400, or 401 (RFC 6749 section 5.2 "MAY").
			status = http.StatusUnauthorized
			if r.status == http.StatusBadRequest {
				status = http.StatusBadRequest
			}
		}
		wantError(t, c.name, r, status, c.basic != nil, true, c.codes...)
	}
	r := send(t, http.MethodGet, g.URL+"/oauth/token", nil, nil, nil)
	if r.status != http.StatusMethodNotAllowed || !strings.Contains(r.header.Get("Allow"), "POST") {
		t.Errorf("GET /oauth/token: %d Allow %q, want 405 with Allow: POST", r.status, r.header.Get("Allow"))
	}
	wantError(t, "parameters in the query (RFC 6749 section 3.2)", send(t, http.MethodPost, g.URL+"/oauth/token?grant_type=refresh_token",
		url.Values{"refresh_token": {"x"}}, &w, nil), 400, true, true, "invalid_request")

	// Codes: a wrong or missing verifier, another redirect_uri, another
	// client, a code used twice (which also revokes what it gave, RFC 6749
	// section 4.1.2), an expired code.
	code, _ := g.codeFor(t, b, w, w.redirectURI(), nil)
	wantError(t, "wrong code_verifier (RFC 7636 section 4.6)", g.exchange(t, w, code, oauth2.GenerateVerifier()), 400, true, true, "invalid_grant")
	code, _ = g.codeFor(t, b, w, w.redirectURI(), nil)
	wantError(t, "no code_verifier", g.post(t, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {w.redirectURI()}}, &w), 400, true, true, "invalid_grant", "invalid_request")
	code, verifier := g.codeFor(t, b, w, w.redirectURI(), nil)
	wantError(t, "another redirect_uri", g.post(t, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {other.redirectURI()}, "code_verifier": {verifier}}, &w), 400, true, true, "invalid_grant")
	code, verifier = g.codeFor(t, b, w, w.redirectURI(), nil)
	wantError(t, "another client's code", g.post(t, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {other.redirectURI()}, "code_verifier": {verifier}}, &other), 400, true, true, "invalid_grant")
	code, verifier = g.codeFor(t, b, w, w.redirectURI(), nil)
	ok := g.exchange(t, w, code, verifier)
	if ok.status != http.StatusOK || mediaType(ok.header) != "application/json" || !strings.Contains(ok.header.Get("Cache-Control"), "no-store") ||
		ok.header.Get("Pragma") != "no-cache" || !strings.EqualFold(text(ok.json["token_type"]), "Bearer") {
		t.Errorf("token response: %d %v, want 200 JSON, no-store, Pragma: no-cache, token_type Bearer (RFC 6749 section 5.1): %.200s",
			ok.status, ok.header, ok.body)
	}
	wantError(t, "a code used twice", g.exchange(t, w, code, verifier), 400, true, true, "invalid_grant")
	if in := g.post(t, "/oauth/introspect", url.Values{"token": {text(ok.json["access_token"])}}, &w); in.json["active"] != false {
		t.Errorf("the access token of a code used twice is still active right after the replay was refused: %s", in.body)
	}
	code, verifier = g.codeFor(t, b, w, w.redirectURI(), nil)
	if err := g.expireCode(context.Background(), code); err != nil {
		t.Fatal(err)
	}
	wantError(t, "an expired code", g.exchange(t, w, code, verifier), 400, true, true, "invalid_grant")

	// Refresh: a scope beyond the grant, another client's refresh token.
	s := g.session(t, b, w)
	wantError(t, "refresh with a wider scope (RFC 6749 section 6)", g.post(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {s.refresh}, "scope": {"openid profile email offline_access mlflow"}}, &w), 400, true, true, "invalid_scope")
	s = g.session(t, b, w)
	wantError(t, "another client's refresh token", g.post(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {s.refresh}}, &other), 400, true, true, "invalid_grant")
}

func wireAuthorize(t *testing.T, g *confGate) {
	w := g.wire
	base := func(c string, redirect string) url.Values {
		return url.Values{"response_type": {"code"}, "client_id": {c}, "redirect_uri": {redirect}, "scope": {"openid"},
			"state": {"s-" + randomSecret()[:8]}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
			"code_challenge_method": {"S256"}}
	}
	// The same errors for a confidential client (an http loopback redirect
	// here) and for the built-in public native client.
	type target struct{ client, redirect string }
	confidential, public := target{w.ID, w.redirectURI()}, target{g.public, "http://127.0.0.1:53682/callback"}
	for _, c := range []struct {
		name    string
		clients []target
		edit    func(url.Values)
		error   string
	}{
		{"response_type=token", []target{confidential, public}, func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"response_type=code id_token", []target{confidential, public}, func(q url.Values) { q.Set("response_type", "code id_token") }, "unsupported_response_type"},
		{"no response_type", []target{confidential, public}, func(q url.Values) { q.Del("response_type") }, "invalid_request"},
		{"a public client without PKCE (RFC 7636 section 4.4.1)", []target{public}, func(q url.Values) {
			q.Del("code_challenge")
			q.Del("code_challenge_method")
		}, "invalid_request"},
		{"code_challenge_method=plain", []target{confidential, public}, func(q url.Values) {
			q.Set("code_challenge", oauth2.GenerateVerifier())
			q.Set("code_challenge_method", "plain")
		}, "invalid_request"},
		{"prompt=none without a session", []target{confidential, public}, func(q url.Values) { q.Set("prompt", "none") }, "login_required"},
		{"request_uri", []target{confidential, public}, func(q url.Values) { q.Set("request_uri", "urn:example:request") }, "request_uri_not_supported"},
	} {
		for _, to := range c.clients {
			q := base(to.client, to.redirect)
			c.edit(q)
			what := c.name + " (" + to.client + ")"
			r := send(t, http.MethodGet, g.URL+"/oauth/authorize?"+q.Encode(), nil, nil, nil)
			loc := r.header.Get("Location")
			got := query(loc)
			if (r.status != http.StatusFound && r.status != http.StatusSeeOther) || !strings.HasPrefix(loc, to.redirect+"?") {
				t.Errorf("%s: %d to %q, want a redirect to the client (RFC 6749 section 4.1.2.1): %.200s", what, r.status, loc, r.body)
				continue
			}
			if got.Get("error") != c.error || got.Get("state") != q.Get("state") || got.Get("iss") != g.URL || got.Has("code") {
				t.Errorf("%s: redirected with %v, want error=%s, the state and iss=%s (RFC 9207)", what, got, c.error, g.URL)
			}
		}
	}
	// Errors about the client or its redirect URI are never redirected.
	for name, q := range map[string]url.Values{
		"unknown client":           base("nobody", w.redirectURI()),
		"unregistered redirect":    base(w.ID, confRedirectBase+"/elsewhere"),
		"another client's address": base(w.ID, confRedirectBase+"/cb/wire-other"),
	} {
		r := send(t, http.MethodGet, g.URL+"/oauth/authorize?"+q.Encode(), nil, nil, nil)
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
			t.Errorf("%s: %d Location %q, want 400 without a redirect (RFC 6749 section 4.1.2.1)", name, r.status, r.header.Get("Location"))
		}
	}
}

// wireUserinfo: RFC 6750 section 3 and OpenID Connect Core 5.3.3.
func wireUserinfo(t *testing.T, g *confGate, s wireSession) {
	get := func(token string) wireResp {
		h := http.Header{}
		if token != "" {
			h.Set("Authorization", "Bearer "+token)
		}
		return send(t, http.MethodGet, g.URL+"/oauth/userinfo", nil, nil, h)
	}
	r := get("")
	if ch := r.header.Get("WWW-Authenticate"); r.status != http.StatusUnauthorized || !strings.HasPrefix(ch, "Bearer") || strings.Contains(ch, "error=") {
		t.Errorf("userinfo without a token: %d WWW-Authenticate %q, want 401 with a Bearer challenge without an error code (RFC 6750 section 3.1)", r.status, ch)
	}
	for name, tok := range map[string]string{"a malformed token": "not-a-token", "an ID token": s.id, "a refresh token": s.refresh} {
		r := get(tok)
		if ch := r.header.Get("WWW-Authenticate"); r.status != http.StatusUnauthorized || !strings.HasPrefix(ch, "Bearer") || !strings.Contains(ch, `error="invalid_token"`) {
			t.Errorf("userinfo with %s: %d WWW-Authenticate %q, want 401 with Bearer error=\"invalid_token\"", name, r.status, ch)
		}
	}
	r = get(s.access)
	if r.status != http.StatusOK || mediaType(r.header) != "application/json" || r.json["sub"] == nil {
		t.Errorf("userinfo with the access token: %d %q %.200s", r.status, r.header.Get("Content-Type"), r.body)
	}
}

// wireIntrospectRevoke: RFC 7662 and RFC 7009.
func wireIntrospectRevoke(t *testing.T, g *confGate, b *rpBrowser) {
	w := g.wire
	wrong := confClient{ID: w.ID, Secret: "wrong-" + randomSecret()}
	public := confClient{ID: g.public}
	s := g.session(t, b, w)
	for _, path := range []string{"/oauth/introspect", "/oauth/revoke"} {
		wantNoClient(t, path+" without client authentication", g.post(t, path, url.Values{"token": {s.access}}, nil))
		wantError(t, path+" with a wrong secret", g.post(t, path, url.Values{"token": {s.access}}, &wrong), 401, true, false, "invalid_client")
		wantError(t, path+" without token", g.post(t, path, url.Values{}, &w), 400, true, false, "invalid_request")
		if r := send(t, http.MethodGet, g.URL+path, nil, nil, nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" {
			t.Errorf("GET %s: %d Allow %q, want 405 with Allow", path, r.status, r.header.Get("Allow"))
		}
	}
	wantError(t, "introspection by a public client", g.post(t, "/oauth/introspect", url.Values{"token": {s.access}, "client_id": {public.ID}}, nil),
		401, false, false, "invalid_client")

	introspect := func(tok string) wireResp {
		r := g.post(t, "/oauth/introspect", url.Values{"token": {tok}}, &w)
		if r.status != http.StatusOK || mediaType(r.header) != "application/json" {
			t.Errorf("introspection: %d %q, want 200 JSON (RFC 7662 section 2.2)", r.status, r.header.Get("Content-Type"))
		}
		return r
	}
	if r := introspect("unknown-" + randomSecret()); r.json["active"] != false || len(r.json) != 1 {
		t.Errorf("introspecting an unknown token: %s, want only {\"active\":false}", r.body)
	}
	r := introspect(s.access)
	if r.json["active"] != true || r.json["client_id"] != w.ID || r.json["sub"] == nil || !strings.Contains(text(r.json["scope"]), "openid") {
		t.Errorf("introspecting a live access token: %s", r.body)
	}
	if exp, _ := r.json["exp"].(float64); exp < float64(time.Now().Unix()) {
		t.Errorf("introspection exp %v is not in the future", r.json["exp"])
	}

	revoke := func(form url.Values) {
		t.Helper()
		r := g.post(t, "/oauth/revoke", form, &w)
		if r.status != http.StatusOK {
			t.Errorf("revoking %v: %d %s, want 200 (RFC 7009 section 2.2)", form.Get("token_type_hint"), r.status, r.body)
		}
	}
	revoke(url.Values{"token": {"unknown-" + randomSecret()}})
	revoke(url.Values{"token": {"unknown-" + randomSecret()}, "token_type_hint": {"refresh_token"}})
	revoke(url.Values{"token": {s.access}, "token_type_hint": {"access_token"}})
	if r := introspect(s.access); r.json["active"] != false {
		t.Errorf("a revoked access token introspects as %s", r.body)
	}
	h := http.Header{"Authorization": {"Bearer " + s.access}}
	if r := send(t, http.MethodGet, g.URL+"/oauth/userinfo", nil, nil, h); r.status != http.StatusUnauthorized ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("userinfo with a revoked access token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	revoke(url.Values{"token": {s.refresh}}) // no hint: the server finds it (RFC 7009 section 2.1)
	wantError(t, "refreshing with a revoked refresh token", g.post(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {s.refresh}}, &w), 400, true, true, "invalid_grant")
}

// wireDevice: RFC 8628 sections 3.1, 3.2 and 3.5.
func wireDevice(t *testing.T, g *confGate) {
	w := g.wire
	start := func() map[string]any {
		t.Helper()
		r := g.post(t, "/oauth/device_authorization", url.Values{"client_id": {g.public}, "scope": {"openid profile offline_access"}}, nil)
		if r.status != http.StatusOK || mediaType(r.header) != "application/json" || !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
			t.Fatalf("device authorization: %d %v %s", r.status, r.header, r.body)
		}
		for _, k := range []string{"device_code", "user_code", "verification_uri", "verification_uri_complete"} {
			if text(r.json[k]) == "" {
				t.Errorf("device authorization response lacks %s: %s", k, r.body)
			}
		}
		if n, _ := r.json["expires_in"].(float64); n <= 0 {
			t.Errorf("device authorization expires_in %v", r.json["expires_in"])
		}
		return r.json
	}
	wantNoClient(t, "device authorization without a client", g.post(t, "/oauth/device_authorization", url.Values{"scope": {"openid"}}, nil))
	wantError(t, "device authorization by a confidential client without its secret",
		g.post(t, "/oauth/device_authorization", url.Values{"client_id": {w.ID}}, nil), 401, false, true, "invalid_client")
	wantError(t, "device authorization by a client without the device grant", g.post(t, "/oauth/device_authorization", url.Values{}, &g.svc),
		400, true, true, "unauthorized_client")

	poll := func(dc string, as *confClient) wireResp {
		form := url.Values{"grant_type": {deviceGrant}, "device_code": {dc}}
		if as == nil {
			form.Set("client_id", g.public)
		}
		return g.post(t, "/oauth/token", form, as)
	}
	d := start()
	dc := text(d["device_code"])
	wantError(t, "first poll", poll(dc, nil), 400, false, true, "authorization_pending")
	wantError(t, "a poll sooner than the interval", poll(dc, nil), 400, false, true, "slow_down")
	wantError(t, "another client's device code", poll(dc, &w), 400, true, true, "invalid_grant")
	wantError(t, "an unknown device code", poll("unknown-"+randomSecret(), nil), 400, false, true, "invalid_grant")
	b := newRPBrowser(g.URL, confUser, confPassword)
	if err := b.device(context.Background(), text(d["verification_uri_complete"]), "approve"); err != nil {
		t.Fatal(err)
	}
	if r := poll(dc, nil); r.status != http.StatusOK || !strings.Contains(r.header.Get("Cache-Control"), "no-store") || text(r.json["access_token"]) == "" {
		t.Errorf("poll after approval: %d %v %.200s", r.status, r.header, r.body)
	}
	wantError(t, "a device code used twice", poll(dc, nil), 400, false, true, "invalid_grant")

	denied := start()
	if err := b.device(context.Background(), text(denied["verification_uri_complete"]), "deny"); err != nil {
		t.Fatal(err)
	}
	wantError(t, "a denied device", poll(text(denied["device_code"]), nil), 400, false, true, "access_denied")
	expired := start()
	if err := g.expireDevice(context.Background(), text(expired["device_code"])); err != nil {
		t.Fatal(err)
	}
	wantError(t, "an expired device code", poll(text(expired["device_code"]), nil), 400, false, true, "expired_token")
}

// wireEndSession: OpenID Connect RP-Initiated Logout 1.0 and Back-Channel
// Logout 1.0.
func wireEndSession(t *testing.T, g *confGate, other confClient) {
	w := g.wire
	b := newRPBrowser(g.URL, confUser, confPassword)
	s := g.session(t, b, w)
	for name, q := range map[string]url.Values{
		"an unregistered post_logout_redirect_uri":  {"client_id": {w.ID}, "post_logout_redirect_uri": {confRedirectBase + "/elsewhere"}},
		"another client's post_logout_redirect_uri": {"client_id": {w.ID}, "post_logout_redirect_uri": {other.postLogoutURI()}},
		"a hint of another client":                  {"client_id": {other.ID}, "id_token_hint": {s.id}, "post_logout_redirect_uri": {other.postLogoutURI()}},
		"a forged hint":                             {"id_token_hint": {"eyJhbGciOiJub25lIn0.e30."}},
	} {
		p, err := b.do(context.Background(), http.MethodGet, g.URL+"/oauth/end_session?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.status != http.StatusBadRequest || strings.HasPrefix(p.location, confRedirectBase) {
			t.Errorf("end_session with %s: %s, want 400 and no redirect", name, p)
		}
	}

	// Without id_token_hint: a confirmation page, then the client's address
	// with its state, and a back-channel logout for the ended session.
	state := "st-" + randomSecret()[:8]
	end := g.URL + "/oauth/end_session?" + url.Values{"client_id": {w.ID}, "post_logout_redirect_uri": {w.postLogoutURI()}, "state": {state}}.Encode()
	p, err := b.open(context.Background(), end)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := postForm(p.body)
	if p.status != http.StatusOK || !ok || !strings.Contains(p.body, "<button") {
		t.Fatalf("end_session without a hint: %s, want a confirmation page with a form and a button", p)
	}
	next, err := b.submit(context.Background(), p, f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(next, w.postLogoutURI()+"?") || query(next).Get("state") != state {
		t.Errorf("after confirming: redirected to %q, want %s with state=%s", next, w.postLogoutURI(), state)
	}
	d, err := g.bcl.wait(context.Background(), w.ID)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, g.URL)
	if err != nil {
		t.Fatal(err)
	}
	raw := d.Form.Get("logout_token")
	lt, err := provider.Verifier(&oidc.Config{ClientID: w.ID, SupportedSigningAlgs: []string{w.IDTokenAlg}}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("logout token: %v", err)
	}
	var c struct {
		SID    string                    `json:"sid"`
		JTI    string                    `json:"jti"`
		Nonce  *string                   `json:"nonce"`
		Events map[string]map[string]any `json:"events"`
	}
	if err := lt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	_, event := c.Events["http://schemas.openid.net/event/backchannel-logout"]
	if h := jwtHeader(raw); h["typ"] != "logout+jwt" || c.SID != s.sid || c.SID == "" || c.JTI == "" || c.Nonce != nil || !event {
		t.Errorf("logout token: typ %v sid %q (session %q) jti %q nonce %v event %v", h["typ"], c.SID, s.sid, c.JTI, c.Nonce, event)
	}
	h := http.Header{"Authorization": {"Bearer " + s.access}}
	if r := send(t, http.MethodGet, g.URL+"/oauth/userinfo", nil, nil, h); r.status != http.StatusUnauthorized {
		t.Errorf("userinfo with an access token of the ended session: %d, want 401", r.status)
	}
}

// wireClientUpdate: `client update --id-token-alg` changes the algorithm of
// the client's next ID tokens (OpenID Connect Dynamic Client Registration
// 1.0 section 2, id_token_signed_response_alg), checked by go-oidc
// verifiers that accept only the one algorithm.
func wireClientUpdate(t *testing.T, g *confGate) {
	c := g.addClient(t, "wire-update", "ES256")
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, g.URL)
	if err != nil {
		t.Fatal(err)
	}
	b := newRPBrowser(g.URL, confUser, confPassword)
	verify := func(alg string) error {
		_, err := provider.Verifier(&oidc.Config{ClientID: c.ID, SupportedSigningAlgs: []string{alg}}).Verify(ctx, g.session(t, b, c).id)
		return err
	}
	if err := verify("ES256"); err != nil {
		t.Fatalf("ID token of a client added with --id-token-alg ES256: %v", err)
	}
	if out, err := cli(t, g.env, "", "client", "update", c.ID, "--id-token-alg", "RS256"); err != nil {
		t.Fatalf("client update --id-token-alg RS256: %v\n%s", err, out)
	}
	// A change reaches the gate's caches within a second.
	deadline := time.Now().Add(3 * time.Second)
	for err = verify("RS256"); err != nil && time.Now().Before(deadline); err = verify("RS256") {
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("ID token after client update --id-token-alg RS256: %v", err)
	}
}

func text(v any) string { s, _ := v.(string); return s }
