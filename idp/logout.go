package idp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gorilla/sessions"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// PathEndSession is RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0); PathLoggedOut is where the browser lands without a
// post_logout_redirect_uri; PathLogoutConfirm asks the person before a
// logout the request alone does not justify.
const (
	PathEndSession    = "/oauth/end_session"
	PathLoggedOut     = "/oauth/logged_out"
	PathLogoutConfirm = "/oauth/logout"
)

var loggedOutTemplate = template.Must(template.New("out").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out · mlflow-gate</title></head>
<body style="font-family:system-ui,sans-serif"><main><h1>Signed out</h1><p>{{.}}</p>
<p><a href="/">Sign in to MLflow</a> · <a href="/gate/me">Sign in to your account page</a></p></main></body></html>`))

// EndSession is RP-initiated logout. It ends only the requesting browser's
// own SSO session, and only when that session's user is the subject of the
// id_token_hint (an expired hint is fine, section 2). Ending a session that
// the hint names but this browser does not hold would let any page that
// obtained someone's ID token log that person out elsewhere, so it never
// happens here. When the hint's subject is not this browser's user, when
// this browser has no session but the hint's sid names a live one, and when
// no hint is given at all (section 2 allows it), the browser is sent to a
// confirmation page instead: its POST (same-origin, CSRF-protected) ends
// this browser's session, whoever's it is. post_logout_redirect_uri must be
// registered for the client, character for character; otherwise nothing is
// redirected.
func (s *server) EndSession(ctx context.Context, r *op.Request[oidc.EndSessionRequest]) (*op.Redirect, error) {
	p := s.p
	d := r.Data
	now := p.cfg.Now()
	req := &http.Request{Header: r.Header, URL: r.URL, Method: r.Method}
	if d.IdTokenHint == "" {
		if _, err := s.logoutTarget(ctx, d.ClientID, d.PostLogoutRedirectURI, d.State); err != nil {
			return nil, err
		}
		return s.confirmLogout(d.ClientID, d.PostLogoutRedirectURI, d.State), nil
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
	target, err := s.logoutTarget(ctx, clientID, d.PostLogoutRedirectURI, d.State)
	if err != nil {
		return nil, err
	}
	sess, user := p.currentSession(ctx, req, now)
	switch {
	case sess != nil && user.ID == hint.Subject:
		// This browser's own session, of the hint's subject: end it.
	case sess != nil:
		return s.confirmLogout(clientID, d.PostLogoutRedirectURI, d.State), nil
	case hint.SID != "":
		if other, err := p.st.SessionByID(ctx, hint.SID); err == nil && other.Active(now) {
			return s.confirmLogout(clientID, d.PostLogoutRedirectURI, d.State), nil
		}
	}
	redirect := op.NewRedirect(target)
	if err := p.endBrowserSession(ctx, headerWriter{redirect.Header}, req, sess, now); err != nil {
		return nil, s.serverError(ctx, "ending session", err)
	}
	ended := 0
	if sess != nil {
		ended = 1
	}
	p.audit(ctx, storage.Event{Action: "logout", Actor: hint.Subject, ClientID: clientID, Detail: map[string]any{"sessions": ended}})
	return redirect, nil
}

// logoutTarget validates where the browser goes after logging out: a
// post_logout_redirect_uri registered for clientID exactly (with state
// added), or the provider's own page when none is given.
func (s *server) logoutTarget(ctx context.Context, clientID, uri, state string) (string, error) {
	if uri == "" {
		return s.p.cfg.Issuer + PathLoggedOut, nil
	}
	if clientID == "" {
		return "", oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri needs client_id or id_token_hint")
	}
	c, err := s.loadClient(ctx, clientID)
	if err != nil {
		return "", oidc.ErrInvalidRequest().WithDescription("unknown client")
	}
	if !slices.Contains(c.PostLogoutRedirectURIs(), uri) {
		return "", oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri is not registered for this client")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri is malformed")
	}
	if state != "" {
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// confirmLogout sends the browser to the confirmation page, ending nothing.
func (s *server) confirmLogout(clientID, uri, state string) *op.Redirect {
	q := url.Values{}
	for k, v := range map[string]string{"client_id": clientID, "post_logout_redirect_uri": uri, "state": state} {
		if v != "" {
			q.Set(k, v)
		}
	}
	target := s.p.cfg.Issuer + PathLogoutConfirm
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	redirect := op.NewRedirect(target)
	redirect.Header.Set("Cache-Control", "no-store")
	return redirect
}

// endBrowserSession revokes sess (when not nil) on every replica, and clears
// the SSO cookie whatever it named.
func (p *Provider) endBrowserSession(ctx context.Context, w http.ResponseWriter, r *http.Request, sess *storage.Session, now time.Time) error {
	if sess != nil {
		if err := p.st.RevokeSession(ctx, sess.ID, now); err != nil && !isNotFound(err) {
			return err
		}
		p.bc.wake() // this replica tells the session's clients at once
		p.ver.rev.mu.Lock()
		p.ver.rev.sessions[sess.ID] = now.Add(p.cfg.SessionTTL + p.cfg.AccessTokenTTL)
		p.ver.rev.mu.Unlock()
	}
	gone := sessions.NewSession(p.cookies.sso, p.cookies.ssoName)
	opts := *p.cookies.sso.Options
	opts.MaxAge = -1
	gone.Options = &opts
	if err := p.cookies.sso.Save(r, w, gone); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return nil
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

var logoutConfirmTemplate = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Sign out? · mlflow-gate</title></head>
<body style="font-family:system-ui,sans-serif"><main><h1>Sign out of mlflow-gate?</h1>
{{if .Error}}<p role="alert">{{.Error}}</p>{{else}}<p>An application asked to sign you out of mlflow-gate in this browser.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="post_logout_redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit">Sign out</button>
</form>{{end}}<p><a href="/gate/me">My account</a></p></main></body></html>`))

