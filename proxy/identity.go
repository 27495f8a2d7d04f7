package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Principal is who the Authenticator says is calling. Roles are the subject's
// current roles (from the cache that notifications keep fresh), not the ones
// frozen into a token at issue time.
type Principal struct {
	Subject  string // stable user id (the token's sub)
	Username string // what MLflow sees: X-Mlflow-Gate-User and the mlflow.user tag
	ClientID string // the OIDC client the token was issued to ("" for PATs and sessions)
	Roles    []string
	Kind     string // KindAccessToken or KindPAT
	TokenID  string // jti or PAT id: an identifier for the audit trail, never the secret
	// Service: a confidential service client acting for itself (client
	// credentials, or a PAT it owns). Resource grants name users and roles,
	// so what a service client creates gets no owner grant: its roles'
	// levels decide, as for anything nobody was granted.
	Service bool
}

// Credential kinds.
const (
	KindAccessToken = "access_token"
	KindPAT         = "pat"
)

// Authenticator identifies the caller of a request: Bearer (gate access token
// or PAT), Basic (username and PAT, never an account password) or the browser
// session cookie. It reads only headers, never the body.
//
// Errors: ErrNoCredentials when the request carries none, ErrBadCredentials
// (possibly wrapped) when what it carries is wrong, expired, revoked, for
// another audience, or belongs to a disabled user; anything else means the
// verifier cannot tell right now (database down, revocation state stale) and
// the gate answers 503 rather than guess.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (Principal, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Principal, error) { return f(r) }

var (
	// ErrNoCredentials: the request carries no credential (401 with challenges).
	ErrNoCredentials = errors.New("proxy: no credentials")
	// ErrBadCredentials: the credential is not valid now (401 UNAUTHENTICATED).
	ErrBadCredentials = errors.New("proxy: bad credentials")
	// ErrNotForAPI: a valid token of the provider that was not issued for the
	// MLflow API (it lacks the mlflow scope: another application's login).
	// It is an ErrBadCredentials, answered with its own message.
	ErrNotForAPI = fmt.Errorf("%w: token was not issued for the MLflow API", ErrBadCredentials)
)

// GatewayAuthHeader is where MLflow's AI-gateway clients put their MLflow
// credential on /gateway/ routes: the standard Authorization header there
// carries the caller's own LLM-provider key, which MLflow forwards to the
// provider (mlflow/gateway/constants.py MLFLOW_GATEWAY_AUTH_HEADER and
// server/auth _basic_auth_credentials, which prefer it on /gateway/ and fall back
// to Authorization).
const GatewayAuthHeader = "X-Mlflow-Authorization"

// credentialRequest returns the request the Authenticator should read and
// whether the Authorization header is a provider key to forward untouched. On a
// /gateway/ path with a non-empty X-MLflow-Authorization, that header is the
// gate's credential: the Authenticator sees it as Authorization (one copy of
// the headers, on this rare path only) and the real Authorization is left for
// the provider. Everywhere else Authorization is the gate's and never forwarded.
func credentialRequest(r *http.Request) (*http.Request, bool) {
	if !strings.HasPrefix(r.URL.Path, "/gateway/") {
		return r, false
	}
	v := r.Header.Get(GatewayAuthHeader)
	if v == "" {
		return r, false
	}
	c := r.Clone(r.Context())
	c.Header.Set("Authorization", v)
	c.Header.Del(GatewayAuthHeader)
	// A client that put the gate's credential in both headers must not have it
	// passed on to an LLM provider.
	provider := r.Header.Get("Authorization")
	return c, provider != "" && provider != v
}

// challenges are sent with 401 for a request without credentials. The Basic
// challenge lets the stock client's MLFLOW_TRACKING_USERNAME/PASSWORD work; it is
// left off /ajax-api and /graphql (the UI's own calls), where it would make
// browsers pop a password dialog over the single-sign-on page.
func challenges(h http.Header, path string, bad bool) {
	bearer := `Bearer realm="mlflow-gate"`
	if bad {
		// RFC 6750 §3.1: the token was presented and is not acceptable.
		bearer += `, error="invalid_token"`
	}
	h["Www-Authenticate"] = append(h["Www-Authenticate"], bearer)
	if !strings.HasPrefix(path, "/ajax-api/") && path != "/graphql" {
		h["Www-Authenticate"] = append(h["Www-Authenticate"], `Basic realm="mlflow-gate"`)
	}
}
