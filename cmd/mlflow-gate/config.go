package main

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of mlflow-gate. Each field is a flag whose default
// comes from an MLFLOW_GATE_* environment variable; secrets can also be read
// from the file named by the variable with a _FILE suffix.
type Config struct {
	DatabaseURL            string
	DatabaseWait           time.Duration
	MLflowURL              string
	Issuer                 string
	Listen                 string
	MetricsListen          string
	Pprof                  bool
	Secret                 string
	BootstrapAdminPassword string
	S3Endpoint             string
	S3Bucket               string
	S3Prefix               string
	S3AccessKey            string
	S3SecretKey            string
	S3Region               string
	S3PublicEndpoint       string
	S3PresignTTL           time.Duration
	TrustedProxies         []netip.Prefix
	LogLevel               string
	LogFormat              string
	RequestLog             string
	ShutdownTimeout        time.Duration
	AccessTokenTTL         time.Duration
	IDTokenTTL             time.Duration
	RefreshIdleTTL         time.Duration
	RefreshMaxTTL          time.Duration
	SigningAlg             string
	GroupsClaim            string
	SessionTTL             time.Duration
	SessionIdleTTL         time.Duration
	AllowedHosts           []string
	AuditReads             bool
	OwnRunsOnly            bool
	AuditRetention         time.Duration
	MLflowWorkspaces       bool
	UITelemetry            bool

	allowedHostsRaw string

	trustedProxiesRaw string
	problems          []string
}

// setting describes one configuration value: its flag, environment variable,
// the group of commands that use it, and whether it is a secret.
type setting struct {
	flag    string
	env     string
	group   string // "db": every command that opens the database; "secret": serve and key commands; "serve": serve only
	secret  bool
	def     string
	usage   string
	str     func(*Config) *string
	dur     func(*Config) *time.Duration
	boolean func(*Config) *bool // a true/false setting
}

