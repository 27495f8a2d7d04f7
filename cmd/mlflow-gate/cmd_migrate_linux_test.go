package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/migrations"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// At a terminal, migrate down says what it drops and reverts only when the
// database's name (or yes) is typed.
func TestMigrateDownAsksAtATerminal(t *testing.T) {
	db := storagetest.EmptyDatabase(t)
	env := map[string]string{"MLFLOW_GATE_DATABASE_URL": db}
	if _, stderr, code := gate(t, env, "", "migrate", "up"); code != 0 {
		t.Fatal(stderr)
	}
	name := db[strings.LastIndex(db, "/")+1:]
	name, _, _ = strings.Cut(name, "?")
	latest := migrations.Latest()
	for _, tc := range []struct {
		args    []string
		answer  string
		code    int
		version uint
		prompt  string
	}{
		{[]string{"migrate", "down", "1"}, "no\n", 1, latest, migrations.Name(latest)},
		{[]string{"migrate", "down", "--all"}, "gate_prod\n", 1, latest, "drops every table of the gate"},
		{[]string{"migrate", "down", "1"}, name + "\n", 0, latest - 1, fmt.Sprintf("version %d to %d", latest, latest-1)},
		{[]string{"migrate", "down", "2"}, "yes\n", 0, latest - 3, migrations.Name(latest - 2)},
		{[]string{"migrate", "down", "--all"}, name + "\n", 0, 0, "Nothing of it can be recovered"},
	} {
		pty, tty := openPTY(t)
		if _, err := pty.WriteString(tc.answer); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		err := run(context.Background(), tc.args, envMap(env), tty, &out, &errb)
		code := exitCode(err, &errb)
		if code != tc.code || !strings.Contains(errb.String(), "Type the database name ("+name+") or yes") || !strings.Contains(errb.String(), tc.prompt) {
			t.Errorf("%v answering %q: exit %d, want %d; stderr:\n%s", tc.args, tc.answer, code, tc.code, errb.String())
		}
		if tc.code != 0 && !strings.Contains(errb.String(), "not confirmed") {
			t.Errorf("a refusal does not say it was not confirmed: %s", errb.String())
		}
		if got, want := schemaVersion(t, env), fmt.Sprintf("database %d,", tc.version); !strings.HasPrefix(got, want) {
			t.Fatalf("after %v answering %q: %q, want %q", tc.args, tc.answer, got, want)
		}
	}
}
