package idp

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
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

var clientIDShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{1,99}$`)

// DefaultClientScopes are what a client may have unless registered with
// other scopes.
var DefaultClientScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess}

// ClientSpec describes a client to register with CreateClient.
type ClientSpec struct {
	ID, Name       string
	Public, Native bool
	GrantTypes     []string
	Scopes         []string // default DefaultClientScopes
	// API: the client may obtain MLflow API tokens (ScopeMLflow is added to
	// its scopes). Service clients (client_credentials) always may.
	API                    bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Roles                  []string // the client's own, for client credentials
}

// NewClient validates spec and makes the client record to store. For a
// confidential client it also returns the secret, to be shown once; the
// record keeps only its SHA-256.
func NewClient(spec ClientSpec) (storage.Client, string, error) {
	var problems []string
	if !clientIDShape.MatchString(spec.ID) {
		problems = append(problems, fmt.Sprintf("client id %q: 2 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit", spec.ID))
	} else if _, err := uuid.Parse(spec.ID); err == nil {
		// Access tokens of service clients carry the client id as sub; a
		// UUID could be mistaken for a user's id.
		problems = append(problems, "a client id must not be a UUID")
	}
	if len(spec.GrantTypes) == 0 {
		problems = append(problems, "at least one grant type is required")
	}
	for _, g := range spec.GrantTypes {
		switch g {
		case GrantAuthorizationCode, GrantRefreshToken, GrantDeviceCode:
		case GrantClientCredentials:
			if spec.Public {
				problems = append(problems, "client_credentials needs a confidential client")
			}
		default:
			problems = append(problems, fmt.Sprintf("grant type %q is not supported (use %s, %s, %s or %s)", g,
				GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode))
		}
	}
	if slices.Contains(spec.GrantTypes, GrantAuthorizationCode) && len(spec.RedirectURIs) == 0 {
		problems = append(problems, "authorization_code needs at least one redirect URI")
	}
	if spec.Native && !spec.Public {
		problems = append(problems, "a native client is public")
	}
	for _, u := range append(slices.Clone(spec.RedirectURIs), spec.PostLogoutRedirectURIs...) {
		if err := checkRegisteredURI(u, spec.Native); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(spec.Roles) > 0 && !slices.Contains(spec.GrantTypes, GrantClientCredentials) {
		problems = append(problems, "roles are for clients with the client_credentials grant")
	}
	if len(problems) > 0 {
		return storage.Client{}, "", fmt.Errorf("%w: %s", storage.ErrInvalid, strings.Join(problems, "; "))
	}
	scopes := slices.Clone(spec.Scopes)
	if scopes == nil {
		scopes = slices.Clone(DefaultClientScopes)
	}
	if (spec.API || slices.Contains(spec.GrantTypes, GrantClientCredentials)) && !slices.Contains(scopes, ScopeMLflow) {
		scopes = append(scopes, ScopeMLflow)
	}
	c := storage.Client{ID: spec.ID, Name: spec.Name, Public: spec.Public, Native: spec.Native, GrantTypes: spec.GrantTypes,
		Scopes: scopes, RedirectURIs: spec.RedirectURIs, PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs, Roles: spec.Roles}
	var secret string
	if !spec.Public {
		secret, c.SecretHash = NewClientSecret()
	}
	return c, secret, nil
}

// checkRegisteredURI: absolute, no fragment (RFC 6749 section 3.1.2), https
// unless it is a loopback address (RFC 8252 section 7.3) or the client is a
// native app with a private-use scheme (RFC 8252 section 7.1).
func checkRegisteredURI(s string, native bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("redirect URI %q must be absolute and without fragment", s)
	}
	if port := u.Port(); port != "" && !validPort(port) {
		return fmt.Errorf("redirect URI %q: the port must be a number from 1 to 65535", s)
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http":
		if _, ok := loopbackURI(s); ok {
			return nil
		}
		if h := u.Hostname(); h == "localhost" {
			return nil
		}
		return fmt.Errorf("redirect URI %q: plain http only on a loopback address", s)
	case native && strings.Contains(u.Scheme, "."):
		return nil
	}
	return fmt.Errorf("redirect URI %q: use https (or a loopback or, for native apps, a private-use scheme)", s)
}