// settings is the single list behind flags, --help, Validate and the README
// table (a test keeps README.md and this list in step).
var settings = []setting{
	{flag: "database-url", env: "MLFLOW_GATE_DATABASE_URL", group: "db", secret: true,
		usage: "PostgreSQL URL of the gate's own database (postgres://user:password@host:5432/db)", str: func(c *Config) *string { return &c.DatabaseURL }},
	{flag: "database-wait", env: "MLFLOW_GATE_DATABASE_WAIT", group: "db", def: "2m",
		usage: "how long serve keeps retrying an unreachable database at start (other commands try once)", dur: func(c *Config) *time.Duration { return &c.DatabaseWait }},
	{flag: "log-level", env: "MLFLOW_GATE_LOG_LEVEL", group: "db", def: "info",
		usage: "log level: debug, info, warn or error", str: func(c *Config) *string { return &c.LogLevel }},
	{flag: "log-format", env: "MLFLOW_GATE_LOG_FORMAT", group: "db", def: "auto",
		usage: "log format: text, json, or auto (text when stderr is a terminal, JSON lines otherwise)", str: func(c *Config) *string { return &c.LogFormat }},
	{flag: "request-log", env: "MLFLOW_GATE_REQUEST_LOG", group: "serve", def: requestLogErrors,
		usage: "a line per request at info: all, errors (answers of 400 and above) or off; the audit log and /metrics record every request anyway",
		str:   func(c *Config) *string { return &c.RequestLog }},
	{flag: "mlflow-url", env: "MLFLOW_GATE_MLFLOW_URL", group: "serve",
		usage: "URL of the upstream MLflow tracking server (keep it on a private network)", str: func(c *Config) *string { return &c.MLflowURL }},
	{flag: "mlflow-workspaces", env: "MLFLOW_GATE_MLFLOW_WORKSPACES", group: "serve", def: "false",
		usage: "MLflow runs with --enable-workspaces: forward X-MLFLOW-WORKSPACE (stripped otherwise)", boolean: func(c *Config) *bool { return &c.MLflowWorkspaces }},
	{flag: "ui-telemetry", env: "MLFLOW_GATE_UI_TELEMETRY", group: "serve", def: "false",
		usage: "forward the UI's ui-telemetry calls to MLflow's telemetry; off: the gate answers them as MLflow with telemetry disabled", boolean: func(c *Config) *bool { return &c.UITelemetry }},
	{flag: "issuer", env: "MLFLOW_GATE_ISSUER", group: "serve",
		usage: "external base URL of the gate, the OpenID issuer (https://mlflow.example.com)", str: func(c *Config) *string { return &c.Issuer }},
	{flag: "listen", env: "MLFLOW_GATE_LISTEN", group: "serve", def: ":8080",
		usage: "address to serve the gate on", str: func(c *Config) *string { return &c.Listen }},
	{flag: "metrics-listen", env: "MLFLOW_GATE_METRICS_LISTEN", group: "serve", def: "127.0.0.1:9464",
		usage: "address of the Prometheus /metrics listener; off turns it off", str: func(c *Config) *string { return &c.MetricsListen }},
	{flag: "pprof", env: "MLFLOW_GATE_PPROF", group: "serve", def: "false",
		usage: "also serve Go's profiles (/debug/pprof/) on the metrics listener, for profiling under load; keep that listener private", boolean: func(c *Config) *bool { return &c.Pprof }},
	{flag: "secret", env: "MLFLOW_GATE_SECRET", group: "secret", secret: true,
		usage: "master secret, at least 32 characters; keys for cookies, codes and signing keys are derived from it", str: func(c *Config) *string { return &c.Secret }},
	{flag: "bootstrap-admin-password", env: "MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD", group: "serve", secret: true,
		usage: "password of the admin user created on an empty database; generated and printed once if unset", str: func(c *Config) *string { return &c.BootstrapAdminPassword }},
	{flag: "s3-endpoint", env: "MLFLOW_GATE_S3_ENDPOINT", group: "serve",
		usage: "S3 endpoint URL for artifacts (http://minio:9000); empty leaves artifacts to MLflow", str: func(c *Config) *string { return &c.S3Endpoint }},
	{flag: "s3-bucket", env: "MLFLOW_GATE_S3_BUCKET", group: "serve",
		usage: "S3 bucket of MLflow's artifact destination", str: func(c *Config) *string { return &c.S3Bucket }},
	{flag: "s3-prefix", env: "MLFLOW_GATE_S3_PREFIX", group: "serve",
		usage: "key prefix of MLflow's artifact destination inside the bucket", str: func(c *Config) *string { return &c.S3Prefix }},
	{flag: "s3-access-key", env: "MLFLOW_GATE_S3_ACCESS_KEY", group: "serve", secret: true,
		usage: "S3 access key id", str: func(c *Config) *string { return &c.S3AccessKey }},
	{flag: "s3-secret-key", env: "MLFLOW_GATE_S3_SECRET_KEY", group: "serve", secret: true,
		usage: "S3 secret access key", str: func(c *Config) *string { return &c.S3SecretKey }},
	{flag: "s3-region", env: "MLFLOW_GATE_S3_REGION", group: "serve", def: "us-east-1",
		usage: "S3 region", str: func(c *Config) *string { return &c.S3Region }},
	{flag: "s3-public-endpoint", env: "MLFLOW_GATE_S3_PUBLIC_ENDPOINT", group: "serve",
		usage: "S3 endpoint URL as clients reach it; set, downloads and multipart uploads use presigned URLs on it, empty streams every artifact byte through the gate", str: func(c *Config) *string { return &c.S3PublicEndpoint }},
	{flag: "s3-presign-ttl", env: "MLFLOW_GATE_S3_PRESIGN_TTL", group: "serve", def: "5m",
		usage: "lifetime of a presigned artifact URL, at most 5m", dur: func(c *Config) *time.Duration { return &c.S3PresignTTL }},
	{flag: "trusted-proxies", env: "MLFLOW_GATE_TRUSTED_PROXIES", group: "serve",
		usage: "comma-separated CIDRs whose X-Forwarded-* headers are believed; empty believes none", str: func(c *Config) *string { return &c.trustedProxiesRaw }},
	{flag: "token-access-ttl", env: "MLFLOW_GATE_TOKEN_ACCESS_TTL", group: "secret", def: "10m",
		usage: "lifetime of access tokens", dur: func(c *Config) *time.Duration { return &c.AccessTokenTTL }},
	{flag: "token-id-ttl", env: "MLFLOW_GATE_TOKEN_ID_TTL", group: "secret", def: "10m",
		usage: "lifetime of ID tokens", dur: func(c *Config) *time.Duration { return &c.IDTokenTTL }},
	{flag: "token-refresh-idle-ttl", env: "MLFLOW_GATE_TOKEN_REFRESH_IDLE_TTL", group: "serve", def: "168h",
		usage: "a refresh token unused for this long expires", dur: func(c *Config) *time.Duration { return &c.RefreshIdleTTL }},
	{flag: "token-refresh-max-ttl", env: "MLFLOW_GATE_TOKEN_REFRESH_MAX_TTL", group: "serve", def: "720h",
		usage: "a refresh-token family expires this long after the login that started it", dur: func(c *Config) *time.Duration { return &c.RefreshMaxTTL }},
	{flag: "token-signing-alg", env: "MLFLOW_GATE_TOKEN_SIGNING_ALG", group: "secret", def: "ES256",
		usage: "algorithm of access tokens: ES256 (fast) or RS256; a key of each is kept, and ID tokens use each client's (client add --id-token-alg)",
		str:   func(c *Config) *string { return &c.SigningAlg }},
	{flag: "groups-claim", env: "MLFLOW_GATE_GROUPS_CLAIM", group: "serve", def: "groups",
		usage: "claim that repeats a user's roles in ID tokens and userinfo, as most relying parties read groups (none: leave it out)",
		str:   func(c *Config) *string { return &c.GroupsClaim }},
	{flag: "session-ttl", env: "MLFLOW_GATE_SESSION_TTL", group: "serve", def: "12h",
		usage: "lifetime of a browser's single sign-on session", dur: func(c *Config) *time.Duration { return &c.SessionTTL }},
	{flag: "session-idle-ttl", env: "MLFLOW_GATE_SESSION_IDLE_TTL", group: "serve", def: "2h",
		usage: "a browser's session ends after this long unused", dur: func(c *Config) *time.Duration { return &c.SessionIdleTTL }},
	{flag: "allowed-hosts", env: "MLFLOW_GATE_ALLOWED_HOSTS", group: "serve",
		usage: "comma-separated extra Host names the gate answers for besides the issuer's; others get 421", str: func(c *Config) *string { return &c.allowedHostsRaw }},
	{flag: "audit-reads", env: "MLFLOW_GATE_AUDIT_READS", group: "serve", def: "false",
		usage: "also audit allowed reads (writes, deletes and denials always are)", boolean: func(c *Config) *bool { return &c.AuditReads }},
	{flag: "own-runs-only", env: "MLFLOW_GATE_OWN_RUNS_ONLY", group: "serve", def: "false",
		usage: "in an experiment where a user's level is below manage, they may change or delete only the runs they created", boolean: func(c *Config) *bool { return &c.OwnRunsOnly }},
	{flag: "audit-retention", env: "MLFLOW_GATE_AUDIT_RETENTION", group: "serve", def: "2160h",
		usage: "audit records older than this are deleted", dur: func(c *Config) *time.Duration { return &c.AuditRetention }},
	{flag: "shutdown-timeout", env: "MLFLOW_GATE_SHUTDOWN_TIMEOUT", group: "serve", def: "30s",
		usage: "how long to let in-flight requests finish on shutdown", dur: func(c *Config) *time.Duration { return &c.ShutdownTimeout }},
}

