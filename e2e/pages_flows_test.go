package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// do runs chromedp actions in the tab, failing the test on an error.
func (b *chromium) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.tab, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// open navigates to path on the gate and waits for its heading.
func (b *chromium) open(t *testing.T, base, path string) {
	t.Helper()
	b.do(t, "open "+path, chromedp.Navigate(base+path))
	b.waitFor(t, path, `location.pathname + location.search === `+jsString(path)+` && document.querySelector("h1") !== null`, 15*time.Second)
}

// value reads an input's value.
func (b *chromium) value(t *testing.T, sel string) string {
	t.Helper()
	v, err := chromedp.Run(b.tab, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return v
}

// TestPagesAdminCreatesAUserWhoSignsIn: the admin creates a user with a
// generated password and grants a role on the pages; the user signs in with
// the password shown once and sees the roles on their own page.
func TestPagesAdminCreatesAUserWhoSignsIn(t *testing.T) {
	h := newPagesRig(t)
	if out, err := cli(t, h.env, "", "role", "add", "Reviewers", "--description", "look at runs"); err != nil {
		t.Fatalf("role add: %v\n%s", err, out)
	}
	admin := newChromium(t, 120*time.Second)
	admin.signIn(t, h.g.URL, "/gate/admin/new-user", "admin", pagesAdminPassword)
	admin.do(t, "fill in the new user",
		chromedp.SendKeys(chromedp.CSS("#username"), "carol"),
		chromedp.Click(chromedp.CSS(`form[action="/gate/admin/users"] button[type=submit]`)))
	admin.waitForText(t, "carol's page with her password", 10*time.Second, "User carol", "Created the user carol", "shown only this once")
	pw := admin.value(t, "#secret-value")
	if len(pw) < 20 {
		t.Fatalf("initial password %q", pw)
	}
	admin.do(t, "grant Reviewers",
		chromedp.SetValue(chromedp.CSS("#grant-role"), "Reviewers"),
		chromedp.Click(chromedp.CSS(`form[action="/gate/admin/users/carol/roles"] button[type=submit]`)))
	admin.waitForText(t, "the grant", 10*time.Second, "Granted Reviewers.")
	admin.open(t, h.g.URL, "/gate/admin/users?q=car")
	admin.waitForText(t, "carol in the search", 5*time.Second, "carol", "Default, Reviewers")

	carol := newChromium(t, 60*time.Second)
	carol.signIn(t, h.g.URL, "/gate/me", "carol", pw)
	carol.waitForText(t, "carol's own page", 10*time.Second, "Signed in as carol", "Reviewers", "Default", "experiments")
	// Not an Admin: no admin link, and the admin pages refuse her.
	carol.waitFor(t, "no admin link", `document.querySelector('a[href="/gate/admin/"]') === null`, 5*time.Second)
	carol.open(t, h.g.URL, "/gate/admin/users")
	carol.waitForText(t, "the refusal", 5*time.Second, "Only an Admin may open the admin pages.")
	waitAudit(t, h.env["MLFLOW_GATE_DATABASE_URL"], `actor = 'admin' AND action = 'role.grant' AND resource = 'user:carol' AND detail->>'role' = 'Reviewers'`, "the grant")
}

// mlflowWithToken runs the stock mlflow client with token against the gate.
func mlflowWithToken(t *testing.T, gateURL, token string) map[string]any {
	t.Helper()
	out, err := python(t, map[string]string{"MLFLOW_TRACKING_URI": gateURL, "MLFLOW_TRACKING_TOKEN": token,
		"GATE_EXPERIMENT": uniqueName(t), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}, "mlflow_pat.py")
	if err != nil {
		t.Fatalf("mlflow client: %v\n%s", err, out)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])), &res); err != nil {
		t.Fatalf("mlflow client output %q: %v", out, err)
	}
	return res
}

