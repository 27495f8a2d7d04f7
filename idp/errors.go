package idp

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// ErrInvalidCredential is matched (errors.Is) by every verdict of the verifier on
// the credential itself: malformed, badly signed, expired, revoked, for another
// audience, not for the API, a disabled owner, an unknown or mistyped PAT. The
// gate answers those with 401. Any other verifier error (ErrStale, a database
// error) means the verifier cannot tell right now, and the gate answers 503.
var ErrInvalidCredential = errors.New("idp: invalid credential")

// CredentialError is the type of every verdict on a credential; the sentinels in
// jws.go and pat.go are its values.
type CredentialError struct {
	msg  string
	code string
}

func (e *CredentialError) Error() string { return e.msg }

// Code is the verdict as one word for audit records and metrics ("token has
// expired" is token_has_expired). Sentinels are fixed strings, so the code never
// carries the credential.
func (e *CredentialError) Code() string { return e.code }

// Is makes errors.Is(err, ErrInvalidCredential) true.
func (e *CredentialError) Is(target error) bool { return target == ErrInvalidCredential }

func credentialErr(msg string) error {
	words := strings.FieldsFunc(strings.ToLower(msg), func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9')
	})
	return &CredentialError{msg: msg, code: strings.Join(words, "_")}
}

// CredentialCode returns the Code of the verdict err carries, or "" when err is
// not a verdict on the credential.
func CredentialCode(err error) string {
	var ce *CredentialError
	if errors.As(err, &ce) {
		return ce.code
	}
	return ""
}

// writeOAuthError answers in the OAuth error shape (RFC 6749 section 5.2) for the
// endpoints the gate guards in front of the library: {"error": code,
// "error_description": description}, never stored, never sniffed.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	b, err := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, description})
	if err != nil { // cannot happen for two strings
		b = []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
