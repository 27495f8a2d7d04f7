package idp

import (
	"net/http"
	"net/url"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// Visit is what the gate's own pages (package web) know of a signed-in
// browser: its SSO session and its user, both checked as the proxy checks
// them (not revoked, within the absolute and idle lifetimes, user enabled).
type Visit struct {
	Session storage.Session
	User    storage.User
	// Address is the client address as the provider sees it (trusted
	// proxies applied), for audit records and throttling.
	Address string
}

// BrowserVisit returns the request's signed-in browser, or false. Pages never
// accept bearer tokens or personal access tokens: only this cookie. A visit
// counts as use of the session (idle lifetime), recorded at most once a
// minute.
func (p *Provider) BrowserVisit(r *http.Request) (Visit, bool) {
	now := p.cfg.Now()
	sess, u := p.currentSession(r.Context(), r, now)
	if sess == nil {
		return Visit{}, false
	}
	if now.Sub(sess.LastSeenAt) >= time.Minute {
		if err := p.st.TouchSession(r.Context(), sess.ID, now); err != nil {
			p.log.WarnContext(r.Context(), "recording session use", "session_id", sess.ID, "error", err)
		}
	}
	return Visit{Session: *sess, User: *u, Address: clientAddr(r, p.cfg.TrustedProxies).String()}, true
}

// Reauthenticate checks the signed-in user's password again before a
// sensitive action, under the same throttling as the login page (a stolen
// session cannot guess faster than a stranger). On success the session's
// authentication time becomes now, so the next sensitive action within the
// pages' window does not ask again. It returns "" on success, otherwise the
// message to show.
func (p *Provider) Reauthenticate(r *http.Request, v Visit, pw string) string {
	ctx := r.Context()
	now := p.cfg.Now()
	addr := clientAddr(r, p.cfg.TrustedProxies)
	device := p.deviceID(r, v.User.Username)
	u, refused := p.authenticate(ctx, v.User.Username, pw, addr.String(), throttleKey(addr), device, "", now)
	if refused != nil {
		if refused.Message == msgBadCredentials {
			return msgWrongPassword
		}
		return refused.Message
	}
	if u.ID != v.User.ID {
		return msgWrongPassword
	}
	if err := p.st.ReauthenticateSession(ctx, v.Session.ID, now); err != nil {
		p.log.ErrorContext(ctx, "recording re-authentication", "error", err)
		return msgBusy
	}
	return ""
}

const msgWrongPassword = "That is not your password."

// SignInPath is where the pages send a browser without a session; the
// login page returns it to returnTo (a path on the issuer) afterwards.
func SignInPath(returnTo string) string {
	return PathLogin + "?return_to=" + url.QueryEscape(returnTo)
}
