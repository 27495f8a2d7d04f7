package storage

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditLogOptions tunes the request audit writer. Zero values take the defaults.
type AuditLogOptions struct {
	QueueSize     int           // records waiting to be written (8192); beyond that they are dropped and counted
	BatchSize     int           // records per COPY (500)
	FlushInterval time.Duration // longest a record waits for its batch (200 ms)
	WriteTimeout  time.Duration // one COPY (5 s)
	// RetryAfter: after a failed write the database is left alone this long and
	// batches go straight to the log (5 s), so an outage costs one timeout, not
	// one per batch.
	RetryAfter time.Duration
}

func (o *AuditLogOptions) defaults() {
	if o.QueueSize <= 0 {
		o.QueueSize = 8192
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 5 * time.Second
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 5 * time.Second
	}
}

// AuditLog writes request audit records (one per gated write, delete or denial)
// in batches with COPY, off the request path: Record never blocks. When the
// database cannot take a batch the records are written to the log instead, one
// JSON line each with the logger's JSON handler, and the gate keeps serving; when
// the queue is full, records are dropped and counted (Dropped, for a metric).
// Administrative changes do not come here: they are written in the transaction of
// the change (InsertEvent).
//
// Records wait in a slice under a mutex rather than in a channel: a channel
// send hands each record to the parked writer, and waking it (often another
// thread) for every request costs more CPU than the record itself. The writer
// is woken twice per batch at most: by a batch's first record, to arm the
// flush timer, and by its BatchSize-th, to write at once.
type AuditLog struct {
	store *Store
	log   *slog.Logger
	opts  AuditLogOptions

	mu       sync.Mutex // guards pending, inflight and closed
	pending  []Event
	inflight int // records the writer has taken and not written yet: they count against QueueSize
	closed   bool
	wake     chan struct{} // capacity 1: the writer has records to look at
	quit     chan context.Context
	done     chan struct{}

	written, logged, dropped atomic.Uint64
	lastDropLog              atomic.Int64 // unix nanoseconds of the last "queue full" warning
	retryAt                  time.Time    // writer goroutine only
}

// NewAuditLog starts the writer. Close it to flush what is queued.
func NewAuditLog(store *Store, logger *slog.Logger, opts AuditLogOptions) *AuditLog {
	opts.defaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &AuditLog{store: store, log: logger, opts: opts, pending: make([]Event, 0, min(opts.QueueSize, opts.BatchSize)),
		wake: make(chan struct{}, 1), quit: make(chan context.Context, 1), done: make(chan struct{})}
	go a.run()
	return a
}

// Record queues e without blocking. A zero At is the time of the call.
func (a *AuditLog) Record(e Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	a.mu.Lock()
	if !a.closed && len(a.pending)+a.inflight < a.opts.QueueSize {
		a.pending = append(a.pending, e)
		n := len(a.pending)
		a.mu.Unlock()
		if n == 1 || n == a.opts.BatchSize {
			select {
			case a.wake <- struct{}{}:
			default: // the writer has a wake-up waiting already
			}
		}
		return
	}
	a.mu.Unlock()
	n := a.dropped.Add(1)
	// One warning per ten seconds at most: a full queue under load must not turn
	// into a flood of log lines as well.
	now := time.Now().UnixNano()
	if last := a.lastDropLog.Load(); now-last > int64(10*time.Second) && a.lastDropLog.CompareAndSwap(last, now) {
		a.log.Warn("audit queue full or closed: dropping records", "dropped_total", n)
	}
}

// Dropped is how many records were lost to a full queue (or came after Close).
func (a *AuditLog) Dropped() uint64 { return a.dropped.Load() }

// Written is how many records reached the database.
func (a *AuditLog) Written() uint64 { return a.written.Load() }

// Logged is how many records went to the log because the database refused them.
func (a *AuditLog) Logged() uint64 { return a.logged.Load() }