// usesGroup reports whether a command of kind cmdGroup takes settings of
// group g. Commands of group "secret" (key rotation) take the database
// settings and the master secret with what key lifetimes depend on.
func usesGroup(cmdGroup, g string) bool { return g == "db" || cmdGroup == "serve" || cmdGroup == g }

// bindFlags registers on fs the settings of cmdGroup with defaults from env.
func (c *Config) bindFlags(fs *flag.FlagSet, cmdGroup string, env func(string) string) {
	for _, s := range settings {
		if !usesGroup(cmdGroup, s.group) {
			continue
		}
		val, problem := envValue(s, env)
		if problem != "" {
			c.problems = append(c.problems, problem)
		}
		if s.boolean != nil {
			if val == "" {
				val = s.def
			}
			on, err := strconv.ParseBool(val)
			if err != nil {
				c.problems = append(c.problems, fmt.Sprintf("%s must be true or false, not %q", s.env, val))
			}
			fs.BoolVar(s.boolean(c), s.flag, on, s.usage)
			continue
		}
		if s.dur != nil {
			d := s.dur(c)
			if val == "" {
				val = s.def
			}
			parsed, err := time.ParseDuration(val)
			if err != nil {
				c.problems = append(c.problems, fmt.Sprintf("%s: %q is not a duration like 30s or 2m", s.env, val))
				parsed, _ = time.ParseDuration(s.def)
			}
			fs.DurationVar(d, s.flag, parsed, s.usage)
			continue
		}
		if val == "" {
			val = s.def
		}
		fs.StringVar(s.str(c), s.flag, val, s.usage)
	}
}

