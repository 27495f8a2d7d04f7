package idp

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// Authorize runs after the library validated redirect_uri (and we did, more
// strictly), so its errors are redirected to the client with state. It
// binds the request to this browser, answers from the SSO session when it
// can (consent is skipped for the gate's own clients), and otherwise sends
// the browser to the login page.
func (s *server) Authorize(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	p := s.p
	c := r.Client.(*opClient)
	d := r.Data
	now := p.cfg.Now()
	if d.ResponseType != oidc.ResponseTypeCode {
		// RFC 6749 section 4.1.2.1: the server does not support it (for any client).
		return nil, &oidc.Error{ErrorType: "unsupported_response_type", Description: "only response_type=code is supported"}
	}
	// Request objects (OpenID Connect Core section 6) are not supported;
	// refusing here, after redirect_uri is validated, lets the client see it,
	// with the code section 3.1.2.6 names for each parameter.
	if r.Form.Get("request_uri") != "" {
		return nil, &oidc.Error{ErrorType: "request_uri_not_supported", Description: "request_uri is not supported"}
	}
	if d.RequestParam != "" {
		return nil, oidc.ErrRequestNotSupported()
	}
	if d.ResponseMode != "" && d.ResponseMode != oidc.ResponseModeQuery {
		return nil, oidc.ErrInvalidRequest().WithDescription("only response_mode=query is supported")
	}
	if err := checkChallenge(c, d.CodeChallenge, d.CodeChallengeMethod); err != nil {
		return nil, err
	}
	if len(d.State) > 1024 || len(d.Nonce) > 1024 || len(d.LoginHint) > 256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("state, nonce or login_hint is too long")
	}
	scopes := filterScopes(c, d.Scopes)
	if len(scopes) == 0 {
		return nil, oidc.ErrInvalidScope().WithDescription("none of the requested scopes is allowed for this client")
	}
	req := &http.Request{Header: r.Header, URL: r.URL, Method: r.Method}
	redirect := op.NewRedirect("")
	bid, err := p.ensureBrowser(headerWriter{redirect.Header}, req)
	if err != nil {
		return nil, s.serverError(ctx, "browser cookie", err)
	}
	a := storage.AuthRequest{
		ClientID: c.ID, RedirectURI: d.RedirectURI, Scopes: scopes, State: d.State, Nonce: d.Nonce,
		CodeChallenge: d.CodeChallenge, CodeChallengeMethod: string(d.CodeChallengeMethod), Prompt: d.Prompt,
		LoginHint: d.LoginHint, BrowserHash: sha256Sum(bid), CreatedAt: now, ExpiresAt: now.Add(p.cfg.AuthRequestTTL),
	}
	if d.MaxAge != nil {
		ma := int32(min(*d.MaxAge, 1<<30))
		a.MaxAge = &ma
	}
	sess, user := p.currentSession(ctx, req, now)
	// prompt=login arrives as max_age=0 (the library's ValidateAuthReqPrompt).
	if sess != nil && fresh(a.MaxAge, sess.AuthTime, now) {
		if a, err = p.st.CreateAuthRequest(ctx, a); err != nil {
			return nil, s.serverError(ctx, "storing authorization request", err)
		}
		if redirect.URL, err = p.issueCode(ctx, a, user.ID, sess, now); err != nil {
			return nil, s.serverError(ctx, "issuing code", err)
		}
		return redirect, nil
	}
	if slices.Contains(d.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired() // OpenID Connect Core section 3.1.2.6
	}
	if a, err = p.st.CreateAuthRequest(ctx, a); err != nil {
		return nil, s.serverError(ctx, "storing authorization request", err)
	}
	redirect.URL = p.cfg.Issuer + PathLogin + "?auth=" + url.QueryEscape(a.ID)
	return redirect, nil
}

// fresh reports whether an authentication at authTime satisfies max_age.
func fresh(maxAge *int32, authTime, now time.Time) bool {
	if maxAge == nil {
		return true
	}
	return *maxAge > 0 && now.Sub(authTime) <= time.Duration(*maxAge)*time.Second
}

// checkChallenge enforces PKCE (RFC 7636): S256 only, since plain protects
// nothing against an attacker who can read the authorization request, and a
// challenge is required of public clients (RFC 9700 section 2.1.1). A
// challenge without method would mean plain (RFC 7636 section 4.3).
func checkChallenge(c *opClient, challenge string, method oidc.CodeChallengeMethod) error {
	if challenge == "" {
		if c.Public {
			return oidc.ErrInvalidRequest().WithDescription("code_challenge with code_challenge_method=S256 is required")
		}
		if method != "" {
			return oidc.ErrInvalidRequest().WithDescription("code_challenge_method without code_challenge")
		}
		return nil
	}
	if method != oidc.CodeChallengeMethodS256 {
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256; plain is refused")
	}
	if !isB64URL(challenge, 43, 43) {
		return oidc.ErrInvalidRequest().WithDescription("code_challenge must be 43 base64url characters")
	}
	return nil
}

// isB64URL reports whether s is min..max characters of the unreserved set
// RFC 7636 section 4.1 allows for verifiers (a superset of base64url).
func isB64URL(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	return strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") == ""
}

// issueCode completes a, consuming nothing yet, and returns the response URL.
// The code is 256 random bits; only its SHA-256 is stored.
func (p *Provider) issueCode(ctx context.Context, a storage.AuthRequest, userID string, sess *storage.Session, now time.Time) (string, error) {
	code := newSecret()
	if err := p.st.CompleteAuthRequest(ctx, a.ID, userID, sess.ID, sess.AuthTime, sess.AMR, sha256Sum(code),
		now.Add(p.cfg.CodeTTL), now); err != nil {
		return "", err
	}
	return p.authResponseURL(a.RedirectURI, url.Values{"code": {code}, "state": {a.State}}), nil
}
