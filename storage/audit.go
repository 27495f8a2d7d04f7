package storage

import (
	"context"
	"time"
)

// Event is one audit record. Administrative changes are written in the same
// transaction as the change they describe.
type Event struct {
	At         time.Time
	Actor      string
	ClientID   string
	Action     string
	Method     string
	Route      string
	Resource   string
	Decision   string
	Rule       string
	Status     int
	LatencyUS  int64
	RemoteAddr string
	Detail     map[string]any
}

func (s *Store) audit(ctx context.Context, q Querier, e Event) error {
	return InsertEvent(ctx, q, e)
}

// InsertEvent writes one audit record through q.
func InsertEvent(ctx context.Context, q Querier, e Event) error {
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err := q.Exec(ctx, `
		INSERT INTO audit_events (at, actor, client_id, action, method, route, resource, decision, rule, status, latency_us, remote_addr, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		e.At, e.Actor, e.ClientID, e.Action, e.Method, e.Route, e.Resource, e.Decision, e.Rule, e.Status, e.LatencyUS, e.RemoteAddr, e.Detail)
	return classify(err)
}

// ListEvents returns the newest audit records first.
func (s *Store) ListEvents(ctx context.Context, limit int) ([]Event, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT at, actor, client_id, action, method, route, resource, decision, rule, status, latency_us, remote_addr, detail
		FROM audit_events ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.At, &e.Actor, &e.ClientID, &e.Action, &e.Method, &e.Route, &e.Resource, &e.Decision,
			&e.Rule, &e.Status, &e.LatencyUS, &e.RemoteAddr, &e.Detail); err != nil {
			return nil, classify(err)
		}
		out = append(out, e)
	}
	return out, classify(rows.Err())
}
