package proxy

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/internal/reqid"
)

// DefaultMaxBody is the largest JSON body the gate buffers to read ids from
// (MaxBody 0). MLflow's largest ordinary bodies are log-batch and dataset records.
const DefaultMaxBody = authz.DefaultMaxJSONBody

// Config is what New needs. Upstream, Hosts, Policy and Auth are required.
type Config struct {
	Upstream *url.URL // MLflow's base URL; a path is a prefix (MLflow's --static-prefix)
	// Hosts are the Host values the gate answers for: the issuer's host and its
	// aliases. Anything else gets 421, so that rewriting Host toward MLflow does
	// not undo MLflow's DNS-rebinding check. An entry without a port matches any
	// port of that host; with one, exactly.
	Hosts  []string
	Policy *authz.Holder
	Auth   Authenticator
	Audit  AuditSink    // nil: no audit
	Metric Metrics      // nil: no metrics
	Logger *slog.Logger // nil: discard
	// MaxBody limits the JSON bodies buffered for routes whose ids travel in the
	// body (and GraphQL); larger ones get 400. Other bodies (artifact uploads)
	// stream through unbuffered and unlimited. 0: DefaultMaxBody.
	MaxBody    int64
	AuditReads bool // audit allowed reads too (writes, deletes and refusals always are)
	Workspaces bool // forward X-MLFLOW-WORKSPACE (MLflow runs with --enable-workspaces)
	// UITelemetry forwards the UI's ui-telemetry calls to MLflow, which passes
	// the (caller-built) records on to MLflow's telemetry service. Off: the gate
	// answers them itself as MLflow does with telemetry disabled.
	UITelemetry bool
	// Transport toward MLflow; nil: NewTransport(UpstreamTimeout), shared by
	// every request. UpstreamTimeout must then be 0: set the timeout on yours.
	Transport       http.RoundTripper
	UpstreamTimeout time.Duration // time MLflow has to start answering (504); 0: 60 s
	// MinBodyRate (bytes/s) and BodyGrace cut off clients that send request bodies
	// too slowly (408): see minRateReader. 0: off.
	MinBodyRate int64
	BodyGrace   time.Duration
	// Origin is the issuer's origin (scheme://host[:port]): a write by a
	// session-cookie caller must come from exactly it. "": such writes are refused.
	Origin string
	// LoginPath is where a browser without credentials asking for the UI is
	// sent (303, with return_to); "": it gets 401 like an API caller.
	LoginPath string
	// RequestID returns the id of the request for audit records; nil reads the
	// id cmd's middleware put in the request's context (package reqid).
	RequestID func(w http.ResponseWriter, r *http.Request) string
	// Grants are the resource-level grants (authz.GrantHolder); nil: the route
	// table alone decides.
	Grants GrantSource
	// PageKey seals the page tokens of filtered searches (search.go); replicas
	// must share it. nil: a random key, good for this process only.
	PageKey []byte
	// OwnRunsOnly: inside an experiment where the caller's level is below
	// manage, runs may be changed or deleted only by the user who created
	// them (their mlflow.user, which the gate enforces).
	OwnRunsOnly bool
	// Owners records who created an experiment or a registered model; nil:
	// nobody is recorded.
	Owners OwnerSink
	// Artifacts serves the artifact proxy API's bytes straight from the
	// bucket (the routes whose authz.Route.Store is set), after the same
	// decision; nil: MLflow serves them. Not used with Workspaces, under
	// which MLflow keeps each workspace's artifacts in a layout of its own.
	Artifacts ArtifactStore
	// HostsSetting names the setting that adds hosts to Hosts (whose first
	// is the issuer's), so that the 421 answer can say what would let a
	// host in; "": it names none.
	HostsSetting string
}

// ArtifactStore performs one of the artifact proxy API's operations on the
// bucket and writes MLflow's answer.
type ArtifactStore interface {
	ServeArtifact(w http.ResponseWriter, r *http.Request, call ArtifactCall)
}

// ArtifactCall is one operation for the ArtifactStore.
type ArtifactCall struct {
	Op authz.StoreOp
	// Path is the artifact path as the route table read it (percent-decoded,
	// unchecked: the store checks it against its layout). For StoreRunList
	// it is the run's artifact root in the layout, Rel the folder below it
	// ("" for the root) and RootURI the run's artifact URI.
	Path, Rel, RootURI string
	Body               []byte // the buffered JSON body of a multipart call
	Replace            bool   // the caller may replace an existing file (may delete)
}

