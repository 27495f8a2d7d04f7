package idp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// refreshPrefix marks the provider's opaque refresh tokens, so a leaked one
// is easy to recognize; it is never accepted as a bearer token.
const refreshPrefix = "mgr_"

// grant is what tokens are minted from, whichever way it was obtained.
type grant struct {
	client    *opClient
	user      storage.User
	scopes    []string
	sessionID string
	authTime  time.Time
	amr       []string
	nonce     string
}

// minted is one token response in the making.
type minted struct {
	access    string
	jti       string
	accessExp time.Time
	idToken   string
}

// mint signs the access token and, when openid was granted, the ID token.
func (p *Provider) mint(g grant, now time.Time) (minted, error) {
	m := minted{jti: uuid.NewString(), accessExp: now.Add(p.cfg.AccessTokenTTL).Truncate(time.Second)}
	roles := g.user.Roles
	if roles == nil {
		roles = []string{}
	}
	at := accessClaims{
		Issuer: p.cfg.Issuer, Subject: g.user.ID, Audience: audience{p.cfg.audience()}, ClientID: g.client.ID,
		Expiry: m.accessExp.Unix(), IssuedAt: now.Unix(), JTI: m.jti, Scope: strings.Join(g.scopes, " "),
		Roles: roles, Username: g.user.Username, SessionID: g.sessionID, AuthTime: unixOrZero(g.authTime),
	}
	var err error
	if m.access, err = sign(p.keys.signingKey(p.cfg.SigningAlg), typAccessToken, &at); err != nil {
		return m, err
	}
	if !slices.Contains(g.scopes, oidc.ScopeOpenID) {
		return m, nil
	}
	id := idClaims{
		Issuer: p.cfg.Issuer, Subject: g.user.ID, Audience: audience{g.client.ID},
		Expiry: now.Add(p.cfg.IDTokenTTL).Unix(), IssuedAt: now.Unix(), AuthTime: g.authTime.Unix(), Nonce: g.nonce,
		AMR: g.amr, AZP: g.client.ID, ATHash: leftHalfHash(m.access), SID: g.sessionID, Roles: roles,
		profileClaims: profileOf(g.user, g.scopes), groupsName: p.cfg.GroupsClaim,
	}
	m.idToken, err = sign(p.keys.signingKey(g.client.idTokenAlg()), typIDToken, id)
	return m, err
}

// profileOf is what the granted profile and email scopes reveal of u.
func profileOf(u storage.User, scopes []string) profileClaims {
	var c profileClaims
	if slices.Contains(scopes, oidc.ScopeProfile) {
		c.Username, c.Name, c.GivenName, c.FamilyName = u.Username, u.Name, u.GivenName, u.FamilyName
	}
	if slices.Contains(scopes, oidc.ScopeEmail) && u.Email != "" {
		verified := u.EmailVerified
		c.Email, c.EmailVerified = u.Email, &verified
	}
	return c
}

// unixOrZero is t in seconds, or 0 (omitted) when no user authenticated, as
// in the client-credentials grant.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// leftHalfHash is at_hash (OpenID Connect Core section 3.1.3.6) for SHA-256
// algorithms, which both ES256 and RS256 are.
func leftHalfHash(s string) string {
	d := sha256.Sum256([]byte(s))
	return b64.EncodeToString(d[:16])
}

func (p *Provider) tokenResponse(m minted, refresh string, scopes []string, now time.Time) *op.Response {
	resp := op.NewResponse(&oidc.AccessTokenResponse{
		AccessToken: m.access, TokenType: oidc.BearerToken, RefreshToken: refresh, IDToken: m.idToken,
		ExpiresIn: uint64(m.accessExp.Sub(now).Seconds()), Scope: scopes,
	})
	resp.Header.Set("Cache-Control", "no-store") // RFC 6749 section 5.1
	resp.Header.Set("Pragma", "no-cache")
	return resp
}

// errReplay leaves the exchange transaction so that the replay's revocations
// run in their own, committed one.
var errReplay = errors.New("replay")

