package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// axeViolation is the part of an axe-core result the test reports.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// axeCheck runs axe-core (MLFLOW_GATE_TEST_AXE) on the open page and returns
// its serious and critical violations.
func (b *chromium) axeCheck(t *testing.T, axeSource string) []axeViolation {
	t.Helper()
	if _, err := chromedp.Run(b.tab, chromedp.Evaluate[bool](axeSource+"\n;true")); err != nil {
		t.Fatalf("loading axe-core into the page: %v", err)
	}
	out, err := chromedp.Run(b.tab, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("running axe-core: %v", err)
	}
	var all, bad []axeViolation
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("axe-core result: %v", err)
	}
	for _, v := range all {
		if v.Impact == "serious" || v.Impact == "critical" {
			bad = append(bad, v)
		}
	}
	return bad
}

// TestPagesRenderAndPassAccessibilityChecks opens every page of the admin
// and of a Default user, with realistic data, in Chromium: each renders
// without a template error, every link on it leads somewhere, and axe-core
// finds no serious or critical accessibility violation. With
// MLFLOW_GATE_UPDATE_SCREENSHOTS=1 it also rewrites the pages' screenshots
// in docs/screenshots at 1280 and 390 pixels wide.
func TestPagesRenderAndPassAccessibilityChecks(t *testing.T) {
	axePath := need(t, "MLFLOW_GATE_TEST_AXE")
	axeSource, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	h := newPagesRig(t)
	seedPages(t, h)
	pat := createPAT(t, h.env, "alice")
	// A gated call and a refusal, for the audit log.
	if st := bearerStatus(t, h.g.URL, pat); st != http.StatusOK {
		t.Fatalf("alice's call: %d", st)
	}
	req, _ := http.NewRequest(http.MethodPost, h.g.URL+"/api/2.0/mlflow/experiments/delete", strings.NewReader(`{"experiment_id":"0"}`))
	req.Header.Set("Authorization", "Bearer "+pat)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("alice deleting the default experiment: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	crawler := httpSignIn(t, h.g.URL, "admin", pagesAdminPassword)
	pages, _ := crawler.crawl(300, "/gate/admin/", "/gate/me")
	aliceCrawler := httpSignIn(t, h.g.URL, "alice", browserPassword)
	alicePages, _ := aliceCrawler.crawl(50, "/gate/me")

	// Every link on every page resolves (pages outside /gate/, such as the
	// login and device pages, included).
	links := map[string]bool{}
	for _, body := range pages {
		for _, m := range hrefAttr.FindAllStringSubmatch(body, -1) {
			links[unescapeAttr(m[1])] = true
		}
	}
	for l := range links {
		if strings.HasPrefix(l, "/gate/") {
			continue // crawled: checked for 200 there
		}
		if st, _ := crawler.get(l); st >= 400 && st != http.StatusUnauthorized {
			t.Errorf("link %s: %d", l, st)
		}
	}
	for p, body := range pages {
		if strings.Contains(body, "template:") || strings.Contains(body, "<no value>") || strings.Contains(body, "ZgotmplZ") {
			t.Errorf("%s: a template problem shows on the page", p)
		}
	}
	// Alice's own pages: their links resolve for her too, and none leads
	// into the admin pages she may not open.
	for p, body := range alicePages {
		if strings.Contains(body, "template:") || strings.Contains(body, "<no value>") || strings.Contains(body, "ZgotmplZ") {
			t.Errorf("alice %s: a template problem shows on the page", p)
		}
		for _, m := range hrefAttr.FindAllStringSubmatch(body, -1) {
			l := unescapeAttr(m[1])
			if strings.HasPrefix(l, "/gate/admin") {
				t.Errorf("alice %s links to the admin page %s", p, l)
			} else if _, crawled := alicePages[l]; !crawled && !strings.HasPrefix(l, "/gate/static/") {
				if st, _ := aliceCrawler.get(l); st >= 400 && st != http.StatusUnauthorized {
					t.Errorf("alice %s: link %s: %d", p, l, st)
				}
			}
		}
	}

	check := func(b *chromium, who string, paths []string) {
		for _, p := range paths {
			b.open(t, h.g.URL, p)
			for _, v := range b.axeCheck(t, string(axeSource)) {
				var targets []string
				for _, n := range v.Nodes {
					for _, x := range n.Target {
						if s, ok := x.(string); ok {
							targets = append(targets, s)
						}
					}
				}
				t.Errorf("%s %s: axe %s (%s): %s at %s", who, p, v.ID, v.Impact, v.Help, strings.Join(targets, ", "))
			}
		}
	}
	sorted := func(m map[string]string) []string {
		var out []string
		for p := range m {
			out = append(out, p)
		}
		sort.Strings(out)
		return out
	}
	admin := newChromium(t, 240*time.Second)
	admin.signIn(t, h.g.URL, "/gate/me", "admin", pagesAdminPassword)
	check(admin, "admin", sorted(pages))
	alice := newChromium(t, 60*time.Second)
	alice.signIn(t, h.g.URL, "/gate/me", "alice", browserPassword)
	check(alice, "alice", sorted(alicePages))
	// The pages ran under their own Content-Security-Policy (axe-core is
	// evaluated through DevTools, which the policy does not govern), so a
	// style, image or form the policy blocks shows here, as does any failed
	// load or script error.
	for who, b := range map[string]*chromium{"admin": admin, "alice": alice} {
		for _, line := range b.Console() {
			if problem := consoleProblem(line); problem != "" {
				t.Errorf("%s's browser: %s: %s", who, problem, line)
			}
		}
	}
	t.Logf("checked %d admin and %d self-service pages, %d links", len(pages), len(alicePages), len(links))

	if os.Getenv("MLFLOW_GATE_UPDATE_SCREENSHOTS") == "1" {
		screenshots(t, admin, h.g.URL)
	}
}

// consoleProblem says what is wrong with a browser console line of a page
// check, or "" when it is harmless: a Content-Security-Policy refusal, a
// failed load (the browser's own favicon request aside) or a script error.
func consoleProblem(line string) string {
	switch {
	case strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused to"):
		return "the page's policy blocked part of it"
	case strings.Contains(line, "Failed to load resource") && !strings.HasSuffix(line, "/favicon.ico"):
		return "a load failed"
	case strings.Contains(line, "exception at "):
		return "a script error"
	}
	return ""
}

// screenshots writes the main pages at two widths into docs/screenshots, as
// pages-<name>-<width>.png; add a page to the list to picture it.
func screenshots(t *testing.T, b *chromium, base string) {
	shots := []struct {
		name, path string
		// then, when set, acts on the opened page before the pictures.
		then func()
	}{
		// A token just made, with the lines to paste (shown once: both
		// widths are taken of the same page).
		{"me-token", "/gate/me/tokens", func() {
			b.do(t, "make a token", chromedp.SendKeys(chromedp.CSS("#name"), "training box"),
				chromedp.Click(chromedp.CSS(`form[action="/gate/me/tokens"] button[type=submit]`)))
			b.waitForText(t, "the token", 10*time.Second, "shown only this once")
		}},
		{"me", "/gate/me", nil},
		{"admin-users", "/gate/admin/users", nil},
		{"admin-user", "/gate/admin/users/bob", nil},
		{"admin-permissions", "/gate/admin/permissions", nil},
		// A grant just made through the page's form.
		{"admin-grants", "/gate/admin/grants", func() { grantOnPage(t, b, "Default", "registered-model", "churn-model", "read") }},
		{"admin-clients", "/gate/admin/clients", nil},
		{"admin-audit", "/gate/admin/audit", nil},
	}
	for _, s := range shots {
		b.do(t, "viewport", chromedp.EmulateViewport(1280, 900))
		b.open(t, base, s.path)
		if s.then != nil {
			s.then()
		}
		for _, width := range []int64{1280, 390} {
			b.do(t, "viewport", chromedp.EmulateViewport(width, 900))
			png, err := chromedp.Run(b.tab, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "docs", "screenshots", "pages-"+s.name+"-"+strconv.FormatInt(width, 10)+".png")
			if err := os.WriteFile(path, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", path)
		}
	}
}
