package storage

import "context"

// Channel is the PostgreSQL LISTEN/NOTIFY channel on which every change that
// in-memory caches depend on is announced, so that all replicas see it.
const Channel = "mlflow_gate_changes"

// Notify announces a change of kind ("user", "role", "client", "token",
// "session", "key", "policy") to every replica; it is delivered when the
// surrounding transaction commits. The payload names ids, never secrets.
func Notify(ctx context.Context, q Querier, kind, id string) error {
	_, err := q.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, kind+":"+id)
	return classify(err)
}
