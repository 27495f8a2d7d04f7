package idp

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// RefreshToken rotates a refresh token (RFC 6749 section 6): the presented
// token is consumed in one conditional UPDATE and a new one of the same
// family issued in the same transaction. A token presented after it was
// rotated revokes its whole family (RFC 9700 section 4.14.2).
func (s *server) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	p := s.p
	c := r.Client.(*opClient)
	now := p.cfg.Now()
	raw := r.Data.RefreshToken
	if len(raw) > 200 || !isB64URL(raw, 1, 200) {
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token is invalid")
	}
	var resp *op.Response
	var reused storage.RefreshToken
	err := p.st.InTx(ctx, func(tx storage.Tx) error {
		old, err := storage.RotateRefreshToken(ctx, tx, sha256Sum(raw), c.ID, now)
		switch {
		case errors.Is(err, storage.ErrRefreshReuse):
			reused = old
			return errReplay
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrRefreshExpired), errors.Is(err, storage.ErrRefreshRevoked):
			return oidc.ErrInvalidGrant().WithDescription("refresh token is invalid, expired or revoked")
		case errors.Is(err, storage.ErrRefreshClient):
			return oidc.ErrInvalidGrant().WithDescription("refresh token was issued to another client")
		case err != nil:
			return s.serverError(ctx, "rotating refresh token", err)
		}
		scopes := old.Scopes
		if len(r.Data.Scopes) > 0 { // RFC 6749 section 6: a subset of the original grant only
			for _, sc := range r.Data.Scopes {
				if !slices.Contains(old.Scopes, sc) {
					return oidc.ErrInvalidScope().WithDescription("requested scope exceeds the original grant")
				}
			}
			scopes = r.Data.Scopes
		}
		// The API scope follows the client's access as it is now: granted
		// to a client with API access (also for a grant made before the
		// scope existed), never to one without.
		scopes = withDefaultScopes(c, slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool {
			return sc == ScopeMLflow && !c.hasAPIAccess()
		}))
		user, err := storage.UserByIDIn(ctx, tx, old.UserID)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && !user.Enabled()) {
			return oidc.ErrInvalidGrant().WithDescription("the user is disabled")
		} else if err != nil {
			return s.serverError(ctx, "loading user", err)
		}
		if old.SessionID != "" {
			// A token descending from a revoked session would be refused by
			// the verifier (its sid is revoked): refuse to mint it at all.
			sess, err := storage.SessionByIDIn(ctx, tx, old.SessionID)
			if err == nil && sess.RevokedAt != nil {
				return oidc.ErrInvalidGrant().WithDescription("the session this token belongs to has ended")
			} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return s.serverError(ctx, "loading session", err)
			}
		}
		g := grant{client: c, user: user, scopes: scopes, sessionID: old.SessionID, authTime: old.AuthTime, amr: old.AMR}
		m, err := p.mint(g, now)
		if err != nil {
			return s.serverError(ctx, "signing tokens", err)
		}
		_, next, err := p.newRefresh(ctx, tx, g, m, old, now)
		if err != nil {
			return s.serverError(ctx, "storing refresh token", err)
		}
		resp = p.tokenResponse(m, next, scopes, now)
		return nil
	})
	if errors.Is(err, errReplay) {
		if rerr := p.st.RevokeFamily(ctx, reused.FamilyID, now); rerr != nil {
			return nil, s.serverError(ctx, "revoking a reused refresh family", rerr)
		}
		if rerr := p.ver.learnRevokedTokens(ctx); rerr != nil {
			return nil, s.serverError(ctx, "learning the revoked tokens of a reused refresh family", rerr)
		}
		p.audit(ctx, storage.Event{Action: "oauth.refresh_reuse", ClientID: c.ID, Actor: reused.UserID,
			Detail: map[string]any{"family": reused.FamilyID}})
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token was already used; its family is revoked")
	}
	if err != nil {
		return nil, asOIDCError(ctx, s, err)
	}
	return resp, nil
}

// UserInfo serves OpenID Connect Core section 5.3 to holders of the
// provider's access tokens (never PATs: they open the MLflow API only).
func (s *server) UserInfo(ctx context.Context, r *op.Request[oidc.UserInfoRequest]) (*op.Response, error) {
	p, err := s.p.ver.VerifyAccessToken(ctx, r.Data.AccessToken)
	if err != nil {
		// RFC 6750 section 3.1; bearerChallenge adds the WWW-Authenticate header.
		return nil, op.NewStatusError(&oidc.Error{ErrorType: "invalid_token", Description: "the access token is invalid, expired or revoked"}, http.StatusUnauthorized)
	}
	info := &oidc.UserInfo{Subject: p.Subject}
	if !p.Service && (slices.Contains(p.Scopes, oidc.ScopeProfile) || slices.Contains(p.Scopes, oidc.ScopeEmail)) {
		u, err := s.p.st.UserByID(ctx, p.Subject)
		if err != nil {
			return nil, s.serverError(ctx, "loading user", err)
		}
		c := profileOf(u, p.Scopes)
		c.Username = p.Username // the current name, as the verifier keeps it
		if !slices.Contains(p.Scopes, oidc.ScopeProfile) {
			c.Username = ""
		}
		info.PreferredUsername, info.Name, info.GivenName, info.FamilyName = c.Username, c.Name, c.GivenName, c.FamilyName
		info.Email = c.Email
		if c.EmailVerified != nil { // an extra claim: the library's field would drop false
			info.AppendClaims("email_verified", *c.EmailVerified)
		}
	} else if slices.Contains(p.Scopes, oidc.ScopeProfile) {
		info.PreferredUsername = p.Username
	}
	info.AppendClaims("roles", p.Roles)
	if s.p.cfg.GroupsClaim != "" {
		info.AppendClaims(s.p.cfg.GroupsClaim, p.Roles)
	}
	resp := op.NewResponse(info)
	resp.Header.Set("Cache-Control", "no-store")
	return resp, nil
}
