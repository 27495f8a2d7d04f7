package admin

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

func TestErrorCodesAndMessages(t *testing.T) {
	internal := errors.New("connection reset by peer at 10.0.0.7")
	for name, tc := range map[string]struct {
		err           error
		code, message string
	}{
		"nil":               {nil, "", ""},
		"application":       {Errorf(EConflict, "user %q already exists", "alice"), EConflict, `user "alice" already exists`},
		"wrapped":           {fmt.Errorf("f.yaml not imported: %w", Errorf(ENotFound, "no role")), ENotFound, "no role"},
		"internal":          {internal, EInternal, "internal error"},
		"wrapped internal":  {fmt.Errorf("storing: %w", internal), EInternal, "internal error"},
		"storage not found": {classify(fmt.Errorf("%w: no user %q", storage.ErrNotFound, "bob")), ENotFound, `not found: no user "bob"`},
		"storage conflict":  {classify(fmt.Errorf("%w: users_username_key", storage.ErrConflict)), EConflict, "conflict: users_username_key"},
		"storage invalid":   {classify(fmt.Errorf("%w: bad", storage.ErrInvalid)), EInvalid, "invalid value: bad"},
		"last admin":        {classify(storage.ErrLastAdmin), EConflict, storage.ErrLastAdmin.Error()},
		"only signing key":  {classify(storage.ErrOnlySigningKey), EConflict, storage.ErrOnlySigningKey.Error()},
		"unclassified":      {classify(internal), EInternal, "internal error"},
	} {
		if got := ErrorCode(tc.err); got != tc.code {
			t.Errorf("%s: code %q, want %q", name, got, tc.code)
		}
		if got := ErrorMessage(tc.err); got != tc.message {
			t.Errorf("%s: message %q, want %q", name, got, tc.message)
		}
	}
	// The cause stays testable through the application error.
	if err := classify(fmt.Errorf("revoking: %w", storage.ErrOnlySigningKey)); !errors.Is(err, storage.ErrOnlySigningKey) {
		t.Errorf("cause lost: %v", err)
	}
	// classify leaves an application error alone.
	e := Errorf(EForbidden, "no")
	if got := classify(e); got != e {
		t.Errorf("classify(%v) = %v", e, got)
	}
}

func TestUnknownActorIsForbidden(t *testing.T) {
	s := New(nil, Config{})
	for _, a := range []Actor{{}, {Kind: ActorWeb}, {Kind: 7, User: "admin"}} {
		if err := s.authorize(context.Background(), a); ErrorCode(err) != EForbidden {
			t.Errorf("%+v: %v", a, err)
		}
	}
	if err := s.authorize(context.Background(), CLI); err != nil {
		t.Errorf("cli: %v", err)
	}
}

func TestAuditActor(t *testing.T) {
	if got := CLI.audit(); got != (storage.Actor{Name: "cli"}) {
		t.Errorf("cli audits as %+v", got)
	}
	if got := (Actor{Kind: ActorWeb, User: "admin", Address: "192.0.2.1"}).audit(); got != (storage.Actor{Name: "admin", Address: "192.0.2.1"}) {
		t.Errorf("web audits as %+v", got)
	}
}
