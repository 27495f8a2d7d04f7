package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A flow is the load generator's closed loop (load.run is a flow of one
// request). The keycloak benchmark sends form posts (token, introspection) and whole
// browser logins, which load.go's generator, made for the MLflow API (JSON
// bodies), does not: this is the same closed loop, with the same keep-alive
// client (newClient), warm-up, rotating rounds (as interleave) and result,
// over a step that may be several requests. Both servers are measured with it.

// step is one measured operation: it returns the status of the answer that
// was not what it wanted (0 when it had no answer) and an error, or 0, nil.
type step func(ctx context.Context, c *http.Client) (int, error)

type flow struct {
	conc   int
	dur    time.Duration
	max    uint64
	do     step
	probes []probe
}

func (f flow) run(ctx context.Context, client *http.Client) result {
	var sent atomic.Uint64
	deadline := time.Now().Add(f.dur)
	type part struct {
		lat      []time.Duration
		failed   int
		statuses map[int]int
		err      error
	}
	parts := make([]part, f.conc)
	cpu0 := make([]map[int]time.Duration, len(f.probes))
	for i, p := range f.probes {
		cpu0[i] = p()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range f.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &parts[w]
			p.lat = make([]time.Duration, 0, 1<<14)
			p.statuses = map[int]int{}
			for ctx.Err() == nil && time.Now().Before(deadline) && sent.Add(1) <= f.max {
				t := time.Now()
				status, err := f.do(ctx, client)
				switch {
				case err == nil:
					p.lat = append(p.lat, time.Since(t))
				case status != 0: // answered, but not as it should have been
					p.lat = append(p.lat, time.Since(t))
					p.failed++
					p.statuses[status]++
					if p.err == nil {
						p.err = err
					}
				default:
					p.failed++
					if p.err == nil {
						p.err = err
					}
					if p.failed > 100 {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	res := result{elapsed: time.Since(start), statuses: map[int]int{}}
	for i, p := range f.probes {
		res.cpu = append(res.cpu, used(cpu0[i], p()))
	}
	for _, p := range parts {
		res.lat = append(res.lat, p.lat...)
		res.failed += p.failed
		for s, n := range p.statuses {
			res.statuses[s] += n
		}
		if res.firstErr == nil {
			res.firstErr = p.err
		}
	}
	res.ok = len(res.lat) - sumStatuses(res.statuses)
	slices.Sort(res.lat)
	return res
}

func (f flow) concurrency() int { return f.conc }
func (f flow) warm(d time.Duration) runner {
	f.dur, f.probes = d, nil
	return f
}

// exchange sends one request and reads the whole answer; it wants status
// want and, when set, the answer body to contain mustHave.
func exchange(ctx context.Context, c *http.Client, method, u string, h http.Header, body string, want int, mustHave []byte) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	if h != nil {
		req.Header = h.Clone()
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode != want {
		return resp.StatusCode, b, fmt.Errorf("%s %s: status %d, want %d: %s", method, u, resp.StatusCode, want, snippet(b))
	}
	if mustHave != nil && !bytes.Contains(b, mustHave) {
		// A 200 that is not what was asked (an inactive token, a denial)
		// is a failure too; 299 stands for "200, wrong body" in the tables.
		return 299, b, fmt.Errorf("%s %s: the answer lacks %s: %s", method, u, mustHave, snippet(b))
	}
	return resp.StatusCode, b, nil
}

// postStep is a form POST that must answer 200 and contain mustHave.
func postStep(u string, h http.Header, form url.Values, mustHave string) step {
	body := form.Encode()
	want := []byte(mustHave)
	return func(ctx context.Context, c *http.Client) (int, error) {
		s, _, err := exchange(ctx, c, http.MethodPost, u, h, body, http.StatusOK, want)
		if err != nil {
			return s, err
		}
		return 0, nil
	}
}

// getStep is a GET that must answer 200 (and contain mustHave when set).
func getStep(u string, h http.Header, mustHave string) step {
	var want []byte
	if mustHave != "" {
		want = []byte(mustHave)
	}
	return func(ctx context.Context, c *http.Client) (int, error) {
		s, _, err := exchange(ctx, c, http.MethodGet, u, h, "", http.StatusOK, want)
		if err != nil {
			return s, err
		}
		return 0, nil
	}
}

func basic(id, secret string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
	return h
}

// webLogin is the authorization-code flow of a confidential web client with
// PKCE, the login form submitted as a browser would: GET the authorization
// endpoint, read the form that has a password field, POST it with the
// cookies the first answer set, follow the server's own redirects up to the
// one that carries the code to the client, and exchange the code
// (client_secret_basic).
type webLogin struct {
	authorize, token string // endpoints, from discovery
	clientID, secret string
	scope            string
}

func (l webLogin) step(user, pw string) step {
	return func(ctx context.Context, c *http.Client) (int, error) {
		_, s, err := l.login(ctx, c, user, pw)
		return s, err
	}
}

// login returns the access token, or the status of the answer that was
// wrong and an error.
func (l webLogin) login(ctx context.Context, base *http.Client, user, pw string) (string, int, error) {
	jar, _ := cookiejar.New(nil)
	// The server's own redirects are followed (to its login page, back to
	// its authorization endpoint); the one to the client is where the code is.
	c := &http.Client{Transport: base.Transport, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if strings.HasPrefix(r.URL.String(), kcRedirect) {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("more than 10 redirects")
			}
			return nil
		}}
	verifier := randToken(48)
	sum := sha256.Sum256([]byte(verifier))
	state := randToken(16)
	q := url.Values{"client_id": {l.clientID}, "redirect_uri": {kcRedirect}, "response_type": {"code"},
		"scope": {l.scope}, "state": {state}, "nonce": {randToken(16)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	authURL := l.authorize + "?" + q.Encode()
	s, page, err := exchange(ctx, c, http.MethodGet, authURL, nil, "", http.StatusOK, nil)
	if err != nil {
		return "", s, fmt.Errorf("authorize: %w", err)
	}
	action, form, err := loginForm(page, authURL)
	if err != nil {
		return "", 299, err
	}
	form.Set("username", user)
	form.Set("password", pw)
	au, _ := url.Parse(action)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", au.Scheme+"://"+au.Host)
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("login: %w", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return "", resp.StatusCode, fmt.Errorf("login: status %d, no redirect to the client: %s", resp.StatusCode, snippet(b))
	}
	loc, err := resp.Location()
	if err != nil {
		return "", resp.StatusCode, fmt.Errorf("login: %w", err)
	}
	if !strings.HasPrefix(loc.String(), kcRedirect) {
		return "", http.StatusFound, fmt.Errorf("login: redirected to %s, not to the client", loc)
	}
	if loc.Query().Get("state") != state || loc.Query().Get("code") == "" {
		return "", http.StatusFound, fmt.Errorf("login: the redirect has no code or the wrong state: %s", loc.RawQuery)
	}
	s, b, err = exchange(ctx, c, http.MethodPost, l.token, basic(l.clientID, l.secret), url.Values{"grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "redirect_uri": {kcRedirect}, "code_verifier": {verifier}}.Encode(), http.StatusOK, []byte(`"access_token"`))
	if err != nil {
		return "", s, fmt.Errorf("code exchange: %w", err)
	}
	tok, err := jsonField(b, "access_token")
	if err != nil || tok == "" {
		return "", 299, fmt.Errorf("code exchange: no access_token: %s", snippet(b))
	}
	return tok, 0, nil
}

var (
	tagRe  = regexp.MustCompile(`(?is)<(/?)(form|input)\b([^>]*)>`)
	attrRe = regexp.MustCompile(`(?is)([a-z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
)

// loginForm finds the form that has a password field and returns its
// action (resolved against the page's URL) and its fields with their values.
func loginForm(page []byte, pageURL string) (string, url.Values, error) {
	var action string
	var fields url.Values
	inForm, hasPassword := false, false
	for _, m := range tagRe.FindAllSubmatch(page, -1) {
		attrs := map[string]string{}
		for _, a := range attrRe.FindAllSubmatch(m[3], -1) {
			attrs[strings.ToLower(string(a[1]))] = html.UnescapeString(string(a[2]) + string(a[3]))
		}
		switch tag := strings.ToLower(string(m[2])); {
		case tag == "form" && len(m[1]) == 0:
			inForm, hasPassword, action, fields = true, false, attrs["action"], url.Values{}
		case tag == "form":
			if inForm && hasPassword {
				base, err := url.Parse(pageURL)
				if err != nil {
					return "", nil, err
				}
				a, err := base.Parse(action)
				if err != nil {
					return "", nil, fmt.Errorf("login form action %q: %v", action, err)
				}
				return a.String(), fields, nil
			}
			inForm = false
		case inForm:
			if strings.EqualFold(attrs["type"], "password") {
				hasPassword = true
			}
			if n := attrs["name"]; n != "" && !strings.EqualFold(attrs["type"], "submit") && !strings.EqualFold(attrs["type"], "checkbox") {
				fields.Set(n, attrs["value"])
			}
		}
	}
	return "", nil, errors.New("no login form (a form with a password field) in the authorization endpoint's answer")
}
