package admin

import (
	"context"

	"github.com/mlflow-gate/mlflow-gate/idp"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// CreateClient validates spec (idp knows what a client may be) and registers
// the client. A confidential client's secret is returned, to be shown once;
// only its hash is stored.
func (s *Service) CreateClient(ctx context.Context, a Actor, spec idp.ClientSpec) (string, error) {
	if err := s.authorize(ctx, a); err != nil {
		return "", err
	}
	c, secret, err := idp.NewClient(spec)
	if err != nil {
		return "", classify(err)
	}
	if err := s.st.CreateClient(ctx, a.audit(), c); err != nil {
		return "", classify(err)
	}
	return secret, nil
}

// ListClients lists every client.
func (s *Service) ListClients(ctx context.Context, a Actor) ([]storage.Client, error) {
	if err := s.authorize(ctx, a); err != nil {
		return nil, err
	}
	clients, err := s.st.ListClients(ctx)
	return clients, classify(err)
}

// RemoveClient deletes a client; its tokens stop working on every replica.
func (s *Service) RemoveClient(ctx context.Context, a Actor, id string) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	return classify(s.st.DeleteClient(ctx, a.audit(), id))
}

// RotateClientSecret gives a confidential client a new secret, returned to
// be shown once; the old one stops working at once.
func (s *Service) RotateClientSecret(ctx context.Context, a Actor, id string) (string, error) {
	if err := s.authorize(ctx, a); err != nil {
		return "", err
	}
	secret, hash := idp.NewClientSecret()
	if err := s.st.SetClientSecret(ctx, a.audit(), id, hash); err != nil {
		return "", classify(err)
	}
	return secret, nil
}

// SetClientRoles replaces the roles a service client holds.
func (s *Service) SetClientRoles(ctx context.Context, a Actor, id string, roles []string) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	return classify(s.st.SetClientRoles(ctx, a.audit(), id, roles))
}

// SetClientDisabled disables a client (its tokens and grants stop working on
// every replica) or enables it again.
func (s *Service) SetClientDisabled(ctx context.Context, a Actor, id string, disabled bool) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	return classify(s.st.SetClientDisabled(ctx, a.audit(), id, disabled, s.cfg.Now()))
}

// UpdateClient changes a registered client (only what u names), validated by
// the rules a new client meets; every replica sees the change at once.
func (s *Service) UpdateClient(ctx context.Context, a Actor, id string, u idp.ClientUpdate) (storage.Client, error) {
	if err := s.authorize(ctx, a); err != nil {
		return storage.Client{}, err
	}
	if u.Empty() {
		return storage.Client{}, Errorf(EInvalid, "nothing to change: name at least one setting")
	}
	c, err := s.st.UpdateClient(ctx, a.audit(), id, u.Apply)
	return c, classify(err)
}
