package e2e

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// rpBrowser is the person in a relying party's flows: a cookie jar that
// follows the gate's redirects, signs in on the login form, confirms a
// sign-out and approves or denies a device, submitting the gate's own forms
// with their hidden fields (CSRF tokens included) from the gate's origin.
// Its methods return errors rather than failing a test, so a script's
// request can be answered with the reason.
type rpBrowser struct {
	issuer, user, password string
	c                      *http.Client
}

func newRPBrowser(issuer, user, password string) *rpBrowser {
	jar, _ := cookiejar.New(nil)
	return &rpBrowser{issuer: issuer, user: user, password: password, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is one response the browser read.
type page struct {
	url, body, location string
	status              int
}

func (b *rpBrowser) do(ctx context.Context, method, target string, form url.Values) (page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return page{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.issuer)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	p := page{url: target, body: string(raw), status: resp.StatusCode}
	if loc := resp.Header.Get("Location"); loc != "" {
		next, err := url.Parse(target)
		if err != nil {
			return p, err
		}
		ref, err := next.Parse(loc)
		if err != nil {
			return p, err
		}
		p.location = ref.String()
	}
	return p, nil
}

func (p page) redirect() bool {
	return p.location != "" && (p.status == http.StatusFound || p.status == http.StatusSeeOther)
}

func (p page) String() string {
	return fmt.Sprintf("%d at %s (Location %q): %.400s", p.status, p.url, p.location, p.body)
}

// browse opens target and follows the gate's redirects, signing in and
// confirming a sign-out on the way, until a redirect leaves for an address
// starting with stop (the client's redirect or post-logout URI), which it
// returns without opening.
func (b *rpBrowser) browse(ctx context.Context, target, stop string) (string, error) {
	for range 12 {
		if strings.HasPrefix(target, stop) {
			return target, nil
		}
		p, err := b.do(ctx, http.MethodGet, target, nil)
		if err != nil {
			return "", err
		}
		switch f, ok := postForm(p.body); {
		case p.redirect():
			target = p.location
		case p.status == http.StatusOK && ok && strings.Contains(p.body, `name="password"`):
			f.fields.Set("username", b.user)
			f.fields.Set("password", b.password)
			if target, err = b.submit(ctx, p, f); err != nil {
				return "", fmt.Errorf("signing in: %w", err)
			}
		case p.status == http.StatusOK && ok && strings.HasSuffix(f.action, "/oauth/logout"):
			if target, err = b.submit(ctx, p, f); err != nil {
				return "", fmt.Errorf("confirming the sign-out: %w", err)
			}
		default:
			return "", fmt.Errorf("expected a redirect, the login form or the sign-out form: %s", p)
		}
	}
	return "", fmt.Errorf("more than 12 steps from %s without reaching %s", target, stop)
}

// device opens a verification_uri_complete, signs in if asked to, and
// answers the approval page with action (approve or deny).
func (b *rpBrowser) device(ctx context.Context, target, action string) error {
	p, err := b.open(ctx, target)
	if err != nil {
		return err
	}
	if f, ok := postForm(p.body); ok && strings.Contains(p.body, `name="password"`) {
		f.fields.Set("username", b.user)
		f.fields.Set("password", b.password)
		next, err := b.submit(ctx, p, f)
		if err != nil {
			return fmt.Errorf("signing in for the device: %w", err)
		}
		if p, err = b.open(ctx, next); err != nil {
			return err
		}
	}
	f, ok := postForm(p.body)
	if !ok || !strings.Contains(p.body, `value="approve"`) {
		return fmt.Errorf("expected the device approval page: %s", p)
	}
	f.fields.Set("action", action)
	res, err := b.do(ctx, http.MethodPost, f.actionURL(p.url), f.fields)
	if err != nil {
		return err
	}
	done := map[string]string{"approve": "Approved", "deny": "Denied"}[action]
	if res.status != http.StatusOK || done == "" || !strings.Contains(res.body, done) {
		return fmt.Errorf("answering the device page with %s: %s", action, res)
	}
	return nil
}

// open GETs target and follows redirects up to a page.
func (b *rpBrowser) open(ctx context.Context, target string) (page, error) {
	for range 8 {
		p, err := b.do(ctx, http.MethodGet, target, nil)
		if err != nil || !p.redirect() {
			return p, err
		}
		target = p.location
	}
	return page{}, fmt.Errorf("too many redirects from %s", target)
}

// submit posts form f of page p and returns where the gate redirects.
func (b *rpBrowser) submit(ctx context.Context, p page, f form) (string, error) {
	res, err := b.do(ctx, http.MethodPost, f.actionURL(p.url), f.fields)
	if err != nil {
		return "", err
	}
	if !res.redirect() {
		return "", fmt.Errorf("the form did not redirect: %s", res)
	}
	return res.location, nil
}

type form struct {
	action string
	fields url.Values
}

func (f form) actionURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return f.action
	}
	ref, err := u.Parse(f.action)
	if err != nil {
		return f.action
	}
	return ref.String()
}

var (
	formTag   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputTag  = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attribute = regexp.MustCompile(`(?is)([a-z-]+)="([^"]*)"`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attribute.FindAllStringSubmatch(s, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
	}
	return m
}

// postForm finds the page's first POST form and its hidden fields.
func postForm(body string) (form, bool) {
	for _, m := range formTag.FindAllStringSubmatch(body, -1) {
		a := attrs(m[1])
		if !strings.EqualFold(a["method"], "post") {
			continue
		}
		f := form{action: a["action"], fields: url.Values{}}
		for _, in := range inputTag.FindAllStringSubmatch(m[2], -1) {
			ia := attrs(in[1])
			if ia["type"] == "hidden" && ia["name"] != "" {
				f.fields.Set(ia["name"], ia["value"])
			}
		}
		return f, true
	}
	return form{}, false
}
