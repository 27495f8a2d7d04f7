package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/mlflow-gate/mlflow-gate/admin"
)

const permTypes = "TYPE is experiment, registered-model or gateway-endpoint"

// permCommand administers resource-level permissions: which experiments,
// registered models and gateway endpoints a user or role may act on, within
// what the permission table (authz) lets the role do at all.
func permCommand() *command {
	return &command{name: "perm", short: "grant and revoke access to single experiments, registered models and gateway endpoints",
		long: "Resource permissions decide on which experiments, registered models (prompts included) and\n" +
			"gateway endpoints a call may act; the permission table (authz) decides what kind of call a\n" +
			"role may make at all. Levels: none < read < write < delete < manage (manage may grant\n" +
			"others); none takes access away from one user. Precedence: the user's grant on the\n" +
			"resource, then the user's pattern grants, then the roles' grants (highest wins), then the\n" +
			"roles' defaults (highest wins). Creators of experiments and registered models get manage.",
		commands: []*command{
			{name: "default", args: "ROLE LEVEL", nargs: 2, group: "db",
				short: "set a role's level on resources nobody granted it (none makes them private)",
				action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
					return withAdmin(ctx, e, func(ad *admin.Service) error {
						if err := ad.SetDefaultLevel(ctx, admin.CLI, args[0], args[1]); err != nil {
							return err
						}
						fmt.Fprintf(e.stdout, "role %s now has %s on every resource nobody granted it; running gates follow at once\n", args[0], args[1])
						return nil
					})
				}},
			permGrantCommand("grant"),
			permGrantCommand("revoke"),
			permListCommand(),
			permWhoCanCommand(),
		}}
}

func permGrantCommand(name string) *command {
	var user, role string
	var pattern bool
	args, short, n := "(--user U | --role R) [--pattern] TYPE RESOURCE LEVEL", "give a user or role a level on a resource or a name pattern", 3
	if name == "revoke" {
		args, short, n = "(--user U | --role R) [--pattern] TYPE RESOURCE", "take a user's or role's grant on a resource or pattern away", 2
	}
	return &command{name: name, args: args, short: short, nargs: n, group: "db",
		long: permTypes + ".\nRESOURCE is an id or a name (an experiment's id or its name, a registered model's\n" +
			"or an endpoint's name), or with --pattern a glob over names (team-a/*: * any characters,\n" +
			"? one) or an anchored regular expression written re:EXPR.",
		flags: func(fs *flag.FlagSet, _ *opts) {
			fs.StringVar(&user, "user", "", "the user the grant is for")
			fs.StringVar(&role, "role", "", "the role the grant is for")
			fs.BoolVar(&pattern, "pattern", false, "RESOURCE is a pattern over names")
		},
		action: func(ctx context.Context, e *cli, _ *opts, a []string) error {
			if (user == "") == (role == "") {
				return usageError("name exactly one of --user and --role")
			}
			in := admin.GrantInput{Kind: a[0], User: user, Role: role, Resource: a[1], Pattern: pattern}
			who := "user " + user
			if role != "" {
				who = "role " + role
			}
			on := a[0] + " " + a[1]
			if pattern {
				on = a[0] + "s matching " + a[1]
			}
			return withAdmin(ctx, e, func(ad *admin.Service) error {
				if name == "revoke" {
					if err := ad.RevokeGrant(ctx, admin.CLI, in); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "%s no longer has a grant on %s\n", who, on)
					return nil
				}
				in.Level = a[2]
				if err := ad.PutGrant(ctx, admin.CLI, in); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s now has %s on %s\n", who, a[2], on)
				return nil
			})
		}}
}

func permListCommand() *command {
	var user, role string
	return &command{name: "list", args: "[--user U] [--role R] [TYPE RESOURCE]", nargs: -1, group: "db",
		short: "list resource grants and the roles' default levels",
		flags: func(fs *flag.FlagSet, _ *opts) {
			fs.StringVar(&user, "user", "", "only grants to this user")
			fs.StringVar(&role, "role", "", "only grants to (and the default of) this role")
		},
		action: func(ctx context.Context, e *cli, _ *opts, a []string) error {
			f := admin.GrantFilter{User: user, Role: role}
			switch len(a) {
			case 0:
			case 2:
				f.Kind, f.Resource = a[0], a[1]
			default:
				return usageError("usage: mlflow-gate perm list [--user U] [--role R] [TYPE RESOURCE]")
			}
			return withAdmin(ctx, e, func(ad *admin.Service) error {
				l, err := ad.ListGrants(ctx, admin.CLI, f)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TYPE\tRESOURCE\tPATTERN\tUSER\tROLE\tLEVEL\tOWNER")
				for _, g := range l.Grants {
					owner := ""
					if g.Owner {
						owner = "yes"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.Kind, dash(g.Resource), dash(g.Pattern), dash(g.User), dash(g.Role), g.Level, owner)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if user == "" && f.Kind == "" {
					fmt.Fprintln(e.stdout)
					tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ROLE\tDEFAULT LEVEL")
					for _, d := range l.Defaults {
						fmt.Fprintf(tw, "%s\t%s\n", d.Role, d.Level)
					}
					return tw.Flush()
				}
				return nil
			})
		}}
}

func permWhoCanCommand() *command {
	var name string
	return &command{name: "who-can", args: "[--name NAME] TYPE RESOURCE", nargs: 2, group: "db",
		short: "list the users who may act on a resource, their level and what gave it",
		long: permTypes + ". Patterns match names: for an experiment given by id, pass its name\n" +
			"with --name so that pattern grants count.",
		flags: func(fs *flag.FlagSet, _ *opts) {
			fs.StringVar(&name, "name", "", "the resource's name, when RESOURCE is an id")
		},
		action: func(ctx context.Context, e *cli, _ *opts, a []string) error {
			return withAdmin(ctx, e, func(ad *admin.Service) error {
				list, err := ad.WhoCan(ctx, admin.CLI, a[0], a[1], name)
				if err != nil {
					return err
				}
				if len(list) == 0 {
					fmt.Fprintf(e.stdout, "nobody may act on %s %s\n", a[0], a[1])
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "USER\tLEVEL\tFROM")
				for _, x := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", x.User, x.Level, x.Why)
				}
				return tw.Flush()
			})
		}}
}
