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
		return withMigratorStore(ctx, e, func(_ *storage.Store, m *migrations.Migrator) error { return fn(m) })
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

// profileFlags are the profile flags of `user add` and `user update`.
type profileFlags struct {
	email, name, given, family optString
	verified                   optBool
}

func (pf *profileFlags) define(fs *flag.FlagSet) {
	fs.Var(&pf.email, "email", "the user's email address, for the email scope (\"\" removes it)")
	fs.Var(&pf.verified, "email-verified", "the email address is known to be the user's (email_verified); a changed email is unverified unless given")
	fs.Var(&pf.name, "name", "the user's full name, for the profile scope")
	fs.Var(&pf.given, "given-name", "the user's given name, for the profile scope")
	fs.Var(&pf.family, "family-name", "the user's family name, for the profile scope")
}

func (pf *profileFlags) update() admin.ProfileUpdate {
	return admin.ProfileUpdate{Email: pf.email.ptr(), EmailVerified: pf.verified.ptr(), Name: pf.name.ptr(),
		GivenName: pf.given.ptr(), FamilyName: pf.family.ptr()}
}

func (pf *profileFlags) profile() storage.Profile {
	return storage.Profile{Email: pf.email.v, EmailVerified: pf.verified.v, Name: pf.name.v, GivenName: pf.given.v, FamilyName: pf.family.v}
}

const profileHelp = "The profile is what relying parties learn of the user through the profile scope (name,\n" +
	"given_name, family_name, preferred_username) and the email scope (email, email_verified). Only an\n" +
	"administrator says an email is verified. Roles are sent as the roles and groups claims."

func userCommand() *command {
	var pf profileFlags
	return &command{name: "user", short: "manage users", commands: []*command{
		{name: "add", args: "USERNAME", short: "create a user (password from stdin)", group: "db", nargs: 1,
			long: "Create an enabled user holding --roles, with the password read from standard input (or\n" +
				"--generate-password). A role that does not exist creates nothing.\n\n" + profileHelp + "\n\n" +
				"Example:\n  mlflow-gate user add alice --roles Default --email alice@example.com --email-verified --name \"Alice Liddell\"",
			flags: func(fs *flag.FlagSet, o *opts) {
				passwordFlag(fs, o)
				fs.StringVar(&o.roles, "roles", storage.RoleDefault, "comma-separated roles to grant")
				pf.define(fs)
			},
			action: func(ctx context.Context, e *cli, o *opts, args []string) error {
				pw, err := newPassword(e, o, args[0])
				if err != nil {
					return err
				}
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					if _, err := ad.AddUser(ctx, admin.CLI, args[0], pw, pf.profile(), splitList(o.roles)); err != nil {
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
					fmt.Fprintln(tw, "USERNAME\tSTATE\tROLES\tEMAIL\tNAME\tCREATED")
					for _, u := range users {
						state := "enabled"
						if !u.Enabled() {
							state = "disabled"
						}
						email := u.Email
						if email != "" && !u.EmailVerified {
							email += " (unverified)"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, state, strings.Join(u.Roles, ","), dash(email), dash(u.Name),
							u.CreatedAt.UTC().Format("2006-01-02 15:04"))
					}
					return tw.Flush()
				})
			}},
		{name: "update", args: "USERNAME", short: "change a user's profile (email, email_verified, names); only the flags given change", group: "db", nargs: 1,
			long: "Change a user's profile; flags not given keep their value.\n\n" + profileHelp + "\n\n" +
				"Examples:\n  mlflow-gate user update alice --email alice@example.com --email-verified\n" +
				"  mlflow-gate user update alice --given-name Alice --family-name Liddell\n" +
				"  mlflow-gate user update alice --email \"\"",
			flags: func(fs *flag.FlagSet, _ *opts) { pf.define(fs) },
			action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
				up := pf.update()
				if up == (admin.ProfileUpdate{}) {
					return usageError("name at least one of --email, --email-verified, --name, --given-name, --family-name")
				}
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					u, err := ad.UpdateProfile(ctx, admin.CLI, args[0], up)
					if err != nil {
						return err
					}
					verified := "unverified"
					if u.EmailVerified {
						verified = "verified"
					}
					fmt.Fprintf(e.stdout, "user %s updated: email %s (%s), name %s, given name %s, family name %s\n", u.Username,
						dash(u.Email), verified, dash(u.Name), dash(u.GivenName), dash(u.FamilyName))
					return nil
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
