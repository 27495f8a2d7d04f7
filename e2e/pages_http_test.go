package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pageClient is a signed-in browser made of net/http and a cookie jar, for
// tests that post many forms; the flows people click through are driven in
// Chromium.
type pageClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

// httpSignIn signs user in through the login page and returns the client.
func httpSignIn(t *testing.T, base, user, password string) *pageClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	p := &pageClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	_, body := p.get("/oauth/login?return_to=%2Fgate%2Fme")
	form := url.Values{"username": {user}, "password": {password}}
	for _, m := range hiddenField.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], unescapeAttr(m[2]))
	}
	st, _, loc := p.post("/oauth/login", form, "")
	if st != http.StatusSeeOther || loc != "/gate/me" {
		t.Fatalf("signing in %s: %d to %q", user, st, loc)
	}
	return p
}

func unescapeAttr(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#x2F;", "/", "&#34;", `"`, "&#39;", "'").Replace(s)
}

// get returns the status and body of path.
func (p *pageClient) get(path string) (int, string) {
	p.t.Helper()
	resp, err := p.c.Get(p.base + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// csrf is the session's form token, read from the user's own page.
func (p *pageClient) csrf() string {
	p.t.Helper()
	_, body := p.get("/gate/me/tokens")
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		p.t.Fatalf("no csrf field on /gate/me/tokens: %.300s", body)
	}
	return unescapeAttr(m[1])
}

// post sends form to path from the gate's own origin (origin "" means the
// gate's), returning the status, the body and the redirect target.
func (p *pageClient) post(path string, form url.Values, origin string) (int, string, string) {
	p.t.Helper()
	if origin == "" {
		origin = p.base
	}
	req, _ := http.NewRequest(http.MethodPost, p.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "-" {
		req.Header.Set("Origin", origin)
	}
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

// postHeaders sends form to path with exactly the headers hdr (no Origin
// unless hdr has one), returning the status and the body.
func (p *pageClient) postHeaders(path string, form url.Values, hdr http.Header) (int, string) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.base+path, strings.NewReader(form.Encode()))
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// postForm posts with the session's csrf token added.
func (p *pageClient) postForm(path string, form url.Values) (int, string, string) {
	p.t.Helper()
	form.Set("csrf", p.csrf())
	return p.post(path, form, "")
}

var errorMessage = regexp.MustCompile(`<p class="error" role="alert">([^<]*)</p>`)

// pageError is the message a re-rendered form shows, or "".
func pageError(body string) string {
	if m := errorMessage.FindStringSubmatch(body); m != nil {
		return unescapeAttr(m[1])
	}
	return ""
}
