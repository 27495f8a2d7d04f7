package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
)

// ageSignIn makes every session of user look as if it signed in an hour
// ago, so the pages' re-authentication window has passed.
func ageSignIn(t *testing.T, dbURL, user string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE sessions SET auth_time = now() - interval '1 hour'
		WHERE user_id = (SELECT id FROM users WHERE username = $1)`, user); err != nil {
		t.Fatal(err)
	}
}

var secretValue = regexp.MustCompile(`id="secret-value" class="mono" type="text" readonly value="([^"]+)"`)

// clientToken asks for a client-credentials access token.
func clientToken(t *testing.T, base, id, secret string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.AccessToken
}

// TestPagesServiceClientLifecycle: the admin creates a service client on the
// pages; its secret, shown once, gets tokens that open MLflow; deleting it
// asks for the password when the sign-in is old, refuses a wrong one, and
// then ends its tokens.
func TestPagesServiceClientLifecycle(t *testing.T) {
	h := newPagesRig(t)
	admin := httpSignIn(t, h.g.URL, "admin", pagesAdminPassword)
	st, _, loc := admin.postForm("/gate/admin/clients", url.Values{"id": {"nightly-eval"}, "kind": {"service"}, "roles": {"Default"}})
	if st != http.StatusSeeOther || loc != "/gate/admin/clients/nightly-eval" {
		t.Fatalf("create: %d to %q", st, loc)
	}
	_, page := admin.get(loc)
	m := secretValue.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "Created the client nightly-eval") {
		t.Fatalf("no secret shown after creating the client: %.500s", page)
	}
	secret := unescapeAttr(m[1])
	if _, again := admin.get(loc); strings.Contains(again, secret) {
		t.Fatal("the secret is shown a second time")
	}
	code, tok := clientToken(t, h.g.URL, "nightly-eval", secret)
	if code != http.StatusOK || bearerStatus(t, h.g.URL, tok) != http.StatusOK {
		t.Fatalf("client credentials with the shown secret: %d, MLflow %d", code, bearerStatus(t, h.g.URL, tok))
	}

	ageSignIn(t, h.env["MLFLOW_GATE_DATABASE_URL"], "admin")
	_, page = admin.get(loc)
	if !strings.Contains(page, `name="confirm_password"`) {
		t.Fatal("an old sign-in: the delete form does not ask for the password")
	}
	for name, c := range map[string]struct {
		form    url.Values
		message string
	}{
		"no password":    {url.Values{}, "needs your password"},
		"wrong password": {url.Values{"confirm_password": {"not the password"}}, "not your password"},
	} {
		st, body, _ := admin.postForm(loc+"/delete", c.form)
		if st != http.StatusUnauthorized || !strings.Contains(pageError(body), c.message) {
			t.Errorf("%s: %d %q", name, st, pageError(body))
		}
	}
	if code, _ := clientToken(t, h.g.URL, "nightly-eval", secret); code != http.StatusOK {
		t.Fatalf("the refused deletes deleted the client: %d", code)
	}
	st, _, loc = admin.postForm("/gate/admin/clients/nightly-eval/delete", url.Values{"confirm_password": {pagesAdminPassword}})
	if st != http.StatusSeeOther || loc != "/gate/admin/clients" {
		t.Fatalf("delete with the password: %d to %q", st, loc)
	}
	// The change feed tells the verifier within milliseconds.
	for deadline := time.Now().Add(3 * time.Second); bearerStatus(t, h.g.URL, tok) != http.StatusUnauthorized; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the deleted client's token still opens MLflow: %d", bearerStatus(t, h.g.URL, tok))
		}
	}
	if code, _ := clientToken(t, h.g.URL, "nightly-eval", secret); code == http.StatusOK {
		t.Fatal("the deleted client still gets tokens")
	}
	// The password proven, the next sensitive action does not ask again.
	if _, page := admin.get("/gate/admin/keys"); strings.Contains(page, `name="confirm_password"`) {
		t.Fatal("asked for the password again right after giving it")
	}
}