// envValue reads a setting's variable, or for secrets the file named by VAR_FILE.
func envValue(s setting, env func(string) string) (string, string) {
	v := env(s.env)
	if !s.secret {
		return v, ""
	}
	file := env(s.env + "_FILE")
	if file == "" {
		return v, ""
	}
	if v != "" {
		return v, fmt.Sprintf("%s and %s_FILE are both set; set one", s.env, s.env)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Sprintf("%s_FILE: cannot read the file it names (%v)", s.env, errors.Unwrap(err))
	}
	return strings.TrimRight(string(b), "\r\n"), ""
}

// printUsage writes a command's help. Defaults of secrets are shown only as
// "(set)" or "(not set)", so --help never reveals them.
func printUsage(w io.Writer, fs *flag.FlagSet, synopsis, description string, secretNames map[string]bool) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, description)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	fmt.Fprintln(w, "\nFlags:")
	for _, n := range names {
		f := fs.Lookup(n)
		env := ""
		for _, s := range settings {
			if s.flag == n {
				env = s.env
			}
		}
		def := f.DefValue
		if secretNames[n] {
			if def != "" {
				def = "(set)"
			} else {
				def = "(not set)"
			}
		} else if def != "" {
			def = fmt.Sprintf("%q", def)
		}
		fmt.Fprintf(w, "  --%s\n      %s", n, f.Usage)
		if env != "" {
			fmt.Fprintf(w, "\n      env %s", env)
		}
		if def != "" {
			fmt.Fprintf(w, "; default %s", def)
		}
		fmt.Fprintln(w)
	}
}

func secretFlags() map[string]bool {
	m := map[string]bool{}
	for _, s := range settings {
		if s.secret {
			m[s.flag] = true
		}
	}
	return m
}