type logoutView struct {
	Action, ClientID, RedirectURI, State, CSRF, Error string
}

func (p *Provider) renderLogout(w http.ResponseWriter, status int, v logoutView) {
	v.Action = PathLogoutConfirm
	var buf bytes.Buffer
	if err := logoutConfirmTemplate.Execute(&buf, v); err != nil {
		p.log.Error("rendering logout page", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// logoutCSRF binds the confirmation form to this browser and its parameters.
func (p *Provider) logoutCSRF(browser, clientID, uri, state string) string {
	m := hmac.New(sha256.New, p.cfg.CodeKey)
	m.Write([]byte("logout-csrf\x00" + browser + "\x00" + clientID + "\x00" + uri + "\x00" + state))
	return b64.EncodeToString(m.Sum(nil))
}

// logoutConfirmPage renders the confirmation form; it ends nothing.
func (p *Provider) logoutConfirmPage(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	q := r.URL.Query()
	v := logoutView{ClientID: q.Get("client_id"), RedirectURI: q.Get("post_logout_redirect_uri"), State: q.Get("state")}
	if len(v.ClientID) > 200 || len(v.RedirectURI) > 2048 || len(v.State) > 1024 {
		p.renderLogout(w, http.StatusBadRequest, logoutView{Error: "The sign-out request is malformed."})
		return
	}
	if _, err := p.srv.logoutTarget(r.Context(), v.ClientID, v.RedirectURI, v.State); err != nil {
		p.renderLogout(w, http.StatusBadRequest, logoutView{Error: "The application's sign-out address is not registered."})
		return
	}
	browser, err := p.ensureBrowser(w, r)
	if err != nil {
		p.log.ErrorContext(r.Context(), "logout page: browser cookie", "error", err)
		p.renderLogout(w, http.StatusInternalServerError, logoutView{Error: "Something went wrong. Try again later."})
		return
	}
	v.CSRF = p.logoutCSRF(browser, v.ClientID, v.RedirectURI, v.State)
	p.renderLogout(w, http.StatusOK, v)
}

// logoutConfirmSubmit ends this browser's own SSO session after the person
// confirmed, and sends the browser on.
func (p *Provider) logoutConfirmSubmit(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	ctx := r.Context()
	now := p.cfg.Now()
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		p.renderLogout(w, http.StatusBadRequest, logoutView{Error: "The form could not be read."})
		return
	}
	f := r.PostForm
	clientID, uri, state := f.Get("client_id"), f.Get("post_logout_redirect_uri"), f.Get("state")
	browser := p.browserID(r)
	want := p.logoutCSRF(browser, clientID, uri, state)
	if browser == "" || !hmac.Equal([]byte(want), []byte(f.Get("csrf"))) {
		p.renderLogout(w, http.StatusForbidden, logoutView{Error: "This sign-out form has expired. Go back to the application and try again."})
		return
	}
	target, err := p.srv.logoutTarget(ctx, clientID, uri, state)
	if err != nil {
		p.renderLogout(w, http.StatusBadRequest, logoutView{Error: "The application's sign-out address is not registered."})
		return
	}
	sess, user := p.currentSession(ctx, r, now)
	if err := p.endBrowserSession(ctx, w, r, sess, now); err != nil {
		p.log.ErrorContext(ctx, "logout: ending session", "error", err)
		p.renderLogout(w, http.StatusInternalServerError, logoutView{Error: "Something went wrong. Try again later."})
		return
	}
	ev := storage.Event{Action: "logout", ClientID: clientID, Detail: map[string]any{"sessions": 0, "confirmed": true}}
	if sess != nil {
		ev.Actor, ev.Detail["sessions"] = user.ID, 1
	}
	p.audit(ctx, ev)
	http.Redirect(w, r, target, http.StatusSeeOther)
}
