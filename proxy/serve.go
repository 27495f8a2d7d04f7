package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// call is one request's state: Rewrite, ModifyResponse and ErrorHandler find it
// in the context, and it wraps the ResponseWriter to learn the status for the
// audit record. One allocation carries all of it.
type call struct {
	http.ResponseWriter
	start       time.Time
	principal   Principal
	providerKey bool // Authorization is the caller's provider key (see credentialRequest)
	rawPath     string
	rawQuery    string
	target      authz.Target // normalized path and route, matched once
	body        []byte       // the buffered body to forward; nil: stream the client's
	artifact    bool
	status      int
	rate        *minRateReader  // the streamed body's rate limit, if any
	stampRun    bool            // tag the run MLflow creates with mlflow.user (create-promptlab-run)
	creates     authz.RouteKind // record the caller as the owner of what MLflow creates
	gqlFilter   bool            // drop unreadable registered models from a GraphQL answer
}

type callKey struct{}

func callOf(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

func (c *call) WriteHeader(code int) {
	if c.status == 0 && code >= 200 { // 1xx (103 Early Hints) are not the answer
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *call) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (ReverseProxy's flushes, read deadlines)
// reach the server's writer.
func (c *call) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// ServeHTTP gates one request: Host, identity, browser origin, strict reading,
// decision, the mlflow.user rule, then forwarding to MLflow.
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{ResponseWriter: w, start: time.Now()}
	c.rawPath, c.rawQuery = rawTarget(r)
	if !g.hostAllowed(r.Host) {
		// Before identifying: a request for another host is not ours to judge.
		g.misdirected(c, r)
		return
	}

	if isPublic(r.Method, c.rawPath) {
		// The UI's assets: anyone may have them, as from MLflow itself.
		if t, err := authz.Locate(r.Method, c.rawPath); err == nil && isPublic(r.Method, t.Path) {
			if r.ContentLength != 0 {
				g.refuse(c, r, nil, nil, badRequest("a GET request must not have a body"))
				return
			}
			c.target = t
			g.metrics.Outcome(OutcomeAllow)
			g.forward(c, w, r)
			return
		}
	}

	ar, providerKey := credentialRequest(r)
	p, err := g.auth.Authenticate(ar)
	if err != nil {
		if errors.Is(err, ErrNoCredentials) && g.loginPath != "" && wantsLogin(r.Method, c.rawPath) {
			g.redirectToLogin(c, r)
			return
		}
		g.refuseIdentity(c, r, err)
		return
	}
	c.principal, c.providerKey = p, providerKey

	// Every browser write is checked for its origin, whatever the credential:
	// a session cookie is ambient, and so is Basic once a browser has cached
	// it. Cookie callers get the exact rule (Origin is the issuer's); token
	// callers the general one (Sec-Fetch-Site, else Origin against Host), which
	// non-browser clients, sending neither, pass.
	crossOrigin := false
	if p.Kind == KindSession {
		crossOrigin = !g.sessionOriginOK(r)
	} else {
		crossOrigin = g.cop.Check(r) != nil
	}
	if crossOrigin {
		g.refuse(c, r, nil, nil, &refusal{Status: http.StatusForbidden, Code: codeDenied,
			Message: "cross-origin request refused", Outcome: OutcomeCrossOrigin, Reason: "cross_origin"})
		return
	}

	c.target, err = authz.Locate(r.Method, c.rawPath)
	if err != nil {
		g.refuse(c, r, nil, nil, unreadable(err))
		return
	}
	if isCurrentUser(r.Method, c.target.Path) {
		g.metrics.Outcome(OutcomeAllow)
		answerCurrentUser(c, r.Method, p)
		return
	}
	var body []byte
	if rt := c.target.Route(); rt != nil {
		if rt.BodyIDs() || rt.Kind.CreatesRun() || rt.Kind == authz.KindMultipartUpload || rt.Store.Multipart() {
			// The decision depends on the body: read it whole (with a limit), as
			// MLflow will, and forward exactly those bytes.
			if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
				g.refuse(c, r, nil, nil, badRequest("compressed request bodies are not accepted on this route"))
				return
			}
			var f *refusal
			if body, f = g.readBody(w, r); f != nil {
				g.refuse(c, r, nil, nil, f)
				return
			}
		}
		c.artifact = rt.Artifact
		if body == nil && r.ContentLength != 0 && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			// MLflow reads a GET's fields from the JSON body when the query string
			// is empty (handlers._get_request_message); the gate read the query.
			// No client MLflow knows sends a GET body: refuse rather than differ.
			g.refuse(c, r, nil, nil, badRequest("a GET request must not have a body"))
			return
		}
	}

	req, err := authz.ReadRequest(authz.Input{Method: r.Method, RawPath: c.rawPath, RawQuery: c.rawQuery,
		Target: &c.target, Header: r.Header, Body: body, MaxBody: int(g.maxBody)})
	if err != nil {
		g.refuse(c, r, nil, nil, unreadable(err))
		return
	}
	subject := authz.Subject{Name: p.Username, Roles: p.Roles}
	d := g.policy.Decide(subject, req)
	fromStore := g.artifacts != nil && d.Route != nil && d.Route.Store != authz.StoreNone
	// The resource grants first: a caller without access to the experiment
	// makes the gate ask MLflow nothing on their behalf.
	filter := filterNone
	resources := func() bool {
		if !d.Allow || g.grants == nil {
			return true
		}
		if filter, err = g.checkResources(r.Context(), subject, req, d.Scope); err != nil {
			f := resourceDenied(err)
			if f.Outcome == OutcomeUnavailable {
				g.log.LogAttrs(r.Context(), slog.LevelWarn, "resource lookup failed", slog.String("error", err.Error()))
			}
			g.refuse(c, r, req, &d, f)
			return false
		}
		return true
	}
	if !resources() {
		return
	}
	uploadTo := "" // where the store writes a StoreRootUpload
	if fromStore && d.Allow && d.Route.Store == authz.StoreRootUpload {
		// The store takes it only when the run's root is the gate's layout
		// (the run was looked up for the grants already); otherwise MLflow
		// does, after the overwrite check below.
		var root, rel string
		if root, rel, _, fromStore = g.rootPath(r.Context(), c, req, false); fromStore {
			uploadTo = root + "/" + rel
		}
	}
	if d.Allow && d.Route.Kind.Overwrites() && !fromStore {
		// (The store makes its writes conditional instead: serveArtifact.)
		scope := d.Scope
		if d, err = g.checkOverwrite(r.Context(), subject, req, d, c.rawQuery, body); err != nil {
			if errors.Is(err, errLookup) {
				g.log.LogAttrs(r.Context(), slog.LevelWarn, "overwrite check failed", slog.String("error", err.Error()))
				g.refuse(c, r, req, &d, &refusal{Status: http.StatusBadGateway, Code: codeBadGateway,
					Message: "mlflow-gate could not check with MLflow what this write would replace", Outcome: OutcomeUnavailable, Reason: "overwrite_check"})
				return
			}
			g.refuse(c, r, req, &d, unreadable(err))
			return
		}
		if d.Scope != scope && !resources() { // raised to a delete: the grants must allow that too
			return
		}
	}
	if !d.Allow {
		g.log.LogAttrs(r.Context(), slog.LevelInfo, "denied", slog.String("decision", d.String()),
			slog.String("user", p.Username), slog.String("request_id", g.requestID(w, r)))
		g.refuse(c, r, req, &d, denied(&d))
		return
	}
	if g.log.Enabled(r.Context(), slog.LevelDebug) {
		g.log.LogAttrs(r.Context(), slog.LevelDebug, "allowed", slog.String("decision", d.String()), slog.String("user", p.Username))
	}
	if kind := d.Route.Kind; kind.CreatesRun() {
		var err error
		if body, err = stampRun(kind, p.Username, body, d.Route.Proto, int(g.maxBody)); err != nil {
			f := unreadable(err)
			f.Reason = "mlflow_user_tag"
			g.refuse(c, r, req, &d, f)
			return
		}
		c.stampRun = kind == authz.KindPromptlabRunCreate
	}
	c.body = body
	c.gqlFilter = filter == filterGraphQL
	if d.Route.Kind.Creates() {
		c.creates = d.Route.Kind
	}

	g.metrics.Outcome(OutcomeAllow)
	switch {
	case !g.telemetry && d.Route.Kind == authz.KindUITelemetry:
		answerUITelemetry(c, r.Method)
	case filter == filterSearch:
		g.serveFiltered(c, w, r, subject, d.Route, body)
	case fromStore:
		g.serveArtifact(c, w, r, subject, req, d.Route.Store, body, uploadTo)
	default:
		g.forward(c, w, r)
	}

	if scope := d.Route.Scope; scope != authz.ScopeRead || g.auditReads {
		rule := ""
		if d.Permission != nil {
			rule = d.Permission.String()
		}
		g.record(c, r, req, &d, OutcomeAllow, rule)
	}
}

