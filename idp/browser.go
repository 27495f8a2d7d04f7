package idp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// Two cookies, both HttpOnly, SameSite=Lax (the client's redirect to
// /authorize is a top-level GET, so they travel with it), Secure and
// __Host- prefixed under https (RFC 6265bis section 4.1.3.2: host-only,
// path /, not settable by a sibling domain):
//
//   - the SSO cookie names a sessions row; it is replaced at every login
//     (session fixation) and revocable server-side;
//   - the browser cookie holds a random value whose SHA-256 every
//     authorization request stores, binding the request to the browser that
//     started it, and which keys the login form's CSRF token.
type cookies struct {
	sso, browser         *sessions.CookieStore
	ssoName, browserName string
}

func newCookies(cfg *Config) *cookies {
	prefix := ""
	if cfg.secure() {
		prefix = "__Host-"
	}
	mk := func(maxAge int) *sessions.CookieStore {
		st := sessions.NewCookieStore(cfg.CookieHashKey, cfg.CookieBlockKey)
		st.Options = &sessions.Options{Path: "/", HttpOnly: true, Secure: cfg.secure(), SameSite: http.SameSiteLaxMode, MaxAge: maxAge}
		st.MaxAge(maxAge)
		return st
	}
	return &cookies{
		sso:         mk(int(cfg.SessionTTL / time.Second)),
		browser:     mk(0), // a browser-session cookie
		ssoName:     prefix + "mlflow-gate-sso",
		browserName: prefix + "mlflow-gate-browser",
	}
}

// browserID returns the browser cookie's value, or "".
func (p *Provider) browserID(r *http.Request) string {
	s, err := p.cookies.browser.Get(r, p.cookies.browserName)
	if err != nil {
		return ""
	}
	b, _ := s.Values["b"].(string)
	return b
}

// ensureBrowser returns the browser value, setting the cookie if absent.
func (p *Provider) ensureBrowser(w http.ResponseWriter, r *http.Request) (string, error) {
	if b := p.browserID(r); b != "" {
		return b, nil
	}
	s := sessions.NewSession(p.cookies.browser, p.cookies.browserName)
	opts := *p.cookies.browser.Options
	s.Options = &opts
	b := newSecret()
	s.Values["b"] = b
	return b, p.cookies.browser.Save(r, w, s)
}

// currentSession returns the browser's SSO session and its user when both
// are still good at now: the row not revoked or expired, the user enabled.
func (p *Provider) currentSession(ctx context.Context, r *http.Request, now time.Time) (*storage.Session, *storage.User) {
	s, err := p.cookies.sso.Get(r, p.cookies.ssoName)
	if err != nil {
		return nil, nil
	}
	sid, _ := s.Values["sid"].(string)
	if sid == "" {
		return nil, nil
	}
	sess, err := p.st.SessionByID(ctx, sid)
	// Idle as the proxy counts it (Verifier.VerifySession): last_seen_at is
	// written at most once a minute per replica, which the idle lifetime dwarfs.
	if err != nil || !sess.Active(now) || now.Sub(sess.LastSeenAt) >= p.cfg.SessionIdleTTL {
		return nil, nil
	}
	u, err := p.st.UserByID(ctx, sess.UserID)
	if err != nil || !u.Enabled() {
		return nil, nil
	}
	return &sess, &u
}

// startSession records a login: a new sessions row (revoking the browser's
// previous one) and a new SSO cookie naming it.
func (p *Provider) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u *storage.User, addr string, now time.Time) (*storage.Session, error) {
	old := ""
	if s, err := p.cookies.sso.Get(r, p.cookies.ssoName); err == nil {
		old, _ = s.Values["sid"].(string)
	}
	ua := r.UserAgent()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	sess, err := p.st.CreateSession(ctx, storage.Session{UserID: u.ID, AuthTime: now, AMR: []string{"pwd"}, UserAgent: ua,
		RemoteAddr: addr, ExpiresAt: now.Add(p.cfg.SessionTTL)}, old)
	if err != nil {
		return nil, err
	}
	s := sessions.NewSession(p.cookies.sso, p.cookies.ssoName)
	opts := *p.cookies.sso.Options
	s.Options = &opts
	s.Values["sid"] = sess.ID
	if err := p.cookies.sso.Save(r, w, s); err != nil {
		return nil, err
	}
	return &sess, nil
}

// csrfToken binds the login form to this browser and this request.
func (p *Provider) csrfToken(browser, authID, returnTo string) string {
	m := hmac.New(sha256.New, p.cfg.CodeKey)
	m.Write([]byte("login-csrf\x00" + browser + "\x00" + authID + "\x00" + returnTo))
	return b64.EncodeToString(m.Sum(nil))
}

func (p *Provider) checkCSRF(browser, authID, returnTo, token string) bool {
	want := p.csrfToken(browser, authID, returnTo)
	return browser != "" && hmac.Equal([]byte(want), []byte(token))
}

// SessionUser reports the user of the request's SSO session, for the web
// package's pages (it never accepts bearer tokens there).
func (p *Provider) SessionUser(r *http.Request) (storage.User, bool) {
	_, u := p.currentSession(r.Context(), r, p.cfg.Now())
	if u == nil {
		return storage.User{}, false
	}
	return *u, true
}
