package idp

import (
	"context"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// ClientSecretPrefix marks the provider's client secrets, so a leaked one is
// easy to recognize. The rest is 256 random bits in base64url: no '+' or '%'
// (the library QueryUnescapes Basic credentials, zitadel/oidc#873).
const ClientSecretPrefix = "mgs_"

// NewClientSecret returns a fresh client secret, to be shown once, and the
// SHA-256 under which it is stored.
func NewClientSecret() (secret string, hash []byte) {
	secret = ClientSecretPrefix + newSecret()
	return secret, sha256Sum(secret)
}

// userOnlyScopes are meaningless without a user: no ID token, no refresh
// token and no user claims in the client-credentials grant.
var userOnlyScopes = []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess, oidc.ScopeProfile, oidc.ScopeEmail}

// ClientCredentialsExchange serves the client-credentials grant (RFC 6749
// section 4.4) to confidential clients that have it: the access token's sub
// is the client id (RFC 9068 section 2.2) and its roles are the client's
// own. Requested scopes are cut down to those the client may have (RFC 6749
// section 3.3); the response names the scopes granted.
func (s *server) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	p := s.p
	c := r.Client.(*opClient)
	if c.Public {
		return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("public clients cannot use client credentials"), 401)
	}
	now := p.cfg.Now()
	allowed := make([]string, 0, len(c.Scopes))
	for _, sc := range c.Scopes {
		if !slices.Contains(userOnlyScopes, sc) {
			allowed = append(allowed, sc)
		}
	}
	scopes := allowed
	if len(r.Data.Scope) > 0 {
		scopes = make([]string, 0, len(r.Data.Scope))
		for _, sc := range r.Data.Scope {
			if slices.Contains(allowed, sc) && !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
		if len(scopes) == 0 {
			return nil, oidc.ErrInvalidScope().WithDescription("none of the requested scopes is allowed for this client")
		}
		scopes = withDefaultScopes(c, scopes)
	}
	g := grant{client: c, user: storage.User{ID: c.ID, Username: c.ID, Roles: c.Roles}, scopes: scopes}
	m, err := p.mint(g, now)
	if err != nil {
		return nil, s.serverError(ctx, "signing tokens", err)
	}
	return p.tokenResponse(m, "", scopes, now), nil
}

// Grant types a client may be registered with.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)
