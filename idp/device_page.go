package idp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// The device verification page (RFC 8628 section 3.3). Approving a device
// is where phishing happens (an attacker mails a link with a user code), so:
// the page requires a login within DeviceLoginMaxAge (an older session logs
// in again), entering codes is throttled per user and per address like
// passwords, the confirmation names the client and shows where and when the
// request came from, and the decision is a POST guarded by Go's
// cross-origin protection and a CSRF token bound to this browser, this
// session and this code.

var deviceTemplate = template.Must(template.ParseFS(templateFS, "templates/device.html"))

type deviceView struct {
	Action                             string
	Error, Message                     string
	Enter, Confirm                     bool
	Username, UserCode, CSRF           string
	ClientID, ClientName, Scopes       string
	RemoteAddr, RequestedAt, UserAgent string
}

func (p *Provider) renderDevice(w http.ResponseWriter, status int, v deviceView) {
	v.Action = PathDevice
	var buf bytes.Buffer
	if err := deviceTemplate.Execute(&buf, v); err != nil {
		p.log.Error("rendering device page", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// freshSession returns the browser's session and user when the login is
// recent enough to approve a device.
func (p *Provider) freshSession(ctx context.Context, r *http.Request, now time.Time) (*storage.Session, *storage.User) {
	sess, user := p.currentSession(ctx, r, now)
	if sess == nil || now.Sub(sess.AuthTime) > p.cfg.DeviceLoginMaxAge {
		return nil, nil
	}
	return sess, user
}

// toLogin sends the browser to the login page, back here afterwards.
func (p *Provider) toLogin(w http.ResponseWriter, r *http.Request, userCode string) {
	ret := PathDevice
	if userCode != "" {
		ret += "?user_code=" + url.QueryEscape(userCode)
	}
	http.Redirect(w, r, PathLogin+"?return_to="+url.QueryEscape(ret), http.StatusSeeOther)
}

func (p *Provider) deviceCSRF(browser, sessionID, userCode string) string {
	m := hmac.New(sha256.New, p.cfg.CodeKey)
	m.Write([]byte("device-csrf\x00" + browser + "\x00" + sessionID + "\x00" + userCode))
	return b64.EncodeToString(m.Sum(nil))
}

func deviceThrottleKeys(userID, addrKey string) []string {
	return []string{"device:user:" + userID, "device:" + addrKey}
}

// devicePage shows the code form, or the confirmation for a code.
func (p *Provider) devicePage(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	ctx := r.Context()
	now := p.cfg.Now()
	raw := r.URL.Query().Get("user_code")
	if len(raw) > 32 {
		raw = raw[:32]
	}
	sess, user := p.freshSession(ctx, r, now)
	if sess == nil {
		p.toLogin(w, r, raw)
		return
	}
	v := deviceView{Enter: true, Username: user.Username, UserCode: raw}
	if raw == "" {
		p.renderDevice(w, http.StatusOK, v)
		return
	}
	addr := clientAddr(r, p.cfg.TrustedProxies)
	keys := deviceThrottleKeys(user.ID, throttleKey(addr))
	until, err := p.st.LoginLockedUntil(ctx, keys, now)
	if err != nil {
		p.log.ErrorContext(ctx, "device page: throttle", "error", err)
		v.Error = msgBusy
		p.renderDevice(w, http.StatusServiceUnavailable, v)
		return
	}
	if until.After(now) {
		wait := max(until.Sub(now).Round(time.Second), time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
		v.Error = "Too many wrong codes. Try again in " + wait.String() + "."
		p.renderDevice(w, http.StatusTooManyRequests, v)
		return
	}
	code, ok := normalizeUserCode(raw)
	var d storage.DeviceAuthorization
	if ok {
		d, err = p.st.PendingDeviceByUserCode(ctx, code, now)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			p.log.ErrorContext(ctx, "device page: lookup", "error", err)
			v.Error = msgBusy
			p.renderDevice(w, http.StatusServiceUnavailable, v)
			return
		}
		ok = err == nil
	}
	if !ok {
		for _, k := range keys {
			if _, _, err := p.st.RecordLoginFailure(ctx, k, p.cfg.DeviceThrottle, now); err != nil {
				p.log.ErrorContext(ctx, "device page: throttle", "error", err)
			}
		}
		p.audit(ctx, storage.Event{Action: "device.bad_code", Actor: user.Username, RemoteAddr: addr.String(), Status: http.StatusBadRequest})
		v.Error = "That code is not valid or has expired. Check it on your device."
		p.renderDevice(w, http.StatusBadRequest, v)
		return
	}
	c, err := p.st.ClientByID(ctx, d.ClientID)
	if err != nil {
		p.log.ErrorContext(ctx, "device page: client", "error", err)
		v.Error = msgBusy
		p.renderDevice(w, http.StatusServiceUnavailable, v)
		return
	}
	browser, err := p.ensureBrowser(w, r)
	if err != nil {
		p.log.ErrorContext(ctx, "device page: browser cookie", "error", err)
		v.Error = msgBusy
		p.renderDevice(w, http.StatusServiceUnavailable, v)
		return
	}
	name := c.Name
	if name == "" {
		name = c.ID
	}
	p.renderDevice(w, http.StatusOK, deviceView{Confirm: true, Username: user.Username, UserCode: formatUserCode(code),
		CSRF: p.deviceCSRF(browser, sess.ID, code), ClientID: c.ID, ClientName: name, Scopes: strings.Join(d.Scopes, " "),
		RemoteAddr: d.RemoteAddr, UserAgent: d.UserAgent, RequestedAt: d.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC") +
			" (" + now.Sub(d.CreatedAt).Round(time.Second).String() + " ago)"})
}

// deviceDecide records an approval or a denial.
func (p *Provider) deviceDecide(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	ctx := r.Context()
	now := p.cfg.Now()
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		p.renderDevice(w, http.StatusBadRequest, deviceView{Error: "The form could not be read."})
		return
	}
	f := r.PostForm
	code, ok := normalizeUserCode(f.Get("user_code"))
	sess, user := p.freshSession(ctx, r, now)
	if sess == nil {
		p.toLogin(w, r, f.Get("user_code"))
		return
	}
	want := p.deviceCSRF(p.browserID(r), sess.ID, code)
	if !ok || p.browserID(r) == "" || !hmac.Equal([]byte(want), []byte(f.Get("csrf"))) {
		p.renderDevice(w, http.StatusForbidden, deviceView{Error: "This form has expired. Enter the code again."})
		return
	}
	approve := f.Get("action") == "approve"
	if !approve && f.Get("action") != "deny" {
		p.renderDevice(w, http.StatusBadRequest, deviceView{Error: "Choose approve or deny."})
		return
	}
	err := p.st.DecideDevice(ctx, code, approve, user.ID, sess.AuthTime, sess.AMR, now)
	if errors.Is(err, storage.ErrNotFound) {
		p.renderDevice(w, http.StatusBadRequest, deviceView{Error: "That request has expired or was already answered."})
		return
	} else if err != nil {
		p.log.ErrorContext(ctx, "device page: decide", "error", err)
		p.renderDevice(w, http.StatusServiceUnavailable, deviceView{Error: msgBusy})
		return
	}
	action, msg := "device.deny", "Denied. The device was not given access; you can close this page."
	if approve {
		action, msg = "device.approve", "Approved. Return to your device; you can close this page."
	}
	p.audit(ctx, storage.Event{Action: action, Actor: user.Username, RemoteAddr: clientAddr(r, p.cfg.TrustedProxies).String(),
		Status: http.StatusOK})
	p.renderDevice(w, http.StatusOK, deviceView{Message: msg})
}