// serveArtifact has the artifact store perform an allowed artifact call. A
// write that the caller could not also make as a delete may not replace an
// existing file: the store then writes conditionally, which S3 decides
// atomically (no look-then-write race, and no question to MLflow).
//
// uploadTo is the artifact path of a StoreRootUpload, which ServeHTTP found
// when it chose the store for it.
func (g *Gate) serveArtifact(c *call, w http.ResponseWriter, r *http.Request, subject authz.Subject, req *authz.Request, op authz.StoreOp, body []byte, uploadTo string) {
	replace := false
	if op == authz.StoreUpload || op == authz.StoreRootUpload || op == authz.StoreMultipartCreate || op == authz.StoreMultipartComplete {
		replace = g.mayDelete(r.Context(), subject, req, overwriteWhy)
	}
	path := ""
	if ps := req.Attrs.Values(authz.IDArtifactPath); len(ps) > 0 {
		path = ps[0]
	}
	ac := ArtifactCall{Op: op, Body: body, Replace: replace}
	if op == authz.StoreRootList {
		var ok bool
		if ac.Path, ac.Rel, ac.RootURI, ok = g.rootPath(r.Context(), c, req, true); !ok {
			g.forward(c, w, r)
			return
		}
		g.artifacts.ServeArtifact(c, r, ac)
		return
	}
	if op == authz.StoreRootUpload {
		ac.Path = uploadTo
		in := r.Clone(r.Context())
		in.Body, c.rate = limitBodyRate(w, r, g.minRate, g.grace)
		g.artifacts.ServeArtifact(c, in, ac)
		return
	}
	if op == authz.StoreRootFile || op == authz.StoreVersionFile {
		var ok bool
		if op == authz.StoreRootFile {
			var root, rel string
			if root, rel, _, ok = g.rootPath(r.Context(), c, req, false); ok {
				path = root + "/" + rel
			}
		} else {
			path, ok = g.versionFile(r.Context(), c, req)
		}
		if !ok {
			g.forward(c, w, r) // not in the gate's layout (or unknown): MLflow answers as before
			return
		}
		op = authz.StoreDownload
	}
	in := r
	if op == authz.StoreUpload {
		in = r.Clone(r.Context())
		in.Body, c.rate = limitBodyRate(w, r, g.minRate, g.grace)
	}
	ac.Op, ac.Path = op, path
	g.artifacts.ServeArtifact(c, in, ac)
}

