package idp

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// userState is what the verifier needs about a token's subject right now.
type userState struct {
	username string
	roles    []string
	enabled  bool
}

// stateCache holds the current state of token subjects of one kind: users, or
// service clients (client credentials, client-owned PATs). An entry is dropped
// on a notification naming it ("user" or "client") and all of them on a "role"
// notification or a reconnect, so disabling a subject or changing its roles
// holds within the notification delay, not at token expiry.
//
// A subject that does not exist is cached as T's zero value (for a user: not
// enabled), unless keepMissing is false: then it is looked up again each time.
type stateCache[T any] struct {
	load        func(ctx context.Context, id string) (*T, error)
	max         int // entries kept before the cache is emptied
	keepMissing bool
	mu          sync.RWMutex
	m           map[string]*T
	gen         uint64 // bumped by every invalidation; a load that raced one is not kept
}

// newUserCache caches users' names, roles and enabled state.
func newUserCache(st *storage.Store) *stateCache[userState] {
	return &stateCache[userState]{max: 100000, keepMissing: true, m: map[string]*userState{}, load: func(ctx context.Context, id string) (*userState, error) {
		rec, err := st.UserByID(ctx, id)
		if err != nil {
			return nil, err
		}
		return &userState{username: rec.Username, roles: rec.Roles, enabled: rec.Enabled()}, nil
	}}
}

// newServiceCache caches service clients: their own roles, and whether they
// may still act (enabled and confidential).
func newServiceCache(st *storage.Store) *stateCache[userState] {
	return &stateCache[userState]{max: 10000, keepMissing: true, m: map[string]*userState{}, load: func(ctx context.Context, id string) (*userState, error) {
		rec, err := st.ClientByID(ctx, id)
		if err != nil {
			return nil, err
		}
		return &userState{username: rec.ID, roles: rec.Roles, enabled: rec.DisabledAt == nil && !rec.Public}, nil
	}}
}

// newClientCache caches whole clients for the token endpoint, so that a
// grant for a known client needs no database round trip. An unknown id is
// not remembered: anyone can send one, and a client made a moment later
// must be found.
func newClientCache(st *storage.Store) *stateCache[storage.Client] {
	return &stateCache[storage.Client]{max: 10000, m: map[string]*storage.Client{}, load: func(ctx context.Context, id string) (*storage.Client, error) {
		c, err := st.ClientByID(ctx, id)
		if err != nil {
			return nil, err
		}
		// Callers get copies of the struct that share these: an append
		// must copy, never write into the cached client.
		c.GrantTypes, c.Scopes, c.Roles = slices.Clip(c.GrantTypes), slices.Clip(c.Scopes), slices.Clip(c.Roles)
		c.RedirectURIs, c.PostLogoutRedirectURIs = slices.Clip(c.RedirectURIs), slices.Clip(c.PostLogoutRedirectURIs)
		return &c, nil
	}}
}

// get returns the subject's state; a subject that no longer exists is T's
// zero value (with keepMissing) or storage.ErrNotFound.
func (c *stateCache[T]) get(ctx context.Context, id string) (*T, error) {
	c.mu.RLock()
	u, ok := c.m[id]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return u, nil
	}
	u, err := c.load(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound) && c.keepMissing:
		u = new(T)
	case err != nil:
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.m) > c.max {
			clear(c.m)
		}
		c.m[id] = u
	}
	c.mu.Unlock()
	return u, nil
}

func (c *stateCache[T]) invalidate(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.gen++
	c.mu.Unlock()
}

func (c *stateCache[T]) flush() {
	c.mu.Lock()
	clear(c.m)
	c.gen++
	c.mu.Unlock()
}
