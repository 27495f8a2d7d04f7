package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/mlflow-gate/mlflow-gate/admin"
)

func sessionCommand() *command {
	var user string
	return &command{name: "session", short: "list and revoke sign-in sessions and refresh-token families", commands: []*command{
		{name: "list", short: "list SSO sessions and refresh-token families", group: "db", nargs: 0,
			long: "List browser single sign-on sessions and refresh-token families (one family per login of an\n" +
				"application; every refresh rotates its token). Revoke either with `mlflow-gate session revoke ID`.",
			flags: func(fs *flag.FlagSet, _ *opts) {
				fs.StringVar(&user, "user", "", "only this user's sessions and families")
			},
			action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					list, err := ad.ListSessions(ctx, admin.CLI, user)
					if err != nil {
						return err
					}
					now := time.Now()
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "KIND\tID\tUSER\tCLIENT\tCREATED\tLAST USED\tEXPIRES\tSTATE")
					const layout = "2006-01-02 15:04"
					for _, l := range list {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Kind, l.ID, l.Username, dash(l.ClientID),
							l.CreatedAt.UTC().Format(layout), l.LastUsedAt.UTC().Format(layout), l.ExpiresAt.UTC().Format(layout), l.State(now))
					}
					return tw.Flush()
				})
			}},
		{name: "revoke", args: "ID", short: "end a session (and its refresh families) or one refresh family, on every replica", group: "db", nargs: 1,
			long: "Revoke an SSO session or a refresh-token family by the id `session list` shows. Revoking a session\n" +
				"also revokes every refresh-token family started from it. Access tokens that descend from what was\n" +
				"revoked are refused at once by every replica.",
			action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					kind, families, err := ad.RevokeSession(ctx, admin.CLI, args[0])
					if err != nil {
						return err
					}
					if kind == "session" {
						fmt.Fprintf(e.stdout, "session %s revoked with %d refresh-token families\n", args[0], families)
						return nil
					}
					fmt.Fprintf(e.stdout, "refresh-token family %s revoked\n", args[0])
					return nil
				})
			}},
	}}
}
