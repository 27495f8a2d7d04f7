package idp

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// sessionRequest is a request to the issuer carrying b's cookies.
func (b *browser) sessionRequest() *http.Request {
	req, _ := http.NewRequest("GET", b.e.issuer+"/", nil)
	u := *req.URL
	for _, c := range b.c.Jar.Cookies(&u) {
		req.AddCookie(c)
	}
	return req
}

func (b *browser) loginAt(returnTo, user, pw string) {
	b.e.t.Helper()
	pg := b.login(b.get(b.e.issuer+PathLogin+"?return_to="+returnTo), user, pw)
	if pg.url.Path != returnTo { // the test mux has no page there: any status
		b.e.t.Fatalf("login ended at %s: %d %.300s", pg.url, pg.status, pg.body)
	}
}

func TestSessionCookieIdentifiesTheBrowser(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SessionTTL, c.SessionIdleTTL = 3*time.Hour, 30*time.Minute })
	u := e.addUser("sam", "sam-password-1")
	v := e.p.Verifier()
	if _, err := v.VerifySession(e.browser().sessionRequest()); !errors.Is(err, ErrNoSession) {
		t.Fatalf("no cookie: %v", err)
	}
	b := e.browser()
	b.loginAt("/", "sam", "sam-password-1")
	p, err := v.VerifySession(b.sessionRequest())
	if err != nil || p.Kind != KindSession || p.Username != "sam" || p.Subject != u.ID || p.SessionID == "" {
		t.Fatalf("session: %+v %v", p, err)
	}

	// Idle: used every 20 minutes it lives on; 31 minutes unused ends it.
	for range 3 {
		e.clock.Advance(20 * time.Minute)
		if _, err := v.VerifySession(b.sessionRequest()); err != nil {
			t.Fatalf("used within the idle limit: %v", err)
		}
	}
	eventually(t, "the use is recorded", func() bool {
		s, err := e.st.SessionByID(e.ctx, p.SessionID)
		return err == nil && e.clock.Now().Sub(s.LastSeenAt) < 2*time.Minute
	})
	e.clock.Advance(31 * time.Minute)
	if _, err := v.VerifySession(b.sessionRequest()); !errors.Is(err, ErrSessionIdle) {
		t.Fatalf("idle session: %v", err)
	}

	// Absolute: a session used all along still ends at SessionTTL.
	b2 := e.browser()
	b2.loginAt("/", "sam", "sam-password-1")
	for i := 0; i < 7; i++ {
		e.clock.Advance(25 * time.Minute)
		if _, err := v.VerifySession(b2.sessionRequest()); err != nil {
			t.Fatalf("use %d: %v", i, err)
		}
	}
	e.clock.Advance(20 * time.Minute) // 3h05m after login
	if _, err := v.VerifySession(b2.sessionRequest()); !errors.Is(err, ErrExpired) {
		t.Fatalf("past the absolute lifetime: %v", err)
	}

	// Disabling the user ends the session through the change feed.
	b3 := e.browser()
	b3.loginAt("/", "sam", "sam-password-1")
	if _, err := v.VerifySession(b3.sessionRequest()); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetDisabled(e.ctx, testActor, "sam", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the disabled user's session is refused", func() bool {
		_, err := v.VerifySession(b3.sessionRequest())
		return errors.Is(err, ErrInvalidCredential)
	})

	// A forged or garbled cookie is a verdict, not a crash.
	req, _ := http.NewRequest("GET", e.issuer+"/", nil)
	req.AddCookie(&http.Cookie{Name: e.p.cookies.ssoName, Value: "garbage"})
	if _, err := v.VerifySession(req); !errors.Is(err, ErrSessionCookie) {
		t.Fatalf("garbled cookie: %v", err)
	}
}

func TestSessionRevokeEndsTheCookie(t *testing.T) {
	e := newEnv(t)
	e.addUser("sue", "sue-password-1")
	b := e.browser()
	b.loginAt("/", "sue", "sue-password-1")
	v := e.p.Verifier()
	p, err := v.VerifySession(b.sessionRequest())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.RevokeSession(e.ctx, p.SessionID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the revoked session is refused", func() bool {
		_, err := v.VerifySession(b.sessionRequest())
		return errors.Is(err, ErrRevoked)
	})
}

// The provider's own session check (authorize, device approval) honours the idle
// lifetime too: an SSO session unused past it signs nobody in.
func TestIdleSessionDoesNotSignIn(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SessionTTL, c.SessionIdleTTL = 3*time.Hour, 30*time.Minute })
	e.addUser("sam", "sam-password-1")
	b := e.browser()
	b.loginAt("/", "sam", "sam-password-1")
	if _, ok := e.p.SessionUser(b.sessionRequest()); !ok {
		t.Fatal("a fresh session does not sign in")
	}
	e.clock.Advance(31 * time.Minute)
	if u, ok := e.p.SessionUser(b.sessionRequest()); ok {
		t.Fatalf("an idle session still signs in %s", u.Username)
	}
}
