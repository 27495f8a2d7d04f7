package idp

import (
	"context"
	"crypto/subtle"
	"errors"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// opClient adapts a storage.Client to op.Client. Only the code response type
// exists (no implicit or hybrid flows) and access tokens are always JWTs.
type opClient struct {
	storage.Client
	idTokenTTL time.Duration
	cached     bool // from the verifier's client cache, not read just now
}

var _ op.Client = (*opClient)(nil)

func (c *opClient) GetID() string                    { return c.ID }
func (c *opClient) RedirectURIs() []string           { return c.Client.RedirectURIs }
func (c *opClient) PostLogoutRedirectURIs() []string { return c.Client.PostLogoutRedirectURIs }
func (c *opClient) ApplicationType() op.ApplicationType {
	switch {
	case c.Native:
		return op.ApplicationTypeNative
	case c.Public:
		return op.ApplicationTypeUserAgent
	}
	return op.ApplicationTypeWeb
}
func (c *opClient) AuthMethod() oidc.AuthMethod {
	if c.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

// ResponseTypes lists every standard response type, although only code is
// served: the library refuses one not listed as unauthorized_client before
// Authorize sees it, and Authorize answers what RFC 6749 section 4.1.2.1
// says for a type the server does not support, unsupported_response_type.
// Discovery's response_types_supported says code only.
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode, oidc.ResponseTypeIDToken, oidc.ResponseTypeIDTokenOnly,
		"token", "code id_token", "code token", "code id_token token", "none"}
}
func (c *opClient) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, 0, len(c.Client.GrantTypes))
	for _, g := range c.Client.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}
func (c *opClient) LoginURL(string) string              { return "" } // our Authorize builds it
func (c *opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c *opClient) IDTokenLifetime() time.Duration      { return c.idTokenTTL }

// DevMode lets the library accept any redirect URI that VerifyAuthRequest
// has passed (checkAuthRedirect is stricter and the only rule, so that
// registration and authorization agree); it changes nothing else.
func (c *opClient) DevMode() bool                        { return true }
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *opClient) ClockSkew() time.Duration             { return 0 }
func (c *opClient) IsScopeAllowed(scope string) bool     { return slices.Contains(c.Scopes, scope) }

// idTokenAlg signs the client's ID tokens (id_token_signed_response_alg).
func (c *opClient) idTokenAlg() string {
	if c.IDTokenAlg == AlgES256 {
		return AlgES256
	}
	return AlgRS256
}

func (c *opClient) allowsGrant(g oidc.GrantType) bool {
	return slices.Contains(c.Client.GrantTypes, string(g))
}
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// loadClient finds an enabled client. An unknown or disabled client is
// invalid_client; a storage fault is a bare server_error. The client comes
// from the feed's cache; a refusal is always decided on the database's row
// (fresh), so that a client enabled or given a new secret a moment ago on
// this replica is not refused for the notification's few milliseconds.
func (s *server) loadClient(ctx context.Context, id string) (*opClient, error) {
	return s.loadClientFrom(ctx, id, false)
}

func (s *server) loadClientFrom(ctx context.Context, id string, fresh bool) (*opClient, error) {
	if id == "" || len(id) > 200 {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	c, cached, err := s.p.ver.client(ctx, id, fresh)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	} else if err != nil {
		return nil, s.serverError(ctx, "loading client", err)
	}
	if c.DisabledAt != nil {
		if cached {
			return s.loadClientFrom(ctx, id, true)
		}
		return nil, oidc.ErrInvalidClient().WithDescription("client is disabled")
	}
	return &opClient{Client: c, idTokenTTL: s.p.cfg.IDTokenTTL, cached: cached}, nil
}

// client is the client with id as the change feed keeps it (cached: no
// database round trip for a known client), or as the database has it when
// fresh is asked for or the feed is too stale to trust.
func (v *Verifier) client(ctx context.Context, id string, fresh bool) (c storage.Client, cached bool, err error) {
	if fresh || v.rev.fresh(v.cfg.Now()) != nil {
		c, err = v.st.ClientByID(ctx, id)
		return c, false, err
	}
	cc, err := v.clients.get(ctx, id)
	if err != nil {
		return storage.Client{}, false, err
	}
	return *cc, true, nil
}

// VerifyClient authenticates the client at the token endpoint (RFC 6749
// section 2.3). Public clients send only their id; confidential ones their
// secret, compared as SHA-256 in constant time. Client assertions
// (private_key_jwt) are not supported.
func (s *server) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	if r.Data.ClientAssertion != "" || r.Data.ClientAssertionType != "" {
		return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("client assertions are not supported"), 401)
	}
	c, err := s.loadClient(ctx, r.Data.ClientID)
	if err != nil {
		return nil, unauthorizedClient(err)
	}
	if c.Public {
		if r.Data.ClientSecret != "" {
			return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("public clients have no secret"), 401)
		}
		return c, nil
	}
	got := sha256Sum(r.Data.ClientSecret)
	if r.Data.ClientSecret == "" || subtle.ConstantTimeCompare(got, c.SecretHash) != 1 {
		if c.cached && r.Data.ClientSecret != "" {
			// Perhaps a secret rotated a moment ago: judge on the row itself.
			if c, err = s.loadClientFrom(ctx, r.Data.ClientID, true); err != nil {
				return nil, unauthorizedClient(err)
			}
			if !c.Public && subtle.ConstantTimeCompare(got, c.SecretHash) == 1 {
				return c, nil
			}
		}
		return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("client authentication failed"), 401)
	}
	return c, nil
}

// unauthorizedClient gives invalid_client its 401 (RFC 6749 section 5.2).
func unauthorizedClient(err error) error {
	var oe *oidc.Error
	if errors.As(err, &oe) && oe.ErrorType == oidc.InvalidClient {
		return op.NewStatusError(oe, 401)
	}
	return err
}