// TestPagesTokenForTheStockClient: alice makes a token on her page, the stock
// mlflow client works with the lines shown, and after the admin revokes it on
// the admin page the client's next call is refused with 401.
func TestPagesTokenForTheStockClient(t *testing.T) {
	h := newPagesRig(t)
	alice := newChromium(t, 120*time.Second)
	alice.signIn(t, h.g.URL, "/gate/me/tokens", "alice", browserPassword)
	alice.do(t, "fill in the token form",
		chromedp.SendKeys(chromedp.CSS("#name"), "training box"),
		chromedp.SetValue(chromedp.CSS("#days"), "30"),
		chromedp.Click(chromedp.CSS(`form[action="/gate/me/tokens"] button[type=submit]`)))
	alice.waitForText(t, "the new token", 10*time.Second, `Created the token "training box"`, "shown only this once")
	token := alice.value(t, "#secret-value")
	lines := alice.value(t, "#secret-lines")
	if !strings.HasPrefix(token, "mgp_") || lines != "export MLFLOW_TRACKING_URI="+h.g.URL+"\nexport MLFLOW_TRACKING_TOKEN="+token {
		t.Fatalf("token %q with lines %q", token, lines)
	}
	// Shown once: the page again shows the list, not the token.
	alice.open(t, h.g.URL, "/gate/me/tokens")
	alice.waitForText(t, "the token in the list", 5*time.Second, "training box", "active")
	alice.waitFor(t, "no secret on reload", `document.querySelector("#secret-value") === null`, 5*time.Second)

	if res := mlflowWithToken(t, h.g.URL, token); res["ok"] != true {
		t.Fatalf("the stock client with alice's new token: %v", res)
	}

	admin := newChromium(t, 60*time.Second)
	admin.signIn(t, h.g.URL, "/gate/admin/tokens?user=alice", "admin", pagesAdminPassword)
	admin.waitForText(t, "alice's token", 5*time.Second, "training box", "active")
	// The button's own click(), not a mouse event at coordinates: under load
	// the list's layout can still move when the mouse event is computed, and
	// the click then lands beside the button (seen once in CI).
	admin.do(t, "revoke", chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Revoke token training box of alice"]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('button[aria-label="Revoke token training box of alice"]').click(); undefined`))
	admin.waitForText(t, "the revocation", 20*time.Second, "Revoked the token", "revoked")

	res := mlflowWithToken(t, h.g.URL, token)
	if res["ok"] != false || !strings.Contains(fmt.Sprint(res["error"]), "UNAUTHENTICATED") {
		t.Fatalf("the stock client after the revocation: %v, want the gate's 401 (UNAUTHENTICATED)", res)
	}
}

// jwtKID is the kid in a JWT's header.
func jwtKID(t *testing.T, tok string) string {
	t.Helper()
	head, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	var h struct{ Kid string }
	if err != nil || json.Unmarshal(b, &h) != nil || h.Kid == "" {
		t.Fatalf("JWT header of %.20s…: %v", tok, err)
	}
	return h.Kid
}

// bearerStatus is the status of an MLflow read through the gate with tok.
func bearerStatus(t *testing.T, gateURL, tok string) int {
	req, _ := http.NewRequest(http.MethodGet, gateURL+"/api/2.0/mlflow/experiments/search?max_results=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPagesKeyRotationKeepsClientsWorking: while a client calls MLflow with
// an access token without pause, the admin rotates the signing key on the
// keys page; every call succeeds, and a token minted afterwards carries the
// new key. Revoking the old key then, with its consequence stated on the
// page, refuses the old token only.
func TestPagesKeyRotationKeepsClientsWorking(t *testing.T) {
	h := newPagesRig(t)
	before, _ := loginTokens(t, h.g.URL, "alice", browserPassword)
	oldKID := jwtKID(t, before)

	var calls, failures atomic.Int64
	var lastFailure atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			calls.Add(1)
			if st := bearerStatus(t, h.g.URL, before); st != http.StatusOK {
				failures.Add(1)
				lastFailure.Store(int64(st))
			}
		}
	}()

	admin := newChromium(t, 120*time.Second)
	admin.signIn(t, h.g.URL, "/gate/admin/keys", "admin", pagesAdminPassword)
	admin.waitForText(t, "the active key", 5*time.Second, oldKID, "active")
	admin.do(t, "rotate", chromedp.Click(chromedp.CSS(`form[action="/gate/admin/keys/rotate"] button[type=submit]`)))
	admin.waitForText(t, "the rotation", 10*time.Second, "Published the new ES256 key", "retired")
	after, _ := loginTokens(t, h.g.URL, "alice", browserPassword)
	time.Sleep(300 * time.Millisecond) // a few more calls with the old token after the switch
	close(stop)
	wg.Wait()
	if n := calls.Load(); n < 10 || failures.Load() != 0 {
		t.Fatalf("%d of %d calls with the token from before the rotation failed (last status %d)", failures.Load(), n, lastFailure.Load())
	}
	if newKID := jwtKID(t, after); newKID == oldKID {
		t.Fatalf("a token minted after the rotation is still signed by %s", oldKID)
	}
	if st := bearerStatus(t, h.g.URL, after); st != http.StatusOK {
		t.Fatalf("the token from after the rotation: %d", st)
	}

	// Revoking the retired key: the page says what it does, then does it.
	admin.waitForText(t, "the consequence", 5*time.Second, "stop working")
	admin.do(t, "revoke the old key", chromedp.Click(`button[aria-label="Revoke key `+oldKID+`"]`))
	admin.waitForText(t, "the revocation", 10*time.Second, "Revoked the key "+oldKID, "revoked")
	deadline := time.Now().Add(5 * time.Second)
	for bearerStatus(t, h.g.URL, before) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the token signed by the revoked key still works")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := bearerStatus(t, h.g.URL, after); st != http.StatusOK {
		t.Fatalf("the token of the new key after revoking the old: %d", st)
	}
}

