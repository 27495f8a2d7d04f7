package admin

import (
	"context"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// Self-service: what a signed-in user may do to their own account on their
// own page, whatever their roles. An Admin may do the same to anyone through
// the operations above; these never reach another user's records.

// authorizeSelf checks that a is the signed-in, enabled user (any role), and
// returns the user.
func (s *Service) authorizeSelf(ctx context.Context, a Actor) (storage.User, error) {
	if a.Kind != ActorWeb || a.User == "" {
		return storage.User{}, Errorf(EForbidden, "sign in to manage your account")
	}
	u, err := s.st.UserByName(ctx, a.User)
	if err != nil {
		if ErrorCode(classify(err)) == ENotFound {
			return storage.User{}, Errorf(EForbidden, "sign in to manage your account")
		}
		return storage.User{}, classify(err)
	}
	if !u.Enabled() {
		return storage.User{}, Errorf(EForbidden, "this account is disabled")
	}
	return u, nil
}

// ChangeOwnPassword sets the signed-in user's password (checked against the
// same rules as every password) and ends their other sessions and every
// refresh-token family; the browser session keep stays signed in. The caller
// has already proven the current password (idp.Provider.Reauthenticate).
func (s *Service) ChangeOwnPassword(ctx context.Context, a Actor, pw, keep string) error {
	u, err := s.authorizeSelf(ctx, a)
	if err != nil {
		return err
	}
	hash, err := s.hash(pw, u.Username)
	if err != nil {
		return err
	}
	return classify(s.st.ChangePassword(ctx, a.audit(), u.Username, hash, keep))
}

// CreateOwnPAT issues a personal access token to the signed-in user.
func (s *Service) CreateOwnPAT(ctx context.Context, a Actor, o PATOptions) (string, storage.PAT, error) {
	u, err := s.authorizeSelf(ctx, a)
	if err != nil {
		return "", storage.PAT{}, err
	}
	if o, err = s.checkPAT(o); err != nil {
		return "", storage.PAT{}, err
	}
	return s.issuePAT(o, func(rec storage.PAT) (storage.PAT, error) { return s.st.InsertPAT(ctx, a.audit(), u.Username, rec) })
}

// ListOwnPATs lists the signed-in user's tokens (never their values).
func (s *Service) ListOwnPATs(ctx context.Context, a Actor) ([]storage.PAT, error) {
	u, err := s.authorizeSelf(ctx, a)
	if err != nil {
		return nil, err
	}
	pats, err := s.st.ListPATs(ctx, u.Username)
	return pats, classify(err)
}

// RevokeOwnPAT revokes one of the signed-in user's tokens. Another user's
// token is "not found", so ids cannot be probed.
func (s *Service) RevokeOwnPAT(ctx context.Context, a Actor, id string) error {
	u, err := s.authorizeSelf(ctx, a)
	if err != nil {
		return err
	}
	p, err := s.st.PATByID(ctx, id)
	if err != nil || p.UserID != u.ID {
		return Errorf(ENotFound, "no such token")
	}
	return classify(s.st.RevokePAT(ctx, a.audit(), id, s.cfg.Now()))
}

// ListOwnSessions lists the signed-in user's SSO sessions and refresh-token
// families (devices and command-line logins).
func (s *Service) ListOwnSessions(ctx context.Context, a Actor) ([]storage.SessionListing, error) {
	u, err := s.authorizeSelf(ctx, a)
	if err != nil {
		return nil, err
	}
	list, err := s.st.ListSessions(ctx, u.Username)
	return list, classify(err)
}

// RevokeOwnSession ends one of the signed-in user's sessions or refresh-token
// families; another user's is "not found".
func (s *Service) RevokeOwnSession(ctx context.Context, a Actor, id string) error {
	list, err := s.ListOwnSessions(ctx, a)
	if err != nil {
		return err
	}
	for _, l := range list {
		if l.ID == id && strings.EqualFold(l.Username, a.User) {
			_, _, err := s.st.RevokeSessionOrFamily(ctx, a.audit(), id, s.cfg.Now())
			return classify(err)
		}
	}
	return Errorf(ENotFound, "no such session")
}
