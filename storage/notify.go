package storage

import (
	"context"
	"strings"
)

// Channel is the PostgreSQL LISTEN/NOTIFY channel on which every change that
// in-memory caches depend on is announced, so that all replicas see it.
const Channel = "mlflow_gate_changes"

// ChangeKind says what kind of record a change names. Changing a user's roles
// is a ChangeUser (roles are never renamed, and deleted only when nobody holds
// them and no permission names them, so no change is about a role itself).
type ChangeKind string

const (
	ChangeUser    ChangeKind = "user"    // a user's state, password or roles; the id is the user's
	ChangeClient  ChangeKind = "client"  // a client's state, secret or roles; the id is the client's
	ChangeToken   ChangeKind = "token"   // an access token was revoked; the id is its jti
	ChangeFamily  ChangeKind = "family"  // a refresh-token family was revoked with its access tokens
	ChangeSession ChangeKind = "session" // a login session was revoked; the id is the session's
	ChangePAT     ChangeKind = "pat"     // a personal access token was revoked; the id is the PAT's
	ChangeKey     ChangeKind = "key"     // the signing-key set changed; the id is a key id
	ChangePolicy  ChangeKind = "policy"  // the permission table changed; no id
	ChangeGrants  ChangeKind = "grants"  // resource grants or roles' default levels changed; no id
)

// Change is one announced change: a kind and the id it names (ids, never secrets).
type Change struct {
	Kind ChangeKind
	ID   string
}

func (c Change) String() string { return string(c.Kind) + ":" + c.ID }

// parseChange reads a notification payload written by Notify.
func parseChange(payload string) Change {
	kind, id, _ := strings.Cut(payload, ":")
	return Change{Kind: ChangeKind(kind), ID: id}
}

// Notify announces a change to every replica's Feed; it is delivered when the
// surrounding transaction commits.
func Notify(ctx context.Context, q Querier, kind ChangeKind, id string) error {
	_, err := q.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, Change{kind, id}.String())
	return classify(err)
}