// Validate reports every problem of the configuration for cmdGroup at once.
// Messages name settings, never their secret values.
func (c *Config) Validate(cmdGroup string) error {
	p := append([]string(nil), c.problems...)
	if c.DatabaseURL == "" {
		p = append(p, "MLFLOW_GATE_DATABASE_URL is required")
	} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		p = append(p, "MLFLOW_GATE_DATABASE_URL must be a postgres:// URL")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p = append(p, fmt.Sprintf("MLFLOW_GATE_LOG_LEVEL must be debug, info, warn or error, not %q", c.LogLevel))
	}
	switch c.RequestLog {
	case requestLogAll, requestLogErrors, requestLogOff:
	case "":
		if usesGroup(cmdGroup, "serve") {
			p = append(p, "MLFLOW_GATE_REQUEST_LOG must be all, errors or off")
		}
	default:
		p = append(p, fmt.Sprintf("MLFLOW_GATE_REQUEST_LOG must be all, errors or off, not %q", c.RequestLog))
	}
	switch c.LogFormat {
	case logFormatAuto, logFormatText, logFormatJSON:
	default:
		p = append(p, fmt.Sprintf("MLFLOW_GATE_LOG_FORMAT must be auto, text or json, not %q", c.LogFormat))
	}
	if c.DatabaseWait < 0 {
		p = append(p, "MLFLOW_GATE_DATABASE_WAIT must not be negative")
	}
	switch cmdGroup {
	case "serve":
		p = append(p, c.validateServe()...)
	case "secret":
		p = append(p, c.validateSecret()...)
	}
	if len(p) == 0 {
		return nil
	}
	return &ConfigError{Problems: p}
}

func (c *Config) validateServe() []string {
	var p []string
	if c.MLflowURL == "" {
		p = append(p, "MLFLOW_GATE_MLFLOW_URL is required (the upstream MLflow server)")
	} else if u, err := url.Parse(c.MLflowURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p = append(p, "MLFLOW_GATE_MLFLOW_URL must be an http(s) URL with a host")
	}
	if c.Issuer == "" {
		p = append(p, "MLFLOW_GATE_ISSUER is required (the gate's external base URL)")
	} else if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		p = append(p, "MLFLOW_GATE_ISSUER must be an http(s) URL of a host, without path, query or fragment (https://mlflow.example.com)")
	}
	if c.Secret == "" {
		p = append(p, "MLFLOW_GATE_SECRET is required (at least 32 random characters, e.g. `openssl rand -base64 48`)")
	} else if len(c.Secret) < 32 {
		p = append(p, "MLFLOW_GATE_SECRET is too short: use at least 32 random characters")
	}
	if c.Listen == "" {
		p = append(p, "MLFLOW_GATE_LISTEN is required")
	}
	if c.MetricsListen == "" {
		// net.Listen would take "" as every interface on a random port.
		p = append(p, "MLFLOW_GATE_METRICS_LISTEN must be an address, or off")
	}
	if c.S3Endpoint != "" {
		if u, err := url.Parse(c.S3Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p = append(p, "MLFLOW_GATE_S3_ENDPOINT must be an http(s) URL")
		}
		for _, req := range []struct{ v, name string }{{c.S3Bucket, "MLFLOW_GATE_S3_BUCKET"}, {c.S3AccessKey, "MLFLOW_GATE_S3_ACCESS_KEY"}, {c.S3SecretKey, "MLFLOW_GATE_S3_SECRET_KEY"}} {
			if req.v == "" {
				p = append(p, req.name+" is required when MLFLOW_GATE_S3_ENDPOINT is set")
			}
		}
		if c.S3Prefix != "" && strings.Trim(c.S3Prefix, "/") == "" {
			p = append(p, "MLFLOW_GATE_S3_PREFIX must name a folder (like artifacts), or be empty for the bucket's root")
		}
	}
	if c.S3PublicEndpoint != "" {
		if c.S3Endpoint == "" {
			p = append(p, "MLFLOW_GATE_S3_PUBLIC_ENDPOINT needs MLFLOW_GATE_S3_ENDPOINT")
		} else if u, err := url.Parse(c.S3PublicEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			p = append(p, "MLFLOW_GATE_S3_PUBLIC_ENDPOINT must be an http(s) URL without a path")
		}
	}
	if c.S3PresignTTL <= 0 || c.S3PresignTTL > 5*time.Minute {
		p = append(p, "MLFLOW_GATE_S3_PRESIGN_TTL must be between 1s and 5m")
	}
	c.TrustedProxies = nil
	for _, part := range strings.Split(c.trustedProxiesRaw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		pref, err := netip.ParsePrefix(part)
		if err != nil {
			p = append(p, fmt.Sprintf("MLFLOW_GATE_TRUSTED_PROXIES: %q is not a CIDR like 10.0.0.0/8", part))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, pref.Masked())
	}
	if c.AuditRetention <= 0 {
		p = append(p, "MLFLOW_GATE_AUDIT_RETENTION must be positive")
	}
	c.AllowedHosts = splitList(c.allowedHostsRaw)
	for _, h := range c.AllowedHosts {
		if strings.ContainsAny(h, "/ ") {
			p = append(p, fmt.Sprintf("MLFLOW_GATE_ALLOWED_HOSTS: %q is not a host or host:port", h))
		}
	}
	if c.SigningAlg != "ES256" && c.SigningAlg != "RS256" {
		p = append(p, fmt.Sprintf("MLFLOW_GATE_TOKEN_SIGNING_ALG must be ES256 or RS256, not %q", c.SigningAlg))
	}
	for _, d := range []struct {
		v    time.Duration
		name string
	}{{c.AccessTokenTTL, "MLFLOW_GATE_TOKEN_ACCESS_TTL"}, {c.IDTokenTTL, "MLFLOW_GATE_TOKEN_ID_TTL"},
		{c.RefreshIdleTTL, "MLFLOW_GATE_TOKEN_REFRESH_IDLE_TTL"}, {c.RefreshMaxTTL, "MLFLOW_GATE_TOKEN_REFRESH_MAX_TTL"}, {c.SessionTTL, "MLFLOW_GATE_SESSION_TTL"},
		{c.SessionIdleTTL, "MLFLOW_GATE_SESSION_IDLE_TTL"}} {
		if d.v <= 0 {
			p = append(p, d.name+" must be positive")
		}
	}
	if c.RefreshIdleTTL > c.RefreshMaxTTL {
		p = append(p, "MLFLOW_GATE_TOKEN_REFRESH_IDLE_TTL must not exceed MLFLOW_GATE_TOKEN_REFRESH_MAX_TTL")
	}
	if c.ShutdownTimeout <= 0 {
		p = append(p, "MLFLOW_GATE_SHUTDOWN_TIMEOUT must be positive")
	}
	return p
}

