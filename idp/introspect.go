package idp

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// Introspect serves token introspection (RFC 7662) to confidential clients
// only: a resource server authenticates with its secret and learns whether
// a token is active now, from the same checks the gate's own verifier makes
// (signature, audience, expiry, revocation, the subject's current state).
// Anything else, including a token of another kind or one it cannot read,
// is {"active": false} (RFC 7662 section 2.2).
func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	cl, err := s.VerifyClient(ctx, &op.Request[op.ClientCredentials]{Method: r.Method, URL: r.URL, Header: r.Header, Form: r.Form,
		Data: r.Data.ClientCredentials})
	if err != nil {
		return nil, err
	}
	c := cl.(*opClient)
	if c.Public {
		return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("introspection is for confidential clients"), 401)
	}
	resp := s.introspect(ctx, c, r.Data.Token)
	out := op.NewResponse(resp)
	out.Header.Set("Cache-Control", "no-store")
	out.Header.Set("Pragma", "no-cache")
	return out, nil
}

func (s *server) introspect(ctx context.Context, c *opClient, raw string) *oidc.IntrospectionResponse {
	inactive := &oidc.IntrospectionResponse{Active: false}
	if len(raw) > maxTokenLen {
		return inactive
	}
	now := s.p.cfg.Now()
	if strings.HasPrefix(raw, refreshPrefix) {
		// A refresh token is shown only to the client holding it.
		rt, err := s.p.st.RefreshTokenByHash(ctx, sha256Sum(raw))
		if err != nil || rt.ClientID != c.ID || rt.RotatedAt != nil || rt.RevokedAt != nil ||
			!now.Before(rt.ExpiresAt) || !now.Before(rt.FamilyExpiresAt) {
			return inactive
		}
		if u, err := s.p.ver.users.get(ctx, rt.UserID); err != nil || !u.enabled {
			return inactive
		}
		if rt.SessionID != "" && s.p.ver.rev.revoked("", rt.SessionID, rt.ClientID, "", now) {
			return inactive
		}
		return &oidc.IntrospectionResponse{Active: true, Scope: rt.Scopes, ClientID: rt.ClientID, TokenType: "refresh_token",
			Expiration: oidc.FromTime(rt.ExpiresAt), IssuedAt: oidc.FromTime(rt.IssuedAt), Subject: rt.UserID,
			Issuer: s.p.cfg.Issuer}
	}
	p, err := s.p.ver.Verify(ctx, raw)
	if err != nil {
		return inactive
	}
	resp := &oidc.IntrospectionResponse{Active: true, Scope: p.Scopes, ClientID: p.ClientID, TokenType: oidc.BearerToken,
		Expiration: oidc.FromTime(p.ExpiresAt), Subject: p.Subject, Username: p.Username, Issuer: s.p.cfg.Issuer,
		Audience: oidc.Audience{s.p.cfg.audience()}, Claims: map[string]any{"roles": p.Roles}}
	if p.Kind == KindAccessToken {
		resp.JWTID = p.TokenID
	} else {
		resp.Claims["token_kind"] = p.Kind.String()
	}
	return resp
}

// Revocation serves token revocation (RFC 7009) for the provider's refresh
// tokens (the whole family goes) and access tokens (their jti goes on the
// revocation list until they expire). The change reaches every replica's
// revocation set through a notification. A token the provider does not know
// is answered 200 (section 2.2); a token issued to another client is refused.
func (s *server) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	p := s.p
	c := r.Client.(*opClient)
	raw := r.Data.Token
	now := p.cfg.Now()
	ok := op.NewResponse(struct{}{})
	ok.Header.Set("Cache-Control", "no-store")
	if len(raw) > maxTokenLen {
		return ok, nil
	}
	if strings.HasPrefix(raw, refreshPrefix) {
		rt, err := p.st.RefreshTokenByHash(ctx, sha256Sum(raw))
		if errors.Is(err, storage.ErrNotFound) {
			return ok, nil
		} else if err != nil {
			return nil, s.serverError(ctx, "loading refresh token", err)
		}
		if rt.ClientID != c.ID {
			return nil, oidc.ErrUnauthorizedClient().WithDescription("the token was issued to another client")
		}
		if rt.RevokedAt != nil {
			return ok, nil
		}
		if err := p.st.RevokeFamily(ctx, rt.FamilyID, now); err != nil {
			return nil, s.serverError(ctx, "revoking refresh family", err)
		}
		p.audit(ctx, storage.Event{Action: "oauth.revoke", ClientID: c.ID, Actor: rt.UserID,
			Detail: map[string]any{"family": rt.FamilyID}})
		return ok, nil
	}
	at, err := p.ver.parseAccessToken(ctx, raw, now)
	if err != nil { // not ours, malformed or already expired: nothing to revoke
		return ok, nil
	}
	if at.ClientID != c.ID {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the token was issued to another client")
	}
	if err := p.revokeAccessToken(ctx, at.TokenID, at.ExpiresAt, now); err != nil {
		return nil, s.serverError(ctx, "revoking access token", err)
	}
	p.audit(ctx, storage.Event{Action: "oauth.revoke", ClientID: c.ID, Actor: at.Subject, Detail: map[string]any{"jti": at.TokenID}})
	return ok, nil
}

// revokeAccessToken lists a jti until exp, applies it here at once and
// notifies every other replica.
func (p *Provider) revokeAccessToken(ctx context.Context, jti string, exp, now time.Time) error {
	if err := storage.RevokeAccessToken(ctx, p.st.Pool, jti, exp, now); err != nil {
		return err
	}
	p.ver.rev.mu.Lock()
	p.ver.rev.jtis[jti] = exp
	p.ver.rev.mu.Unlock()
	return nil
}
