// Package proxy is the MLflow gate: it identifies the caller of every request
// (gate access token, personal access token, or browser session), decides it
// against the compiled permission policy from package authz, forwards what is
// allowed to MLflow with httputil.ReverseProxy, and audits it.
//
// It never touches the database on the hot path: it holds a compiled policy
// (authz.Holder) and declares the small interfaces it needs itself:
// Authenticator (the idp verifier behind it), AuditSink (the storage batch
// writer behind it) and Metrics (Prometheus counters). It imports authz only.
//
// # One request
//
//  1. Host must be the issuer's or an alias (421 otherwise), before anything else:
//     the gate rewrites Host toward MLflow, so it takes over MLflow's DNS-rebinding
//     check.
//  2. Identify: Authenticator.Authenticate. ErrNoCredentials is 401 with Bearer and
//     Basic challenges, ErrBadCredentials 401, anything else 503 (fail closed, and
//     the stock client retries 503 but never 401). On /gateway/ routes the gate's
//     credential may ride in X-MLflow-Authorization, as MLflow's own gateway clients
//     send it, leaving Authorization to the caller's LLM-provider key.
//     Before identifying, GET/HEAD of /static-files/ and /favicon.ico (the UI's
//     assets) are forwarded without identity; a credential-less GET of a UI path
//     (not an API path) is sent 303 to Config.LoginPath with return_to.
//  3. Browser writes must be same-origin: cookies and cached Basic credentials are
//     ambient. A session-cookie caller (KindSession) needs Origin equal to
//     Config.Origin exactly, or, without Origin, Sec-Fetch-Site same-origin; token
//     callers get http.CrossOriginProtection. users/current is answered here.
//  4. Normalize and match once (authz.Locate); the route's facts (authz.RouteKind,
//     Route.Artifact) say what the gate does beyond deciding, never its pattern.
//     The body is read, with a limit, only for routes whose ids or effects are in
//     the JSON body (and GraphQL, run creation, multipart uploads), then
//     authz.ReadRequest reads the request exactly as MLflow will, reusing the
//     match; ambiguity is 400. Other bodies, artifact uploads above all, stream
//     through untouched.
//  5. Decide (403 with the reason; changing the mlflow.user tag is an effect that
//     asks for manage on runs), then stamp run creations (usertag.go). Every
//     refusal is a value (errors.go) written by WriteError, counted and audited.
//  6. Forward: the raw path and query exactly as decided, the buffered body byte for
//     byte (except a stamped run creation), identity and forwarding headers the
//     client sent stripped, and every header with "_" in its name (MLflow's WSGI
//     side reads X_Remote_User as X-Remote-User), the gate's X-Mlflow-Gate-User and X-Forwarded-* set,
//     Host set to the upstream's, Origin dropped (forward.go says why).
//     MLflow's 5xx bodies (SQL, parameters, Python errors) are replaced by its
//     error_code and the request id; the log gets the original, at most 4 KiB.
//     The UI's ui-telemetry calls are answered by the gate itself, as MLflow
//     with telemetry disabled, unless Config.UITelemetry is set.
//  7. Audit every write, delete and refusal (reads when configured) after the
//     response, with the status the client got. Bad-credential 401s are counted
//     per address instead and written as one summary per address and minute
//     (authfail.go); Close writes the last window.
//
// # What cmd sets on the http.Server in front of the gate
//
// The gate cannot protect itself from slow or huge requests; the server can:
//
//   - ReadHeaderTimeout (10 s) and MaxHeaderBytes (64 KiB: tokens are ~1 KiB, MLflow
//     needs no large headers), so that slow or bloated headers cannot hold
//     connections;
//   - no ReadTimeout or WriteTimeout: they would cap every artifact upload and
//     download at one duration whatever its size. Bodies are guarded by
//     Config.MinBodyRate and BodyGrace instead (for example 64 KiB/s after 10 s),
//     which cut off clients that send bodies slower than that (408);
//   - IdleTimeout (90 s), so idle keep-alive connections do not pile up.
package proxy
