package idp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDeviceCookie: __Host-, Secure and HttpOnly under https; valid only for
// its username, only with its signature, only under the keys that made it.
func TestDeviceCookie(t *testing.T) {
	p := &Provider{cfg: Config{Issuer: "https://gate.example", CookieHashKey: key32(), CookieBlockKey: key32()}}
	w := httptest.NewRecorder()
	p.setDeviceCookie(w, "Alice")
	set := w.Result().Cookies()
	if len(set) != 1 {
		t.Fatalf("cookies %v", set)
	}
	c := set[0]
	if c.Name != "__Host-mlflow-gate-device" || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.MaxAge <= 0 {
		t.Fatalf("cookie %+v", c)
	}
	req := func(v string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/oauth/login", nil)
		r.AddCookie(&http.Cookie{Name: c.Name, Value: v})
		return r
	}
	if id := p.deviceID(req(c.Value), "alice"); id == "" || !strings.Contains(c.Value, id) {
		t.Fatalf("valid cookie not recognized: %q", id)
	}
	if p.deviceID(req(c.Value), "ALICE") == "" {
		t.Error("username match is case-sensitive")
	}
	parts := strings.Split(c.Value, ".")
	for name, v := range map[string]string{
		"another user":  c.Value,
		"tampered user": b64.EncodeToString([]byte("bob")) + "." + parts[1] + "." + parts[2],
		"tampered id":   parts[0] + "." + newSecret() + "." + parts[2],
		"no signature":  parts[0] + "." + parts[1],
		"garbage":       "x.y.z",
	} {
		user := "alice"
		if name == "another user" {
			user = "bob"
		}
		if p.deviceID(req(v), user) != "" {
			t.Errorf("%s: accepted", name)
		}
	}
	other := &Provider{cfg: Config{Issuer: "https://gate.example", CookieHashKey: key32(), CookieBlockKey: key32()}}
	if other.deviceID(req(c.Value), "alice") != "" {
		t.Error("accepted under other cookie keys")
	}
}
