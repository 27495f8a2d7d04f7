package admin

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mlflow-gate/mlflow-gate/idp/password"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// AddUser creates an enabled user with a password, a profile and roles, in
// one transaction: a role that does not exist leaves no user behind.
func (s *Service) AddUser(ctx context.Context, a Actor, username, pw string, p storage.Profile, roles []string) (storage.User, error) {
	if err := s.authorize(ctx, a); err != nil {
		return storage.User{}, err
	}
	p, err := checkProfile(p)
	if err != nil {
		return storage.User{}, err
	}
	hash, err := s.hash(pw, username)
	if err != nil {
		return storage.User{}, err
	}
	u, err := s.st.CreateUserWithProfile(ctx, a.audit(), username, hash, p, roles...)
	return u, classify(err)
}

// ProfileUpdate changes a user's profile: nil fields stay as they are.
type ProfileUpdate struct {
	Email, Name, GivenName, FamilyName *string
	EmailVerified                      *bool
}

// UpdateProfile changes what relying parties learn of a user through the
// profile and email scopes. A changed email is unverified unless the update
// says otherwise.
func (s *Service) UpdateProfile(ctx context.Context, a Actor, username string, up ProfileUpdate) (storage.User, error) {
	if err := s.authorize(ctx, a); err != nil {
		return storage.User{}, err
	}
	if up == (ProfileUpdate{}) {
		return storage.User{}, Errorf(EInvalid, "nothing to change: name at least one profile field")
	}
	u, err := s.st.UserByName(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		err = fmt.Errorf("%w: no user %q", storage.ErrNotFound, username)
	}
	if err != nil {
		return storage.User{}, classify(err)
	}
	p := u.Profile
	if up.Email != nil && *up.Email != p.Email {
		p.Email, p.EmailVerified = *up.Email, false
	}
	for dst, v := range map[*string]*string{&p.Name: up.Name, &p.GivenName: up.GivenName, &p.FamilyName: up.FamilyName} {
		if v != nil {
			*dst = *v
		}
	}
	if up.EmailVerified != nil {
		p.EmailVerified = *up.EmailVerified
	}
	if p, err = checkProfile(p); err != nil {
		return storage.User{}, err
	}
	if err := s.st.SetProfile(ctx, a.audit(), u.Username, p); err != nil {
		return storage.User{}, classify(err)
	}
	u.Profile = p
	return u, nil
}

// checkProfile trims p and checks its fields: an email address without a
// display name, names without control characters, within the lengths the
// database keeps.
func checkProfile(p storage.Profile) (storage.Profile, error) {
	p.Email = strings.TrimSpace(p.Email)
	p.Name, p.GivenName, p.FamilyName = strings.TrimSpace(p.Name), strings.TrimSpace(p.GivenName), strings.TrimSpace(p.FamilyName)
	var problems []string
	if p.Email != "" {
		addr, err := mail.ParseAddress(p.Email)
		if err != nil || addr.Address != p.Email || addr.Name != "" || len(p.Email) > 254 {
			problems = append(problems, fmt.Sprintf("email %q is not an address like name@example.com", p.Email))
		}
	} else if p.EmailVerified {
		problems = append(problems, "an email must be set to be verified")
	}
	for _, f := range []struct {
		what, v string
		max     int
	}{{"name", p.Name, 200}, {"given name", p.GivenName, 100}, {"family name", p.FamilyName, 100}} {
		if utf8.RuneCountInString(f.v) > f.max || len(f.v) > 4*f.max || !utf8.ValidString(f.v) ||
			strings.ContainsFunc(f.v, unicode.IsControl) {
			problems = append(problems, fmt.Sprintf("%s: at most %d characters, without control characters", f.what, f.max))
		}
	}
	if len(problems) > 0 {
		return p, Errorf(EInvalid, "%s", strings.Join(problems, "; "))
	}
	return p, nil
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
