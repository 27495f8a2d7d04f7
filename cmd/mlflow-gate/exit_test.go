package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/admin"
)

// Every admin error code exits 1 with its whole message, as the commands did
// before the codes existed; bad command lines and configurations exit 2.
func TestExitCodeMapsAdminErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		msg  string
	}{
		{nil, 0, ""},
		{admin.Errorf(admin.EInvalid, "invalid value: bad"), 1, "mlflow-gate: invalid value: bad\n"},
		{admin.Errorf(admin.EConflict, `conflict: user "alice" already exists`), 1, "mlflow-gate: conflict: user \"alice\" already exists\n"},
		{fmt.Errorf("f.yaml not imported: %w", admin.Errorf(admin.ENotFound, `no role "Ghost"`)), 1, "mlflow-gate: f.yaml not imported: no role \"Ghost\"\n"},
		{admin.Errorf(admin.EForbidden, "no"), 1, "mlflow-gate: no\n"},
		{errors.New("database unreachable: dial tcp"), 1, "mlflow-gate: database unreachable: dial tcp\n"},
		{admin.Errorf("something new", "x"), 1, "mlflow-gate: x\n"},
		{usageError("usage: mlflow-gate user add USERNAME"), 2, "mlflow-gate: usage: mlflow-gate user add USERNAME\n"},
		{&ConfigError{Problems: []string{"p"}}, 2, "mlflow-gate: invalid configuration:\n  - p\n"},
	} {
		var b bytes.Buffer
		if got := exitCode(tc.err, &b); got != tc.code || b.String() != tc.msg {
			t.Errorf("%v: exit %d %q, want %d %q", tc.err, got, b.String(), tc.code, strings.TrimSpace(tc.msg))
		}
	}
}
