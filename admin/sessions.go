package admin

import (
	"context"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// ListSessions lists SSO sessions and refresh-token families, of one user
// when username is not empty.
func (s *Service) ListSessions(ctx context.Context, a Actor, username string) ([]storage.SessionListing, error) {
	if err := s.authorize(ctx, a); err != nil {
		return nil, err
	}
	list, err := s.st.ListSessions(ctx, username)
	return list, classify(err)
}

// RevokeSession ends an SSO session with its refresh-token families, or one
// family, by id. It reports which kind id was ("session" or "family") and how
// many families it revoked.
func (s *Service) RevokeSession(ctx context.Context, a Actor, id string) (kind string, families int, err error) {
	if err := s.authorize(ctx, a); err != nil {
		return "", 0, err
	}
	kind, families, err = s.st.RevokeSessionOrFamily(ctx, a.audit(), id, s.cfg.Now())
	return kind, families, classify(err)
}
