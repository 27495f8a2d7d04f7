package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
)

var (
	hrefAttr   = regexp.MustCompile(`href="(/[^"#]*)"`)
	formAction = regexp.MustCompile(`<form method="post" action="(/gate/[^"]*)"`)
)

// crawl follows every same-site link under /gate/ from the start pages,
// breadth first, at most limit pages, and returns each page's body by path,
// plus every POST form action seen.
func (p *pageClient) crawl(limit int, start ...string) (map[string]string, []string) {
	p.t.Helper()
	pages := map[string]string{}
	actions := map[string]bool{}
	queue := append([]string(nil), start...)
	for len(queue) > 0 && len(pages) < limit {
		path := queue[0]
		queue = queue[1:]
		if _, seen := pages[path]; seen {
			continue
		}
		st, body := p.get(path)
		if st != http.StatusOK {
			p.t.Errorf("GET %s: %d %s", path, st, pageError(body))
		}
		pages[path] = body
		for _, m := range hrefAttr.FindAllStringSubmatch(body, -1) {
			link := unescapeAttr(m[1])
			if strings.HasPrefix(link, "/gate/") && !strings.HasPrefix(link, "/gate/static/") && !strings.HasSuffix(link, ".yaml") {
				queue = append(queue, link)
			}
		}
		for _, m := range formAction.FindAllStringSubmatch(body, -1) {
			actions[unescapeAttr(m[1])] = true
		}
	}
	var list []string
	for a := range actions {
		list = append(list, a)
	}
	sort.Strings(list)
	return pages, list
}

