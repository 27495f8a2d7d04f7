package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// Error codes the gate answers with, in MLflow's JSON shape
// {"error_code": ..., "message": ...}: the stock client raises RestException with
// them (only for a JSON object body) and retries 502, 503 and 504 by itself, never
// 401 or 403 (mlflow/utils/request_utils.py retries 408, 429 and 5xx only), so a 5xx must never mean "log in again".
const (
	codeUnauthenticated = "UNAUTHENTICATED"         // 401
	codeDenied          = "PERMISSION_DENIED"       // 403
	codeBadRequest      = "INVALID_PARAMETER_VALUE" // 400
	codeMisdirected     = "MISDIRECTED_REQUEST"     // 421
	codeUnavailable     = "TEMPORARILY_UNAVAILABLE" // 503
	codeBadGateway      = "BAD_GATEWAY"             // 502
	codeGatewayTimeout  = "GATEWAY_TIMEOUT"         // 504
	codeRequestTimeout  = "REQUEST_TIMEOUT"         // 408
	statusClientClosed  = 499                       // nginx's convention, for audit and logs
	maxMessageLen       = 300                       // messages echo request parts; keep them short
)

type errorBody struct {
	Code    string `json:"error_code"`
	Message string `json:"message"`
}

// refusal is an answer the gate gives in MLflow's place: what the client reads
// (Status, Code, Message) and what the metrics and the audit record (Outcome,
// Reason). Gate.refuse writes, counts and audits it.
type refusal struct {
	Status  int
	Code    string // MLflow's error_code
	Message string
	Outcome string // the metric's label and the audit record's decision
	// Reason is the audit record's rule ("bad_request", a decision's reason code);
	// "" for refusals that are not audited one row per request (anonymous and
	// bad-credential 401s, 503s of the verifier, misdirected requests).
	Reason string
}

func (f *refusal) Error() string { return f.Message }

// badRequest is a 400 INVALID_PARAMETER_VALUE.
func badRequest(msg string) *refusal {
	return &refusal{Status: http.StatusBadRequest, Code: codeBadRequest, Message: msg, Outcome: OutcomeBadRequest, Reason: "bad_request"}
}

// unreadable is the 400 for a request authz or the gate refuses to read: err's gist.
func unreadable(err error) *refusal { return badRequest(gist(err)) }

// denied is the 403 for a decision that did not allow.
func denied(d *authz.Decision) *refusal {
	return &refusal{Status: http.StatusForbidden, Code: codeDenied, Message: "mlflow-gate: " + d.Reason(),
		Outcome: OutcomeDeny, Reason: d.Code.String()}
}

// WriteError answers in MLflow's error shape {"error_code": ..., "message": ...},
// which the stock client raises as RestException. It is the one writer of the
// gate's errors, for cmd's own endpoints too. Headers are set before WriteHeader;
// Cache-Control keeps proxies from storing refusals; nosniff because messages may
// echo request bytes. Long messages are cut.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	if len(msg) > maxMessageLen {
		msg = msg[:maxMessageLen] + "..."
	}
	b, err := json.Marshal(errorBody{Code: code, Message: msg})
	if err != nil { // cannot happen for two strings; keep the shape anyway
		b = []byte(`{"error_code":"` + code + `","message":""}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
