package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditFilter picks audit records; empty fields match everything.
type AuditFilter struct {
	Actor    string // exact user (or "cli")
	ClientID string // exact client id
	Decision string // "allow" or "deny"
	Method   string // exact HTTP method
	Route    string // exact route pattern, or a prefix ending in "*"
	Resource string // the resource column exactly, or an id among a gated request's ids
	Action   string // exact action, or a prefix ending in "*"
	Status   int
	From, To time.Time // at >= From and at < To, when set
}

// AuditRecord is an audit event with its id (the paging cursor).
type AuditRecord struct {
	ID int64
	Event
}

// SearchAudit returns up to limit records matching f, newest first, with ids
// below before (0: from the newest). Paging is by keyset on the id, which
// the indexes of the common filters end with, so no page scans the rows of
// the pages before it. It reports whether older records follow.
func (s *Store) SearchAudit(ctx context.Context, f AuditFilter, before int64, limit int) ([]AuditRecord, bool, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	var where []string
	var args []any
	// add appends a condition; every $? in it names v.
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(args))))
	}
	if before > 0 {
		add("id < $?", before)
	}
	prefixOrExact := func(col, v string) {
		if p, ok := strings.CutSuffix(v, "*"); ok {
			add(col+" LIKE $?", escapeLike(p)+"%")
		} else {
			add(col+" = $?", v)
		}
	}
	if f.Actor != "" {
		add("actor = $?", f.Actor)
	}
	if f.ClientID != "" {
		add("client_id = $?", f.ClientID)
	}
	if f.Decision != "" {
		add("decision = $?", f.Decision)
	}
	if f.Method != "" {
		add("method = $?", f.Method)
	}
	if f.Route != "" {
		prefixOrExact("route", f.Route)
	}
	if f.Action != "" {
		prefixOrExact("action", f.Action)
	}
	if f.Resource != "" {
		add(`(resource = $? OR EXISTS (SELECT 1 FROM jsonb_each(CASE WHEN jsonb_typeof(detail->'ids') = 'object' THEN detail->'ids' ELSE '{}' END) ids
			WHERE jsonb_typeof(ids.value) = 'array' AND ids.value ? $?))`, f.Resource)
	}
	if f.Status != 0 {
		add("status = $?", f.Status)
	}
	if !f.From.IsZero() {
		add("at >= $?", f.From)
	}
	if !f.To.IsZero() {
		add("at < $?", f.To)
	}
	q := `SELECT id, at, actor, client_id, action, method, route, resource, decision, rule, status, latency_us, remote_addr, detail
		FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	// A filter no index serves (an id inside detail) may walk much of the
	// table: bound it, and say so, rather than hold a connection for minutes.
	ctx, cancel := context.WithTimeout(ctx, auditSearchTimeout)
	defer cancel()
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, false, auditSearchErr(ctx, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditRecord, error) {
		var r AuditRecord
		err := row.Scan(&r.ID, &r.At, &r.Actor, &r.ClientID, &r.Action, &r.Method, &r.Route, &r.Resource, &r.Decision,
			&r.Rule, &r.Status, &r.LatencyUS, &r.RemoteAddr, &r.Detail)
		return r, err
	})
	if err != nil {
		return nil, false, auditSearchErr(ctx, err)
	}
	return onePage(out, limit, nil)
}

// auditSearchTimeout bounds one page of the audit log.
const auditSearchTimeout = 15 * time.Second

// auditSearchErr names a search that ran out of time as the searcher's
// problem to narrow, not an internal error.
func auditSearchErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: the search took too long; narrow it with a user, a route or a time range", ErrInvalid)
	}
	return classify(err)
}

// escapeLike quotes LIKE's wildcards in s.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}

// onePage ends a keyset query that asked for limit+1 rows: the first limit,
// and whether there were more.
func onePage[T any](rows []T, limit int, err error) ([]T, bool, error) {
	if err != nil {
		return nil, false, classify(err)
	}
	if len(rows) > limit {
		return rows[:limit], true, nil
	}
	return rows, false, nil
}
