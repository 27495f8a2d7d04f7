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

// userCache holds the current state of subjects seen in tokens. Entries are
// dropped on a "user" notification and all of them on a "role" notification
// or a reconnect, so disabling a user or changing roles holds within the
// notification delay, not at token expiry.
type userCache struct {
	st  *storage.Store
	mu  sync.RWMutex
	m   map[string]*userState
	gen uint64 // bumped by every invalidation; a load that raced one is not kept
}

func newUserCache(st *storage.Store) *userCache {
	return &userCache{st: st, m: map[string]*userState{}}
}

func (c *userCache) get(ctx context.Context, id string) (*userState, error) {
	c.mu.RLock()
	u, ok := c.m[id]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return u, nil
	}
	rec, err := c.st.UserByID(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		u = &userState{}
	case err != nil:
		return nil, err
	default:
		u = &userState{username: rec.Username, roles: rec.Roles, enabled: rec.Enabled()}
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.m) > 100000 {
			clear(c.m)
		}
		c.m[id] = u
	}
	c.mu.Unlock()
	return u, nil
}

func (c *userCache) invalidate(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.gen++
	c.mu.Unlock()
}

func (c *userCache) flush() {
	c.mu.Lock()
	clear(c.m)
	c.gen++
	c.mu.Unlock()
}
