package e2e

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// pagesAdminPassword is the bootstrap admin's password on a pages rig.
const pagesAdminPassword = "bootstrap passphrase for e2e"

// pagesRig is one gate on a fresh database, for tests of the gate's own
// pages: the admin's password is known, alice is a Default user.
type pagesRig struct {
	env map[string]string
	g   *gateProc
}

func newPagesRig(t *testing.T) *pagesRig {
	t.Helper()
	env := gateEnv(t, storagetest.EmptyDatabase(t))
	env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = pagesAdminPassword
	g := startGate(t, env)
	if out, err := cli(t, env, browserPassword+"\n", "user", "add", "alice", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	return &pagesRig{env: env, g: g}
}

// signIn opens path on the gate in a fresh browser state, is sent to the
// login page, signs in as user and waits until the browser is back at path.
func (b *chromium) signIn(t *testing.T, gateURL, path, user, password string) {
	t.Helper()
	if err := chromedp.Do(b.tab, chromedp.Navigate(gateURL+path)); err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	b.waitFor(t, "the login page", `location.pathname === "/oauth/login" && document.querySelector("#username") !== null`, 15*time.Second)
	if err := chromedp.Do(b.tab,
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	); err != nil {
		t.Fatalf("filling in the login form: %v", err)
	}
	b.waitFor(t, "the page after sign-in", `location.pathname + location.search === `+jsString(path), 15*time.Second)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b := []byte{'"'}
	for _, r := range s {
		switch r {
		case '"', '\\':
			b = append(b, '\\', byte(r))
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, string(r)...)
		}
	}
	return string(append(b, '"'))
}

// TestPagesMyAccount: alice signs in at /gate/me, sees her roles and what the
// table lets her do, and a bad token form re-renders with a message.
func TestPagesMyAccount(t *testing.T) {
	h := newPagesRig(t)
	b := newChromium(t, 90*time.Second)
	b.signIn(t, h.g.URL, "/gate/me", "alice", browserPassword)
	b.waitForText(t, "alice's own page", 10*time.Second, "Signed in as alice", "Default", "experiments")
	if err := chromedp.Do(b.tab, chromedp.Navigate(h.g.URL+"/gate/me/tokens")); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "the token form", `document.querySelector("#name") !== null`, 10*time.Second)
	if err := chromedp.Do(b.tab,
		chromedp.SendKeys(chromedp.CSS("#name"), "laptop"),
		chromedp.SetValue(chromedp.CSS("#days"), "0"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#days").removeAttribute("min"); document.querySelector("form[action='/gate/me/tokens']").submit(); undefined`),
	); err != nil {
		t.Fatal(err)
	}
	b.waitForText(t, "the form again with its message", 10*time.Second, "The expiry must be a whole number of days")
	b.waitFor(t, "the name kept", `document.querySelector("#name").value === "laptop"`, 5*time.Second)
}
