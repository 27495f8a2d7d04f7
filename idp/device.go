package idp

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// The device authorization grant (RFC 8628). The library only routes; every
// rule is here: the user code is drawn again on a collision (never a 500),
// scopes are filtered, polls are paced with slow_down, and a device code
// yields tokens once (storage.PollDevice). The approval page is in
// device_page.go.

const (
	// userCodeAlphabet: 20 consonants, no vowels (no words), no digits or
	// letters easily confused (RFC 8628 section 6.1). Eight of them carry
	// 34.5 bits; entry is rate-limited per user and per address.
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLen      = 8
)

// newUserCode draws a user code without modulo bias.
func newUserCode() string {
	b := make([]byte, 0, userCodeLen)
	var buf [1]byte
	for len(b) < userCodeLen {
		if _, err := rand.Read(buf[:]); err != nil {
			panic(err)
		}
		if int(buf[0]) >= 256-256%len(userCodeAlphabet) {
			continue
		}
		b = append(b, userCodeAlphabet[int(buf[0])%len(userCodeAlphabet)])
	}
	return string(b)
}

// formatUserCode shows a normalized code as XXXX-XXXX.
func formatUserCode(c string) string {
	if len(c) != userCodeLen {
		return c
	}
	return c[:4] + "-" + c[4:]
}

// normalizeUserCode accepts what a person types: any case, dashes and
// spaces anywhere. It reports false for anything else.
func normalizeUserCode(s string) (string, bool) {
	if len(s) > 32 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(userCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != userCodeLen {
		return "", false
	}
	return b.String(), true
}

type ctxKey int

const addrKey ctxKey = iota

// withClientAddr puts the client address (see clientAddr) and user agent
// into the request context: the library hands server methods the context
// but not the request.
func (p *Provider) withClientAddr(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), addrKey, clientAddr(r, p.cfg.TrustedProxies))
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

func addrFrom(ctx context.Context) string {
	a, _ := ctx.Value(addrKey).(netip.Addr)
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}

// DeviceAuthorization starts the device flow (RFC 8628 section 3.1).
func (s *server) DeviceAuthorization(ctx context.Context, r *op.ClientRequest[oidc.DeviceAuthorizationRequest]) (*op.Response, error) {
	p := s.p
	c := r.Client.(*opClient)
	if !c.allowsGrant(oidc.GrantTypeDeviceCode) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client may not use the device flow")
	}
	requested := []string(r.Data.Scopes)
	if len(requested) == 0 {
		requested = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeOfflineAccess}
	}
	scopes := filterScopes(c, requested)
	if len(scopes) == 0 {
		return nil, oidc.ErrInvalidScope().WithDescription("none of the requested scopes is allowed for this client")
	}
	now := p.cfg.Now()
	deviceCode := newSecret()
	ua := r.Header.Get("User-Agent")
	if len(ua) > 256 {
		ua = ua[:256]
	}
	d := storage.DeviceAuthorization{DeviceCodeHash: sha256Sum(deviceCode), ClientID: c.ID, Scopes: scopes,
		RemoteAddr: addrFrom(ctx), UserAgent: ua, PollInterval: int(p.cfg.DevicePollInterval / time.Second),
		CreatedAt: now, ExpiresAt: now.Add(p.cfg.DeviceCodeTTL)}
	var err error
	for range 8 { // a collision of user codes is retried with a new one
		d.UserCode = newUserCode()
		if err = p.st.InsertDeviceAuthorization(ctx, d); !errors.Is(err, storage.ErrConflict) {
			break
		}
	}
	if err != nil {
		return nil, s.serverError(ctx, "storing device authorization", err)
	}
	code := formatUserCode(d.UserCode)
	resp := op.NewResponse(&oidc.DeviceAuthorizationResponse{
		DeviceCode: deviceCode, UserCode: code, VerificationURI: p.cfg.Issuer + PathDevice,
		VerificationURIComplete: p.cfg.Issuer + PathDevice + "?user_code=" + url.QueryEscape(code),
		ExpiresIn:               int(p.cfg.DeviceCodeTTL / time.Second), Interval: d.PollInterval,
	})
	resp.Header.Set("Cache-Control", "no-store")
	return resp, nil
}

// DeviceToken answers a poll (RFC 8628 section 3.4, 3.5).
func (s *server) DeviceToken(ctx context.Context, r *op.ClientRequest[oidc.DeviceAccessTokenRequest]) (*op.Response, error) {
	p := s.p
	c := r.Client.(*opClient)
	now := p.cfg.Now()
	if len(r.Data.DeviceCode) > 200 {
		return nil, oidc.ErrInvalidGrant().WithDescription("device code is invalid")
	}
	var resp *op.Response
	var state error
	err := p.st.InTx(ctx, func(tx storage.Tx) error {
		d, err := storage.PollDevice(ctx, tx, sha256Sum(r.Data.DeviceCode), c.ID, now)
		if err != nil {
			state = err // commit: the poll time is kept either way
			return nil
		}
		user, err := storage.UserByIDIn(ctx, tx, d.UserID)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && !user.Enabled()) {
			return oidc.ErrAccessDenied().WithDescription("the user is disabled")
		} else if err != nil {
			return s.serverError(ctx, "loading user", err)
		}
		var authTime time.Time
		if d.AuthTime != nil {
			authTime = *d.AuthTime
		}
		g := grant{client: c, user: user, scopes: d.Scopes, authTime: authTime, amr: d.AMR}
		m, err := p.mint(g, now)
		if err != nil {
			return s.serverError(ctx, "signing tokens", err)
		}
		var refresh string
		if slices.Contains(d.Scopes, oidc.ScopeOfflineAccess) && c.allowsGrant(oidc.GrantTypeRefreshToken) {
			if _, refresh, err = p.newRefresh(ctx, tx, g, m, storage.RefreshToken{}, now); err != nil {
				return s.serverError(ctx, "storing refresh token", err)
			}
		}
		resp = p.tokenResponse(m, refresh, d.Scopes, now)
		return nil
	})
	if err != nil {
		return nil, asOIDCError(ctx, s, err)
	}
	switch {
	case state == nil:
		return resp, nil
	case errors.Is(state, storage.ErrDevicePending):
		return nil, oidc.ErrAuthorizationPending()
	case errors.Is(state, storage.ErrDeviceSlowDown):
		return nil, oidc.ErrSlowDown()
	case errors.Is(state, storage.ErrDeviceDenied):
		return nil, oidc.ErrAccessDenied().WithDescription("the user denied the request")
	case errors.Is(state, storage.ErrDeviceExpired):
		return nil, oidc.ErrExpiredDeviceCode()
	case errors.Is(state, storage.ErrDeviceConsumed), errors.Is(state, storage.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("device code is invalid or already used")
	}
	return nil, s.serverError(ctx, "polling device authorization", state)
}
