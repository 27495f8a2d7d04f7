package idp

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Paths of the provider. Everything but discovery sits under /oauth/, a
// prefix no MLflow route uses.
const (
	PathDiscovery  = "/.well-known/openid-configuration"
	PathAuthorize  = "/oauth/authorize"
	PathToken      = "/oauth/token"
	PathUserinfo   = "/oauth/userinfo"
	PathKeys       = "/oauth/keys"
	PathLogin      = "/oauth/login"
	PathIntrospect = "/oauth/introspect"
	PathRevoke     = "/oauth/revoke"
	// PathDeviceAuthorization starts the device flow; PathDevice is the
	// page where a person enters the user code and approves.
	PathDeviceAuthorization = "/oauth/device_authorization"
	PathDevice              = "/oauth/device"
)

// server implements zitadel's op.Server. It serves discovery, keys,
// authorization code + PKCE, refresh, client credentials, the device flow,
// introspection, revocation, userinfo and end-session; the methods it does not
// override (the JWT-profile grant, token exchange) answer as unimplemented.
type server struct {
	op.UnimplementedServer
	p *Provider
}

// serverError logs a fault and returns a bare server_error: no parent, no
// description, nothing of the fault reaches the client.
func (s *server) serverError(ctx context.Context, what string, err error) error {
	s.p.log.ErrorContext(ctx, "identity provider: "+what, "error", err)
	return oidc.ErrServerError()
}

// discovery extends the library's document with the RFC 9207 flag.
type discovery struct {
	*oidc.DiscoveryConfiguration
	IssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

// Discovery serves OpenID Connect Discovery 1.0 section 3.
func (s *server) Discovery(ctx context.Context, r *op.Request[struct{}]) (*op.Response, error) {
	iss := s.p.cfg.Issuer
	return op.NewResponse(discovery{DiscoveryConfiguration: &oidc.DiscoveryConfiguration{
		Issuer:                      iss,
		AuthorizationEndpoint:       iss + PathAuthorize,
		TokenEndpoint:               iss + PathToken,
		UserinfoEndpoint:            iss + PathUserinfo,
		JwksURI:                     iss + PathKeys,
		IntrospectionEndpoint:       iss + PathIntrospect,
		DeviceAuthorizationEndpoint: iss + PathDeviceAuthorization,
		EndSessionEndpoint:          iss + PathEndSession,
		RevocationEndpoint:          iss + PathRevoke,
		IntrospectionEndpointAuthMethodsSupported: []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost},
		RevocationEndpointAuthMethodsSupported:    []oidc.AuthMethod{oidc.AuthMethodNone, oidc.AuthMethodBasic, oidc.AuthMethodPost},
		ScopesSupported:                           []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess, ScopeMLflow},
		ResponseTypesSupported:                    []string{string(oidc.ResponseTypeCode)},
		ResponseModesSupported:                    []string{string(oidc.ResponseModeQuery)},
		GrantTypesSupported:                       []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, oidc.GrantTypeDeviceCode},
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          s.p.keys.algorithms(),
		TokenEndpointAuthMethodsSupported:         []oidc.AuthMethod{oidc.AuthMethodNone, oidc.AuthMethodBasic, oidc.AuthMethodPost},
		CodeChallengeMethodsSupported:             []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256},
		ClaimsSupported:                           s.claimsSupported(),
		BackChannelLogoutSupported:                true,
		BackChannelLogoutSessionSupported:         true,
	}, IssParameterSupported: true}), nil
}

// claimsSupported lists the claims ID tokens and userinfo may carry.
func (s *server) claimsSupported() []string {
	c := []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "at_hash", "sid",
		"roles", "preferred_username", "name", "given_name", "family_name", "email", "email_verified"}
	if s.p.cfg.GroupsClaim != "" {
		c = append(c, s.p.cfg.GroupsClaim)
	}
	return c
}

// Keys serves the JWKS (RFC 7517 section 5).
func (s *server) Keys(ctx context.Context, r *op.Request[struct{}]) (*op.Response, error) {
	resp := op.NewResponse(s.p.keys.jwks())
	resp.Header.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(JWKSMaxAge.Seconds())))
	return resp, nil
}

// VerifyAuthRequest loads the client and checks redirect_uri with our own
// strict rules before the library's looser ones (which treat localhost as
// loopback and ignore the scheme on loopback). A failure here is shown to
// the user, never redirected: the redirect_uri is not trusted yet.
func (s *server) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	c, err := s.loadClient(ctx, r.Data.ClientID)
	if err != nil {
		return nil, err
	}
	if err := checkAuthRedirect(&c.Client, r.Data.RedirectURI); err != nil {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("%s", err.Error())
	}
	return &op.ClientRequest[oidc.AuthRequest]{Request: r, Client: c}, nil
}

// newSecret returns 256 random bits, base64url.
func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // only when the system's randomness fails
	}
	return b64.EncodeToString(b)
}

// authResponseURL is the client's redirect_uri with the response merged into
// its query (RFC 6749 section 4.1.2) and iss (RFC 9207).
func (p *Provider) authResponseURL(redirectURI string, params url.Values) string {
	u, err := url.Parse(redirectURI)
	if err != nil { // cannot happen: it matched a registered URI
		return redirectURI
	}
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			if v != "" {
				q.Set(k, v)
			}
		}
	}
	q.Set("iss", p.cfg.Issuer)
	u.RawQuery = q.Encode()
	return u.String()
}

// ScopeMLflow is the scope of the MLflow API: only an access token carrying
// it opens the API (Verifier.VerifyMLflow). A client has API access when its
// registered scopes include it; for such a client it is a default scope,
// granted whether or not it was requested, and a client without API access
// never gets it. Other applications that use the provider for their own
// logins therefore never hold an MLflow credential.
const ScopeMLflow = "mlflow"

// hasAPIAccess reports whether the client may obtain MLflow API tokens.
func (c *opClient) hasAPIAccess() bool { return slices.Contains(c.Scopes, ScopeMLflow) }

// withDefaultScopes adds ScopeMLflow for a client with API access.
func withDefaultScopes(c *opClient, scopes []string) []string {
	if c.hasAPIAccess() && !slices.Contains(scopes, ScopeMLflow) {
		scopes = append(scopes, ScopeMLflow)
	}
	return scopes
}

// filterScopes keeps the requested scopes the client may have; without the
// refresh_token grant, offline_access is dropped (no refresh token). A
// client with API access always gets ScopeMLflow (its default scope).
func filterScopes(c *opClient, requested []string) []string {
	out := make([]string, 0, len(requested))
	for _, sc := range requested {
		if !c.IsScopeAllowed(sc) || slices.Contains(out, sc) {
			continue
		}
		if sc == oidc.ScopeOfflineAccess && !c.allowsGrant(oidc.GrantTypeRefreshToken) {
			continue
		}
		out = append(out, sc)
	}
	if len(out) == 0 && len(requested) > 0 {
		return out // asked only for what it may not have: invalid_scope
	}
	return withDefaultScopes(c, out)
}

// headerWriter lets gorilla/sessions write Set-Cookie into the header of a
// library Redirect.
type headerWriter struct{ h http.Header }

func (w headerWriter) Header() http.Header         { return w.h }
func (w headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w headerWriter) WriteHeader(int)             {}