// validateSecret checks what the key commands take from the serve settings.
func (c *Config) validateSecret() []string {
	var p []string
	if len(c.Secret) < 32 {
		p = append(p, "MLFLOW_GATE_SECRET is required, the one `serve` uses (at least 32 characters)")
	}
	if c.SigningAlg != "ES256" && c.SigningAlg != "RS256" {
		p = append(p, fmt.Sprintf("MLFLOW_GATE_TOKEN_SIGNING_ALG must be ES256 or RS256, not %q", c.SigningAlg))
	}
	if c.AccessTokenTTL <= 0 || c.IDTokenTTL <= 0 {
		p = append(p, "MLFLOW_GATE_TOKEN_ACCESS_TTL and MLFLOW_GATE_TOKEN_ID_TTL must be positive")
	}
	return p
}

// ConfigError lists every problem found; main exits with status 2 on it.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// DeriveKey returns a 32-byte key for one purpose, derived from the master
// secret with HKDF-SHA256 (RFC 5869) so that no key is ever the raw secret and
// a key leaked from one purpose says nothing about another.
func (c *Config) DeriveKey(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(c.Secret), []byte("mlflow-gate v1"), purpose, 32)
	if err != nil {
		panic(err) // only for lengths HKDF cannot produce; 32 is always fine
	}
	return k
}

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("mlflow-gate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
