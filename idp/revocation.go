package idp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// revocations is the in-memory revocation set every replica holds: revoked
// access-token ids, revoked sessions, disabled clients and revoked PATs
// (disabled users live in the user cache). It is loaded whole when the listening
// connection is (re)established and then kept current by notifications on
// storage.Channel. While the connection is down it is trusted only for
// maxStale; after that the verifier refuses every token (fail closed).
type revocations struct {
	mu       sync.RWMutex
	jtis     map[string]time.Time // jti -> when it expires anyway
	sessions map[string]time.Time // session id -> keep until
	clients  map[string]bool
	pats     map[string]bool

	maxStale time.Duration
	live     atomic.Bool  // the listener is connected and the set is loaded
	down     atomic.Int64 // unix nanos when the listener was last known live; 0 = never loaded
}

func newRevocations(maxStale time.Duration) *revocations {
	return &revocations{jtis: map[string]time.Time{}, sessions: map[string]time.Time{}, clients: map[string]bool{},
		pats: map[string]bool{}, maxStale: maxStale}
}

// fresh fails when the set cannot be trusted at now.
func (r *revocations) fresh(now time.Time) error {
	if r.live.Load() {
		return nil
	}
	since := r.down.Load()
	if since == 0 || now.Sub(time.Unix(0, since)) > r.maxStale {
		return ErrStale
	}
	return nil
}

func (r *revocations) markLive() { r.live.Store(true) }

func (r *revocations) markDown(now time.Time) {
	if r.live.Swap(false) {
		r.down.Store(now.UnixNano())
	}
}

// revoked reports whether any id a token carries is on the set.
func (r *revocations) revoked(jti, sid, client, pat string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.jtis[jti]; ok && jti != "" {
		return true
	}
	if _, ok := r.sessions[sid]; ok && sid != "" {
		return true
	}
	return (client != "" && r.clients[client]) || (pat != "" && r.pats[pat])
}

// load replaces the set with the database's.
func (r *revocations) load(ctx context.Context, st *storage.Store, now time.Time, accessTTL time.Duration) error {
	jtis, err := st.RevokedTokens(ctx, now)
	if err != nil {
		return err
	}
	sessions, err := st.RevokedSessions(ctx, now)
	if err != nil {
		return err
	}
	clients, err := st.DisabledClients(ctx)
	if err != nil {
		return err
	}
	// Keep a revoked session at least one access-token lifetime, so tokens
	// minted just before it expired are still refused.
	for id, exp := range sessions {
		sessions[id] = exp.Add(accessTTL)
	}
	r.mu.Lock()
	r.jtis, r.sessions, r.clients, r.pats = jtis, sessions, clients, map[string]bool{}
	r.mu.Unlock()
	return nil
}

// prune forgets entries whose tokens have expired anyway.
func (r *revocations) prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, exp := range r.jtis {
		if now.After(exp) {
			delete(r.jtis, k)
		}
	}
	for k, exp := range r.sessions {
		if now.After(exp) {
			delete(r.sessions, k)
		}
	}
}

// listen keeps a dedicated connection LISTENing on storage.Channel. ready
// receives the outcome of the first connection and load.
func (v *Verifier) listen(ctx context.Context, ready chan<- error) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := v.connectAndLoad(ctx)
		if ready != nil {
			ready <- err
			ready = nil
		}
		if err != nil {
			v.rev.markDown(v.cfg.Now())
			if ctx.Err() == nil {
				v.log.Warn("revocation listener: cannot connect or load; retrying", "error", err, "in", backoff)
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		v.rev.markLive()
		err = v.consume(ctx, conn)
		v.rev.markDown(v.cfg.Now())
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(closeCtx)
		cancel()
		if ctx.Err() == nil {
			v.log.Warn("revocation listener: connection lost; reloading on reconnect", "error", err)
		}
	}
}

func (v *Verifier) connectAndLoad(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, v.st.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	// LISTEN first, then load: a change committed in between is both in
	// the load and in a notification, never in neither.
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{storage.Channel}.Sanitize()); err != nil {
		_ = conn.Close(cctx)
		return nil, fmt.Errorf("LISTEN: %w", err)
	}
	if err := v.reloadAll(cctx); err != nil {
		_ = conn.Close(cctx)
		return nil, err
	}
	return conn, nil
}

// reloadAll reloads every cached fact that notifications keep current.
func (v *Verifier) reloadAll(ctx context.Context) error {
	if err := v.rev.load(ctx, v.st, v.cfg.Now(), v.cfg.AccessTokenTTL); err != nil {
		return fmt.Errorf("loading revocations: %w", err)
	}
	v.users.flush()
	v.svcs.flush()
	v.forgetSeen()
	if err := v.keys.reload(ctx); err != nil {
		return err
	}
	return nil
}

func (v *Verifier) consume(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if err := v.apply(ctx, n.Payload); err != nil {
			// Could not learn what changed: start over with a full reload.
			return fmt.Errorf("applying %q: %w", n.Payload, err)
		}
	}
}

// apply folds one notification ("kind:id") into the caches.
func (v *Verifier) apply(ctx context.Context, payload string) error {
	kind, id, _ := strings.Cut(payload, ":")
	now := v.cfg.Now()
	switch kind {
	case "token":
		exp, err := v.st.RevokedTokenExpiry(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		v.rev.mu.Lock()
		v.rev.jtis[id] = exp
		v.rev.mu.Unlock()
	case "family":
		jtis, err := v.st.RevokedTokens(ctx, now)
		if err != nil {
			return err
		}
		v.rev.mu.Lock()
		v.rev.jtis = jtis
		v.rev.mu.Unlock()
	case "session":
		v.rev.mu.Lock()
		v.rev.sessions[id] = now.Add(v.cfg.SessionTTL + v.cfg.AccessTokenTTL)
		v.rev.mu.Unlock()
	case "pat":
		v.rev.mu.Lock()
		v.rev.pats[id] = true
		v.rev.mu.Unlock()
	case "client":
		c, err := v.st.ClientByID(ctx, id)
		disabled := errors.Is(err, storage.ErrNotFound) || (err == nil && c.DisabledAt != nil)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		v.rev.mu.Lock()
		if disabled {
			v.rev.clients[id] = true
		} else {
			delete(v.rev.clients, id)
		}
		v.rev.mu.Unlock()
		v.svcs.invalidate(id)
	case "user":
		// Disabling a user or changing a password revokes the user's
		// sessions in bulk: learn them, so tokens carrying them stop now.
		v.users.invalidate(id)
		sessions, err := v.st.RevokedSessionsOfUser(ctx, id, now)
		if err != nil {
			return err
		}
		v.rev.mu.Lock()
		for sid, exp := range sessions {
			v.rev.sessions[sid] = exp.Add(v.cfg.AccessTokenTTL)
		}
		v.rev.mu.Unlock()
	case "role":
		v.users.flush()
		v.svcs.flush()
	case "key":
		return v.keys.reload(ctx)
	default:
		v.log.Debug("revocation listener: ignoring notification", "kind", kind)
	}
	return nil
}
