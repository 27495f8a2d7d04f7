package idp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// revocations is the in-memory revocation set every replica holds: revoked
// access-token ids, revoked sessions, disabled clients and revoked PATs
// (disabled users live in the user cache). It is loaded whole whenever the
// change feed (re)connects and then kept current by its changes. While the
// feed is down the set is trusted only for maxStale; after that the verifier
// refuses every token (fail closed).
type revocations struct {
	mu       sync.RWMutex
	jtis     map[string]time.Time // jti -> when it expires anyway
	sessions map[string]time.Time // session id -> keep until
	// clients refuses the tokens of a client issued before a time: forever
	// (clientOff) for a disabled or removed one, before its creation for a
	// client made again under a removed one's id.
	clients map[string]time.Time
	pats    map[string]bool

	maxStale time.Duration
	feed     atomic.Pointer[feedState] // nil until subscribed: never loaded, so stale
}

// feedState is what the set asks of the feed that keeps it current.
type feedState interface {
	Stale(now time.Time, maxStale time.Duration) bool
}

func newRevocations(maxStale time.Duration) *revocations {
	return &revocations{jtis: map[string]time.Time{}, sessions: map[string]time.Time{}, clients: map[string]time.Time{},
		pats: map[string]bool{}, maxStale: maxStale}
}

// follow makes the set's freshness that of f.
func (r *revocations) follow(f feedState) { r.feed.Store(&f) }

// fresh fails when the set cannot be trusted at now.
func (r *revocations) fresh(now time.Time) error {
	f := r.feed.Load()
	if f == nil || (*f).Stale(now, r.maxStale) {
		return ErrStale
	}
	return nil
}

// clientOff is the time before which every token of a disabled or removed
// client was issued.
var clientOff = time.Unix(1<<62, 0)

// revoked reports whether any id a token carries is on the set; issued is
// when the token was (JWT iat; for tokens that live in the database, which
// go with their client, any time after the client's creation: now).
func (r *revocations) revoked(jti, sid, client, pat string, issued time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.jtis[jti]; ok && jti != "" {
		return true
	}
	if _, ok := r.sessions[sid]; ok && sid != "" {
		return true
	}
	if t, ok := r.clients[client]; ok && client != "" && issued.Before(t.Truncate(time.Second)) { // iat has whole seconds
		return true
	}
	return pat != "" && r.pats[pat]
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
	disabled, err := st.DisabledClients(ctx)
	if err != nil {
		return err
	}
	clients, err := st.ClientsCreatedSince(ctx, now.Add(-accessTTL))
	if err != nil {
		return err
	}
	for id := range disabled {
		clients[id] = clientOff
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

// Subscribe has f keep the verifier's caches current; call it before
// f.Connect. Until f has connected once the verifier refuses every token.
func (v *Verifier) Subscribe(f *storage.Feed) {
	f.Subscribe("token verifier", verifierFeed{v})
	v.rev.follow(f)
}

// verifierFeed is the verifier as a storage.Subscriber, so that Reload and
// Changed are not part of the Verifier's own API.
type verifierFeed struct{ v *Verifier }

func (s verifierFeed) Reload(ctx context.Context) error {
	if s.v.onLogout != nil {
		s.v.onLogout() // logouts queued while the feed was down
	}
	return s.v.reloadAll(ctx)
}

func (s verifierFeed) Changed(ctx context.Context, c storage.Change) error { return s.v.apply(ctx, c) }

// learnRevokedTokens reloads the revoked access-token ids now, without
// waiting for the notification: the replica that revoked tokens refuses
// them before it answers, and a request that races the notification to
// this replica cannot use them either.
func (v *Verifier) learnRevokedTokens(ctx context.Context) error {
	jtis, err := v.st.RevokedTokens(ctx, v.cfg.Now())
	if err != nil {
		return err
	}
	v.rev.mu.Lock()
	maps.Copy(v.rev.jtis, jtis)
	v.rev.mu.Unlock()
	return nil
}

// reloadAll reloads every cached fact that notifications keep current.
func (v *Verifier) reloadAll(ctx context.Context) error {
	if err := v.rev.load(ctx, v.st, v.cfg.Now(), v.cfg.AccessTokenTTL); err != nil {
		return fmt.Errorf("loading revocations: %w", err)
	}
	v.users.flush()
	v.svcs.flush()
	v.clients.flush()
	v.forgetSeen()
	v.forgetSessions()
	if err := v.keys.reload(ctx); err != nil {
		return err
	}
	return nil
}

// apply folds one change into the caches.
func (v *Verifier) apply(ctx context.Context, c storage.Change) error {
	id, now := c.ID, v.cfg.Now()
	switch c.Kind {
	case storage.ChangeToken:
		exp, err := v.st.RevokedTokenExpiry(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		v.rev.mu.Lock()
		v.rev.jtis[id] = exp
		v.rev.mu.Unlock()
	case storage.ChangeFamily:
		jtis, err := v.st.RevokedTokens(ctx, now)
		if err != nil {
			return err
		}
		v.rev.mu.Lock()
		v.rev.jtis = jtis
		v.rev.mu.Unlock()
	case storage.ChangeSession:
		v.rev.mu.Lock()
		v.rev.sessions[id] = now.Add(v.cfg.SessionTTL + v.cfg.AccessTokenTTL)
		v.rev.mu.Unlock()
		v.forgetSession(id)
	case storage.ChangePAT:
		v.rev.mu.Lock()
		v.rev.pats[id] = true
		v.rev.mu.Unlock()
	case storage.ChangeClient:
		c, err := v.st.ClientByID(ctx, id)
		disabled := errors.Is(err, storage.ErrNotFound) || (err == nil && c.DisabledAt != nil)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		v.rev.mu.Lock()
		switch {
		case disabled:
			v.rev.clients[id] = clientOff
		case now.Sub(c.CreatedAt) < v.cfg.AccessTokenTTL:
			// New, perhaps under a removed client's id: that client's access
			// tokens, issued before, stay refused until they expire.
			v.rev.clients[id] = c.CreatedAt
		default:
			delete(v.rev.clients, id)
		}
		v.rev.mu.Unlock()
		v.svcs.invalidate(id)
		v.clients.invalidate(id)
	case storage.ChangeUser:
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
	case storage.ChangeKey:
		return v.keys.reload(ctx)
	case storage.ChangeLogout:
		if v.onLogout != nil {
			v.onLogout()
		}
	}
	return nil
}