// rootPath is the artifact root in the gate's layout of the route's run
// or logged model (inside its own experiment), the path below it from the
// route's query parameter, and the root's URI. A folder may be the root
// itself (""), a file may not. A paged listing, or a path MLflow would
// refuse, is left to MLflow (ok false), as is any root outside the layout.
func (g *Gate) rootPath(ctx context.Context, c *call, req *authz.Request, folder bool) (root, rel, uri string, ok bool) {
	if rel, ok = storeRel(c, req, req.Route().StoreParam, folder); !ok {
		return "", "", "", false
	}
	var expID string
	var err error
	switch runs, models := req.Attrs.Values(authz.IDRun), req.Attrs.Values(authz.IDLoggedModel); {
	case len(runs) == 1 && len(models) == 0:
		expID, uri, err = g.resolver.rootOf(ctx, g, authz.IDRun, runs[0])
	case len(models) == 1 && len(runs) == 0:
		expID, uri, err = g.resolver.rootOf(ctx, g, authz.IDLoggedModel, models[0])
	default:
		return "", "", "", false
	}
	if err != nil {
		return "", "", "", false
	}
	root, ok = layoutDir(uri)
	if first, _, _ := strings.Cut(root, "/"); !ok || first != expID {
		return "", "", "", false
	}
	return root, rel, uri, true
}

