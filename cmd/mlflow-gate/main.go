// Command mlflow-gate puts an MLflow tracking server on the internet behind
// its own OpenID Connect provider and a route/role permission table.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mlflow-gate/mlflow-gate/admin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// adminExit is the exit status of each code of the admin layer's errors. They
// all exit 1, as before the codes existed: scripts test for it.
var adminExit = map[string]int{admin.EInvalid: 1, admin.EConflict: 1, admin.ENotFound: 1, admin.EForbidden: 1, admin.EInternal: 1}

// quietExit ends a command that printed its answer with a status that says
// it, and nothing on stderr: `authz explain` of a denied request exits 1.
type quietExit int

func (q quietExit) Error() string { return fmt.Sprintf("exit status %d", int(q)) }

// exitCode prints err as one readable message and picks the status: 2 for a
// bad command line or configuration, adminExit for anything else. The
// message of an internal error is printed whole: the operator at the
// command line holds the database credentials, and needs the detail that
// admin.ErrorMessage keeps from the pages.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var q quietExit
	if errors.As(err, &q) {
		return int(q) // the command has said what it had to
	}
	fmt.Fprintf(stderr, "mlflow-gate: %v\n", err)
	var ce *ConfigError
	var ue usageError
	if errors.As(err, &ce) || errors.As(err, &ue) {
		return 2
	}
	if code, ok := adminExit[admin.ErrorCode(err)]; ok {
		return code
	}
	return 1
}
