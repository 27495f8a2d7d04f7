package idp

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// checkAuthRedirect decides whether uri may receive an authorization
// response for client c, and says why not. It must pass the registration
// rule (CheckRedirectURI) and match a registered URI exactly, character for
// character (RFC 9700 section 4.1.3). The one exception is RFC 8252 section
// 7.3: a native client registered with an http loopback IP literal may use
// any port there, with scheme, address, path and query otherwise equal.
// "localhost" gets no such exception (RFC 8252 section 8.3).
func checkAuthRedirect(c *storage.Client, uri string) error {
	if err := CheckRedirectURI(uri, c.Native); err != nil {
		return err
	}
	if slices.Contains(c.RedirectURIs, uri) {
		return nil
	}
	if got, ok := loopbackURI(uri); ok && c.Native {
		for _, reg := range c.RedirectURIs {
			want, ok := loopbackURI(reg)
			if ok && got.addr == want.addr && got.path == want.path && got.query == want.query {
				return nil
			}
		}
	}
	return fmt.Errorf("redirect_uri %q is not registered for this client (it must match a registered one exactly)", uri)
}

type loopback struct {
	addr        netip.Addr
	path, query string
}

// loopbackURI parses http://<loopback IP literal>[:port]/path[?query].
func loopbackURI(raw string) (loopback, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.Opaque != "" || u.RawFragment != "" {
		return loopback{}, false
	}
	host, port := u.Hostname(), u.Port()
	if strings.HasPrefix(u.Host, "[") != strings.Contains(host, ":") {
		return loopback{}, false
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !addr.IsLoopback() || addr.Zone() != "" || addr.Is4In6() {
		return loopback{}, false
	}
	// Only the canonical forms 127.0.0.1 and ::1 (RFC 8252 section 7.3).
	if addr != netip.AddrFrom4([4]byte{127, 0, 0, 1}) && addr != netip.IPv6Loopback() {
		return loopback{}, false
	}
	if port != "" && !validPort(port) {
		return loopback{}, false
	}
	if host != addr.String() { // reject alternative spellings of the address
		return loopback{}, false
	}
	return loopback{addr: addr, path: u.EscapedPath(), query: u.RawQuery}, true
}

// validPort accepts a TCP port as a URI carries it: 1 to 65535 in decimal,
// without leading zeros. url.Parse checks only that it is digits, so
// "99999" or "0" would otherwise reach a browser that cannot follow them.
func validPort(port string) bool {
	if port == "" || len(port) > 5 || strings.TrimLeft(port, "0123456789") != "" || port[0] == '0' {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

// safeReturnPath accepts a return address after login only when it is a
// path on the issuer: it starts with one slash, has no scheme, host,
// backslash or control character, so no browser can read it as another
// origin ("//evil", "/\evil", "/%09/evil" and the like).
func safeReturnPath(s string) (string, bool) {
	if s == "" {
		return "/", true
	}
	if len(s) > 2048 || s[0] != '/' || strings.HasPrefix(s, "//") || strings.ContainsRune(s, '\\') {
		return "", false
	}
	for _, r := range s {
		if r < 0x21 || r == 0x7f {
			return "", false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	// The decoded path must not turn into something that starts a host either.
	if p := u.Path; strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') || !strings.HasPrefix(p, "/") ||
		strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", false
	}
	return s, true
}
