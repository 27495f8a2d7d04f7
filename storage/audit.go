package storage

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/mlflow-gate/mlflow-gate/internal/jsonw"
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
	// Request is the detail of a gated MLflow request. It is typed (not a map)
	// because the gate writes one for every write and denial: a struct costs one
	// allocation on the request path, a map one per entry. Set it or Detail.
	Request *RequestDetail
}

// RequestDetail identifies a gated request: identifiers only, never
// credentials, headers, queries or bodies.
type RequestDetail struct {
	Path       string              `json:"path"`
	RequestID  string              `json:"request_id,omitempty"`
	Credential string              `json:"credential,omitempty"`
	Subject    string              `json:"subject,omitempty"`
	TokenID    string              `json:"token_id,omitempty"`
	IDs        map[string][]string `json:"ids,omitempty"`
}

// detail is what goes into the detail column and log lines.
func (e *Event) detail() any {
	if e.Request != nil {
		return e.Request
	}
	if e.Detail == nil {
		return map[string]any{}
	}
	return e.Detail
}

// detailJSON is detail() as JSON. A gated request's detail, written for
// every audited request, is appended by hand: encoding/json's reflection was
// a visible part of the writer's CPU per record.
func (e *Event) detailJSON() []byte {
	if d := e.Request; d != nil {
		b := make([]byte, 0, 128+len(d.Path))
		b = append(b, `{"path":`...)
		b = jsonw.AppendString(b, d.Path)
		for _, f := range [...]struct{ k, v string }{{"request_id", d.RequestID}, {"credential", d.Credential},
			{"subject", d.Subject}, {"token_id", d.TokenID}} {
			if f.v != "" {
				b = append(b, ',', '"')
				b = append(b, f.k...)
				b = append(b, '"', ':')
				b = jsonw.AppendString(b, f.v)
			}
		}
		if len(d.IDs) > 0 {
			b = append(b, `,"ids":{`...)
			for i, k := range slices.Sorted(maps.Keys(d.IDs)) {
				if i > 0 {
					b = append(b, ',')
				}
				b = jsonw.AppendString(b, k)
				b = append(b, ':')
				b = jsonw.AppendStrings(b, d.IDs[k])
			}
			b = append(b, '}')
		}
		return append(b, '}')
	}
	if b, err := json.Marshal(e.detail()); err == nil {
		return b
	}
	return []byte("{}")
}

func (s *Store) audit(ctx context.Context, q Querier, e Event) error {
	return InsertEvent(ctx, q, e)
}

// InsertEvent writes one audit record through q.
func InsertEvent(ctx context.Context, q Querier, e Event) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err := q.Exec(ctx, `
		INSERT INTO audit_events (at, actor, client_id, action, method, route, resource, decision, rule, status, latency_us, remote_addr, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		e.At, e.Actor, e.ClientID, e.Action, e.Method, e.Route, e.Resource, e.Decision, e.Rule, e.Status, e.LatencyUS, e.RemoteAddr, e.detail())
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

// Actor is who makes an administrative change, as its audit record names
// them: Name goes into the actor column, Address (empty on the command line)
// into remote_addr.
type Actor struct {
	Name    string
	Address string
}