// seedPages makes the data every admin page has something to show: users,
// a role, a service client, tokens.
func seedPages(t *testing.T, h *pagesRig) {
	t.Helper()
	for _, args := range [][]string{
		{"role", "add", "Reviewers", "--description", "read runs and models"},
		{"client", "add", "nightly-eval", "--grants", "client_credentials", "--roles", "Default"},
		{"client", "add", "notebook", "--grants", "authorization_code,refresh_token", "--redirect-uris", "https://notebook.example/callback"},
		{"token", "create", "--user", "alice", "--name", "laptop"},
	} {
		if out, err := cli(t, h.env, "", args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if out, err := cli(t, h.env, browserPassword+"\n", "user", "add", "bob", "--password-stdin", "--roles", "Reviewers"); err != nil {
		t.Fatalf("user add bob: %v\n%s", err, out)
	}
}

// TestPagesDefaultIsRefusedEverywhere: every admin page and every admin form
// the admin sees is refused to a Default user, with her own valid session
// and form token, and nothing she posted changed anything; a bearer token
// never opens an admin page.
func TestPagesDefaultIsRefusedEverywhere(t *testing.T) {
	h := newPagesRig(t)
	seedPages(t, h)
	admin := httpSignIn(t, h.g.URL, "admin", pagesAdminPassword)
	pages, actions := admin.crawl(200, "/gate/admin/", "/gate/me")
	var adminPages []string
	for p := range pages {
		if strings.HasPrefix(p, "/gate/admin/") {
			adminPages = append(adminPages, p)
		}
	}
	sort.Strings(adminPages)
	for _, want := range []string{"/gate/admin/users", "/gate/admin/roles", "/gate/admin/permissions", "/gate/admin/clients",
		"/gate/admin/tokens", "/gate/admin/sessions", "/gate/admin/keys", "/gate/admin/audit", "/gate/admin/users/alice",
		"/gate/admin/clients/nightly-eval", "/gate/admin/roles/Reviewers"} {
		if _, ok := pages[want]; !ok {
			t.Errorf("the crawl did not reach %s", want)
		}
	}
	var adminActions []string
	for _, a := range actions {
		if strings.HasPrefix(a, "/gate/admin/") {
			adminActions = append(adminActions, a)
		}
	}
	if len(adminPages) < 15 || len(adminActions) < 20 {
		t.Fatalf("the crawl found %d admin pages and %d admin actions: %v %v", len(adminPages), len(adminActions), adminPages, adminActions)
	}
	t.Logf("checking %d admin pages and %d admin actions", len(adminPages), len(adminActions))

	dbURL := h.env["MLFLOW_GATE_DATABASE_URL"]
	before := auditCount(t, dbURL, "true")
	alice := httpSignIn(t, h.g.URL, "alice", browserPassword)
	csrf := alice.csrf()
	state := adminState(t, dbURL)
	for _, p := range adminPages {
		if st, body := alice.get(p); st != http.StatusForbidden || !strings.Contains(body, "Only an Admin") {
			t.Errorf("alice GET %s: %d", p, st)
		}
	}
	for _, a := range adminActions {
		form := url.Values{"csrf": {csrf}, "role": {"Admin"}, "name": {"x"}, "username": {"mallory"}, "grant": {"experiments#delete"},
			"yaml": {"version: 1"}, "user": {"alice"}, "method": {"GET"}, "path": {"/"}, "alg": {"ES256"}}
		if st, _, _ := alice.post(a, form, ""); st != http.StatusForbidden {
			t.Errorf("alice POST %s: %d, want 403", a, st)
		}
	}
	// Alice's refusals wrote nothing but her sign-in.
	if n := auditCount(t, dbURL, "true") - before; n > 2 {
		t.Errorf("%d audit records appeared while alice was refused (want only her sign-in)", n)
	}
	if n := auditCount(t, dbURL, "actor = 'alice' AND action NOT LIKE 'login.%'"); n != 0 {
		t.Errorf("%d changes made by alice", n)
	}
	if st, _ := admin.get("/gate/admin/users/mallory"); st != http.StatusNotFound {
		t.Errorf("a user was created by alice's post: %d", st)
	}
	for table, sum := range adminState(t, dbURL) {
		if state[table] != sum {
			t.Errorf("table %s changed while alice was refused", table)
		}
	}

	// A bearer token, even the admin's, never opens the pages: they take the
	// browser session only. Neither does a personal access token given as a
	// password, nor an access token of a service client holding Admin; and a
	// form posted with one changes nothing.
	pat := createPAT(t, h.env, "admin")
	out, err := cli(t, h.env, "", "client", "add", "ops-robot", "--grants", "client_credentials", "--roles", "Admin")
	if err != nil {
		t.Fatalf("client add: %v\n%s", err, out)
	}
	secret := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "mgs_") {
			secret = strings.TrimSpace(line)
		}
	}
	st, access := clientToken(t, h.g.URL, "ops-robot", secret)
	if st != http.StatusOK || access == "" {
		t.Fatalf("the Admin service client's token: %d", st)
	}
	if got := bearerStatus(t, h.g.URL, access); got != http.StatusOK {
		t.Fatalf("the Admin service client's token on MLflow: %d (the token must work where it is meant to)", got)
	}
	state = adminState(t, dbURL)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for name, auth := range map[string]func(*http.Request){
		"the admin's PAT":                  func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+pat) },
		"the admin's PAT as a password":    func(r *http.Request) { r.SetBasicAuth("admin", pat) },
		"an Admin service client's token":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+access) },
		"the admin's password, basic auth": func(r *http.Request) { r.SetBasicAuth("admin", pagesAdminPassword) },
	} {
		for _, path := range []string{"/gate/admin/", "/gate/admin/users", "/gate/me"} {
			req, _ := http.NewRequest(http.MethodGet, h.g.URL+path, nil)
			auth(req)
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/oauth/login?") {
				t.Errorf("%s on %s: %d to %q, want the login page", name, path, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		req, _ := http.NewRequest(http.MethodPost, h.g.URL+"/gate/admin/users", strings.NewReader(url.Values{"username": {"robot-made"}, "roles": {"Admin"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", h.g.URL)
		auth(req)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s posting the new-user form: %d, want 401", name, resp.StatusCode)
		}
	}
	for table, sum := range adminState(t, dbURL) {
		if table != "personal_access_tokens" && state[table] != sum { // a PAT's last use is recorded
			t.Errorf("table %s changed by a post with a bearer token", table)
		}
	}
}

// adminState is a digest of every table an admin page can change, by name:
// the whole database but the audit trail, the sign-in bookkeeping and
// columns that record use (last seen, last used).
func adminState(t *testing.T, dbURL string) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()
		AND tablename NOT IN ('audit_events', 'login_attempts', 'auth_requests', 'schema_migrations')`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 10 {
		t.Fatalf("only %d tables: %v", len(tables), tables)
	}
	out := map[string]string{}
	for _, tbl := range tables {
		var sum string
		q := `SELECT md5(coalesce(string_agg(r, E'\n' ORDER BY r), '')) FROM
			(SELECT (to_jsonb(x) - 'last_seen_at' - 'last_used_at')::text AS r FROM ` + pgx.Identifier{tbl}.Sanitize() + ` x) s`
		if err := conn.QueryRow(ctx, q).Scan(&sum); err != nil {
			t.Fatalf("%s: %v", tbl, err)
		}
		out[tbl] = sum
	}
	return out
}

// tokenCount is how many personal access tokens alice's own page lists.
func tokenCount(t *testing.T, p *pageClient) int {
	t.Helper()
	_, body := p.get("/gate/me/tokens")
	return strings.Count(body, `action="/gate/me/tokens/`)
}

// TestPagesCrossSiteFormsAreRefused: a form posted with alice's session from
// another origin, without a same-origin signal, or with another token is
// refused and creates nothing; a real cross-site form in Chromium neither.
func TestPagesCrossSiteFormsAreRefused(t *testing.T) {
	h := newPagesRig(t)
	alice := httpSignIn(t, h.g.URL, "alice", browserPassword)
	csrf := alice.csrf()
	form := func(token string) url.Values { return url.Values{"csrf": {token}, "name": {"stolen"}, "days": {"30"}} }
	for name, c := range map[string]struct {
		form   url.Values
		origin string
	}{
		"another origin":           {form(csrf), "http://evil.example"},
		"a sibling port":           {form(csrf), strings.Replace(h.g.URL, "127.0.0.1:", "127.0.0.1:1", 1)},
		"no origin, no fetch meta": {form(csrf), "-"},
		"a wrong token":            {form("AAAA" + csrf[4:]), ""},
		"no token":                 {url.Values{"name": {"stolen"}, "days": {"30"}}, ""},
	} {
		st, body, _ := alice.post("/gate/me/tokens", c.form, c.origin)
		if st != http.StatusForbidden || !strings.Contains(body, "did not come from this site") {
			t.Errorf("%s: %d %s", name, st, pageError(body))
		}
	}
	// Without Origin, only the browser's own same-origin fetch metadata lets
	// a post through.
	for _, c := range []struct{ name, origin, site string }{
		{"no origin, cross-site fetch", "", "cross-site"},
		{"no origin, same-site fetch (a sibling port or subdomain)", "", "same-site"},
		{"no origin, typed into the address bar", "", "none"},
		{"an opaque origin", "null", ""},
	} {
		hdr := http.Header{}
		if c.origin != "" {
			hdr.Set("Origin", c.origin)
		}
		if c.site != "" {
			hdr.Set("Sec-Fetch-Site", c.site)
		}
		if st, body := alice.postHeaders("/gate/me/tokens", form(csrf), hdr); st != http.StatusForbidden || !strings.Contains(body, "did not come from this site") {
			t.Errorf("%s: %d %s", c.name, st, pageError(body))
		}
	}
	if n := tokenCount(t, alice); n != 0 {
		t.Fatalf("%d tokens were created by refused posts", n)
	}
	if st, _, _ := alice.post("/gate/me/tokens", form(csrf), ""); st != http.StatusSeeOther || tokenCount(t, alice) != 1 {
		t.Fatalf("the same post from the gate's own page: %d", st)
	}
	if st, body := alice.postHeaders("/gate/me/tokens", form(csrf), http.Header{"Sec-Fetch-Site": {"same-origin"}}); st != http.StatusSeeOther || tokenCount(t, alice) != 2 {
		t.Fatalf("the same post without Origin but same-origin fetch metadata: %d %s", st, pageError(body))
	}

	// In Chromium: alice is signed in; a page on another origin posts a form
	// to the gate when it loads, with her real form token (as if it had
	// leaked). Served from another port of 127.0.0.1 it is the same site, so
	// the browser sends alice's cookie and the gate refuses by Origin; served
	// as localhost it is another site, and SameSite=Lax keeps the cookie home.
	var served atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><html><body><form id="f" method="post" action="%s/gate/me/tokens">
<input name="name" value="from-evil"><input name="days" value="30"><input name="csrf" value="%s"></form>
<script>document.getElementById("f").submit()</script></body></html>`, h.g.URL, csrf)
	}))
	defer evil.Close()
	b := newChromium(t, 60*time.Second)
	b.signIn(t, h.g.URL, "/gate/me", "alice", browserPassword)
	for _, c := range []struct{ name, url, refusal string }{
		{"same site, another origin", evil.URL, "did not come from this site"},
		{"another site", strings.Replace(evil.URL, "127.0.0.1", "localhost", 1), "Your session has ended"},
	} {
		n := served.Load()
		b.do(t, "open "+c.name, chromedp.Navigate(c.url+"/"))
		b.waitFor(t, c.name+": the cross-site post's answer", `location.href.startsWith(`+jsString(h.g.URL)+`) && document.body !== null && document.body.innerText.length > 0`, 10*time.Second)
		if served.Load() == n {
			t.Fatalf("%s: the other site's page was never loaded", c.name)
		}
		b.waitForText(t, c.name+": the refusal", 5*time.Second, c.refusal)
		if n := tokenCount(t, alice); n != 2 {
			t.Fatalf("%s: the cross-site form created a token: alice has %d", c.name, n)
		}
	}
	// Alice is still signed in in that browser: the refusal ended nothing.
	b.open(t, h.g.URL, "/gate/me")
	b.waitForText(t, "alice's page after the refusals", 5*time.Second, "Signed in as alice")
}
