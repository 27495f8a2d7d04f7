package idp

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/internal/jsonw"
)

// accessClaims is the payload of an access token in the RFC 9068 profile.
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	ClientID  string   `json:"client_id"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"`
	JTI       string   `json:"jti"`
	Scope     string   `json:"scope,omitempty"`
	Roles     []string `json:"roles"`
	Username  string   `json:"preferred_username,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
}

// idClaims is the payload of an ID token (OpenID Connect Core section 2).
type idClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience audience `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	AuthTime int64    `json:"auth_time,omitempty"`
	Nonce    string   `json:"nonce,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	AZP      string   `json:"azp"`
	ATHash   string   `json:"at_hash,omitempty"`
	SID      string   `json:"sid,omitempty"`
	Roles    []string `json:"roles"`
	profileClaims

	// groups repeats Roles under the configured claim name (groupsClaim),
	// which relying parties read by default; "" leaves it out.
	groupsName string
}

// profileClaims are the standard claims of the profile and email scopes
// (OpenID Connect Core section 5.4), in ID tokens and from userinfo.
type profileClaims struct {
	Username      string `json:"preferred_username,omitempty"`
	Name          string `json:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	Email         string `json:"email,omitempty"`
	EmailVerified *bool  `json:"email_verified,omitempty"`
}

// MarshalJSON writes the claims with the groups claim under its configured
// name, which a struct tag cannot carry.
func (c idClaims) MarshalJSON() ([]byte, error) {
	type plain idClaims
	b, err := json.Marshal(plain(c))
	if err != nil || c.groupsName == "" {
		return b, err
	}
	name, err := json.Marshal(c.groupsName)
	if err != nil {
		return nil, err
	}
	roles, err := json.Marshal(c.Roles)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+len(name)+len(roles)+2)
	out = append(out, b[:len(b)-1]...) // without the closing brace
	out = append(out, ',')
	out = append(out, name...)
	out = append(out, ':')
	out = append(out, roles...)
	return append(out, '}'), nil
}

// appendJSON appends the claims as encoding/json would write them (the
// tests compare the two), without reflection: a token is signed for every
// grant and refresh, and json.Marshal with audience's MarshalJSON was a
// tenth of a grant's CPU.
func (c *accessClaims) appendJSON(b []byte) []byte {
	str := func(key, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		b = append(b, key...)
		b = jsonw.AppendString(b, v)
	}
	num := func(key string, v int64, omitEmpty bool) {
		if omitEmpty && v == 0 {
			return
		}
		b = append(b, key...)
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, '{')
	str(`"iss":`, c.Issuer, false)
	str(`,"sub":`, c.Subject, false)
	b = append(b, `,"aud":`...)
	if len(c.Audience) == 1 {
		b = jsonw.AppendString(b, c.Audience[0])
	} else {
		b = jsonw.AppendStrings(b, c.Audience)
	}
	str(`,"client_id":`, c.ClientID, false)
	num(`,"exp":`, c.Expiry, false)
	num(`,"iat":`, c.IssuedAt, false)
	num(`,"nbf":`, c.NotBefore, true)
	str(`,"jti":`, c.JTI, false)
	str(`,"scope":`, c.Scope, true)
	b = append(b, `,"roles":`...)
	b = jsonw.AppendStrings(b, c.Roles)
	str(`,"preferred_username":`, c.Username, true)
	str(`,"sid":`, c.SessionID, true)
	num(`,"auth_time":`, c.AuthTime, true)
	return append(b, '}')
}

// audience is "aud": one string when there is one value, as RFC 7519
// section 4.1.3 allows; an array is accepted when reading.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

func (a audience) contains(s string) bool {
	for _, v := range a {
		if v == s {
			return true
		}
	}
	return false
}

// TokenKind tells apart the two bearer credentials the gate accepts.
type TokenKind int

const (
	// KindAccessToken is an RFC 9068 access token from the provider.
	KindAccessToken TokenKind = iota + 1
	// KindPAT is a personal access token: MLflow API only.
	KindPAT
	// KindSession is the browser's single-sign-on session cookie (the MLflow UI).
	KindSession
)

func (k TokenKind) String() string {
	switch k {
	case KindAccessToken:
		return "access_token"
	case KindPAT:
		return "personal_access_token"
	case KindSession:
		return "session"
	}
	return "unknown"
}

// Principal is who a verified bearer token speaks for. Username and Roles are
// the subject's current ones (kept fresh by notifications), not those
// written in the token. Slices are shared: callers must not modify them.
type Principal struct {
	Kind      TokenKind
	Subject   string // user id, or the client id of a service client
	Username  string // the user's name, or the service client's id
	Roles     []string
	ClientID  string // the OAuth client the access token was issued to; "" for PATs
	Scopes    []string
	TokenID   string    // jti, or the PAT's id
	SessionID string    // the SSO session the token descends from, if any
	IssuedAt  time.Time // an access token's iat; zero for a PAT
	ExpiresAt time.Time
	// Service: the subject is a confidential service client acting for
	// itself (client credentials, or a PAT the client owns), not a user.
	Service bool
}

// HasRole reports whether the principal currently holds role.
func (p Principal) HasRole(role string) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}

func splitScope(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}
