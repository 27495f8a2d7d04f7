package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/idp"
	"github.com/mlflow-gate/mlflow-gate/idp/password"
	"github.com/mlflow-gate/mlflow-gate/migrations"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// withStore opens the database (waiting for it as configured), checks that
// the schema is current, and runs fn.
func withStore(ctx context.Context, e *cli, fn func(*storage.Store) error) error {
	st, err := openStore(ctx, &e.cfg, newLogger(e.stderr, e.cfg.LogLevel, e.cfg.LogFormat), false)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := migrations.New(st.Pool)
	if err != nil {
		return err
	}
	v, _, err := m.Version()
	m.Close()
	if err != nil {
		return err
	}
	if v != migrations.Latest() {
		return fmt.Errorf("the database schema is at version %d, this binary needs %d: run `mlflow-gate migrate up` (or start `serve`, which migrates)", v, migrations.Latest())
	}
	return fn(st)
}

// withAdmin is withStore for administrative operations: fn gets the admin
// service, with the signing-key settings when the command has the secret.
func withAdmin(ctx context.Context, e *cli, fn func(*admin.Service) error) error {
	return withStore(ctx, e, func(st *storage.Store) error {
		cfg := admin.Config{KeyLifetime: idp.KeyLifetime(e.cfg.AccessTokenTTL, e.cfg.IDTokenTTL)}
		if e.cfg.Secret != "" {
			cfg.KeyEncryptionKey = keyEncryptionKey(&e.cfg)
		}
		return fn(admin.New(st, cfg))
	})
}

func migrateCommand() *command {
	withMigrator := func(ctx context.Context, e *cli, fn func(*migrations.Migrator) error) error {
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
		return fn(m)
	}
	return &command{name: "migrate", short: "apply or revert the database schema", commands: []*command{
		{name: "up", short: "apply every pending migration", group: "db", nargs: 0,
			action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
				return withMigrator(ctx, e, func(m *migrations.Migrator) error {
					if err := m.Up(ctx); err != nil {
						return err
					}
					v, _, err := m.Version()
					fmt.Fprintf(e.stdout, "schema at version %d\n", v)
					return err
				})
			}},
		migrateDownCommand(),
		{name: "version", short: "print the schema version of the database and of this binary", group: "db", nargs: 0,
			action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
				return withMigrator(ctx, e, func(m *migrations.Migrator) error {
					v, dirty, err := m.Version()
					if err != nil {
						return err
					}
					state := ""
					if dirty {
						state = " (dirty: a migration failed half-way)"
					}
					fmt.Fprintf(e.stdout, "database %d%s, binary %d\n", v, state, migrations.Latest())
					return nil
				})
			}},
		{name: "force", args: "VERSION", short: "mark VERSION as applied and clean, after repairing a failed migration by hand", group: "db", nargs: 1,
			action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
				var v int
				if _, err := fmt.Sscanf(args[0], "%d", &v); err != nil || v < 0 {
					return usageError("VERSION must be a number")
				}
				return withMigrator(ctx, e, func(m *migrations.Migrator) error { return m.Force(v) })
			}},
	}}
}

func passwordFlag(fs *flag.FlagSet, o *opts) {
	fs.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
}

// newPassword reads a password given on stdin and checks it before the
// database is opened (admin checks it again, and hashes it).
func newPassword(e *cli, o *opts, username string) (string, error) {
	if !o.passwordStdin {
		return "", usageError("give the password on standard input with --password-stdin")
	}
	pw, err := readPassword(e.stdin)
	if err != nil {
		return "", err
	}
	if err := password.Check(pw, username); err != nil {
		return "", err
	}
	return pw, nil
}

func userCommand() *command {
	return &command{name: "user", short: "manage users", commands: []*command{
		{name: "add", args: "USERNAME", short: "create a user (password from stdin)", group: "db", nargs: 1,
			flags: func(fs *flag.FlagSet, o *opts) {
				passwordFlag(fs, o)
				fs.StringVar(&o.roles, "roles", storage.RoleDefault, "comma-separated roles to grant")
			},
			action: func(ctx context.Context, e *cli, o *opts, args []string) error {
				pw, err := newPassword(e, o, args[0])
				if err != nil {
					return err
				}
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					if _, err := ad.AddUser(ctx, admin.CLI, args[0], pw, splitList(o.roles)); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "user %s created\n", args[0])
					return nil
				})
			}},
		{name: "list", short: "list users with their roles", group: "db", nargs: 0,
			action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					users, err := ad.ListUsers(ctx, admin.CLI)
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "USERNAME\tSTATE\tROLES\tCREATED")
					for _, u := range users {
						state := "enabled"
						if !u.Enabled() {
							state = "disabled"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Username, state, strings.Join(u.Roles, ","), u.CreatedAt.UTC().Format("2006-01-02 15:04"))
					}
					return tw.Flush()
				})
			}},
		{name: "set-password", args: "USERNAME", short: "replace a user's password (from stdin); ends the user's sessions", group: "db", nargs: 1,
			flags: passwordFlag,
			action: func(ctx context.Context, e *cli, o *opts, args []string) error {
				pw, err := newPassword(e, o, args[0])
				if err != nil {
					return err
				}
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					if err := ad.SetPassword(ctx, admin.CLI, args[0], pw); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "password of %s replaced; their sessions and refresh tokens are revoked\n", args[0])
					return nil
				})
			}},
		setDisabledCommand("disable", true),
		setDisabledCommand("enable", false),
	}}
}

func setDisabledCommand(name string, disabled bool) *command {
	short := "let a disabled user log in again"
	if disabled {
		short = "stop a user from logging in or using any token"
	}
	return &command{name: name, args: "USERNAME", short: short, group: "db", nargs: 1,
		action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
			return withAdmin(ctx, e, func(ad *admin.Service) error {
				if err := ad.SetDisabled(ctx, admin.CLI, args[0], disabled); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "user %s %sd\n", args[0], name)
				return nil
			})
		}}
}

func roleCommand() *command {
	grant := func(name string, do func(*admin.Service, context.Context, admin.Actor, string, string) error, done string) *command {
		return &command{name: name, args: "ROLE USERNAME", short: name + " a role to or from a user", group: "db", nargs: 2,
			action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					if err := do(ad, ctx, admin.CLI, args[0], args[1]); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "role %s %s %s\n", args[0], done, args[1])
					return nil
				})
			}}
	}
	return &command{name: "role", short: "manage roles", commands: []*command{
		{name: "add", args: "ROLE", short: "create a role", group: "db", nargs: 1,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.description, "description", "", "what the role is for")
			},
			action: func(ctx context.Context, e *cli, o *opts, args []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					if _, err := ad.AddRole(ctx, admin.CLI, args[0], o.description); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "role %s created\n", args[0])
					return nil
				})
			}},
		{name: "list", short: "list roles", group: "db", nargs: 0,
			action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					roles, err := ad.ListRoles(ctx, admin.CLI)
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ROLE\tMEMBERS\tDESCRIPTION")
					for _, r := range roles {
						fmt.Fprintf(tw, "%s\t%d\t%s\n", r.Name, r.Members, r.Description)
					}
					return tw.Flush()
				})
			}},
		grant("grant", (*admin.Service).GrantRole, "granted to"),
		grant("revoke", (*admin.Service).RevokeRole, "revoked from"),
	}}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
