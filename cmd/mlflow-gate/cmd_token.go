package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// parseLifetime accepts Go durations and whole days ("90d").
func parseLifetime(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, usageError(fmt.Sprintf("--expires %q: use a number of days like 90d, or a duration like 12h", s))
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, usageError(fmt.Sprintf("--expires %q: use a number of days like 90d, or a duration like 12h", s))
	}
	return v, nil
}

func tokenCommand() *command {
	var user, client, name, expires string
	return &command{name: "token", short: "manage personal access tokens for the MLflow API", commands: []*command{
		{name: "create", short: "create a personal access token and print it once", group: "db", nargs: 0,
			long: "Create a personal access token for a user. It is printed once and stored only as a hash.\n" +
				"Use it as MLFLOW_TRACKING_TOKEN, or as MLFLOW_TRACKING_PASSWORD with MLFLOW_TRACKING_USERNAME.\n" +
				"It opens the MLflow API only: never the admin pages, and it cannot mint other tokens.",
			flags: func(fs *flag.FlagSet, _ *opts) {
				fs.StringVar(&user, "user", "", "owner of the token (this or --client is required)")
				fs.StringVar(&client, "client", "", "a confidential service client owning the token (speaks with the client's roles)")
				fs.StringVar(&name, "name", "", "what the token is for")
				fs.StringVar(&expires, "expires", "90d", "lifetime, e.g. 90d or 12h (at most 366d)")
			},
			action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
				if (user == "") == (client == "") {
					return usageError("give exactly one of --user and --client")
				}
				ttl, err := parseLifetime(expires)
				if err != nil {
					return err
				}
				if ttl > admin.DefaultPATLimits.Max {
					return usageError(fmt.Sprintf("--expires %s is longer than the longest lifetime allowed, %dd", expires, int(admin.DefaultPATLimits.Max.Hours()/24)))
				}
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					o := admin.PATOptions{Name: name, TTL: ttl}
					var tok string
					var rec storage.PAT
					var err error
					owner := user
					if client != "" {
						owner = "client " + client
						tok, rec, err = ad.CreateClientPAT(ctx, admin.CLI, client, o)
					} else {
						tok, rec, err = ad.CreatePAT(ctx, admin.CLI, user, o)
					}
					if err != nil {
						return err
					}
					fmt.Fprintln(e.stdout, tok)
					fmt.Fprintf(e.stderr, "token %s for %s expires %s; it is shown only this once\n", rec.ID, owner, when(rec.ExpiresAt, time.RFC3339, "never"))
					return nil
				})
			}},
		{name: "list", short: "list personal access tokens (never their values)", group: "db", nargs: 0,
			flags: func(fs *flag.FlagSet, _ *opts) {
				fs.StringVar(&user, "user", "", "only this user's tokens")
				fs.StringVar(&client, "client", "", "only this service client's tokens")
			},
			action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					pats, err := ad.ListPATs(ctx, admin.CLI, admin.PATFilter{User: user, Client: client})
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tUSER\tNAME\tPREFIX\tEXPIRES\tLAST USED\tSTATE")
					for _, p := range pats {
						state := "active"
						if p.RevokedAt != nil {
							state = "revoked"
						} else if !p.Active(time.Now()) {
							state = "expired"
						}
						owner := p.Username
						if p.ClientID != "" {
							owner = "client:" + p.ClientID
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, owner, p.Name, p.Prefix,
							when(p.ExpiresAt, "2006-01-02", "never"), when(p.LastUsedAt, "2006-01-02 15:04", "never"), state)
					}
					return tw.Flush()
				})
			}},
		{name: "revoke", args: "ID", short: "revoke a personal access token at once, on every replica", group: "db", nargs: 1,
			action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					if err := ad.RevokePAT(ctx, admin.CLI, args[0]); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "token %s revoked\n", args[0])
					return nil
				})
			}},
	}}
}

// when formats an optional time in UTC.
func when(t *time.Time, layout, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(layout)
}
