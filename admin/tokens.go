package admin

import (
	"context"
	"time"

	"github.com/mlflow-gate/mlflow-gate/idp"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// PATLimits are the default and maximum lifetimes of personal access tokens.
type PATLimits struct{ Default, Max time.Duration }

// DefaultPATLimits: tokens expire after 90 days unless asked otherwise, and
// never live longer than a year and a day.
var DefaultPATLimits = PATLimits{Default: 90 * 24 * time.Hour, Max: 366 * 24 * time.Hour}

// PATOptions are the optional inputs of CreatePAT and CreateClientPAT.
type PATOptions struct {
	Name string        // a label for listings, at most 100 characters
	TTL  time.Duration // 0 means the default lifetime; at most the maximum
}

// check applies the defaults and limits to o.
func (s *Service) checkPAT(o PATOptions) (PATOptions, error) {
	lim := s.cfg.PATLimits
	if o.TTL <= 0 {
		o.TTL = lim.Default
	}
	if o.TTL > lim.Max {
		return o, Errorf(EInvalid, "%s: a token may live at most %s", storage.ErrInvalid, lim.Max)
	}
	if len(o.Name) > 100 {
		return o, Errorf(EInvalid, "%s: token name longer than 100 characters", storage.ErrInvalid)
	}
	return o, nil
}

// CreatePAT issues a personal access token for an enabled user. It returns
// the token, to be shown once, and its record (which holds only a hash).
func (s *Service) CreatePAT(ctx context.Context, a Actor, username string, o PATOptions) (string, storage.PAT, error) {
	if err := s.authorize(ctx, a); err != nil {
		return "", storage.PAT{}, err
	}
	o, err := s.checkPAT(o)
	if err != nil {
		return "", storage.PAT{}, err
	}
	u, err := s.st.UserByName(ctx, username)
	if err != nil {
		return "", storage.PAT{}, classify(err)
	}
	if !u.Enabled() {
		return "", storage.PAT{}, Errorf(EInvalid, "%s: user %q is disabled", storage.ErrInvalid, u.Username)
	}
	return s.issuePAT(o, func(rec storage.PAT) (storage.PAT, error) { return s.st.InsertPAT(ctx, a.audit(), u.Username, rec) })
}

// CreateClientPAT issues a personal access token owned by a confidential
// service client: it speaks for the client, with the client's own roles.
func (s *Service) CreateClientPAT(ctx context.Context, a Actor, clientID string, o PATOptions) (string, storage.PAT, error) {
	if err := s.authorize(ctx, a); err != nil {
		return "", storage.PAT{}, err
	}
	o, err := s.checkPAT(o)
	if err != nil {
		return "", storage.PAT{}, err
	}
	return s.issuePAT(o, func(rec storage.PAT) (storage.PAT, error) { return s.st.InsertClientPAT(ctx, a.audit(), clientID, rec) })
}

func (s *Service) issuePAT(o PATOptions, insert func(storage.PAT) (storage.PAT, error)) (string, storage.PAT, error) {
	tok, rec, err := idp.NewPAT(o.Name, s.cfg.Now(), o.TTL)
	if err != nil {
		return "", storage.PAT{}, err
	}
	if rec, err = insert(rec); err != nil {
		return "", storage.PAT{}, classify(err)
	}
	return tok, rec, nil
}

// PATFilter picks tokens to list: those of User, of Client, or (both empty)
// every token, users' first.
type PATFilter struct{ User, Client string }

// ListPATs lists personal access tokens (never their values).
func (s *Service) ListPATs(ctx context.Context, a Actor, f PATFilter) ([]storage.PAT, error) {
	if err := s.authorize(ctx, a); err != nil {
		return nil, err
	}
	var pats []storage.PAT
	var err error
	if f.Client == "" {
		pats, err = s.st.ListPATs(ctx, f.User)
	}
	if err == nil && f.User == "" {
		var svc []storage.PAT
		svc, err = s.st.ListClientPATs(ctx, f.Client)
		pats = append(pats, svc...)
	}
	return pats, classify(err)
}

// RevokePAT revokes a token by id; every replica stops accepting it.
func (s *Service) RevokePAT(ctx context.Context, a Actor, id string) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	return classify(s.st.RevokePAT(ctx, a.audit(), id, s.cfg.Now()))
}
