// Package idp is the gate's own OpenID Connect provider and the strict
// verifier that the proxy and the web pages trust.
//
// The protocol plumbing (routing, request parsing, redirect-URI checks, error
// encoding) comes from zitadel/oidc's experimental op.Server interface; every
// decision that the library leaves to storage is made here, against
// PostgreSQL through package storage:
//
//   - authorization codes are random, stored as SHA-256, bound to the client,
//     consumed in one conditional UPDATE and at most 10 minutes old; a replay
//     revokes what the first exchange produced (RFC 6749 section 4.1.2);
//   - PKCE is S256 only and required of public clients (RFC 7636, RFC 9700
//     section 2.1.1); a verifier without a challenge is refused;
//   - refresh tokens are opaque, hashed, rotated on every use, and reuse
//     revokes the family (RFC 9700 section 4.14.2);
//   - access tokens are RFC 9068 JWTs (typ at+jwt) for the gate's own API
//     audience, signed by keys generated on first start and stored encrypted;
//   - the MLflow API accepts only access tokens with the mlflow scope
//     (ScopeMLflow, Verifier.VerifyMLflow), a default scope of the clients
//     with API access and never granted to any other client;
//   - implicit and hybrid flows, the JWT-profile grant, request objects and
//     token exchange are not served;
//   - storage faults become a bare server_error: no internals in responses.
//
// The login page, the SSO session cookie (gorilla/sessions, pointing at a
// sessions row) and password throttling live in login*.go, the device
// cookies that keep strangers from locking an owner out in devicecookie.go; the Verifier,
// its seen-token cache and the revocation set kept current by the replica's
// storage.Feed (Verifier.Subscribe) in verifier*.go (verifier_state.go: the
// revocation set and its feed subscriber); the revocation endpoint (RFC 7009) is
// in introspect.go beside introspection; personal access tokens in pat.go.
//
// Administrative operations (registering clients, issuing personal access
// tokens, rotating keys) live in package admin, which calls the format
// helpers here: NewClient, NewClientSecret, NewPAT and NewSigningKey. idp
// never imports admin.
package idp
