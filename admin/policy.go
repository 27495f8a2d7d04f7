package admin

import (
	"context"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/authz/authzstore"
)

// Table reads the stored permission table, which serve seeds on its first
// start; an empty one is ENotFound.
func (s *Service) Table(ctx context.Context, a Actor) (authz.Table, error) {
	if err := s.authorize(ctx, a); err != nil {
		return authz.Table{}, err
	}
	t, err := authzstore.Load(ctx, s.st)
	if err != nil {
		return authz.Table{}, classify(err)
	}
	if len(t.Resources) == 0 {
		return authz.Table{}, Errorf(ENotFound, "the permission table is empty: start `mlflow-gate serve` once to store the default table, or import one")
	}
	return t, nil
}

// ImportPreview is what importing a table would do.
type ImportPreview struct {
	Diff         []string // authz.Diff from the stored table
	MissingRoles []string // roles the table grants to that do not exist (the import would fail)
}

// PreviewImport tells what ImportTable(t) would change, writing nothing.
func (s *Service) PreviewImport(ctx context.Context, a Actor, t authz.Table) (ImportPreview, error) {
	if err := s.authorize(ctx, a); err != nil {
		return ImportPreview{}, err
	}
	cur, err := authzstore.Load(ctx, s.st)
	if err != nil {
		return ImportPreview{}, classify(err)
	}
	roles, err := s.st.ListRoles(ctx)
	if err != nil {
		return ImportPreview{}, classify(err)
	}
	have := map[string]bool{}
	for _, r := range roles {
		have[r.Name] = true
	}
	p := ImportPreview{Diff: authz.Diff(cur, t)}
	for _, g := range t.Permissions {
		if !have[g.Role] {
			have[g.Role] = true
			p.MissingRoles = append(p.MissingRoles, g.Role)
		}
	}
	return p, nil
}

// ImportTable replaces the whole permission table with t in one transaction,
// audited with the difference and announced to every replica, and returns
// the difference (empty: nothing was written). A table that does not
// compile is EInvalid; one that names a missing role, ENotFound.
func (s *Service) ImportTable(ctx context.Context, a Actor, t authz.Table) ([]string, error) {
	if err := s.authorize(ctx, a); err != nil {
		return nil, err
	}
	if _, err := authz.Compile(t); err != nil {
		return nil, &Error{Code: EInvalid, Message: err.Error(), err: err}
	}
	diff, err := authzstore.Import(ctx, s.st, a.audit(), t)
	return diff, classify(err)
}

// Allow lets role do scopes on resource, reporting whether anything changed.
// An unknown role or resource is ENotFound; a scope the resource does not
// offer, EInvalid.
func (s *Service) Allow(ctx context.Context, a Actor, role, resource string, scopes ...authz.Scope) (bool, error) {
	if err := s.authorize(ctx, a); err != nil {
		return false, err
	}
	changed, err := authzstore.Allow(ctx, s.st, a.audit(), role, resource, scopes...)
	return changed, classify(err)
}

// Disallow takes scopes on resource from role, as Allow.
func (s *Service) Disallow(ctx context.Context, a Actor, role, resource string, scopes ...authz.Scope) (bool, error) {
	if err := s.authorize(ctx, a); err != nil {
		return false, err
	}
	changed, err := authzstore.Disallow(ctx, s.st, a.audit(), role, resource, scopes...)
	return changed, classify(err)
}
