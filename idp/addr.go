package idp

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address login throttling counts against: the TCP peer,
// unless the peer is a trusted proxy, in which case the rightmost address in
// X-Forwarded-For that is not itself a trusted proxy. Addresses a client
// puts further left are never believed.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		a, err := netip.ParseAddr(r.RemoteAddr)
		if err != nil {
			return netip.Addr{}
		}
		peer = netip.AddrPortFrom(a, 0)
	}
	addr := peer.Addr().Unmap()
	if !isTrusted(addr, trusted) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: stop believing the header here
		}
		a = a.Unmap()
		addr = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return addr
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// throttleKey groups IPv6 clients by /64, the block one subscriber holds.
func throttleKey(a netip.Addr) string {
	if !a.IsValid() {
		return "addr:unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}
