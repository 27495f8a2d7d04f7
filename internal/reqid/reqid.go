// Package reqid carries a request's id in its context, so that the HTTP
// middleware that assigns it, the proxy's audit records and every log line of
// the request agree on it. It is a leaf: it imports nothing of the gate.
package reqid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// Header is the response header that tells the client its request's id.
const Header = "X-Request-Id"

type key struct{}

// New returns a fresh random id (16 hex digits).
func New() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// From returns the id ctx carries, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}
