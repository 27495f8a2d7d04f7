package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"
)

// NewTransport returns the transport the gate uses toward MLflow when Config has
// none: keep-alive with enough idle connections per host that a burst of clients
// does not open (and TIME_WAIT) a connection per request, and responseHeader as
// the upstream timeout (504). Bodies may stream for as long as they need.
func NewTransport(responseHeader time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: nil, // never an environment proxy between the gate and MLflow
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: responseHeader,
		ExpectContinueTimeout: time.Second,
		// Pass compressed responses through as they are: decompressing and
		// recompressing costs CPU for nothing.
		DisableCompression: true,
	}
}

// bufferPool gives ReverseProxy its 32 KiB copy buffers; without one it
// allocates a new buffer for every response.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(s []byte) { b.p.Put(&s) }

// stripPrefixes are request headers the client must not set toward MLflow: the
// gate's own identity headers and those other auth proxies use for the user, so
// that no deployment behind the gate can be fooled by a client-sent one.
// Forwarded/X-Forwarded-* are the gate's to set (ReverseProxy drops the client's).
var stripPrefixes = []string{"X-Mlflow-Gate-", "X-Forwarded-", "X-Auth-Request-", "X-Webauth-", "X-Authenticated-"}

var stripExact = []string{
	"Authorization",                 // the gate's credential; see credentialRequest for /gateway/
	GatewayAuthHeader,               // X-MLflow-Authorization: the gate's credential on /gateway/
	"Cookie",                        // the gate's session; MLflow's server reads no cookies
	"Origin",                        // see below
	"Forwarded",                     // set by the gate only
	"X-Real-Ip",                     // set by the gate only
	"X-Remote-User",                 // identity headers of other proxies
	"Remote-User",                   //
	"X-User",                        //
	"X-Email",                       //
	"X-Mlflow-Assistant-Delegation", // MLflow's own user-scoped delegation credential
	"X-Mlflow-Guardrail-Bypass",     // MLflow's internal "skip the AI-gateway guardrails" flag
}

// Origin is dropped because the gate has done the browser check itself
// (http.CrossOriginProtection in ServeHTTP) and MLflow's CORSBlockingMiddleware
// (mlflow/server/security.py) refuses every POST/PUT/PATCH/DELETE under /api and /ajax-api that
// carries an Origin other than localhost: the UI served at https://mlflow.example.com
// would be refused on its first write. Without Origin MLflow treats the request like
// the Python client's, which is right: it has passed the gate's own CSRF check.

// rewrite is ReverseProxy's Rewrite: it runs after ReverseProxy has cloned the
// request and removed hop-by-hop and X-Forwarded/Forwarded headers.
func (g *Gate) rewrite(pr *httputil.ProxyRequest) {
	c := callOf(pr.In.Context())
	out := pr.Out
	// The request forwarded is the request decided: the raw path exactly as
	// received (authz decided on its normalization), under the upstream's base
	// path, and the raw query untouched. Opaque makes net/http send it verbatim
	// instead of re-escaping Path.
	out.URL.Scheme = g.upstream.Scheme
	out.URL.Host = g.upstream.Host
	out.URL.Opaque = g.basePath + c.rawPath
	out.URL.Path, out.URL.RawPath = c.target.Path, ""
	out.URL.RawQuery = c.rawQuery
	out.URL.ForceQuery = false
	// MLflow's Host check (its DNS-rebinding guard, mlflow/server/security_utils.py) accepts its own listen address; the
	// gate has already checked the client's Host against the issuer's (421).
	out.Host = g.upstream.Host

	h := out.Header
	provider := h.Get("Authorization")
	for k := range h {
		if strings.IndexByte(k, '_') >= 0 {
			// MLflow's Flask side reads headers from the WSGI environ, where
			// X_Remote_User and X-Remote-User are both HTTP_X_REMOTE_USER: every
			// name stripped below has as many underscore spellings as it has
			// dashes, X_MLFLOW_WORKSPACE included. Like nginx's default
			// (underscores_in_headers off), no header with an underscore in its
			// name reaches MLflow; no client MLflow knows sends one.
			delete(h, k)
			continue
		}
		for _, p := range stripPrefixes {
			if strings.HasPrefix(k, p) {
				delete(h, k)
				break
			}
		}
	}
	for _, k := range stripExact {
		delete(h, k)
	}
	if c.providerKey && provider != "" {
		h["Authorization"] = []string{provider} // the caller's LLM key on /gateway/, for MLflow to pass on
	}
	if !g.workspaces {
		delete(h, "X-Mlflow-Workspace") // MLflow refuses the header when workspaces are off
	}
	if c.principal.Username != "" { // "": a public asset, forwarded without identity
		h["X-Mlflow-Gate-User"] = []string{c.principal.Username}
	}
	if c.principal.ClientID != "" {
		h["X-Mlflow-Gate-Client"] = []string{c.principal.ClientID}
	}
	// X-Forwarded-For/Host/Proto computed by the gate. MLflow's assistant treats
	// a request carrying any of them as remote (assistant/api.py _is_localhost);
	// without them every caller through the gate would look like a loopback one.
	pr.SetXForwarded()

	if c.body != nil {
		body := c.body
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		out.ContentLength = int64(len(body))
		out.TransferEncoding = nil
		if len(body) == 0 {
			out.Body, out.GetBody = nil, nil
		}
	}
}

