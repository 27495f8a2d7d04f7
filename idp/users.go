package idp

import (
	"context"
	"errors"
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
type stateCache struct {
	load func(ctx context.Context, id string) (*userState, error)
	max  int // entries kept before the cache is emptied
	mu   sync.RWMutex
	m    map[string]*userState
	gen  uint64 // bumped by every invalidation; a load that raced one is not kept
}

// newUserCache caches users' names, roles and enabled state.
func newUserCache(st *storage.Store) *stateCache {
	return &stateCache{max: 100000, m: map[string]*userState{}, load: func(ctx context.Context, id string) (*userState, error) {
		rec, err := st.UserByID(ctx, id)
		if err != nil {
			return nil, err
		}
		return &userState{username: rec.Username, roles: rec.Roles, enabled: rec.Enabled()}, nil
	}}
}

// newServiceCache caches service clients: their own roles, and whether they
// may still act (enabled and confidential).
func newServiceCache(st *storage.Store) *stateCache {
	return &stateCache{max: 10000, m: map[string]*userState{}, load: func(ctx context.Context, id string) (*userState, error) {
		rec, err := st.ClientByID(ctx, id)
		if err != nil {
			return nil, err
		}
		return &userState{username: rec.ID, roles: rec.Roles, enabled: rec.DisabledAt == nil && !rec.Public}, nil
	}}
}

// get returns the subject's state; a subject that no longer exists is disabled.
func (c *stateCache) get(ctx context.Context, id string) (*userState, error) {
	c.mu.RLock()
	u, ok := c.m[id]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return u, nil
	}
	u, err := c.load(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		u = &userState{}
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

func (c *stateCache) invalidate(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.gen++
	c.mu.Unlock()
}

func (c *stateCache) flush() {
	c.mu.Lock()
	clear(c.m)
	c.gen++
	c.mu.Unlock()
}
