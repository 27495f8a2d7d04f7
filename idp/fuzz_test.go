package idp

import (
	"context"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// FuzzRedirectURI: whatever is accepted is either a registered URI
// verbatim or, for the native client, http on the same loopback literal and
// path with only the port changed.
func FuzzRedirectURI(f *testing.F) {
	native := &storage.Client{Native: true, RedirectURIs: []string{"http://127.0.0.1/callback", "http://[::1]/cb?x=1", "com.example.app:/oauth"}}
	web := &storage.Client{RedirectURIs: []string{"https://app.example/cb"}}
	for _, s := range []string{"http://127.0.0.1/callback", "http://127.0.0.1:8080/callback", "http://[::1]:1/cb?x=1",
		"http://localhost:1/callback", "http://127.0.0.1:80@evil/callback", "http://127.0.0.1:1/callback#x",
		"http://127.1/callback", "http://0x7f.0.0.1/callback", "https://app.example/cb", "https://app.example/cb/",
		"http://[::ffff:127.0.0.1]:9/callback", "http://127.0.0.1:0009/callback", "HTTP://127.0.0.1:9/callback",
		"http://127.0.0.1:99999/callback", "http://127.0.0.1:0/callback", "http://127.0.0.1:65536/callback", "http://[::1]:65535/cb?x=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		for _, c := range []*storage.Client{native, web} {
			if checkAuthRedirect(c, uri) != nil {
				continue
			}
			exact := false
			for _, r := range c.RedirectURIs {
				exact = exact || r == uri
			}
			if exact {
				continue
			}
			if !c.Native {
				t.Fatalf("web client accepted unregistered %q", uri)
			}
			u, err := url.Parse(uri)
			if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" {
				t.Fatalf("accepted %q", uri)
			}
			a, err := netip.ParseAddr(u.Hostname())
			if err != nil || !a.IsLoopback() || strings.ContainsAny(uri, "#\\@") {
				t.Fatalf("accepted non-loopback %q", uri)
			}
			if n, err := strconv.Atoi(u.Port()); u.Port() != "" && (err != nil || n < 1 || n > 65535) {
				t.Fatalf("accepted invalid port in %q", uri)
			}
			if u.EscapedPath() != "/callback" && u.EscapedPath() != "/cb" {
				t.Fatalf("accepted another path %q", uri)
			}
		}
	})
}

// FuzzReturnPath: an accepted return address, resolved against the issuer,
// stays on the issuer's origin.
func FuzzReturnPath(f *testing.F) {
	for _, s := range []string{"/", "/admin", "//evil", "/\\evil", "/%2F%2Fevil", "https://evil", "/a?b=//c", "/\t/evil", "/%0d%0a"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://gate.example")
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := safeReturnPath(s)
		if !ok {
			return
		}
		ref, err := url.Parse(p)
		if err != nil {
			t.Fatalf("accepted unparsable %q", s)
		}
		if got := base.ResolveReference(ref); got.Host != base.Host || got.Scheme != base.Scheme {
			t.Fatalf("%q leaves the issuer: %s", s, got)
		}
	})
}

// FuzzVerifyToken: the verifier never panics and never accepts input that
// is not a token it issued.
func FuzzVerifyToken(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiIsImtpZCI6IngiLCJ0eXAiOiJhdCtqd3QifQ.e30.AAAA")
	f.Add("a.b.c")
	f.Add("mgp_000000000000000000000000000000000000000000000000")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add(strings.Repeat(".", 3))
	cfg := Config{Issuer: "https://gate.example", Now: time.Now}
	cfg.setDefaults()
	v := newVerifier(&cfg, nil, &keyring{byKID: map[string]*verifyKey{}, now: time.Now, gap: time.Hour, loadedAt: time.Now()}, nil)
	v.rev.follow(liveFeed{})
	f.Fuzz(func(t *testing.T, raw string) {
		if strings.HasPrefix(raw, PATPrefix) {
			// Database lookups are out of scope here; the offline check is not.
			if err := CheckPATFormat(raw); err == nil && len(raw) != patLen {
				t.Fatalf("accepted PAT of length %d", len(raw))
			}
			return
		}
		if _, err := v.VerifyAccessToken(context.Background(), raw); err == nil {
			t.Fatalf("accepted %q", raw)
		}
	})
}
