package idp

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

var deviceFieldRE = regexp.MustCompile(`name="(user_code|csrf)" value="([^"]*)"`)

// startDevice asks for a device authorization as the command-line client.
func (e *env) startDevice(t *testing.T) (deviceCode, userCode, complete string) {
	t.Helper()
	status, body, h := e.postForm(t, PathDeviceAuthorization, url.Values{"client_id": {storage.CLIClientID},
		"scope": {"openid profile offline_access"}}, "", "")
	if status != 200 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("device authorization: %d %v", status, body)
	}
	userCode, _ = body["user_code"].(string)
	if !regexp.MustCompile(`^[B-Z]{4}-[B-Z]{4}$`).MatchString(userCode) || body["verification_uri"] != e.issuer+PathDevice ||
		body["expires_in"] != float64(600) || body["interval"] != float64(5) {
		t.Fatalf("device authorization response %v", body)
	}
	return body["device_code"].(string), userCode, body["verification_uri_complete"].(string)
}

func (e *env) poll(t *testing.T, deviceCode string) (int, map[string]any) {
	t.Helper()
	status, body, _ := e.tokenCall(t, url.Values{"grant_type": {GrantDeviceCode}, "device_code": {deviceCode},
		"client_id": {storage.CLIClientID}})
	return status, body
}

func wantPoll(t *testing.T, status int, body map[string]any, want string) {
	t.Helper()
	if want == "" {
		if status != 200 || body["access_token"] == nil {
			t.Fatalf("poll: %d %v, want tokens", status, body)
		}
		return
	}
	if status != 400 || body["error"] != want {
		t.Fatalf("poll: %d %v, want %s", status, body, want)
	}
}