// inertTypes are the artifact types a browser shows without running
// anything, which the UI previews: raster images, plain text, JSON and CSV.
// SVG and HTML are not among them.
var inertTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/bmp": true,
	"text/plain": true, "application/json": true, "text/csv": true,
}

func inertType(contentType string) bool {
	t, _, _ := strings.Cut(contentType, ";")
	return inertTypes[strings.ToLower(strings.TrimSpace(t))]
}

// modifyResponse drops cookies MLflow might set (the gate owns its origin's
// cookie names) and keeps artifact bytes from running as active content on the
// gate's origin: CSP sandbox gives an HTML or SVG artifact opened in a tab an
// opaque origin, and <img> sources in the UI are not affected. A successful
// answer of a type outside the inert ones the UI previews is also an
// attachment, so a browser saves it rather than showing it.
func (g *Gate) modifyResponse(resp *http.Response) error {
	resp.Header.Del("Set-Cookie")
	c := callOf(resp.Request.Context())
	if c != nil && c.artifact {
		resp.Header.Set("Content-Security-Policy", "sandbox")
		resp.Header.Set("X-Content-Type-Options", "nosniff")
		if resp.StatusCode/100 == 2 && !inertType(resp.Header.Get("Content-Type")) &&
			!strings.HasPrefix(strings.ToLower(resp.Header.Get("Content-Disposition")), "attachment") {
			resp.Header.Set("Content-Disposition", "attachment")
		}
	}
	if resp.StatusCode >= 500 && !isEventStream(resp.Header) {
		g.hideServerError(c, resp)
	} else if resp.StatusCode >= 400 && (c == nil || !c.artifact) && resp.ContentLength >= 0 &&
		resp.ContentLength <= maxLoggedError && resp.Header.Get("Content-Encoding") == "" {
		g.hideClientErrorInternals(c, resp)
	}
	if c != nil && c.stampRun && resp.StatusCode == http.StatusOK {
		return g.tagCreatedRun(c, resp)
	}
	if c != nil && c.gqlFilter && resp.StatusCode == http.StatusOK {
		return g.filterGraphQL(c, resp)
	}
	if c != nil && c.creates != 0 && resp.StatusCode == http.StatusOK && g.owners != nil && c.principal.Username != "" &&
		!c.principal.Service {
		return g.recordOwner(c, resp)
	}
	return nil
}

// errRunNotTagged: MLflow created a run the gate could not tag (502).
var errRunNotTagged = errors.New("proxy: the created run could not be tagged with " + userTag)

// maxCreatedRun bounds the run-creation answer the gate reads for its id.
const maxCreatedRun = 1 << 20