// storeRel is the path below a root that the query parameter param names,
// when the store can serve the request: not a paged or presigned=true call
// (MLflow's to answer), and a relative path MLflow and the gate read alike
// ("" only for a folder, the root).
func storeRel(c *call, req *authz.Request, param string, folder bool) (string, bool) {
	q, err := authz.ParseQuery(c.rawQuery, req.Route().Repeat)
	if err != nil {
		return "", false
	}
	if tok, _ := q.Get("page_token"); tok != "" {
		return "", false
	}
	if _, presigned := q.Get("presigned"); presigned {
		return "", false // a JSON answer with a URL, not the file
	}
	rel, _ := q.Get(param)
	if (rel != "" || !folder) && !cleanRelPath(rel) {
		return "", false
	}
	return rel, true
}

// versionFile is the artifact path of model-versions/get-artifact's ?path=
// below the version's download URI, when MLflow says that is in the gate's
// layout. The answer is not remembered: a registered model deleted and made
// again has new versions under the old numbers. A presigned=true request
// (a JSON answer, not the file) is MLflow's.
func (g *Gate) versionFile(ctx context.Context, c *call, req *authz.Request) (string, bool) {
	names, versions := req.Attrs.Values(authz.IDRegisteredModel), req.Attrs.Values(authz.IDModelVersion)
	rel, ok := storeRel(c, req, "path", false)
	if !ok || len(names) != 1 || len(versions) != 1 {
		return "", false
	}
	uri, err := g.lookupString(ctx, "/api/2.0/mlflow/model-versions/get-download-uri", url.Values{"name": names, "version": versions}, "artifact_uri")
	if err != nil {
		return "", false
	}
	dir, ok := layoutDir(uri)
	if !ok {
		return "", false
	}
	return dir + "/" + rel, true
}

// layoutDir is the folder of an mlflow-artifacts:/ URI on this server
// (no host), without slashes at either end.
func layoutDir(uri string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "mlflow-artifacts" || u.Host != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	dir := strings.Trim(u.Path, "/")
	if u.Opaque != "" {
		dir = strings.Trim(u.Opaque, "/")
	}
	return dir, dir != ""
}

// forward hands an allowed request to the reverse proxy.
func (g *Gate) forward(c *call, w http.ResponseWriter, r *http.Request) {
	in := r.WithContext(context.WithValue(r.Context(), callKey{}, c))
	if c.body == nil {
		in.Body, c.rate = limitBodyRate(w, r, g.minRate, g.grace)
	}
	// Protocol upgrades (WebSocket, h2c) would hand the client a raw connection
	// to MLflow past every later decision; MLflow uses none.
	if in.Header.Get("Upgrade") != "" {
		in.Header = in.Header.Clone()
		in.Header.Del("Upgrade")
	}
	g.rp.ServeHTTP(c, in)
}

