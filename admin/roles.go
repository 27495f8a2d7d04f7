package admin

import (
	"context"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// AddRole creates a role.
func (s *Service) AddRole(ctx context.Context, a Actor, name, description string) (storage.Role, error) {
	if err := s.authorize(ctx, a); err != nil {
		return storage.Role{}, err
	}
	r, err := s.st.CreateRole(ctx, a.audit(), name, description)
	return r, classify(err)
}

// ListRoles lists every role with its member count.
func (s *Service) ListRoles(ctx context.Context, a Actor) ([]storage.Role, error) {
	if err := s.authorize(ctx, a); err != nil {
		return nil, err
	}
	roles, err := s.st.ListRoles(ctx)
	return roles, classify(err)
}

// GrantRole gives a user a role; granting a held role changes nothing.
func (s *Service) GrantRole(ctx context.Context, a Actor, role, username string) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	return classify(s.st.GrantRole(ctx, a.audit(), role, username))
}

// RevokeRole takes a role from a user; the last enabled Admin keeps Admin.
func (s *Service) RevokeRole(ctx context.Context, a Actor, role, username string) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	return classify(s.st.RevokeRole(ctx, a.audit(), role, username))
}
