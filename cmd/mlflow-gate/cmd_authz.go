package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/authz"
)

func authzCommand() *command {
	return &command{name: "authz", short: "show, edit, export and import the permission table", commands: []*command{
		{name: "list", short: "list resources and the scopes roles hold on them", group: "db", nargs: 0,
			action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					t, err := ad.Table(ctx, admin.CLI)
					if err != nil {
						return err
					}
					return printTable(e.stdout, t)
				})
			}},
		{name: "export", args: "FILE", short: "write the permission table as YAML (- for stdout)", group: "db", nargs: 1,
			action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					t, err := ad.Table(ctx, admin.CLI)
					if err != nil {
						return err
					}
					b, err := authz.MarshalTableYAML(t)
					if err != nil {
						return err
					}
					if args[0] == "-" {
						_, err = e.stdout.Write(b)
						return err
					}
					if err := os.WriteFile(args[0], b, 0o644); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "exported %d resources and %d permissions to %s\n", len(t.Resources), len(t.Permissions), args[0])
					return nil
				})
			}},
		authzImportCommand(),
		authzGrantCommand("allow"),
		authzGrantCommand("disallow"),
		authzExplainCommand(),
	}}
}

func authzImportCommand() *command {
	var dryRun bool
	return &command{name: "import", args: "FILE", group: "db", nargs: 1,
		short: "replace the permission table with a YAML file (- for stdin), printing the difference",
		long: "Replace the whole permission table with FILE (- for stdin) in one transaction, after checking\n" +
			"that it compiles; print what changes. With --dry-run only print what would change.",
		flags: func(fs *flag.FlagSet, _ *opts) {
			fs.BoolVar(&dryRun, "dry-run", false, "print the difference and change nothing")
		},
		action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
			t, p, err := readTableFile(e.stdin, args[0])
			if err != nil {
				return err
			}
			return withAdmin(ctx, e, func(ad *admin.Service) error {
				var diff, missing []string
				if dryRun {
					pre, err := ad.PreviewImport(ctx, admin.CLI, t)
					if err != nil {
						return err
					}
					diff, missing = pre.Diff, pre.MissingRoles
				} else if diff, err = ad.ImportTable(ctx, admin.CLI, t); err != nil {
					return fmt.Errorf("%s not imported: %w", args[0], err)
				}
				for _, line := range diff {
					fmt.Fprintln(e.stdout, line)
				}
				if u := p.Uncovered(); len(u) > 0 {
					fmt.Fprintf(e.stdout, "warning: no resource covers %d routes (nobody may call them), for example %s\n", len(u), u[0])
				}
				if len(missing) > 0 {
					return fmt.Errorf("the import would fail: no role %q (create it with `mlflow-gate role add %s`)", missing[0], missing[0])
				}
				switch {
				case len(diff) == 0:
					fmt.Fprintln(e.stdout, "no change")
				case dryRun:
					fmt.Fprintf(e.stdout, "dry run: %d changes, nothing written\n", len(diff))
				default:
					fmt.Fprintf(e.stdout, "imported %s: %d changes; running gates reload the policy\n", args[0], len(diff))
				}
				return nil
			})
		}}
}

// readTableFile reads and compiles a YAML table, so that a bad file fails before the
// database is opened.
func readTableFile(stdin io.Reader, name string) (authz.Table, *authz.Policy, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return authz.Table{}, nil, err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return authz.Table{}, nil, fmt.Errorf("%s is empty", name)
	}
	t, err := authz.UnmarshalTableYAML(b)
	if err != nil {
		return authz.Table{}, nil, fmt.Errorf("%s: %s", name, oneLine(err))
	}
	if len(t.Resources) == 0 {
		return authz.Table{}, nil, fmt.Errorf("%s has no resources: it would deny every request", name)
	}
	p, err := authz.Compile(t)
	if err != nil {
		return authz.Table{}, nil, fmt.Errorf("%s: %s", name, oneLine(err))
	}
	return t, p, nil
}

// oneLine joins a multi-line error (YAML and compile errors list every problem) into
// the one line the CLI prints.
func oneLine(err error) string { return admin.OneLine(err) }

func authzGrantCommand(name string) *command {
	short := "let a role do scopes on a resource"
	if name == "disallow" {
		short = "take scopes on a resource from a role"
	}
	return &command{name: name, args: "ROLE RESOURCE SCOPE...", short: short, group: "db", nargs: -1,
		action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
			if len(args) < 3 {
				return usageError("usage: mlflow-gate authz " + name + " ROLE RESOURCE SCOPE...")
			}
			role, resource := args[0], args[1]
			scopes := make([]authz.Scope, 0, len(args)-2)
			for _, a := range args[2:] {
				s, err := authz.ParseScope(a)
				if err != nil {
					return usageError(fmt.Sprintf("unknown scope %q (scopes: read, write, delete, manage, use)", a))
				}
				scopes = append(scopes, s)
			}
			list := strings.Join(args[2:], ",")
			return withAdmin(ctx, e, func(ad *admin.Service) error {
				change, done, same := ad.Allow, "may now", "already holds"
				if name == "disallow" {
					change, done, same = ad.Disallow, "may no longer", "does not hold"
				}
				changed, err := change(ctx, admin.CLI, role, resource, scopes...)
				if err != nil {
					return err
				}
				if changed {
					fmt.Fprintf(e.stdout, "%s %s %s on %s\n", role, done, list, resource)
				} else {
					fmt.Fprintf(e.stdout, "%s %s %s on %s: nothing changed\n", role, same, list, resource)
				}
				return nil
			})
		}}
}

// printTable lists resources, then grants, for people.
func printTable(w io.Writer, t authz.Table) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tTYPE\tSCOPES\tURIS\tDESCRIPTION")
	for _, r := range t.Resources {
		uris := strings.Join(r.URIs, " ")
		if uris == "" {
			uris = "(every " + string(r.Type) + " route)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Type, joinScopes(r.Scopes), uris, r.Describe())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tRESOURCE\tSCOPES")
	for _, p := range t.Permissions {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Role, p.Resource, joinScopes(p.Scopes))
	}
	return tw.Flush()
}

func joinScopes(scopes []authz.Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = s.String()
	}
	return strings.Join(names, ",")
}
