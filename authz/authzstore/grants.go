package authzstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// GrantsFromRecords turns stored grants and role defaults into the engine's.
func GrantsFromRecords(rg storage.ResourceGrants) ([]authz.Grant, map[string]authz.Level, error) {
	var problems []error
	grants := make([]authz.Grant, 0, len(rg.Grants))
	for _, g := range rg.Grants {
		kind, err := authz.ParseGrantKind(g.Kind)
		if err != nil {
			problems = append(problems, fmt.Errorf("grant %d: %w", g.ID, err))
			continue
		}
		level, err := authz.ParseLevel(g.Level)
		if err != nil {
			problems = append(problems, fmt.Errorf("grant %d: %w", g.ID, err))
			continue
		}
		grants = append(grants, authz.Grant{Kind: kind, User: g.User, Role: g.Role, Resource: g.Resource, Pattern: g.Pattern, Level: level})
	}
	defaults := make(map[string]authz.Level, len(rg.Defaults))
	for role, name := range rg.Defaults {
		level, err := authz.ParseLevel(name)
		if err != nil {
			problems = append(problems, fmt.Errorf("default of role %s: %w", role, err))
			continue
		}
		defaults[role] = level
	}
	return grants, defaults, errors.Join(problems...)
}

// GrantsReader is what the grants loader needs of the database.
type GrantsReader interface {
	LoadResourceGrants(ctx context.Context) (storage.ResourceGrants, error)
}

// OwnerWriter stores owner grants (RecordOwner).
type OwnerWriter interface {
	PutResourceGrant(ctx context.Context, actor storage.Actor, g storage.ResourceGrant) error
}

// GrantsLoader keeps a GrantHolder equal to the compiled grants in the
// database, following a storage.Feed: it reloads on every (re)connection and
// on every ChangeGrants. Grants that do not compile keep the previous set
// (or, on the first load, refuse every resource: fail closed).
type GrantsLoader struct {
	st     GrantsReader
	holder *authz.GrantHolder
	log    *slog.Logger
	mu     sync.Mutex // one load at a time, so that a later read is never replaced by an earlier one
}

// NewGrantsLoader returns a loader whose holder holds nothing until a load.
func NewGrantsLoader(st GrantsReader, log *slog.Logger) *GrantsLoader {
	return &GrantsLoader{st: st, holder: &authz.GrantHolder{}, log: log}
}

// Holder is the grant set in force.
func (l *GrantsLoader) Holder() *authz.GrantHolder { return l.holder }

// Subscribe has f keep the grants current; call it before f connects.
func (l *GrantsLoader) Subscribe(f *storage.Feed) { f.Subscribe("grants loader", grantsFeed{l}) }

type grantsFeed struct{ l *GrantsLoader }

func (g grantsFeed) Reload(ctx context.Context) error { return g.l.Load(ctx) }

func (g grantsFeed) Changed(ctx context.Context, c storage.Change) error {
	if c.Kind != storage.ChangeGrants {
		return nil
	}
	return g.l.Load(ctx)
}

// Load reads and compiles the stored grants and swaps them in. A database
// error is returned (the feed reconnects and reloads); grants that do not
// compile are logged and the previous set stays.
func (l *GrantsLoader) Load(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	rg, err := l.st.LoadResourceGrants(ctx)
	if err != nil {
		return err
	}
	grants, defaults, err := GrantsFromRecords(rg)
	var set *authz.GrantSet
	if err == nil {
		set, err = authz.CompileGrants(grants, defaults)
	}
	if err != nil {
		if l.holder.Load() == nil {
			// Nothing to keep: refuse every resource rather than let all through.
			empty, _ := authz.CompileGrants(nil, nil)
			l.holder.Store(empty)
			l.log.Error("resource grants do not compile; every request naming a resource is refused until they do", "error", err.Error())
			return nil
		}
		l.log.Error("resource grants do not compile; keeping the previous ones", "error", err.Error())
		return nil
	}
	l.holder.Store(set)
	return nil
}

// RecordOwner gives user manage on the resource they just created, marked
// as the owner's grant, and reloads the grants before returning so that
// the creator's next call on this replica finds it (the others follow the
// change feed). It is the proxy's OwnerSink.
func (l *GrantsLoader) RecordOwner(ctx context.Context, user string, kind authz.GrantKind, resource string) error {
	w, ok := l.st.(OwnerWriter)
	if !ok {
		return errors.New("authzstore: the grants store cannot record owners")
	}
	err := w.PutResourceGrant(ctx, storage.Actor{Name: user}, storage.ResourceGrant{
		Kind: kind.String(), User: user, Resource: resource, Level: authz.LevelManage.String(), Owner: true})
	if err != nil {
		return err
	}
	return l.Load(ctx)
}