// answerUITelemetry answers the UI's telemetry route (GET: the client config,
// POST: records to send on, authz.KindUITelemetry) as MLflow 3.18 does with telemetry disabled
// (server/handlers.py get_ui_telemetry_handler: telemetry/constant.py
// FALLBACK_UI_CONFIG; post_ui_telemetry_handler: status disabled, which tells
// the UI to stop sending). The records the caller built go nowhere.
func answerUITelemetry(w http.ResponseWriter, method string) {
	body := `{"status":"disabled"}`
	if method == http.MethodGet || method == http.MethodHead {
		body = `{"disable_ui_telemetry":true,"disable_ui_events":[],"ui_rollout_percentage":0}`
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}

// patPrefix starts every personal access token (idp.PATPrefix; the proxy
// does not import the provider).
const patPrefix = "mgp_"

// refuseIdentity answers a failed authentication. Anonymous requests are not
// audited; a presented-but-bad credential is counted per address into one
// summary row per minute (authfail.go): either kind, one row per request, would
// let anyone fill the table. The metric counts every one.
func (g *Gate) refuseIdentity(c *call, r *http.Request, err error) {
	const unauth = http.StatusUnauthorized
	switch {
	case errors.Is(err, ErrNoCredentials):
		challenges(c.Header(), r.URL.Path, false)
		g.refuse(c, r, nil, nil, &refusal{Status: unauth, Code: codeUnauthenticated, Outcome: OutcomeUnauthenticated,
			Message: "credentials required: a bearer token, or Basic with a username and personal access token"})
	case errors.Is(err, ErrNotForAPI):
		challenges(c.Header(), r.URL.Path, true)
		g.refuse(c, r, nil, nil, &refusal{Status: unauth, Code: codeUnauthenticated, Outcome: OutcomeUnauthenticated,
			Message: "this token was not issued for the MLflow API (it lacks the mlflow scope); log in with a client that has API access, or use a personal access token",
			Reason:  "token_not_for_api"})
	case errors.Is(err, ErrBadCredentials):
		challenges(c.Header(), r.URL.Path, true)
		msg := "invalid, expired or revoked credentials"
		if _, pw, ok := r.BasicAuth(); ok && !strings.HasPrefix(pw, patPrefix) {
			// Said of the form only, never of whether the password was right.
			msg = "Basic auth takes a personal access token (" + patPrefix + "...) as the password, not the account password; create one on your page, /gate/me"
		}
		g.refuse(c, r, nil, nil, &refusal{Status: unauth, Code: codeUnauthenticated, Outcome: OutcomeUnauthenticated, Message: msg})
		g.failures.add(r.RemoteAddr, reasonOf(err), c.start)
	default:
		// The verifier could not tell (database down, revocation state stale):
		// fail closed, and say 503 so the stock client retries rather than 401,
		// which it would not. The detail stays in the log.
		g.log.LogAttrs(r.Context(), slog.LevelError, "authentication unavailable", slog.String("error", err.Error()))
		c.Header().Set("Retry-After", "1")
		g.refuse(c, r, nil, nil, &refusal{Status: http.StatusServiceUnavailable, Code: codeUnavailable,
			Outcome: OutcomeUnavailable, Message: "authentication is temporarily unavailable"})
	}
}

// refuse writes f, counts it and, when it has a Reason, audits it.
func (g *Gate) refuse(c *call, r *http.Request, req *authz.Request, d *authz.Decision, f *refusal) {
	g.metrics.Outcome(f.Outcome)
	WriteError(c, f.Status, f.Code, f.Message)
	if f.Reason == "" {
		return
	}
	if d == nil && c.target.Route() != nil {
		d = &authz.Decision{Route: c.target.Route()}
	}
	g.record(c, r, req, d, f.Outcome, f.Reason)
}

func (g *Gate) record(c *call, r *http.Request, req *authz.Request, d *authz.Decision, outcome, rule string) {
	rec := AuditRecord{
		At: c.start, User: c.principal.Username, Subject: c.principal.Subject, ClientID: c.principal.ClientID,
		Credential: c.principal.Kind, TokenID: c.principal.TokenID, Method: r.Method, Path: c.rawPath,
		Decision: outcome, Rule: rule, Status: c.status, Latency: time.Since(c.start),
		RemoteAddr: r.RemoteAddr, RequestID: g.requestID(c.ResponseWriter, r),
	}
	if rec.Status == 0 {
		rec.Status = statusClientClosed // the proxy wrote nothing: the client went away
	}
	if d != nil && d.Route != nil {
		rec.Route, rec.Scope = d.Route.Key(), d.Route.Scope.String()
		if d.Scope != 0 {
			rec.Scope = d.Scope.String() // what the request asked for, effects included
		}
		if d.Resource != nil {
			rec.Resource = d.Resource.Name
		}
	}
	if req != nil && len(req.Attrs.IDs) > 0 {
		rec.IDs = make(map[string][]string, len(req.Attrs.IDs))
		for _, id := range req.Attrs.IDs {
			k := id.Kind.String()
			rec.IDs[k] = append(rec.IDs[k], id.Value)
		}
	}
	g.audit.Record(rec)
}

// gist is an authz or gate error for the client: what was refused, without the
// package prefix. It echoes only the client's own request.
func gist(err error) string {
	return strings.TrimPrefix(err.Error(), "authz: ")
}