// Close stops accepting records and writes what is queued; records the database
// will not take by ctx's end go to the log. It returns ctx.Err() if the writer
// has not finished by then.
func (a *AuditLog) Close(ctx context.Context) error {
	a.mu.Lock()
	first := !a.closed
	a.closed = true
	a.mu.Unlock()
	if first {
		a.quit <- ctx
	}
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *AuditLog) run() {
	defer close(a.done)
	spare := make([]Event, 0, cap(a.pending))
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	// drain takes every queued record and writes them, BatchSize at a time.
	drain := func(ctx context.Context) {
		if armed {
			timer.Stop()
			armed = false
		}
		a.mu.Lock()
		batch := a.pending
		a.pending, a.inflight = spare, len(batch)
		a.mu.Unlock()
		for rest := batch; len(rest) > 0; {
			n := min(len(rest), a.opts.BatchSize)
			a.flush(ctx, rest[:n])
			rest = rest[n:]
			a.mu.Lock()
			a.inflight = len(rest)
			a.mu.Unlock()
		}
		clear(batch) // drop references to the details
		spare = batch[:0]
	}
	for {
		select {
		case <-a.wake:
			a.mu.Lock()
			n := len(a.pending)
			a.mu.Unlock()
			switch {
			case n >= a.opts.BatchSize:
				drain(context.Background())
			case n > 0 && !armed:
				timer.Reset(a.opts.FlushInterval)
				armed = true
			}
		case <-timer.C:
			armed = false
			drain(context.Background())
		case ctx := <-a.quit:
			// No Record can queue now (closed under the lock): write the rest and stop.
			drain(ctx)
			return
		}
	}
}

var auditColumns = []string{"at", "actor", "client_id", "action", "method", "route", "resource", "decision",
	"rule", "status", "latency_us", "remote_addr", "detail"}

func (a *AuditLog) flush(parent context.Context, batch []Event) {
	if time.Now().Before(a.retryAt) || parent.Err() != nil {
		a.toLog(batch, "database unavailable")
		return
	}
	ctx, cancel := context.WithTimeout(parent, a.opts.WriteTimeout)
	defer cancel()
	n, err := a.store.Pool.CopyFrom(ctx, pgx.Identifier{"audit_events"}, auditColumns,
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			e := &batch[i]
			action := e.Action
			if action == "" {
				action = "request"
			}
			return []any{e.At, e.Actor, e.ClientID, action, e.Method, e.Route, e.Resource, e.Decision,
				e.Rule, int32(e.Status), e.LatencyUS, e.RemoteAddr, string(e.detailJSON())}, nil
		}))
	if err != nil {
		// COPY is one statement: nothing of the batch was stored.
		a.retryAt = time.Now().Add(a.opts.RetryAfter)
		a.log.Error("audit: writing to the database failed; logging records instead",
			"records", len(batch), "retry_in", a.opts.RetryAfter.String(), "error", redact(err).Error())
		a.toLog(batch, "database unavailable")
		return
	}
	a.written.Add(uint64(n))
}

// toLog writes each record as one log line. Records carry identifiers only (no
// headers, queries or bodies), so nothing secret reaches the log.
func (a *AuditLog) toLog(batch []Event, why string) {
	for i := range batch {
		e := &batch[i]
		a.log.LogAttrs(context.Background(), slog.LevelWarn, "audit record",
			slog.String("stored", why), slog.Time("at", e.At), slog.String("actor", e.Actor),
			slog.String("client_id", e.ClientID), slog.String("action", e.Action), slog.String("method", e.Method),
			slog.String("route", e.Route), slog.String("resource", e.Resource), slog.String("decision", e.Decision),
			slog.String("rule", e.Rule), slog.Int("status", e.Status), slog.Int64("latency_us", e.LatencyUS),
			slog.String("remote_addr", e.RemoteAddr), slog.Any("detail", e.detail()))
	}
	a.logged.Add(uint64(len(batch)))
}

// DeleteAuditBefore deletes audit records older than t, in slices so that a long
// backlog does not hold one huge transaction, and reports how many went.
func (s *Store) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		tag, err := s.Pool.Exec(ctx, `
			DELETE FROM audit_events WHERE id IN (
				SELECT id FROM audit_events WHERE at < $1 ORDER BY id LIMIT 10000)`, t)
		if err != nil {
			return total, classify(err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 10000 {
			return total, nil
		}
	}
}