// Gate is the authorizing reverse proxy. It is safe for concurrent use. Close
// it when done: it writes authentication-failure summaries in the background.
type Gate struct {
	upstream    *url.URL
	basePath    string
	hosts       []hostPattern
	policy      *authz.Holder
	auth        Authenticator
	audit       AuditSink
	metrics     Metrics
	log         *slog.Logger
	maxBody     int64
	auditReads  bool
	workspaces  bool
	telemetry   bool
	minRate     int64
	grace       time.Duration
	requestID   func(http.ResponseWriter, *http.Request) string
	origin      string
	hostsEnv    string // Config.HostsSetting
	loginPath   string
	cop         *http.CrossOriginProtection
	rp          *httputil.ReverseProxy
	lookup      *http.Client // the gate's own questions to MLflow (overwrite.go, resources.go)
	grants      GrantSource  // nil: no resource grants
	pageKey     []byte
	owners      OwnerSink
	artifacts   ArtifactStore // nil: MLflow serves artifact bytes
	ownRunsOnly bool
	resolver    *resolver
	transport   http.RoundTripper // toward MLflow, also for the gate's own follow-up calls
	failures    *authFailures
	stop        chan struct{} // closed by Close
	flushDone   chan struct{} // closed when the failure flusher has stopped
	closeOnce   sync.Once
}

type hostPattern struct {
	host    string // lower case
	anyPort bool
}

