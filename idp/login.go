package idp

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/idp/password"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

//go:embed templates/*.html
var templateFS embed.FS

var loginTemplate = template.Must(template.ParseFS(templateFS, "templates/login.html"))

type loginView struct {
	Form                 bool
	Action               string
	Auth, ReturnTo, CSRF string
	Username, Error      string
}

// Messages shown to the user. Unknown user, wrong password and disabled
// account get the same one, after the same amount of hashing.
const (
	msgBadCredentials = "Invalid username or password."
	msgExpired        = "This sign-in request has expired or was started in another browser. Go back to the application and try again."
	msgBusy           = "The server is busy. Try again in a moment."
)

// pageHeaders: no framing by anyone (frame-ancestors 'none' and the legacy
// X-Frame-Options), no caching, no referrer leaking the request id, no
// scripts at all.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (p *Provider) render(w http.ResponseWriter, status int, v loginView) {
	v.Action = PathLogin
	var buf bytes.Buffer
	if err := loginTemplate.Execute(&buf, v); err != nil {
		p.log.Error("rendering login page", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// boundRequest loads a pending authorization request and checks that this
// browser started it.
func (p *Provider) boundRequest(ctx context.Context, r *http.Request, id string, now time.Time) (storage.AuthRequest, error) {
	b := p.browserID(r)
	if b == "" || len(id) > 64 {
		return storage.AuthRequest{}, storage.ErrNotFound
	}
	a, err := p.st.AuthRequestByID(ctx, id, now)
	if err != nil {
		return a, err
	}
	if !bytes.Equal(a.BrowserHash, sha256Sum(b)) || a.Done() {
		return storage.AuthRequest{}, storage.ErrNotFound
	}
	return a, nil
}

// loginPage renders the form, for an authorization request (?auth=) or for
// a plain sign-in that returns to a path on the issuer (?return_to=).
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	now := p.cfg.Now()
	q := r.URL.Query()
	v := loginView{Form: true, Auth: q.Get("auth")}
	var browser string
	if v.Auth != "" {
		a, err := p.boundRequest(r.Context(), r, v.Auth, now)
		if err != nil {
			p.failPage(w, r, err)
			return
		}
		v.Username, browser = a.LoginHint, p.browserID(r)
	} else {
		ret, ok := safeReturnPath(q.Get("return_to"))
		if !ok {
			p.render(w, http.StatusBadRequest, loginView{Error: "The return address is not a path on this site."})
			return
		}
		v.ReturnTo = ret
		var err error
		if browser, err = p.ensureBrowser(w, r); err != nil {
			p.failPage(w, r, err)
			return
		}
	}
	v.CSRF = p.csrfToken(browser, v.Auth, v.ReturnTo)
	p.render(w, http.StatusOK, v)
}

func (p *Provider) failPage(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, storage.ErrNotFound) {
		p.render(w, http.StatusBadRequest, loginView{Error: msgExpired})
		return
	}
	p.log.ErrorContext(r.Context(), "login page", "error", err)
	p.render(w, http.StatusInternalServerError, loginView{Error: "Something went wrong. Try again later."})
}

