package authzstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// SeedActor names mlflow-gate itself in the audit record of the seeded table.
var SeedActor = storage.Actor{Name: "mlflow-gate"}

// ToRecords turns a table into storage records, keeping every order.
func ToRecords(t authz.Table) storage.PermissionTable {
	var pt storage.PermissionTable
	for _, r := range t.Resources {
		pt.Resources = append(pt.Resources, storage.ResourceRecord{Name: r.Name, Type: string(r.Type),
			Description: r.Description, URIs: slices.Clone(r.URIs), Scopes: scopeNames(r.Scopes)})
	}
	for _, p := range t.Permissions {
		pt.Grants = append(pt.Grants, storage.GrantRecord{Role: p.Role, Resource: p.Resource, Scopes: scopeNames(p.Scopes)})
	}
	return pt
}

// FromRecords turns stored records into a table; a scope name authz does not know is
// an error (types are left to authz.Compile).
func FromRecords(pt storage.PermissionTable) (authz.Table, error) {
	var t authz.Table
	var errs []error
	for _, r := range pt.Resources {
		scopes, err := parseScopes(r.Scopes)
		if err != nil {
			errs = append(errs, fmt.Errorf("resource %q: %w", r.Name, err))
		}
		var uris []string
		if len(r.URIs) > 0 {
			uris = slices.Clone(r.URIs)
		}
		t.Resources = append(t.Resources, authz.Resource{Name: r.Name, Type: authz.ResourceType(r.Type),
			Description: r.Description, URIs: uris, Scopes: scopes})
	}
	for _, g := range pt.Grants {
		scopes, err := parseScopes(g.Scopes)
		if err != nil {
			errs = append(errs, fmt.Errorf("permission of %q on %q: %w", g.Role, g.Resource, err))
		}
		t.Permissions = append(t.Permissions, authz.Permission{Role: g.Role, Resource: g.Resource, Scopes: scopes})
	}
	return t, errors.Join(errs...)
}

func scopeNames(scopes []authz.Scope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = s.String()
	}
	return out
}

func parseScopes(names []string) ([]authz.Scope, error) {
	out := make([]authz.Scope, 0, len(names))
	for _, n := range names {
		s, err := authz.ParseScope(n)
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Load reads the stored table (one consistent snapshot).
func Load(ctx context.Context, st *storage.Store) (authz.Table, error) {
	pt, err := st.PermissionTable(ctx)
	if err != nil {
		return authz.Table{}, err
	}
	t, err := FromRecords(pt)
	if err != nil {
		return authz.Table{}, fmt.Errorf("the stored permission table is unreadable: %w", err)
	}
	return t, nil
}

// errUnchanged abandons an import whose table equals the stored one.
var errUnchanged = errors.New("unchanged")

// Import replaces the stored table with t in one transaction, audited with the diff
// and announced to every replica. t must compile; otherwise, or when a role it names
// does not exist, nothing changes. It returns the diff (authz.Diff) from the table it
// replaced; an empty diff writes nothing.
func Import(ctx context.Context, st *storage.Store, actor storage.Actor, t authz.Table) ([]string, error) {
	if _, err := authz.Compile(t); err != nil {
		return nil, err
	}
	var diff []string
	err := st.ReplacePermissionTable(ctx, actor, ToRecords(t), func(cur storage.PermissionTable) (map[string]any, error) {
		old, err := FromRecords(cur)
		if err != nil {
			diff = []string{"~ the whole table (the stored one is unreadable: " + err.Error() + ")"}
		} else {
			diff = authz.Diff(old, t)
		}
		if len(diff) == 0 {
			return nil, errUnchanged
		}
		return map[string]any{"diff": diff}, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return diff, nil
}

// Allow lets role do scopes on resource (idempotent: it reports whether anything
// changed). An unknown role or resource is storage.ErrNotFound; a scope the resource
// does not offer is storage.ErrInvalid.
func Allow(ctx context.Context, st *storage.Store, actor storage.Actor, role, resource string, scopes ...authz.Scope) (bool, error) {
	return st.AllowScopes(ctx, actor, role, resource, scopeNames(scopes)...)
}

// Disallow takes scopes on resource from role (idempotent, as Allow).
func Disallow(ctx context.Context, st *storage.Store, actor storage.Actor, role, resource string, scopes ...authz.Scope) (bool, error) {
	return st.DisallowScopes(ctx, actor, role, resource, scopeNames(scopes)...)
}

// SeedIfEmpty stores authz.DefaultTable when the database holds no resources yet, and
// reports whether it did. It needs the roles Admin and Default (storage.Bootstrap
// creates them) and is safe to call on every start from every replica at once.
func SeedIfEmpty(ctx context.Context, st *storage.Store) (bool, error) {
	t := authz.DefaultTable()
	if _, err := authz.Compile(t); err != nil {
		return false, fmt.Errorf("the default permission table does not compile: %w", err)
	}
	seeded, err := st.SeedPermissionTable(ctx, SeedActor, ToRecords(t))
	if err != nil {
		return false, fmt.Errorf("seeding the permission table: %w", err)
	}
	return seeded, nil
}
