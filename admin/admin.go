package admin

import (
	"context"
	"time"

	"github.com/mlflow-gate/mlflow-gate/idp/password"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// ActorKind says through which surface an administrative change arrives.
type ActorKind int

const (
	// ActorCLI is the operator at the command line, who holds the database
	// credentials and so may do anything.
	ActorCLI ActorKind = iota + 1
	// ActorWeb is a signed-in user of the admin pages, who must be an enabled
	// Admin.
	ActorWeb
)

// cliName is what audit records call the command line.
const cliName = "cli"

// Actor is who asks for an operation: the kind of surface, the signed-in
// user (web only) and the address the request came from (web only).
type Actor struct {
	Kind    ActorKind
	User    string
	Address string
}

// CLI is the actor of command-line operations.
var CLI = Actor{Kind: ActorCLI}

// audit is the actor as the audit record names it.
func (a Actor) audit() storage.Actor {
	if a.Kind == ActorCLI {
		return storage.Actor{Name: cliName, Address: a.Address}
	}
	return storage.Actor{Name: a.User, Address: a.Address}
}

// Config holds what some operations need besides the database.
type Config struct {
	// KeyEncryptionKey seals new private signing keys (32 bytes, derived
	// from MLFLOW_GATE_SECRET for idp.KeyEncryptionPurpose). Only the key
	// operations need it.
	KeyEncryptionKey []byte
	// KeyLifetime is how long a key stays published after it stops signing
	// (idp.KeyLifetime of the token lifetimes).
	KeyLifetime time.Duration
	// PasswordParams hash new passwords; default password.DefaultParams.
	PasswordParams *password.Params
	// PATLimits bound personal access token lifetimes; default DefaultPATLimits.
	PATLimits *PATLimits
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Service performs administrative operations. Each one checks the actor,
// runs in one transaction together with its audit record, and returns
// errors as values (see ErrorCode).
type Service struct {
	st  *storage.Store
	cfg Config
}

// New returns a service over st.
func New(st *storage.Store, cfg Config) *Service {
	if cfg.PasswordParams == nil {
		cfg.PasswordParams = &password.DefaultParams
	}
	if cfg.PATLimits == nil {
		cfg.PATLimits = &DefaultPATLimits
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{st: st, cfg: cfg}
}

// authorize checks that a may administer: the command line always may; a
// web actor must be a signed-in, enabled holder of Admin.
func (s *Service) authorize(ctx context.Context, a Actor) error {
	switch a.Kind {
	case ActorCLI:
		return nil
	case ActorWeb:
		if a.User == "" {
			return Errorf(EForbidden, "sign in to administer the gate")
		}
		u, err := s.st.UserByName(ctx, a.User)
		if err != nil {
			if ErrorCode(classify(err)) == ENotFound {
				return Errorf(EForbidden, "only an Admin may administer the gate")
			}
			return err
		}
		if !u.Enabled() || !holds(u.Roles, storage.RoleAdmin) {
			return Errorf(EForbidden, "only an Admin may administer the gate")
		}
		return nil
	}
	return Errorf(EForbidden, "unknown kind of actor")
}

func holds(roles []string, role string) bool {
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}
