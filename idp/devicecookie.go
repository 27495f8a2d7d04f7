package idp

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"strings"
	"time"
)

// Device cookies (OWASP "Slow Down Online Guessing Attacks with Device
// Cookies"): a browser that signed in successfully gets a cookie naming the
// username and a random device id, HMAC-signed. At the next login for that
// username, such a browser is counted only against its own device counter,
// not held by the per-account ceiling or the per-address lock, so strangers
// failing passwords for an account, from anywhere, cannot lock its owner out
// of the browsers they use.
//
// The cookie is HttpOnly, SameSite=Lax, Secure and __Host- prefixed under
// https. Its key is derived from the cookie keys, so it needs no setting of
// its own and changes with them.

const deviceCookieTTL = 180 * 24 * time.Hour

func (p *Provider) deviceCookieName() string {
	if p.cfg.secure() {
		return "__Host-mlflow-gate-device"
	}
	return "mlflow-gate-device"
}

// deviceKey derives the signing key from both cookie keys.
func (p *Provider) deviceKey() []byte {
	m := hmac.New(sha256.New, append(append([]byte{}, p.cfg.CookieHashKey...), p.cfg.CookieBlockKey...))
	m.Write([]byte("mlflow-gate device cookie v1"))
	return m.Sum(nil)
}

func (p *Provider) deviceMAC(user, id string) string {
	m := hmac.New(sha256.New, p.deviceKey())
	m.Write([]byte(user + "\x00" + id))
	return b64.EncodeToString(m.Sum(nil))
}

// deviceID returns the device id of the request's device cookie when it is
// validly signed for username (case-insensitive), or "".
func (p *Provider) deviceID(r *http.Request, username string) string {
	c, err := r.Cookie(p.deviceCookieName())
	if err != nil || len(c.Value) > 512 || username == "" {
		return ""
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return ""
	}
	user, err := b64.DecodeString(parts[0])
	if err != nil || !strings.EqualFold(string(user), username) || !isB64URL(parts[1], 43, 43) {
		return ""
	}
	if !hmac.Equal([]byte(p.deviceMAC(strings.ToLower(string(user)), parts[1])), []byte(parts[2])) {
		return ""
	}
	return parts[1]
}

// setDeviceCookie gives the browser a fresh device cookie for username.
func (p *Provider) setDeviceCookie(w http.ResponseWriter, username string) {
	user := strings.ToLower(username)
	id := newSecret()
	http.SetCookie(w, &http.Cookie{
		Name: p.deviceCookieName(), Value: b64.EncodeToString([]byte(user)) + "." + id + "." + p.deviceMAC(user, id),
		Path: "/", MaxAge: int(deviceCookieTTL / time.Second), HttpOnly: true, Secure: p.cfg.secure(), SameSite: http.SameSiteLaxMode,
	})
}