// tagCreatedRun sets mlflow.user on the run create-promptlab-run made. That
// handler passes the body's tags to the store as plain dicts, which no store
// can read (any tag fails the request), so the gate cannot put the tag in the
// body as it does on runs/create; it sets it with runs/set-tag, as the gate
// user, before the caller sees the run. On failure the caller gets 502, not the
// untagged run.
func (g *Gate) tagCreatedRun(c *call, resp *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCreatedRun+1))
	_ = resp.Body.Close()
	if err != nil || len(b) > maxCreatedRun || resp.Header.Get("Content-Encoding") != "" {
		return fmt.Errorf("%w: reading MLflow's answer: %v", errRunNotTagged, err)
	}
	var created struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := json.Unmarshal(b, &created); err != nil || created.Run.Info.RunID == "" {
		return fmt.Errorf("%w: MLflow's answer names no run", errRunNotTagged)
	}
	body, _ := json.Marshal(map[string]string{"run_id": created.Run.Info.RunID, "key": userTag, "value": c.principal.Username})
	u := *g.upstream
	u.Path, u.RawPath = strings.TrimRight(g.upstream.Path, "/")+"/api/2.0/mlflow/runs/set-tag", ""
	req, err := http.NewRequestWithContext(resp.Request.Context(), http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errRunNotTagged, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Mlflow-Gate-User", c.principal.Username)
	tr, err := g.transport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("%w: %w", errRunNotTagged, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(tr.Body, maxLoggedError))
	_ = tr.Body.Close()
	if tr.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: runs/set-tag answered %d: %s", errRunNotTagged, tr.StatusCode, msg)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.TransferEncoding = nil
	return nil
}

// maxLoggedError bounds how much of an MLflow error body goes to the log.
const maxLoggedError = 4 << 10

// hideServerError replaces the body of an MLflow 5xx. MLflow puts the
// exception's text in the message of its 500s and 503s: psycopg2 and
// SQLAlchemy errors with the SQL statement, its parameters and constraint
// names, Python errors naming internals. The caller gets MLflow's error_code
// (INTERNAL_ERROR when the body is not MLflow's JSON) and the request id, with
// the status kept (the stock client retries 503 by itself); the log gets the
// original, bounded.
func (g *Gate) hideServerError(c *call, resp *http.Response) {
	orig, _ := io.ReadAll(io.LimitReader(resp.Body, maxLoggedError))
	_ = resp.Body.Close()
	code := "INTERNAL_ERROR"
	if resp.Header.Get("Content-Encoding") == "" {
		code = errorCodeOf(orig, code)
	}
	rid := g.replaceErrorBody(c, resp, orig, code, "MLflow answered with a server error")
	msg := "MLflow failed to handle the request"
	if rid != "" {
		msg += "; request id " + rid + " (the server log has the detail)"
	}
	setErrorBody(resp, code, msg)
}

// errorCodeOf is the error_code of an MLflow error body, or def when it has none
// that is safe to pass on.
func errorCodeOf(body []byte, def string) string {
	var e struct {
		Code string `json:"error_code"`
	}
	if json.Unmarshal(body, &e) == nil && isErrorCode(e.Code) {
		return e.Code
	}
	return def
}

// replaceErrorBody logs MLflow's original answer with why it is withheld and
// returns the request id the caller's message names.
func (g *Gate) replaceErrorBody(c *call, resp *http.Response, orig []byte, code, why string) string {
	rid := ""
	if c != nil {
		rid = g.requestID(c.ResponseWriter, resp.Request)
	}
	g.log.LogAttrs(resp.Request.Context(), slog.LevelWarn, why,
		slog.Int("status", resp.StatusCode), slog.String("method", resp.Request.Method),
		slog.String("path", resp.Request.URL.Path), slog.String("request_id", rid), slog.String("error_code", code),
		slog.String("body", string(orig)))
	return rid
}

