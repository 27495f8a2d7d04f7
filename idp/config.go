package idp

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/idp/password"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// APIAudienceSuffix is appended to the issuer to form the audience (RFC 9068
// section 3, "aud") of the gate's access tokens: <issuer>/api. A token whose
// aud is anything else, for example a client id as in ID tokens, is refused.
const APIAudienceSuffix = "/api"

// Config holds the provider's settings; New fills in defaults for zero values.
type Config struct {
	// Issuer is the external base URL, without a trailing slash. http is
	// accepted for development and tests; cookies are then not Secure.
	Issuer string

	// 32-byte keys the caller derives from the master secret (HKDF), one per
	// purpose: cookie integrity, cookie encryption, code/CSRF MACs, and the
	// AES-GCM key sealing private signing keys at rest.
	CookieHashKey, CookieBlockKey, CodeKey, KeyEncryptionKey []byte

	AccessTokenTTL time.Duration // default 10m
	IDTokenTTL     time.Duration // default 10m
	RefreshIdleTTL time.Duration // default 7 days
	RefreshMaxTTL  time.Duration // default 30 days
	SessionTTL     time.Duration // absolute; default 12h
	// SessionIdleTTL ends a browser session unused this long (use is
	// recorded at most once a minute per replica). Default 2h.
	SessionIdleTTL time.Duration
	AuthRequestTTL time.Duration // time to log in; default 10m
	CodeTTL        time.Duration // default 1m, at most 10m (RFC 6749 section 4.1.2)
	PATDefaultTTL  time.Duration // default 90 days
	PATMaxTTL      time.Duration // default 366 days

	// Device flow (RFC 8628): how long a device code lives (default 10m),
	// the polling interval (default 5s), and how recent a login must be to
	// approve a device (default 5m; older sessions log in again).
	DeviceCodeTTL      time.Duration
	DevicePollInterval time.Duration
	DeviceLoginMaxAge  time.Duration
	// DeviceThrottle limits wrong user codes per user and per address.
	DeviceThrottle storage.LoginThrottle

	// SigningAlg signs access tokens: "ES256" (default, the fast one) or
	// "RS256". ID tokens are signed with each client's registered algorithm;
	// the provider keeps a key of both.
	SigningAlg string

	// GroupsClaim names the claim that repeats a user's roles in ID tokens
	// and userinfo, which most relying parties read as the user's groups.
	// Default "groups"; NoGroupsClaim leaves it out.
	GroupsClaim string

	// TrustedProxies: a peer in these prefixes may name the client address
	// in X-Forwarded-For; otherwise the TCP peer is the client address.
	TrustedProxies []netip.Prefix

	// RevocationMaxStale: when the notification connection has been down
	// longer than this, the verifier refuses tokens. Default 10s.
	RevocationMaxStale time.Duration
	// KeyReloadInterval bounds reloads on an unknown kid. Default 30s.
	KeyReloadInterval time.Duration
	// SeenCacheSize bounds the verified-token cache. Default 100000.
	SeenCacheSize int

	// Growing delays after failed logins. AccountAddressThrottle counts an
	// account at one client address (the tight limit); AccountThrottle the
	// account from anywhere (a much higher ceiling on distributed guessing);
	// AddressThrottle one address for every account; DeviceCookieThrottle
	// one browser holding a valid device cookie for the account, which is
	// held by nothing else (see devicecookie.go).
	AccountAddressThrottle storage.LoginThrottle
	AccountThrottle        storage.LoginThrottle
	AddressThrottle        storage.LoginThrottle
	DeviceCookieThrottle   storage.LoginThrottle
	// HashWait is how long a login waits for a free hashing slot before 429.
	HashWait time.Duration
	// Hasher checks passwords; default password.NewHasher(DefaultParams, GOMAXPROCS).
	Hasher *password.Hasher

	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	def(&c.AccessTokenTTL, 10*time.Minute)
	def(&c.IDTokenTTL, 10*time.Minute)
	def(&c.RefreshIdleTTL, 7*24*time.Hour)
	def(&c.RefreshMaxTTL, 30*24*time.Hour)
	def(&c.SessionTTL, 12*time.Hour)
	def(&c.SessionIdleTTL, 2*time.Hour)
	def(&c.AuthRequestTTL, 10*time.Minute)
	def(&c.CodeTTL, time.Minute)
	def(&c.PATDefaultTTL, 90*24*time.Hour)
	def(&c.PATMaxTTL, 366*24*time.Hour)
	def(&c.DeviceCodeTTL, 10*time.Minute)
	def(&c.DevicePollInterval, 5*time.Second)
	def(&c.DeviceLoginMaxAge, 5*time.Minute)
	if c.DeviceThrottle == (storage.LoginThrottle{}) {
		c.DeviceThrottle = storage.LoginThrottle{Free: 5, Base: 2 * time.Second, Max: 15 * time.Minute, Window: time.Hour}
	}
	def(&c.RevocationMaxStale, 10*time.Second)
	def(&c.KeyReloadInterval, 30*time.Second)
	def(&c.HashWait, 2*time.Second)
	if c.SigningAlg == "" {
		c.SigningAlg = AlgES256
	}
	switch c.GroupsClaim {
	case "":
		c.GroupsClaim = DefaultGroupsClaim
	case NoGroupsClaim:
		c.GroupsClaim = ""
	}
	if c.SeenCacheSize <= 0 {
		c.SeenCacheSize = 100000
	}
	if c.AccountAddressThrottle == (storage.LoginThrottle{}) {
		c.AccountAddressThrottle = storage.LoginThrottle{Free: 5, Base: time.Second, Max: 15 * time.Minute, Window: time.Hour}
	}
	if c.AccountThrottle == (storage.LoginThrottle{}) {
		c.AccountThrottle = storage.LoginThrottle{Free: 100, Base: time.Second, Max: 15 * time.Minute, Window: time.Hour}
	}
	if c.DeviceCookieThrottle == (storage.LoginThrottle{}) {
		c.DeviceCookieThrottle = storage.LoginThrottle{Free: 5, Base: time.Second, Max: 15 * time.Minute, Window: time.Hour}
	}
	if c.AddressThrottle == (storage.LoginThrottle{}) {
		c.AddressThrottle = storage.LoginThrottle{Free: 30, Base: time.Second, Max: 15 * time.Minute, Window: time.Hour}
	}
	if c.Hasher == nil {
		c.Hasher = password.NewHasher(password.DefaultParams, runtime.GOMAXPROCS(0))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// validate reports every problem at once.
func (c *Config) validate() error {
	var errs []error
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		errs = append(errs, fmt.Errorf("issuer %q must be an absolute http(s) URL without path, query, fragment or user info", c.Issuer))
	}
	for name, k := range map[string][]byte{"cookie hash key": c.CookieHashKey, "cookie block key": c.CookieBlockKey,
		"code key": c.CodeKey, "key encryption key": c.KeyEncryptionKey} {
		if len(k) != 32 {
			errs = append(errs, fmt.Errorf("%s must be 32 bytes, got %d", name, len(k)))
		}
	}
	if c.GroupsClaim != "" && !validGroupsClaim(c.GroupsClaim) {
		errs = append(errs, fmt.Errorf("groups claim %q: a claim name of letters, digits, '_', '-', '.', ':' or '/' that no standard claim uses (or %q)",
			c.GroupsClaim, NoGroupsClaim))
	}
	if c.SigningAlg != AlgES256 && c.SigningAlg != AlgRS256 {
		errs = append(errs, fmt.Errorf("signing algorithm %q: use ES256 or RS256", c.SigningAlg))
	}
	if c.CodeTTL > 10*time.Minute {
		errs = append(errs, errors.New("authorization codes may live at most 10 minutes (RFC 6749 section 4.1.2)"))
	}
	if c.RefreshIdleTTL > c.RefreshMaxTTL {
		errs = append(errs, errors.New("refresh idle lifetime exceeds the maximum lifetime"))
	}
	return errors.Join(errs...)
}

// audience is the aud of every access token the provider issues.
// DefaultGroupsClaim is the claim most relying parties read groups from
// (oauth2-proxy, Grafana, mlflow-oidc-auth and others).
const DefaultGroupsClaim = "groups"

// NoGroupsClaim as Config.GroupsClaim leaves the groups claim out.
const NoGroupsClaim = "none"

// reservedClaims are set by the provider itself and cannot name the groups.
var reservedClaims = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "acr", "amr", "azp",
	"at_hash", "c_hash", "sid", "roles", "scope", "client_id", "preferred_username", "name", "given_name", "family_name",
	"email", "email_verified", "events", "typ", "cnf"}

func validGroupsClaim(s string) bool {
	if s == "" || len(s) > 64 || slices.Contains(reservedClaims, s) {
		return false
	}
	for _, r := range s {
		ok := r == '_' || r == '-' || r == '.' || r == ':' || r == '/' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

func (c *Config) audience() string { return c.Issuer + APIAudienceSuffix }

// secure reports whether cookies get Secure and the __Host- prefix.
func (c *Config) secure() bool { return strings.HasPrefix(c.Issuer, "https://") }
