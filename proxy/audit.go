package proxy

import (
	"time"
)

// AuditRecord is one gated request, written after the response is done. It holds
// identifiers only: no headers, no query string, no body, and so no credential.
type AuditRecord struct {
	At         time.Time // when the request arrived
	User       string    // Principal.Username ("" when unauthenticated)
	Subject    string    // Principal.Subject
	ClientID   string
	Credential string // Principal.Kind
	TokenID    string // jti or PAT id, never the token
	Method     string
	Route      string              // "POST /api/2.0/mlflow/runs/delete"; "" for an unknown route
	Resource   string              // the policy resource that covered the route
	Scope      string              // read, write, delete, manage, use
	Path       string              // the raw path as received (no query)
	IDs        map[string][]string // ids the request names, by kind ("run", "experiment", ...)
	Decision   string              // one of the Outcome constants
	Rule       string              // the permission that allowed, or the reason code of a denial
	Status     int                 // the status the client got (499: it went away first)
	Latency    time.Duration
	RemoteAddr string
	RequestID  string
	// Failures is set on a summary of bad-credential 401s from RemoteAddr (an
	// address without port, or "other" past the gate's bound) in one window:
	// they are counted, not audited one by one. At is the first of them, Rule
	// the reason code of the first; no user, route or request fields are set.
	Failures *FailureSummary
}

// AuditSink receives records. Record must not block: the gate calls it on the
// request's goroutine after the response is written. The storage batch writer
// queues them, writes them with COPY and drops (and counts) when full.
type AuditSink interface {
	Record(AuditRecord)
}

// Outcome of one request at the gate, for audit records and the decisions metric.
// The set is small and fixed: safe as a Prometheus label.
const (
	OutcomeAllow           = "allow"
	OutcomeDeny            = "deny"            // the policy or the mlflow.user rule refused it
	OutcomeCrossOrigin     = "cross_origin"    // a browser request from another origin
	OutcomeUnauthenticated = "unauthenticated" // no or bad credential
	OutcomeBadRequest      = "bad_request"     // the gate cannot read it as MLflow would
	OutcomeMisdirected     = "misdirected"     // Host is not the issuer's
	OutcomeUnavailable     = "unavailable"     // the verifier could not decide
)

// Upstream error kinds, for the upstream errors metric.
const (
	UpstreamUnreachable = "unreachable" // 502: refused, reset, DNS
	UpstreamTimeout     = "timeout"     // 504: no response headers in time
	UpstreamClientGone  = "client_gone" // the client went away mid-request
	UpstreamSlowClient  = "slow_client" // 408: the request body came slower than the minimum rate
)

// Metrics receives the gate's counters; the lead registers them with Prometheus
// (for example a CounterVec by outcome and one by kind). Methods are called on the
// request path and must be cheap and safe for concurrent use.
type Metrics interface {
	Outcome(outcome string)
	UpstreamError(kind string)
}

type nopMetrics struct{}

func (nopMetrics) Outcome(string)       {}
func (nopMetrics) UpstreamError(string) {}

type nopSink struct{}

func (nopSink) Record(AuditRecord) {}