// TestPagesAdminGrantsAResource: the admin gives a role read on a registered
// model on the resource permissions page, sees it listed and in who-can,
// then revokes it; the CLI's list agrees at each step.
func TestPagesAdminGrantsAResource(t *testing.T) {
	h := newPagesRig(t)
	admin := newChromium(t, 120*time.Second)
	admin.signIn(t, h.g.URL, "/gate/admin/grants", "admin", pagesAdminPassword)
	grantOnPage(t, admin, "Default", "registered-model", "churn-model", "read")
	if out, err := cli(t, h.env, "", "perm", "list", "--role", "Default"); err != nil || !strings.Contains(out, "churn-model") {
		t.Fatalf("perm list after the page's grant: %v\n%s", err, out)
	}
	admin.do(t, "revoke it", chromedp.Click(chromedp.CSS(`form[action="/gate/admin/grants/revoke"] button[type=submit]`)))
	admin.waitForText(t, "the revoke", 10*time.Second, "Grant removed")
	if out, err := cli(t, h.env, "", "perm", "list", "--role", "Default"); err != nil || strings.Contains(out, "churn-model") {
		t.Fatalf("perm list after the revoke: %v\n%s", err, out)
	}
	waitAudit(t, h.env["MLFLOW_GATE_DATABASE_URL"], `actor = 'admin' AND action = 'grant.put' AND resource LIKE '%churn-model'`, "the grant's audit row")
}

// grantOnPage fills in and sends the grant form of the open resource
// permissions page, and waits for the grant to be listed.
func grantOnPage(t *testing.T, b *chromium, role, kind, resource, level string) {
	t.Helper()
	b.do(t, "fill in the grant",
		// Through the DOM: a mouse click at coordinates misses when the
		// layout moves late, under load.
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#g-to-role').click(); undefined`),
		chromedp.SendKeys(chromedp.CSS("#g-principal"), role),
		chromedp.SetValue(chromedp.CSS("#g-kind"), kind),
		chromedp.SendKeys(chromedp.CSS("#g-resource"), resource),
		chromedp.SetValue(chromedp.CSS("#g-level"), level),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#g-to-role').checked || (() => { throw new Error("the role radio is not chosen") })(); undefined`),
		chromedp.Click(chromedp.CSS(`form[method="post"][action="/gate/admin/grants"] button[type=submit]`)))
	b.waitForText(t, "the grant listed", 10*time.Second, "now has "+level+" on", resource)
}
