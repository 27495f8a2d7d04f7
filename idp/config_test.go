package idp

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	c := Config{Issuer: "ftp://x/path?q", CookieHashKey: []byte("short"), SigningAlg: "HS256"}
	c.setDefaults()
	err := c.validate()
	for _, want := range []string{"issuer", "cookie hash key", "code key", "HS256"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate() = %v, want a problem about %s", err, want)
		}
	}
}

func TestCookiesUnderHTTPS(t *testing.T) {
	c := Config{Issuer: "https://gate.example", CookieHashKey: key32(), CookieBlockKey: key32()}
	c.setDefaults()
	k := newCookies(&c)
	if k.ssoName != "__Host-mlflow-gate-sso" || k.browserName != "__Host-mlflow-gate-browser" {
		t.Errorf("names: %s %s", k.ssoName, k.browserName)
	}
	for _, st := range [...]*struct{ secure, httpOnly bool }{{k.sso.Options.Secure, k.sso.Options.HttpOnly}, {k.browser.Options.Secure, k.browser.Options.HttpOnly}} {
		if !st.secure || !st.httpOnly {
			t.Errorf("cookie options not Secure+HttpOnly: %+v", st)
		}
	}
}
