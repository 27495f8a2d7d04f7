package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error codes the gate answers with, in MLflow's JSON shape
// {"error_code": ..., "message": ...}: the stock client raises RestException with
// them (only for a JSON object body) and retries 502, 503 and 504 by itself, never
// 401 or 403 (reference §3), so a 5xx must never mean "log in again".
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

// writeError answers in MLflow's error shape. Headers are set before
// WriteHeader; Cache-Control keeps proxies from storing refusals; nosniff
// because messages may echo request bytes.
func writeError(w http.ResponseWriter, status int, code, msg string) {
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