// confirmPage opens the verification URI in b, logging in when asked, and
// returns the confirmation page with its form fields.
func (b *browser) confirmPage(uri, user, pw string) (page, url.Values) {
	b.e.t.Helper()
	pg := b.get(uri)
	if strings.Contains(pg.body, `name="password"`) {
		pg = b.login(pg, user, pw)
	}
	if pg.status != 200 || !strings.Contains(pg.body, `value="approve"`) {
		b.e.t.Fatalf("no confirmation page: %d %.500s", pg.status, pg.body)
	}
	form := url.Values{}
	for _, m := range deviceFieldRE.FindAllStringSubmatch(pg.body, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	return pg, form
}

func (b *browser) decide(form url.Values, action string, header http.Header) page {
	b.e.t.Helper()
	f := url.Values{"action": {action}}
	for k, v := range form {
		f[k] = v
	}
	req, _ := http.NewRequest(http.MethodPost, b.e.issuer+PathDevice, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return readPage(b.e.t, resp)
}

func TestDeviceFlowApproved(t *testing.T) {
	e := newEnv(t)
	deviceCode, userCode, complete := e.startDevice(t)

	// Pending, then too fast (the interval grows by 5 s), then pending again.
	status, body := e.poll(t, deviceCode)
	wantPoll(t, status, body, "authorization_pending")
	status, body = e.poll(t, deviceCode)
	wantPoll(t, status, body, "slow_down")
	e.clock.Advance(6 * time.Second) // less than the new interval of 10 s
	status, body = e.poll(t, deviceCode)
	wantPoll(t, status, body, "slow_down")
	e.clock.Advance(16 * time.Second)
	status, body = e.poll(t, deviceCode)
	wantPoll(t, status, body, "authorization_pending")

	b := e.browser()
	pg, form := b.confirmPage(complete, "admin", adminPassword)
	for _, want := range []string{storage.CLIClientID, userCode, "127.0.0.1", "Requested at", "openid profile offline_access", "admin"} {
		if !strings.Contains(pg.body, want) {
			t.Errorf("confirmation page lacks %q", want)
		}
	}
	if pg.header.Get("Content-Security-Policy") == "" || pg.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("confirmation page headers %v", pg.header)
	}

	// An approval posted from another origin is refused, as is a forged token.
	if got := b.decide(form, "approve", http.Header{"Origin": {"https://evil.example"}}); got.status != http.StatusForbidden {
		t.Fatalf("cross-origin approval: %d", got.status)
	}
	if got := b.decide(url.Values{"user_code": {userCode}, "csrf": {"forged"}}, "approve", nil); got.status != http.StatusForbidden {
		t.Fatalf("forged CSRF token: %d", got.status)
	}
	if got := e.browser().decide(form, "approve", nil); !strings.Contains(got.body, `name="password"`) {
		t.Fatalf("approval from a browser without the session was not sent to log in: %d", got.status)
	}
	e.clock.Advance(16 * time.Second)
	status, body = e.poll(t, deviceCode)
	wantPoll(t, status, body, "authorization_pending")

	if got := b.decide(form, "approve", http.Header{"Origin": {e.issuer}}); got.status != 200 || !strings.Contains(got.body, "Approved") {
		t.Fatalf("approval: %d %.300s", got.status, got.body)
	}
	// The device code yields tokens exactly once, however many polls race.
	e.clock.Advance(16 * time.Second)
	ok, errs := e.race(t, 10, url.Values{"grant_type": {GrantDeviceCode}, "device_code": {deviceCode}, "client_id": {storage.CLIClientID}})
	if ok != 1 || errs["invalid_grant"] != 9 {
		t.Fatalf("10 parallel polls after approval: %d succeeded, errors %v", ok, errs)
	}
	// The tokens were for admin.
	e.clock.Advance(16 * time.Second)
	status, body = e.poll(t, deviceCode)
	wantPoll(t, status, body, "invalid_grant")
}

func TestDeviceFlowTokens(t *testing.T) {
	e := newEnv(t)
	deviceCode, _, complete := e.startDevice(t)
	b := e.browser()
	_, form := b.confirmPage(complete, "admin", adminPassword)
	if got := b.decide(form, "approve", nil); got.status != 200 {
		t.Fatalf("approve: %d", got.status)
	}
	status, body := e.poll(t, deviceCode)
	wantPoll(t, status, body, "")
	if body["refresh_token"] == nil || body["id_token"] == nil {
		t.Errorf("device tokens %v", body)
	}
	p, err := e.p.Verifier().Verify(e.ctx, body["access_token"].(string))
	if err != nil || p.Username != "admin" || p.ClientID != storage.CLIClientID {
		t.Fatalf("verify: %+v %v", p, err)
	}
}

func TestDeviceFlowDeniedAndExpired(t *testing.T) {
	e := newEnv(t)
	deviceCode, _, complete := e.startDevice(t)
	b := e.browser()
	_, form := b.confirmPage(complete, "admin", adminPassword)
	if got := b.decide(form, "deny", nil); got.status != 200 || !strings.Contains(got.body, "Denied") {
		t.Fatalf("deny: %d %.300s", got.status, got.body)
	}
	status, body := e.poll(t, deviceCode)
	wantPoll(t, status, body, "access_denied")
	// A decided request cannot be approved afterwards.
	if got := b.decide(form, "approve", nil); got.status != http.StatusBadRequest {
		t.Fatalf("approve after deny: %d", got.status)
	}

	deviceCode2, _, _ := e.startDevice(t)
	e.clock.Advance(e.p.cfg.DeviceCodeTTL + time.Second)
	status, body = e.poll(t, deviceCode2)
	wantPoll(t, status, body, "expired_token")

	status, body = e.poll(t, "not-a-device-code")
	wantPoll(t, status, body, "invalid_grant")
}

func TestDevicePageNeedsRecentLoginAndThrottles(t *testing.T) {
	e := newEnv(t)
	_, _, complete := e.startDevice(t)
	b := e.browser()
	b.confirmPage(complete, "admin", adminPassword)
	// A session older than the limit logs in again before approving.
	e.clock.Advance(e.p.cfg.DeviceLoginMaxAge + time.Minute)
	if pg := b.get(complete); !strings.Contains(pg.body, `name="password"`) {
		t.Fatalf("old session approved without a new login: %d %.300s", pg.status, pg.body)
	}
	_, userCode, complete2 := e.startDevice(t)
	b.confirmPage(complete2, "admin", adminPassword)

	// Wrong codes are counted; past the free ones the page says wait.
	var last page
	for i := 0; i < 7; i++ {
		last = b.get(e.issuer + PathDevice + "?user_code=BBBB-BBBB")
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Fatalf("after 7 wrong codes: %d", last.status)
	}
	// Even the right code waits now.
	if pg := b.get(e.issuer + PathDevice + "?user_code=" + url.QueryEscape(userCode)); pg.status != http.StatusTooManyRequests {
		t.Fatalf("right code while throttled: %d", pg.status)
	}
	if n, err := normalizeUserCode(" bcdf-ghjk "); !err || n != "BCDFGHJK" {
		t.Errorf("normalize: %q %v", n, err)
	}
	if _, ok := normalizeUserCode("AEIO-UBCD"); ok {
		t.Error("vowels accepted")
	}
}

func TestDeviceFlowRefusals(t *testing.T) {
	e := newEnv(t)
	// A client without the grant cannot start it.
	secret := e.addService("svc")
	if status, body, _ := e.postForm(t, PathDeviceAuthorization, url.Values{}, "svc", secret); status != 400 || body["error"] != "unauthorized_client" {
		t.Errorf("client without the grant: %d %v", status, body)
	}
	if status, body, _ := e.postForm(t, PathDeviceAuthorization, url.Values{"client_id": {storage.CLIClientID}, "scope": {"admin"}}, "", ""); status != 400 || body["error"] != "invalid_scope" {
		t.Errorf("no allowed scope: %d %v", status, body)
	}
	// Many requests in a row never collide into a 500.
	for range 30 {
		e.startDevice(t)
	}
}