// setErrorBody replaces the answer's body with MLflow's error shape, keeping
// its status, and drops headers that described the old body.
func setErrorBody(resp *http.Response, code, msg string) {
	b, _ := json.Marshal(errorBody{Code: code, Message: msg})
	h := resp.Header
	for _, k := range []string{"Content-Encoding", "Content-Md5", "Etag", "Last-Modified", "Content-Range", "Content-Disposition", "Trailer"} {
		h.Del(k)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.TransferEncoding = nil
	resp.Trailer = nil
}

// internalsMarkers are what MLflow's refusals carry when they pass a database
// error on verbatim: SQLAlchemy prints the statement and its parameters (a 400
// for a foreign-key or unique violation, for example log-metric with an unknown
// model_id, or an over-long run name).
var internalsMarkers = []string{"[SQL:", "[parameters:", "(psycopg2.", "(sqlite3.", "(pymysql.", "sqlalche.me",
	"Traceback (most recent call last)"}

// hideClientErrorInternals keeps a 4xx refusal's status and error code but
// replaces a message that names server internals; clean messages (the common
// case, which the stock client prints) pass untouched.
func (g *Gate) hideClientErrorInternals(c *call, resp *http.Response) {
	orig, err := io.ReadAll(io.LimitReader(resp.Body, maxLoggedError+1))
	_ = resp.Body.Close()
	leaks := false
	for _, m := range internalsMarkers {
		if bytes.Contains(orig, []byte(m)) {
			leaks = true
			break
		}
	}
	if err != nil || !leaks {
		resp.Body = io.NopCloser(bytes.NewReader(orig))
		return
	}
	code := errorCodeOf(orig, "INVALID_PARAMETER_VALUE")
	rid := g.replaceErrorBody(c, resp, orig, code, "MLflow's refusal named server internals; the caller got a short message")
	msg := "MLflow refused the request (" + code + "); its message named server internals and is in the server log"
	if rid != "" {
		msg += " under request id " + rid
	}
	setErrorBody(resp, code, msg)
}

// isErrorCode accepts MLflow's error codes (ErrorCode enum names) and nothing
// that could carry text: upper-case letters, digits and underscores.
func isErrorCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < 'A' || b > 'Z') && (b < '0' || b > '9') && b != '_' {
			return false
		}
	}
	return true
}

func isEventStream(h http.Header) bool {
	ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
}

// errorHandler answers transport failures in MLflow's shape, without internals
// (addresses, ports, errno text) that would tell a client about the network
// behind the gate; the log gets the detail.
func (g *Gate) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	c := callOf(r.Context())
	var status int
	var code, msg, kind string
	switch {
	case errors.Is(err, errNotFiltered):
		status, code, msg, kind = http.StatusBadGateway, codeBadGateway, "the gate could not filter MLflow's GraphQL answer", UpstreamUnreachable
	case errors.Is(err, errOwnerNotRecorded):
		status, code, msg, kind = http.StatusBadGateway, codeBadGateway, "MLflow created it but the gate could not record you as its owner; ask an administrator to grant it to you", UpstreamUnreachable
	case errors.Is(err, errRunNotTagged):
		status, code, msg, kind = http.StatusBadGateway, codeBadGateway, "MLflow created the run but the gate could not set its "+userTag+" tag", UpstreamUnreachable
	case errors.Is(err, errSlowBody) || (c != nil && c.rate != nil && c.rate.tripped.Load()):
		status, code, msg, kind = http.StatusRequestTimeout, codeRequestTimeout, "request body arrived too slowly", UpstreamSlowClient
	case r.Context().Err() != nil && errors.Is(err, context.Canceled):
		status, kind = statusClientClosed, UpstreamClientGone
	case isTimeout(err) || errors.Is(err, context.DeadlineExceeded):
		status, code, msg, kind = http.StatusGatewayTimeout, codeGatewayTimeout, "MLflow did not answer in time", UpstreamTimeout
	default:
		status, code, msg, kind = http.StatusBadGateway, codeBadGateway, "MLflow is unreachable", UpstreamUnreachable
	}
	g.metrics.UpstreamError(kind)
	level := g.log.Warn
	if kind == UpstreamClientGone {
		level = g.log.Debug
	}
	level("upstream request failed", "kind", kind, "method", r.Method, "path", r.URL.Path, "error", err.Error())
	if c != nil {
		c.status = status
	}
	if status == statusClientClosed {
		return // nobody to answer
	}
	WriteError(w, status, code, msg)
}
