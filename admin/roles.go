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

// SearchUsers lists users whose name contains q, by name, a page at a time
// (after: the last name of the previous page). It reports whether more follow.
func (s *Service) SearchUsers(ctx context.Context, a Actor, q, after string, limit int) ([]storage.UserListing, bool, error) {
	if err := s.authorize(ctx, a); err != nil {
		return nil, false, err
	}
	list, more, err := s.st.SearchUsers(ctx, q, after, limit)
	return list, more, classify(err)
}

// RoleMembers lists who holds role.
func (s *Service) RoleMembers(ctx context.Context, a Actor, role string) ([]string, error) {
	if err := s.authorize(ctx, a); err != nil {
		return nil, err
	}
	m, err := s.st.RoleMembers(ctx, role)
	return m, classify(err)
}

// DescribeRole sets a role's description (at most 200 characters).
func (s *Service) DescribeRole(ctx context.Context, a Actor, role, description string) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	if len(description) > 200 {
		return Errorf(EInvalid, "a description may be at most 200 characters")
	}
	return classify(s.st.SetRoleDescription(ctx, a.audit(), role, description))
}

// DeleteRole removes a role that nobody holds and no permission names.
func (s *Service) DeleteRole(ctx context.Context, a Actor, role string) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	return classify(s.st.DeleteRole(ctx, a.audit(), role))
}
