package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/internal/reqid"
	"github.com/mlflow-gate/mlflow-gate/proxy"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// chain wraps h in middleware listed outside-in: chain(h, a, b) = a(b(h)),
// so a sees the request first and the response last.
func chain(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// requestID gives every request an id, returned in X-Request-Id and carried
// in its context (package reqid), where log records and audit records find it.
// A client-sent id is not trusted: it could forge log correlation.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := reqid.New()
		w.Header().Set(reqid.Header, id)
		next.ServeHTTP(w, r.WithContext(reqid.With(r.Context(), id)))
	})
}

// statusWriter remembers the status code for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Values of MLFLOW_GATE_REQUEST_LOG.
const (
	requestLogAll    = "all"
	requestLogErrors = "errors"
	requestLogOff    = "off"
)

// observe times every request for the metrics and, as mode says, writes a
// line for it: the path without its query (which may carry codes or state),
// never headers (which carry credentials). The default, errors, logs answers
// of 400 and above: every allowed MLflow write and every denial is in the
// audit log already, and /metrics counts all requests, so a line for each
// success repeats them at a few microseconds and a write to stderr apiece.
func observe(log *slog.Logger, m *metrics, mode string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			returned := false
			defer func() {
				status := sw.status
				switch {
				case status == 0 && !returned:
					status = http.StatusInternalServerError // a panic on its way to the recoverer
				case status == 0:
					status = http.StatusOK // nothing written: net/http answers 200
				}
				took := time.Since(start)
				m.observe(r.Method, status, took)
				if mode == requestLogAll || (mode == requestLogErrors && status >= 400) {
					// The request id comes from the context, through the log handler.
					log.LogAttrs(r.Context(), slog.LevelInfo, "request",
						slog.String("method", r.Method), slog.String("path", r.URL.EscapedPath()),
						slog.Int("status", status), slog.Duration("duration", took), slog.String("remote", r.RemoteAddr))
				}
			}()
			next.ServeHTTP(sw, r)
			returned = true
		})
	}
}

// recoverer turns a panic into a 500 without internals and logs the stack. It
// is the outermost middleware, so it also catches a panic in the others; the
// request's context never reaches it, so it takes the id from the response.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.Error("panic serving request", "request_id", w.Header().Get(reqid.Header), "path", r.URL.EscapedPath(),
						"panic", v, "stack", string(debug.Stack()))
					proxy.WriteError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "internal error")
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// writeJSON writes v with status; headers are set before WriteHeader.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readyHandler reports whether the database and the upstream MLflow answer,
// whether the database's schema is this binary's, and which MLflow version
// runs. Reasons name the failing part, never connection strings.
//
// With an artifact store, its bucket is checked too and reported under
// "artifacts", without making the gate unready: every other MLflow call
// still works while S3 is away, and artifact calls answer 502 meanwhile.
func readyHandler(st *storage.Store, schema *schemaCheck, client *http.Client, mlflowURL string, version *mlflowVersion, bucket pinger, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		checks := map[string]string{"database": "ok", "mlflow": "ok"}
		ready := true
		if err := st.Ping(ctx); err != nil {
			checks["database"], ready = "unreachable", false
		} else {
			var ok bool
			checks["schema"], ok = schema.status(ctx)
			ready = ready && ok
		}
		if bucket != nil {
			// Its own second: S3's client retries a refused connection, and the
			// MLflow check below must keep its time.
			bctx, bcancel := context.WithTimeout(r.Context(), time.Second)
			checks["artifacts"] = "ok"
			if err := bucket.Ping(bctx); err != nil {
				checks["artifacts"] = "unreachable"
			}
			bcancel()
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(mlflowURL, "/")+"/health", nil)
		resp, err := client.Do(req)
		switch {
		case err != nil:
			checks["mlflow"], ready = "unreachable", false
		case resp.StatusCode != http.StatusOK:
			checks["mlflow"], ready = "unhealthy: status "+resp.Status, false
		}
		if resp != nil {
			resp.Body.Close()
		}
		if ready && version.get() == "" {
			version.set(checkMLflowVersion(ctx, client, mlflowURL, log))
		}
		body := map[string]any{"status": "ready", "checks": checks, "mlflow_version": version.get(), "route_table": mlflowTableVersion + ".x"}
		if !ready {
			body["status"] = "unavailable"
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
		writeJSON(w, http.StatusOK, body)
	})
}

// pinger is what readyz asks of the artifact store.
type pinger interface{ Ping(context.Context) error }

// cleanPaths refuses a request path with dot segments or empty segments
// (decoded: %2e%2e is a dot segment too) with 400, before routing. Go's
// ServeMux would otherwise answer it with a redirect to the cleaned path:
// a client-side rewrite of what was asked, and for an artifact path a
// traversal attempt that deserves a plain refusal. A trailing slash is fine.
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cleanPath(r.URL.Path) {
			proxy.WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "the request path has an empty, . or .. segment")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath: a request target that is not a path (OPTIONS *) is left to the
// mux, which refuses it.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return true
	}
	// Segment by segment without allocating: this runs on every request.
	for rest := p[1:]; ; {
		seg, tail, more := strings.Cut(rest, "/")
		if seg == "." || seg == ".." || (seg == "" && more) {
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}