// New checks cfg and builds the gate.
func New(cfg Config) (*Gate, error) {
	var problems []string
	if cfg.Upstream == nil || (cfg.Upstream.Scheme != "http" && cfg.Upstream.Scheme != "https") || cfg.Upstream.Host == "" {
		problems = append(problems, "Upstream must be an http or https URL with a host")
	} else if cfg.Upstream.RawQuery != "" || cfg.Upstream.Fragment != "" || cfg.Upstream.User != nil {
		problems = append(problems, "Upstream must not have a query, fragment or user info")
	}
	if len(cfg.Hosts) == 0 {
		problems = append(problems, "Hosts must name at least the issuer's host")
	}
	if cfg.Policy == nil {
		problems = append(problems, "Policy is required")
	}
	if cfg.Auth == nil {
		problems = append(problems, "Auth is required")
	}
	if cfg.Transport != nil && cfg.UpstreamTimeout != 0 {
		problems = append(problems, "UpstreamTimeout applies to the gate's own transport: set it on the Transport given")
	}
	if cfg.MaxBody < 0 || cfg.MinBodyRate < 0 || cfg.BodyGrace < 0 || cfg.UpstreamTimeout < 0 {
		problems = append(problems, "MaxBody, MinBodyRate, BodyGrace and UpstreamTimeout must not be negative")
	}
	g := &Gate{policy: cfg.Policy, auth: cfg.Auth, audit: cfg.Audit, metrics: cfg.Metric, log: cfg.Logger,
		maxBody: cfg.MaxBody, auditReads: cfg.AuditReads, workspaces: cfg.Workspaces, telemetry: cfg.UITelemetry,
		minRate: cfg.MinBodyRate, grace: cfg.BodyGrace, requestID: cfg.RequestID, cop: http.NewCrossOriginProtection(),
		origin: cfg.Origin, hostsEnv: cfg.HostsSetting, loginPath: cfg.LoginPath}
	if cfg.Origin != "" {
		if u, err := url.Parse(cfg.Origin); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.String() != u.Scheme+"://"+u.Host || strings.ToLower(cfg.Origin) != cfg.Origin {
			problems = append(problems, "Origin must be scheme://host[:port] in lower case, without a path")
		}
	}
	if cfg.LoginPath != "" && (!strings.HasPrefix(cfg.LoginPath, "/") || strings.HasPrefix(cfg.LoginPath, "//") || strings.ContainsAny(cfg.LoginPath, "?#")) {
		problems = append(problems, "LoginPath must be a path on this server")
	}
	for _, h := range cfg.Hosts {
		hp, err := parseHost(h)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		g.hosts = append(g.hosts, hp)
	}
	if len(problems) > 0 {
		return nil, errors.New("proxy: " + strings.Join(problems, "; "))
	}
	g.upstream = cfg.Upstream
	g.basePath = strings.TrimRight(cfg.Upstream.EscapedPath(), "/")
	if g.maxBody == 0 {
		g.maxBody = DefaultMaxBody
	}
	if g.audit == nil {
		g.audit = nopSink{}
	}
	if g.metrics == nil {
		g.metrics = nopMetrics{}
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.requestID == nil {
		g.requestID = func(_ http.ResponseWriter, r *http.Request) string { return reqid.From(r.Context()) }
	}
	transport := cfg.Transport
	if transport == nil {
		timeout := cfg.UpstreamTimeout
		if timeout == 0 {
			timeout = 60 * time.Second
		}
		transport = NewTransport(timeout)
	}
	g.grants, g.resolver, g.owners, g.ownRunsOnly = cfg.Grants, newResolver(), cfg.Owners, cfg.OwnRunsOnly
	if !cfg.Workspaces {
		g.artifacts = cfg.Artifacts
	}
	if g.pageKey = cfg.PageKey; len(g.pageKey) == 0 {
		g.pageKey = make([]byte, 32)
		_, _ = rand.Read(g.pageKey)
	}
	g.lookup = &http.Client{Transport: transport, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	g.transport = transport
	g.rp = &httputil.ReverseProxy{
		Rewrite:   g.rewrite,
		Transport: transport,
		// No periodic flushing: ReverseProxy already flushes every write of a
		// streaming response (text/event-stream, as the assistant sends, or an
		// unknown length), and the server's buffer streams large downloads.
		// Flushing every response (-1) costs a separate header write and a
		// goroutine per request: about a third of the gate's overhead.
		FlushInterval:  0,
		BufferPool:     newBufferPool(),
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		ErrorHandler:   g.errorHandler,
		ModifyResponse: g.modifyResponse,
	}
	g.failures, g.stop, g.flushDone = newAuthFailures(), make(chan struct{}), make(chan struct{})
	go g.runFailureFlush(authFailureWindow)
	return g, nil
}

func parseHost(h string) (hostPattern, error) {
	h = strings.ToLower(strings.TrimSpace(h))
	if h == "" || strings.ContainsAny(h, "/?#@ ") {
		return hostPattern{}, fmt.Errorf("host %q is not a host or host:port", h)
	}
	if _, _, err := net.SplitHostPort(h); err == nil {
		return hostPattern{host: h}, nil
	}
	return hostPattern{host: h, anyPort: true}, nil
}

// hostAllowed compares without allocating: hosts are few and Host is short.
func (g *Gate) hostAllowed(host string) bool {
	for _, p := range g.hosts {
		if strings.EqualFold(host, p.host) {
			return true
		}
		if p.anyPort && len(host) > len(p.host) && host[len(p.host)] == ':' && strings.EqualFold(host[:len(p.host)], p.host) {
			return true
		}
	}
	return false
}

// rawTarget returns the path and query exactly as the client sent them. The
// request line's target is the authority on what the client asked for; URL's
// EscapedPath may re-escape. An absolute-form target (RFC 9112 §3.2.2) falls back
// to the parsed URL, which then is what the gate decides and forwards alike.
func rawTarget(r *http.Request) (path, query string) {
	uri := r.RequestURI
	if strings.HasPrefix(uri, "/") {
		path, _, _ = strings.Cut(uri, "?")
		return path, r.URL.RawQuery
	}
	return r.URL.EscapedPath(), r.URL.RawQuery
}

// readBody buffers a body the gate must read before deciding, with the limit.
func (g *Gate) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *refusal) {
	tooLarge := func() *refusal { return badRequest(fmt.Sprintf("request body larger than %d bytes", g.maxBody)) }
	if r.ContentLength > g.maxBody {
		return nil, tooLarge()
	}
	body, _ := limitBodyRate(w, r, g.minRate, g.grace)
	if body == nil || body == http.NoBody {
		return []byte{}, nil
	}
	var b []byte
	var err error
	if r.ContentLength >= 0 && r.ContentLength <= 64<<10 {
		b = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, b)
	} else {
		// Grow with the bytes that actually arrive: a declared length is a
		// promise, and trusting it would let idle connections each pin MaxBody.
		b, err = io.ReadAll(io.LimitReader(body, g.maxBody+1))
		if err == nil && int64(len(b)) > g.maxBody {
			return nil, tooLarge()
		}
	}
	switch {
	case errors.Is(err, errSlowBody):
		g.metrics.UpstreamError(UpstreamSlowClient)
		return nil, &refusal{Status: http.StatusRequestTimeout, Code: codeRequestTimeout,
			Message: "request body arrived too slowly", Outcome: OutcomeBadRequest, Reason: "bad_request"}
	case err != nil:
		return nil, badRequest("could not read the request body")
	}
	return b, nil
}
