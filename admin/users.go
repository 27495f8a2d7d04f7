package admin

import (
	"context"

	"github.com/mlflow-gate/mlflow-gate/idp/password"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// AddUser creates an enabled user with a password and roles, in one
// transaction: a role that does not exist leaves no user behind.
func (s *Service) AddUser(ctx context.Context, a Actor, username, pw string, roles []string) (storage.User, error) {
	if err := s.authorize(ctx, a); err != nil {
		return storage.User{}, err
	}
	hash, err := s.hash(pw, username)
	if err != nil {
		return storage.User{}, err
	}
	u, err := s.st.CreateUser(ctx, a.audit(), username, hash, roles...)
	return u, classify(err)
}

// SetPassword replaces a user's password; the user's sessions and refresh
// tokens end.
func (s *Service) SetPassword(ctx context.Context, a Actor, username, pw string) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	hash, err := s.hash(pw, username)
	if err != nil {
		return err
	}
	return classify(s.st.SetPassword(ctx, a.audit(), username, hash))
}

// hash checks a new password against the rules and hashes it.
func (s *Service) hash(pw, username string) (string, error) {
	if err := password.Check(pw, username); err != nil {
		return "", &Error{Code: EInvalid, Message: err.Error(), err: err}
	}
	return password.Hash(pw, *s.cfg.PasswordParams)
}

// SetDisabled disables a user (ending their sessions, refresh tokens and
// personal access tokens; never the last enabled Admin) or enables one.
func (s *Service) SetDisabled(ctx context.Context, a Actor, username string, disabled bool) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	return classify(s.st.SetDisabled(ctx, a.audit(), username, disabled))
}

// ListUsers lists every user with their roles, by name.
func (s *Service) ListUsers(ctx context.Context, a Actor) ([]storage.User, error) {
	if err := s.authorize(ctx, a); err != nil {
		return nil, err
	}
	users, err := s.st.ListUsers(ctx)
	return users, classify(err)
}

// User finds a user by name, ignoring case.
func (s *Service) User(ctx context.Context, a Actor, username string) (storage.User, error) {
	if err := s.authorize(ctx, a); err != nil {
		return storage.User{}, err
	}
	u, err := s.st.UserByName(ctx, username)
	return u, classify(err)
}