// loginSubmit checks the form, throttles, verifies the password and starts
// the SSO session, then answers the authorization request or returns.
func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	ctx := r.Context()
	now := p.cfg.Now()
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, loginView{Error: "The form could not be read."})
		return
	}
	f := r.PostForm
	v := loginView{Form: true, Auth: f.Get("auth"), ReturnTo: f.Get("return_to"), CSRF: f.Get("csrf"), Username: f.Get("username")}
	browser := p.browserID(r)
	if !p.checkCSRF(browser, v.Auth, v.ReturnTo, v.CSRF) {
		p.render(w, http.StatusForbidden, loginView{Error: msgExpired})
		return
	}
	var a storage.AuthRequest
	if v.Auth != "" {
		var err error
		if a, err = p.boundRequest(ctx, r, v.Auth, now); err != nil {
			p.failPage(w, r, err)
			return
		}
	} else if _, ok := safeReturnPath(v.ReturnTo); !ok {
		p.render(w, http.StatusBadRequest, loginView{Error: "The return address is not a path on this site."})
		return
	}
	if len(v.Username) > 128 {
		v.Username = v.Username[:128]
	}
	addr := clientAddr(r, p.cfg.TrustedProxies)
	device := p.deviceID(r, v.Username)
	user, refused := p.authenticate(ctx, v.Username, f.Get("password"), addr.String(), throttleKey(addr), device, a.ClientID, now)
	if refused != nil {
		if refused.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(refused.Wait.Seconds()))))
		}
		v.Error = refused.Message
		p.render(w, refused.Status, v)
		return
	}
	sess, err := p.startSession(ctx, w, r, user, addr.String(), now)
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	p.setDeviceCookie(w, user.Username)
	target := v.ReturnTo
	if v.Auth != "" {
		if target, err = p.issueCode(ctx, a, user.ID, sess, now); err != nil {
			p.failPage(w, r, err)
			return
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// throttleRule is one counter a login failure is recorded against.
type throttleRule struct {
	key string
	pol storage.LoginThrottle
}

// loginThrottles are the counters for a login of username from addrKey.
// Without a device cookie: the account at this address (the tight limit),
// the account from anywhere (a much higher ceiling on distributed guessing)
// and the address for every account. With a valid device cookie for the
// username the browser is held only by its own device counter, so strangers
// cannot lock the owner out; its failures still count towards the ceiling.
func (p *Provider) loginThrottles(username, addrKey, device string) (check []string, record []throttleRule) {
	user := strings.ToLower(username)
	acct := throttleRule{"acct:" + user, p.cfg.AccountThrottle}
	if device != "" {
		dev := throttleRule{"device:" + device, p.cfg.DeviceCookieThrottle}
		return []string{dev.key}, []throttleRule{dev, acct}
	}
	pair := throttleRule{"acctaddr:" + user + "|" + addrKey, p.cfg.AccountAddressThrottle}
	addr := throttleRule{addrKey, p.cfg.AddressThrottle}
	return []string{pair.key, acct.key, addr.key}, []throttleRule{pair, acct, addr}
}

// loginRefusal is why a sign-in failed, as the login page shows it: the status,
// the message and, for 429, how long to wait (Retry-After).
type loginRefusal struct {
	Status  int
	Message string
	Wait    time.Duration
}

// authenticate applies throttling and checks the password. On failure it
// returns a nil user and the refusal. device is the id of a valid device
// cookie for username, or "".
func (p *Provider) authenticate(ctx context.Context, username, pw, addr, addrKey, device, clientID string, now time.Time) (*storage.User, *loginRefusal) {
	check, record := p.loginThrottles(username, addrKey, device)
	ev := storage.Event{Action: "login.failure", Actor: username, ClientID: clientID, RemoteAddr: addr, At: now}
	until, err := p.st.LoginLockedUntil(ctx, check, now)
	if err != nil {
		p.log.ErrorContext(ctx, "login throttle", "error", err)
		return nil, &loginRefusal{Status: http.StatusServiceUnavailable, Message: msgBusy}
	}
	if until.After(now) {
		ev.Status, ev.Detail = http.StatusTooManyRequests, map[string]any{"reason": "throttled", "device_cookie": device != ""}
		p.audit(ctx, ev)
		wait := until.Sub(now).Round(time.Second)
		return nil, &loginRefusal{Status: http.StatusTooManyRequests, Message: fmt.Sprintf("Too many failed sign-in attempts. Try again in %s.", max(wait, time.Second)), Wait: wait}
	}
	if username == "" || pw == "" || len(pw) > password.MaxLength*4 {
		return nil, &loginRefusal{Status: http.StatusBadRequest, Message: msgBadCredentials}
	}
	u, err := p.st.UserByName(ctx, username)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.log.ErrorContext(ctx, "login: loading user", "error", err)
		return nil, &loginRefusal{Status: http.StatusServiceUnavailable, Message: msgBusy}
	}
	hctx, cancel := context.WithTimeout(ctx, p.cfg.HashWait)
	ok, err := p.cfg.Hasher.Verify(hctx, u.PasswordHash, pw) // an unknown user costs the dummy hash
	cancel()
	if errors.Is(err, password.ErrBusy) {
		return nil, &loginRefusal{Status: http.StatusTooManyRequests, Message: msgBusy, Wait: time.Second}
	} else if err != nil {
		p.log.WarnContext(ctx, "login: stored password hash unusable", "user", u.Username, "error", err)
		ok = false
	}
	reason := ""
	switch {
	case u.ID == "":
		reason = "unknown_user"
	case !ok:
		reason = "bad_password"
	case !u.Enabled():
		reason = "disabled"
	}
	if reason != "" {
		for _, k := range record {
			if _, _, err := p.st.RecordLoginFailure(ctx, k.key, k.pol, now); err != nil {
				p.log.ErrorContext(ctx, "login throttle", "error", err)
			}
		}
		ev.Status, ev.Detail = http.StatusUnauthorized, map[string]any{"reason": reason}
		p.audit(ctx, ev)
		return nil, &loginRefusal{Status: http.StatusUnauthorized, Message: msgBadCredentials}
	}
	// Success forgets this browser's own counters (the account at this
	// address, or the device); the account's ceiling only ages out, so a
	// distributed guesser is not reset by the owner's logins.
	if err := p.st.ResetLoginFailures(ctx, record[0].key); err != nil {
		p.log.ErrorContext(ctx, "login throttle", "error", err)
	}
	ev.Action, ev.Actor, ev.Status = "login.success", u.Username, http.StatusOK
	p.audit(ctx, ev)
	return &u, nil
}
