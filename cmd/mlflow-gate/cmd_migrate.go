package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/migrations"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// migrateDownCommand reverts migrations, which drops what they made: it
// takes the number to revert or --all (never everything by default), asks
// at a terminal (or takes --yes), and refuses while gates serve the
// database unless --force.
func migrateDownCommand() *command {
	var all, yes, force bool
	return &command{name: "down", args: "STEPS | --all", group: "db", nargs: -1,
		short: "revert the last STEPS migrations, or --all of them (asks first)",
		long: "Revert the last STEPS migrations, or with --all every one of them, which drops every table of\n" +
			"the gate: users, clients, tokens, signing keys, the permission table and the audit log. What a\n" +
			"reverted migration made is lost. At a terminal it asks you to type the database's name (or yes);\n" +
			"elsewhere it needs --yes. While gates serve the database (each `serve` holds a lock that shows\n" +
			"it) it refuses, unless --force; gates that keep serving report themselves not ready on /readyz.",
		flags: func(fs *flag.FlagSet, _ *opts) {
			fs.BoolVar(&all, "all", false, "revert every migration: drop the whole schema")
			fs.BoolVar(&yes, "yes", false, "do not ask for confirmation (needed when stdin is not a terminal)")
			fs.BoolVar(&force, "force", false, "revert even while gates are serving this database")
		},
		action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
			steps, err := downSteps(args, all)
			if err != nil {
				return err
			}
			if !yes && !isTerminal(e.stdin) {
				return usageError("migrate down asks for confirmation at a terminal, and stdin is not one: pass --yes to revert without asking")
			}
			return withMigratorStore(ctx, e, func(st *storage.Store, m *migrations.Migrator) error {
				v, dirty, err := m.Version()
				if err != nil {
					return err
				}
				if v == 0 && !dirty {
					fmt.Fprintln(e.stdout, "nothing to revert: the database has no schema")
					return nil
				}
				if all {
					steps = int(v)
				} else if uint(steps) > v {
					return fmt.Errorf("the database is at version %d, so at most %d migrations can be reverted, not %d (--all reverts every one)", v, v, steps)
				}
				rev, err := migrations.LockOutServing(ctx, st.Pool)
				switch {
				case errors.Is(err, migrations.ErrServing) && force:
					fmt.Fprintf(e.stderr, "mlflow-gate: warning: %v; reverting anyway (--force): they report not ready until `migrate up`\n", err)
				case errors.Is(err, migrations.ErrServing):
					return fmt.Errorf("%w: stop them before reverting, or pass --force to revert under them", err)
				case err != nil:
					return err
				}
				defer rev.Release()
				if !yes {
					if err := confirmDown(e, st, v, steps, all); err != nil {
						return err
					}
				}
				if err := m.Down(ctx, steps); err != nil {
					return err
				}
				after, _, err := m.Version()
				fmt.Fprintf(e.stdout, "schema at version %d\n", after)
				return err
			})
		}}
}

// downSteps reads STEPS or --all; one of them, never neither.
func downSteps(args []string, all bool) (int, error) {
	const how = "say how many migrations to revert (`mlflow-gate migrate down 1`), or --all to revert every one (drops the whole schema)"
	switch {
	case len(args) > 1:
		return 0, usageError("usage: mlflow-gate migrate down STEPS | --all")
	case len(args) == 1 && all:
		return 0, usageError("give STEPS or --all, not both")
	case len(args) == 0 && !all:
		return 0, usageError("migrate down needs STEPS or --all: " + how)
	case all:
		return 0, nil
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return 0, usageError(fmt.Sprintf("STEPS must be a positive number, not %q: %s", args[0], how))
	}
	return n, nil
}

// confirmDown says what the revert drops and waits for the database's name
// (or yes) on stdin.
func confirmDown(e *cli, st *storage.Store, version uint, steps int, all bool) error {
	cc := st.Pool.Config().ConnConfig
	where := fmt.Sprintf("database %q on %s:%d", cc.Database, cc.Host, cc.Port)
	if all {
		fmt.Fprintf(e.stderr, "This reverts every migration of %s (version %d to 0):\n"+
			"it drops every table of the gate: users, roles, clients, tokens, signing keys, the permission\n"+
			"table and the audit log. Nothing of it can be recovered afterwards.\n", where, version)
	} else {
		var names []string
		for v := version; v > version-uint(steps); v-- {
			names = append(names, migrations.Name(v))
		}
		fmt.Fprintf(e.stderr, "This reverts %d migration(s) of %s (version %d to %d): %s.\n"+
			"What they made is dropped, with its data.\n", steps, where, version, version-uint(steps), strings.Join(names, ", "))
	}
	fmt.Fprintf(e.stderr, "Type the database name (%s) or yes to go on: ", cc.Database)
	answer, err := bufio.NewReader(e.stdin).ReadString('\n')
	answer = strings.TrimSpace(answer)
	if err != nil && (err != io.EOF || answer == "") {
		fmt.Fprintln(e.stderr)
		return errors.New("no answer on stdin: nothing was reverted")
	}
	if answer != cc.Database && !strings.EqualFold(answer, "yes") {
		return fmt.Errorf("not confirmed (the answer was %q, not %q or yes): nothing was reverted", answer, cc.Database)
	}
	return nil
}

// withMigratorStore opens the database and a migrator on it.
func withMigratorStore(ctx context.Context, e *cli, fn func(*storage.Store, *migrations.Migrator) error) error {
	st, err := openStore(ctx, &e.cfg, newLogger(e.stderr, e.cfg.LogLevel, e.cfg.LogFormat), false)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := migrations.New(st.Pool)
	if err != nil {
		return err
	}
	defer m.Close()
	return fn(st, m)
}
