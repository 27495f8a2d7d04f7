package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"github.com/gorilla/sessions"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// PathEndSession is RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0); PathLoggedOut is where the browser lands without a
// post_logout_redirect_uri.
const (
	PathEndSession = "/oauth/end_session"
	PathLoggedOut  = "/oauth/logged_out"
)

var loggedOutTemplate = template.Must(template.New("out").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out · mlflow-gate</title></head>
<body style="font-family:system-ui,sans-serif"><main><h1>Signed out</h1><p>{{.}}</p></main></body></html>`))

// EndSession ends the browser's SSO session on every replica and sends it
// back to the client. An id_token_hint the provider signed is required (an
// expired one is fine, section 2): it names the user whose session ends, so
// a third-party page cannot log people out. post_logout_redirect_uri must
// be registered for the client, character for character; otherwise nothing
// is redirected.
func (s *server) EndSession(ctx context.Context, r *op.Request[oidc.EndSessionRequest]) (*op.Redirect, error) {
	p := s.p
	d := r.Data
	now := p.cfg.Now()
	if d.IdTokenHint == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("id_token_hint is required")
	}
	hint, err := p.parseIDTokenHint(ctx, d.IdTokenHint)
	if err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("id_token_hint is not a valid ID token of this provider")
	}
	clientID := d.ClientID
	if clientID == "" && len(hint.Audience) == 1 {
		clientID = hint.Audience[0]
	}
	if clientID != "" && !hint.Audience.contains(clientID) {
		return nil, oidc.ErrInvalidRequest().WithDescription("client_id does not match the id_token_hint")
	}
	target := p.cfg.Issuer + PathLoggedOut
	if d.PostLogoutRedirectURI != "" {
		c, err := s.loadClient(ctx, clientID)
		if err != nil {
			return nil, oidc.ErrInvalidRequest().WithDescription("unknown client")
		}
		if !slices.Contains(c.PostLogoutRedirectURIs(), d.PostLogoutRedirectURI) {
			return nil, oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri is not registered for this client")
		}
		u, _ := url.Parse(d.PostLogoutRedirectURI)
		if d.State != "" {
			q := u.Query()
			q.Set("state", d.State)
			u.RawQuery = q.Encode()
		}
		target = u.String()
	}
	redirect := op.NewRedirect(target)
	req := &http.Request{Header: r.Header, URL: r.URL, Method: r.Method}
	ended := map[string]bool{}
	if sess, user := p.currentSession(ctx, req, now); sess != nil && user.ID == hint.Subject {
		ended[sess.ID] = true
	}
	if hint.SID != "" {
		if sess, err := p.st.SessionByID(ctx, hint.SID); err == nil && sess.UserID == hint.Subject && sess.Active(now) {
			ended[hint.SID] = true
		}
	}
	for sid := range ended {
		if err := p.st.RevokeSession(ctx, sid, now); err != nil && !isNotFound(err) {
			return nil, s.serverError(ctx, "ending session", err)
		}
		p.ver.rev.mu.Lock()
		p.ver.rev.sessions[sid] = now.Add(p.cfg.SessionTTL + p.cfg.AccessTokenTTL)
		p.ver.rev.mu.Unlock()
	}
	// The cookie goes whatever it named.
	gone := sessions.NewSession(p.cookies.sso, p.cookies.ssoName)
	opts := *p.cookies.sso.Options
	opts.MaxAge = -1
	gone.Options = &opts
	if err := p.cookies.sso.Save(req, headerWriter{redirect.Header}, gone); err != nil {
		return nil, s.serverError(ctx, "clearing the session cookie", err)
	}
	redirect.Header.Set("Cache-Control", "no-store")
	p.audit(ctx, storage.Event{Action: "logout", Actor: hint.Subject, ClientID: clientID, Detail: map[string]any{"sessions": len(ended)}})
	return redirect, nil
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, storage.ErrNotFound) }

// parseIDTokenHint checks signature, type and issuer of one of our ID
// tokens, and nothing about its expiry.
func (p *Provider) parseIDTokenHint(ctx context.Context, raw string) (idClaims, error) {
	var c idClaims
	h, input, payload, sig, err := splitJWS(raw)
	if err != nil {
		return c, err
	}
	if h.Typ != typIDToken {
		return c, ErrTokenType
	}
	k, err := p.keys.lookup(ctx, h.Kid)
	if err != nil {
		return c, err
	}
	if err := verifySignature(k, h.Alg, input, sig); err != nil {
		return c, err
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, ErrMalformed
	}
	if c.Issuer != p.cfg.Issuer || c.Subject == "" || len(c.Audience) == 0 {
		return c, ErrClaims
	}
	return c, nil
}

func (p *Provider) loggedOutPage(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	var buf bytes.Buffer
	_ = loggedOutTemplate.Execute(&buf, "You are signed out of mlflow-gate. You can close this page.")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}