// TestPagesAdminEndsASession: the admin ends alice's browser session on the
// sessions page; her next page load goes to the login page.
func TestPagesAdminEndsASession(t *testing.T) {
	h := newPagesRig(t)
	alice := httpSignIn(t, h.g.URL, "alice", browserPassword)
	if st, _ := alice.get("/gate/me"); st != http.StatusOK {
		t.Fatalf("alice's page: %d", st)
	}
	admin := httpSignIn(t, h.g.URL, "admin", pagesAdminPassword)
	_, page := admin.get("/gate/admin/sessions?user=alice")
	m := regexp.MustCompile(`action="(/gate/admin/sessions/[^/"]+/revoke)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no session of alice to end: %.800s", page)
	}
	if st, _, _ := admin.postForm(m[1], url.Values{"user": {"alice"}}); st != http.StatusSeeOther {
		t.Fatalf("ending alice's session: %d", st)
	}
	resp, err := alice.c.Get(h.g.URL + "/gate/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/oauth/login?") {
		t.Fatalf("alice after her session ended: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if st, _ := admin.get("/gate/admin/users"); st != http.StatusOK {
		t.Fatalf("the admin's own session was ended too: %d", st)
	}
}

// TestPagesExportIsTheCLIExport: the permission table downloaded from the
// admin page is byte for byte what `mlflow-gate authz export -` prints, and
// importing it back on the page changes nothing.
func TestPagesExportIsTheCLIExport(t *testing.T) {
	h := newPagesRig(t)
	admin := httpSignIn(t, h.g.URL, "admin", pagesAdminPassword)
	st, page := admin.get("/gate/admin/permissions/export.yaml")
	if st != http.StatusOK {
		t.Fatalf("export: %d", st)
	}
	out, err := cli(t, h.env, "", "authz", "export", "-")
	if err != nil {
		t.Fatalf("authz export: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, page) {
		t.Fatalf("the page's export differs from the CLI's:\n--- page\n%.400s\n--- cli\n%.400s", page, out)
	}
	st, body, loc := admin.postForm("/gate/admin/permissions/import", url.Values{"yaml": {page}, "action": {"import"}})
	if st != http.StatusSeeOther {
		t.Fatalf("importing the export: %d %s", st, pageError(body))
	}
	if _, next := admin.get(loc); !strings.Contains(next, "nothing changed") {
		t.Fatalf("importing the export changed something: %.300s", next)
	}
}

// TestPagesNamesThatLookLikePages: a user and a client called "new" have
// pages of their own (the create forms live elsewhere).
func TestPagesNamesThatLookLikePages(t *testing.T) {
	h := newPagesRig(t)
	if out, err := cli(t, h.env, browserPassword+"\n", "user", "add", "new", "--password-stdin"); err != nil {
		t.Fatalf("user add new: %v\n%s", err, out)
	}
	if out, err := cli(t, h.env, "", "client", "add", "new", "--grants", "client_credentials", "--roles", "Default"); err != nil {
		t.Fatalf("client add new: %v\n%s", err, out)
	}
	admin := httpSignIn(t, h.g.URL, "admin", pagesAdminPassword)
	for path, want := range map[string]string{
		"/gate/admin/users/new":   "User new",
		"/gate/admin/clients/new": "Client new",
		"/gate/admin/new-user":    "New user",
		"/gate/admin/new-client":  "New client",
	} {
		if st, body := admin.get(path); st != http.StatusOK || !strings.Contains(body, "<h1>"+want+"</h1>") {
			t.Errorf("%s: %d, want the page %q", path, st, want)
		}
	}
}

// TestPagesClientIDTokenAlgAndBackchannel: in Chromium, the create form
// registers a web application's ID-token algorithm and back-channel logout
// URI and the client's page shows them; a bad URI re-renders the form with
// the reason and what was typed.
func TestPagesClientIDTokenAlgAndBackchannel(t *testing.T) {
	h := newPagesRig(t)
	b := newChromium(t, 90*time.Second)
	b.signIn(t, h.g.URL, "/gate/admin/new-client", "admin", pagesAdminPassword)
	fill := func(id, bcl string) {
		t.Helper()
		b.do(t, "fill in the client",
			chromedp.SendKeys(chromedp.CSS("#client-id"), id),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#kind-confidential').click(); undefined`),
			chromedp.SendKeys(chromedp.CSS("#redirect-uris"), "https://wiki.example.com/cb"),
			chromedp.SetValue(chromedp.CSS("#id-token-alg"), "ES256"),
			chromedp.SendKeys(chromedp.CSS("#backchannel-uri"), bcl),
			chromedp.Click(chromedp.CSS(`form[action="/gate/admin/clients"] button[type=submit]`)))
	}
	fill("wiki", "https://wiki.example.com/bcl")
	b.waitForText(t, "the new client's page", 10*time.Second, "Created the client wiki", "ES256", "https://wiki.example.com/bcl")
	b.shot(t, "client-page")
	if list, err := cli(t, h.env, "", "client", "list"); err != nil || !strings.Contains(list, "https://wiki.example.com/bcl") || !strings.Contains(list, "ES256") {
		t.Errorf("client list: %v\n%s", err, list)
	}
	b.open(t, h.g.URL, "/gate/admin/new-client")
	fill("wiki2", "http://wiki.example.com/bcl")
	b.waitForText(t, "the form again, with the reason", 10*time.Second, "ack-channel logout URI", "plain http only on a loopback address")
	if got := b.value(t, "#client-id"); got != "wiki2" {
		t.Errorf("the re-rendered form lost the id: %q", got)
	}
	if got := b.value(t, "#id-token-alg"); got != "ES256" {
		t.Errorf("the re-rendered form lost the algorithm: %q", got)
	}
	b.shot(t, "client-refused")
}

// TestPagesMisdirectedSaysWhatToDo: a browser that opens the gate under a
// host other than the issuer's (localhost for 127.0.0.1) gets a page that
// names both and the setting that would let the host in.
func TestPagesMisdirectedSaysWhatToDo(t *testing.T) {
	h := newPagesRig(t)
	b := newChromium(t, 60*time.Second)
	u, err := url.Parse(h.g.URL)
	if err != nil {
		t.Fatal(err)
	}
	wrong := "http://localhost:" + u.Port() + "/"
	b.do(t, "open the gate as localhost", chromedp.Navigate(wrong))
	b.waitForText(t, "the 421 page", 10*time.Second, "localhost:"+u.Port(), h.g.URL, "MLFLOW_GATE_ALLOWED_HOSTS")
	b.shot(t, "misdirected")
}
