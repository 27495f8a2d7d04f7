package idp

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

var clientIDShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{1,99}$`)

// DefaultClientScopes are what a client may have unless registered with
// other scopes.
var DefaultClientScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess}

// DefaultIDTokenAlg signs a client's ID tokens unless it was registered with
// another algorithm: RS256, the default OpenID Connect Dynamic Client
// Registration gives id_token_signed_response_alg, and the one algorithm
// every relying party library verifies.
const DefaultIDTokenAlg = AlgRS256

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
	IDTokenAlg             string   // default DefaultIDTokenAlg
	BackchannelLogoutURI   string   // OpenID Connect Back-Channel Logout 1.0; "" for none
}

// NewClient validates spec and makes the client record to store. For a
// confidential client it also returns the secret, to be shown once; the
// record keeps only its SHA-256.
func NewClient(spec ClientSpec) (storage.Client, string, error) {
	c, err := spec.client()
	if err != nil {
		return storage.Client{}, "", err
	}
	var secret string
	if !spec.Public {
		secret, c.SecretHash = NewClientSecret()
	}
	return c, secret, nil
}

// ClientUpdate changes a registered client: nil fields stay as they are.
// Slices replace the stored ones whole.
type ClientUpdate struct {
	Name                   *string
	GrantTypes             *[]string
	Scopes                 *[]string
	API                    *bool
	RedirectURIs           *[]string
	PostLogoutRedirectURIs *[]string
	Roles                  *[]string
	IDTokenAlg             *string
	BackchannelLogoutURI   *string
}

// Empty reports whether u changes nothing.
func (u ClientUpdate) Empty() bool { return u == ClientUpdate{} }

// Apply returns c changed by u, validated by the rules a new client meets;
// its id, kind (public, native) and secret never change.
func (u ClientUpdate) Apply(c storage.Client) (storage.Client, error) {
	spec := ClientSpec{ID: c.ID, Name: c.Name, Public: c.Public, Native: c.Native, GrantTypes: c.GrantTypes,
		API: slices.Contains(c.Scopes, ScopeMLflow), RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		Roles: c.Roles, IDTokenAlg: c.IDTokenAlg, BackchannelLogoutURI: c.BackchannelLogoutURI}
	spec.Scopes = slices.DeleteFunc(slices.Clone(c.Scopes), func(s string) bool { return s == ScopeMLflow })
	set := func(dst *[]string, v *[]string) {
		if v != nil {
			*dst = *v
		}
	}
	if u.Name != nil {
		spec.Name = *u.Name
	}
	set(&spec.GrantTypes, u.GrantTypes)
	set(&spec.Scopes, u.Scopes)
	set(&spec.RedirectURIs, u.RedirectURIs)
	set(&spec.PostLogoutRedirectURIs, u.PostLogoutRedirectURIs)
	set(&spec.Roles, u.Roles)
	if u.API != nil {
		spec.API = *u.API
	}
	if u.IDTokenAlg != nil {
		spec.IDTokenAlg = *u.IDTokenAlg
	}
	if u.BackchannelLogoutURI != nil {
		spec.BackchannelLogoutURI = *u.BackchannelLogoutURI
	}
	if !slices.Contains(spec.GrantTypes, GrantClientCredentials) && u.Roles == nil && u.GrantTypes != nil {
		spec.Roles = nil // the roles went with the grant they were for
	}
	next, err := spec.client()
	if err != nil {
		return storage.Client{}, err
	}
	next.SecretHash, next.Builtin, next.DisabledAt, next.CreatedAt = c.SecretHash, c.Builtin, c.DisabledAt, c.CreatedAt
	return next, nil
}

// client validates spec and makes the record, without a secret.
func (spec ClientSpec) client() (storage.Client, error) {
	var problems []string
	if !clientIDShape.MatchString(spec.ID) {
		problems = append(problems, fmt.Sprintf("client id %q: 2 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit", spec.ID))
	} else if _, err := uuid.Parse(spec.ID); err == nil {
		// Access tokens of service clients carry the client id as sub; a
		// UUID could be mistaken for a user's id.
		problems = append(problems, "a client id must not be a UUID")
	}
	if len(spec.Name) > 200 || strings.ContainsFunc(spec.Name, isControl) {
		problems = append(problems, "the name must be at most 200 characters, without control characters")
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
	for _, u := range spec.RedirectURIs {
		if err := CheckRedirectURI(u, spec.Native); err != nil {
			problems = append(problems, err.Error())
		}
	}
	for _, u := range spec.PostLogoutRedirectURIs {
		if err := CheckRedirectURI(u, spec.Native); err != nil {
			problems = append(problems, "post-logout "+err.Error())
		}
	}
	if spec.BackchannelLogoutURI != "" {
		if err := checkBackchannelURI(spec.BackchannelLogoutURI); err != nil {
			problems = append(problems, err.Error())
		}
		if spec.Public {
			// The logout token tells the client which session ended; only a
			// client with a server of its own can receive it.
			problems = append(problems, "back-channel logout is for confidential clients")
		}
	}
	alg := spec.IDTokenAlg
	if alg == "" {
		alg = DefaultIDTokenAlg
	}
	if alg != AlgRS256 && alg != AlgES256 {
		problems = append(problems, fmt.Sprintf("ID-token algorithm %q: use RS256 or ES256", spec.IDTokenAlg))
	}
	if len(spec.Roles) > 0 && !slices.Contains(spec.GrantTypes, GrantClientCredentials) {
		problems = append(problems, "roles are for clients with the client_credentials grant")
	}
	if len(problems) > 0 {
		return storage.Client{}, fmt.Errorf("%w: %s", storage.ErrInvalid, strings.Join(problems, "; "))
	}
	scopes := slices.Clone(spec.Scopes)
	if scopes == nil {
		scopes = slices.Clone(DefaultClientScopes)
	}
	if (spec.API || slices.Contains(spec.GrantTypes, GrantClientCredentials)) && !slices.Contains(scopes, ScopeMLflow) {
		scopes = append(scopes, ScopeMLflow)
	}
	return storage.Client{ID: spec.ID, Name: spec.Name, Public: spec.Public, Native: spec.Native, GrantTypes: spec.GrantTypes,
		Scopes: scopes, RedirectURIs: spec.RedirectURIs, PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs, Roles: spec.Roles,
		IDTokenAlg: alg, BackchannelLogoutURI: spec.BackchannelLogoutURI}, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// CheckRedirectURI is the one rule for redirect URIs, applied when a client
// is registered and again to every authorization and logout request (so a
// URI stored under older rules is refused with its reason): absolute, no
// fragment or user info (RFC 6749 section 3.1.2), https unless it is plain
// http on a loopback address (127.0.0.1, [::1] or localhost: RFC 8252
// section 7.3, for public and confidential clients alike), or a native app's
// private-use scheme (RFC 8252 section 7.1). Requests must then match a
// registered URI exactly (checkAuthRedirect).
func CheckRedirectURI(s string, native bool) error {
	if s == "" || len(s) > 2048 || strings.ContainsAny(s, "\\ \t\r\n") || strings.ContainsFunc(s, isControl) {
		return fmt.Errorf("redirect URI %q must be at most 2048 characters, without spaces, backslashes or control characters", s)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return fmt.Errorf("redirect URI %q must be an absolute URI", s)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("redirect URI %q must not have a fragment", s)
	}
	if u.User != nil {
		return fmt.Errorf("redirect URI %q must not carry a user name or password", s)
	}
	if port := u.Port(); port != "" && !validPort(port) {
		return fmt.Errorf("redirect URI %q: the port must be a number from 1 to 65535", s)
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http":
		if _, ok := loopbackURI(s); ok || u.Hostname() == "localhost" {
			return nil
		}
		return fmt.Errorf("redirect URI %q: plain http only on a loopback address (127.0.0.1, [::1] or localhost)", s)
	case native && strings.Contains(u.Scheme, ".") && u.Scheme != "https" && u.Scheme != "http":
		return nil
	case strings.Contains(u.Scheme, "."):
		return fmt.Errorf("redirect URI %q: a private-use scheme is for native apps (--native)", s)
	}
	return fmt.Errorf("redirect URI %q: use https (or http on a loopback address, or for native apps a private-use scheme such as com.example.app:/cb)", s)
}

// checkBackchannelURI: where the gate POSTs logout tokens, https or http on
// a loopback address, without fragment (Back-Channel Logout 1.0 section 2.2).
func checkBackchannelURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Fragment != "" || strings.Contains(s, "#") || u.User != nil || len(s) > 2048 {
		return fmt.Errorf("back-channel logout URI %q must be an absolute http(s) URI without fragment or user info", s)
	}
	if u.Scheme == "https" {
		return nil
	}
	if _, ok := loopbackURI(s); (ok || u.Hostname() == "localhost") && u.Scheme == "http" {
		return nil
	}
	return fmt.Errorf("back-channel logout URI %q: use https (plain http only on a loopback address)", s)
}