// CodeExchange redeems an authorization code (RFC 6749 section 4.1.3).
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	p := s.p
	c := r.Client.(*opClient)
	now := p.cfg.Now()
	var resp *op.Response
	var replayed storage.AuthRequest
	err := p.st.InTx(ctx, func(tx storage.Tx) error {
		a, err := storage.ConsumeCode(ctx, tx, sha256Sum(r.Data.Code), c.ID, now)
		switch {
		case errors.Is(err, storage.ErrCodeReplay):
			replayed = a
			return errReplay
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrCodeExpired):
			return oidc.ErrInvalidGrant().WithDescription("authorization code is invalid or expired")
		case errors.Is(err, storage.ErrCodeClient):
			return oidc.ErrInvalidGrant().WithDescription("authorization code was issued to another client")
		case err != nil:
			return s.serverError(ctx, "consuming code", err)
		}
		if r.Data.RedirectURI != a.RedirectURI { // RFC 6749 section 4.1.3: identical
			return oidc.ErrInvalidGrant().WithDescription("redirect_uri does not match the authorization request")
		}
		if err := checkVerifier(a.CodeChallenge, r.Data.CodeVerifier); err != nil {
			return err
		}
		user, err := storage.UserByIDIn(ctx, tx, a.UserID)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && !user.Enabled()) {
			return oidc.ErrInvalidGrant().WithDescription("the user is disabled")
		} else if err != nil {
			return s.serverError(ctx, "loading user", err)
		}
		var authTime time.Time
		if a.AuthTime != nil {
			authTime = *a.AuthTime
		}
		g := grant{client: c, user: user, scopes: a.Scopes, sessionID: a.SessionID, authTime: authTime, amr: a.AMR, nonce: a.Nonce}
		m, err := p.mint(g, now)
		if err != nil {
			return s.serverError(ctx, "signing tokens", err)
		}
		var refresh, family string
		if slices.Contains(a.Scopes, oidc.ScopeOfflineAccess) && c.allowsGrant(oidc.GrantTypeRefreshToken) {
			rt, raw, err := p.newRefresh(ctx, tx, g, m, storage.RefreshToken{}, now)
			if err != nil {
				return s.serverError(ctx, "storing refresh token", err)
			}
			refresh, family = raw, rt.FamilyID
		}
		if err := storage.RecordCodeTokens(ctx, tx, a.ID, family, m.jti, m.accessExp); err != nil {
			return s.serverError(ctx, "recording code tokens", err)
		}
		if err := storage.RecordSessionClient(ctx, tx, a.SessionID, c.ID); err != nil {
			return s.serverError(ctx, "recording the session's client", err)
		}
		resp = p.tokenResponse(m, refresh, a.Scopes, now)
		return nil
	})
	if errors.Is(err, errReplay) {
		// RFC 6749 section 4.1.2: a code used twice revokes what it gave.
		if rerr := p.st.RevokeCodeTokens(ctx, replayed, now); rerr != nil {
			return nil, s.serverError(ctx, "revoking tokens of a replayed code", rerr)
		}
		if rerr := p.ver.learnRevokedTokens(ctx); rerr != nil {
			return nil, s.serverError(ctx, "learning the revoked tokens of a replayed code", rerr)
		}
		p.audit(ctx, storage.Event{Action: "oauth.code_replay", ClientID: c.ID, Actor: replayed.UserID,
			Detail: map[string]any{"auth_request": replayed.ID}})
		return nil, oidc.ErrInvalidGrant().WithDescription("authorization code was already used; its tokens are revoked")
	}
	if err != nil {
		return nil, asOIDCError(ctx, s, err)
	}
	return resp, nil
}

// checkVerifier is the token-endpoint half of PKCE (RFC 7636 section 4.6).
func checkVerifier(challenge, verifier string) error {
	if challenge == "" {
		if verifier != "" { // RFC 9700 section 2.1.1: refuse a verifier nobody asked for
			return oidc.ErrInvalidGrant().WithDescription("code_verifier sent but no code_challenge was")
		}
		return nil
	}
	if verifier == "" {
		return oidc.ErrInvalidGrant().WithDescription("code_verifier is required")
	}
	if !isB64URL(verifier, 43, 128) {
		return oidc.ErrInvalidGrant().WithDescription("code_verifier is malformed")
	}
	d := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(b64.EncodeToString(d[:])), []byte(challenge)) != 1 {
		return oidc.ErrInvalidGrant().WithDescription("code_verifier does not match code_challenge")
	}
	return nil
}

// newRefresh stores a refresh token for g in family prev.FamilyID (a new
// family when empty) and returns it with its raw value.
func (p *Provider) newRefresh(ctx context.Context, q storage.Querier, g grant, m minted, prev storage.RefreshToken, now time.Time) (storage.RefreshToken, string, error) {
	raw := refreshPrefix + newSecret()
	familyExp := now.Add(p.cfg.RefreshMaxTTL)
	if prev.FamilyID != "" {
		familyExp = prev.FamilyExpiresAt
	}
	exp := now.Add(p.cfg.RefreshIdleTTL)
	if exp.After(familyExp) {
		exp = familyExp
	}
	accessExp := m.accessExp
	rt, err := storage.InsertRefreshToken(ctx, q, storage.RefreshToken{
		TokenHash: sha256Sum(raw), FamilyID: prev.FamilyID, ParentID: prev.ID, ClientID: g.client.ID, UserID: g.user.ID,
		SessionID: g.sessionID, Scopes: g.scopes, AMR: g.amr, AuthTime: g.authTime, AccessTokenID: m.jti,
		AccessExpiresAt: &accessExp, IssuedAt: now, ExpiresAt: exp, FamilyExpiresAt: familyExp,
	})
	return rt, raw, err
}

// asOIDCError passes OAuth errors through and turns anything else into a
// bare server_error.
func asOIDCError(ctx context.Context, s *server, err error) error {
	var oe *oidc.Error
	var se op.StatusError
	if errors.As(err, &oe) || errors.As(err, &se) {
		return err
	}
	return s.serverError(ctx, "token endpoint", err)
}
