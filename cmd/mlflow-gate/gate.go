package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlflow-gate/mlflow-gate/idp"
	"github.com/mlflow-gate/mlflow-gate/proxy"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// Supported MLflow versions: the route table was built from MLflow 3.18.
const (
	mlflowTableVersion = "3.18"
)

// authenticator identifies callers with the provider's strict verifier:
// Bearer (gate access token or PAT), Basic (username and that user's PAT) or,
// without Authorization, the browser's SSO session cookie.
type authenticator struct{ v *idp.Verifier }

func (a authenticator) Authenticate(r *http.Request) (proxy.Principal, error) {
	h := r.Header.Get("Authorization")
	var p idp.Principal
	var err error
	if h == "" {
		p, err = a.v.VerifySession(r)
		if errors.Is(err, idp.ErrNoSession) {
			return proxy.Principal{}, proxy.ErrNoCredentials
		}
		if errors.Is(err, idp.ErrInvalidCredential) {
			// An ended session is no credential: the browser is sent to log
			// in again rather than shown a 401.
			return proxy.Principal{}, fmt.Errorf("%w: %w", proxy.ErrNoCredentials, err)
		}
		if err != nil {
			return proxy.Principal{}, err
		}
		return proxy.Principal{Subject: p.Subject, Username: p.Username, Roles: p.Roles, Kind: proxy.KindSession, TokenID: p.TokenID}, nil
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		p, err = a.v.VerifyMLflow(r.Context(), strings.TrimSpace(rest))
	case "basic":
		user, pat, ok := r.BasicAuth()
		if !ok {
			return proxy.Principal{}, proxy.BadCredentials("basic_malformed", nil)
		}
		p, err = a.v.VerifyBasic(r.Context(), user, pat)
	default:
		return proxy.Principal{}, proxy.BadCredentials("unsupported_scheme", nil)
	}
	if errors.Is(err, idp.ErrNotForAPI) {
		return proxy.Principal{}, fmt.Errorf("%w: %w", proxy.ErrNotForAPI, err)
	}
	if errors.Is(err, idp.ErrInvalidCredential) {
		// A verdict on the credential itself: 401. Anything else means the
		// verifier cannot tell right now (503).
		return proxy.Principal{}, proxy.BadCredentials(idp.CredentialCode(err), err)
	}
	if err != nil {
		return proxy.Principal{}, err
	}
	kind := proxy.KindAccessToken
	if p.Kind == idp.KindPAT {
		kind = proxy.KindPAT
	}
	return proxy.Principal{Subject: p.Subject, Username: p.Username, ClientID: p.ClientID, Roles: p.Roles, Kind: kind, TokenID: p.TokenID,
		Service: p.Service}, nil
}

// auditSink adapts the proxy's records to the batched audit log.
type auditSink struct{ log *storage.AuditLog }

func (a auditSink) Record(r proxy.AuditRecord) {
	if f := r.Failures; f != nil {
		a.log.Record(storage.Event{At: r.At, Action: "auth.failures", Decision: r.Decision, Rule: r.Rule,
			Status: r.Status, RemoteAddr: r.RemoteAddr, Detail: map[string]any{"count": f.Count,
				"first": f.First.UTC().Format(time.RFC3339Nano), "last": f.Last.UTC().Format(time.RFC3339Nano), "reason": f.Reason}})
		return
	}
	action := "mlflow.request"
	if r.Scope != "" {
		action = "mlflow." + r.Scope
	}
	a.log.Record(storage.Event{At: r.At, Actor: r.User, ClientID: r.ClientID, Action: action, Method: r.Method,
		Route: r.Route, Resource: r.Resource, Decision: r.Decision, Rule: r.Rule, Status: r.Status,
		LatencyUS: r.Latency.Microseconds(), RemoteAddr: r.RemoteAddr,
		Request: &storage.RequestDetail{Path: r.Path, RequestID: r.RequestID, Credential: r.Credential,
			Subject: r.Subject, TokenID: r.TokenID, IDs: r.IDs}})
}

// gateMetrics counts the proxy's outcomes on the private registry. The label
// sets are small and fixed, so each counter is resolved once, not per request.
type gateMetrics struct {
	outcomes, upstream *prometheus.CounterVec
	byOutcome          map[string]prometheus.Counter
}

func newGateMetrics(reg *prometheus.Registry, audit *storage.AuditLog) gateMetrics {
	m := gateMetrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mlflow_gate_decisions_total",
			Help: "MLflow requests by outcome (allow, deny, unauthenticated, bad_request, ...)."}, []string{"outcome"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mlflow_gate_upstream_errors_total",
			Help: "Requests to MLflow that failed, by cause."}, []string{"cause"}),
	}
	m.byOutcome = map[string]prometheus.Counter{}
	for _, o := range []string{proxy.OutcomeAllow, proxy.OutcomeDeny, proxy.OutcomeCrossOrigin, proxy.OutcomeUnauthenticated,
		proxy.OutcomeBadRequest, proxy.OutcomeMisdirected, proxy.OutcomeUnavailable} {
		m.byOutcome[o] = m.outcomes.WithLabelValues(o)
	}
	reg.MustRegister(m.outcomes, m.upstream,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mlflow_gate_audit_dropped_total",
			Help: "Audit records dropped because the queue was full."}, func() float64 { return float64(audit.Dropped()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mlflow_gate_audit_logged_total",
			Help: "Audit records written to the log because the database did not take them."}, func() float64 { return float64(audit.Logged()) }))
	return m
}

func (m gateMetrics) Outcome(o string) {
	if c, ok := m.byOutcome[o]; ok {
		c.Inc()
		return
	}
	m.outcomes.WithLabelValues(o).Inc()
}
func (m gateMetrics) UpstreamError(c string) { m.upstream.WithLabelValues(c).Inc() }

// mlflowVersion remembers the upstream's version for /readyz.
type mlflowVersion struct {
	mu sync.Mutex
	v  string
}

func (m *mlflowVersion) get() string  { m.mu.Lock(); defer m.mu.Unlock(); return m.v }
func (m *mlflowVersion) set(v string) { m.mu.Lock(); m.v = v; m.mu.Unlock() }

// checkMLflowVersion reads MLflow's /version, logs it, and warns loudly when
// the route table was not built for it: routes MLflow added are denied as
// unknown, and routes whose meaning changed may be misclassified.
func checkMLflowVersion(ctx context.Context, client *http.Client, base string, log *slog.Logger) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/version", nil)
	resp, err := client.Do(req)
	if err != nil {
		log.Warn("MLflow is not reachable yet; its version will be checked by /readyz", "error", err.Error())
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	v := strings.TrimSpace(string(b))
	if resp.StatusCode != http.StatusOK || v == "" {
		log.Warn("MLflow /version did not answer", "status", resp.StatusCode)
		return ""
	}
	if v == mlflowTableVersion || strings.HasPrefix(v, mlflowTableVersion+".") {
		log.Info("upstream MLflow", "version", v)
	} else {
		log.Warn("UPSTREAM MLFLOW VERSION IS OUTSIDE THE RANGE THE ROUTE TABLE WAS BUILT FOR: routes it added are denied as unknown, and changed routes may be misclassified",
			"version", v, "supported", mlflowTableVersion+".x")
	}
	return v
}

// hostsFor lists the Host values the gate answers for: the issuer's host.
func hostsFor(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, err
	}
	return []string{u.Host}, nil
}

// originOf is the issuer's origin (scheme://host[:port], lower case), which
// session-cookie writes must come from; "" when the issuer does not parse.
func originOf(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}
