package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/authz"
)

// explainFlags are the flags of `authz explain`.
type explainFlags struct {
	user, body, query string
	headers           headerFlag
}

// headerFlag collects repeated --header "Name: value" flags.
type headerFlag []string

func (h *headerFlag) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlag) Set(v string) error { *h = append(*h, v); return nil }

func authzExplainCommand() *command {
	var f explainFlags
	return &command{name: "explain", args: "METHOD PATH", group: "db", nargs: 2,
		short: "say whether a user may make a request, by which rule, and why",
		long: "Decide a request with the stored permission table as the gate would, and print allow or\n" +
			"deny, the route, the rule and the reason. PATH is the escaped path (a ?query may follow it).\n" +
			"A request the gate would refuse as ambiguous or malformed prints the 400 reason.\n" +
			"Exits 0 when the request is allowed and 1 when it is denied (or refused).",
		flags: func(fs *flag.FlagSet, _ *opts) {
			fs.StringVar(&f.user, "user", "", "the user making the request (required)")
			fs.StringVar(&f.body, "body", "", "a file holding the request body (- for stdin)")
			fs.StringVar(&f.query, "query", "", "the raw query string, without the ?")
			fs.Var(&f.headers, "header", `a request header "Name: value" (repeatable)`)
		},
		action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
			in, err := f.input(e.stdin, args[0], args[1])
			if err != nil {
				return err
			}
			return withAdmin(ctx, e, func(ad *admin.Service) error {
				return explain(ctx, e.stdout, ad, f.user, in)
			})
		}}
}

// input builds the request the gate would read from the command line.
func (f *explainFlags) input(stdin io.Reader, method, path string) (authz.Input, error) {
	if f.user == "" {
		return authz.Input{}, usageError("--user is required")
	}
	in := authz.Input{Method: strings.ToUpper(method), RawPath: path, RawQuery: f.query, Header: http.Header{}}
	if p, q, ok := strings.Cut(path, "?"); ok {
		if f.query != "" {
			return authz.Input{}, usageError("give the query either after ? in PATH or with --query, not both")
		}
		in.RawPath, in.RawQuery = p, q
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return authz.Input{}, usageError(fmt.Sprintf("--header %q: want \"Name: value\"", h))
		}
		in.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	var err error
	switch f.body {
	case "":
	case "-":
		in.Body, err = io.ReadAll(stdin)
	default:
		in.Body, err = os.ReadFile(f.body)
	}
	return in, err
}

// explain decides in with the stored table for username and prints the answer.
func explain(ctx context.Context, w io.Writer, ad *admin.Service, username string, in authz.Input) error {
	x, err := ad.Explain(ctx, admin.CLI, username, in)
	if err != nil {
		if admin.ErrorCode(err) == admin.EInternal {
			return err
		}
		return errors.New(admin.ErrorMessage(err))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	roles := strings.Join(x.Roles, ",")
	if roles == "" {
		roles = "no roles"
	}
	if x.Malformed != "" {
		fmt.Fprintf(tw, "DENY %s %s\n", x.Method, x.Path)
		fmt.Fprintf(tw, "user\t%s (%s)\n", x.User, roles)
		fmt.Fprintf(tw, "status\t400 Bad Request: the gate refuses to guess how MLflow would read this request\n")
		fmt.Fprintf(tw, "reason\t%s\n", x.Malformed)
		if err := tw.Flush(); err != nil {
			return err
		}
		return quietExit(1)
	}
	verdict := "DENY"
	if x.Allow {
		verdict = "ALLOW"
	}
	fmt.Fprintf(tw, "%s %s %s\n", verdict, x.Method, x.Path)
	fmt.Fprintf(tw, "user\t%s (%s)\n", x.User, roles)
	if x.Disabled {
		fmt.Fprintf(tw, "status\t401: user %s is disabled, so every request is refused before the permission table is consulted\n", x.User)
	}
	route := x.Route
	if route == "" {
		route = "none: the gate denies unknown routes"
	}
	fmt.Fprintf(tw, "route\t%s\n", route)
	if x.Resource != "" {
		fmt.Fprintf(tw, "resource\t%s\n", x.Resource)
	}
	rule := x.Rule
	if rule == "" {
		rule = "none"
	}
	fmt.Fprintf(tw, "rule\t%s\n", rule)
	fmt.Fprintf(tw, "reason\t%s\n", x.Reason)
	for _, id := range x.IDs {
		fmt.Fprintf(tw, "id\t%s\n", id)
	}
	if len(x.GraphQL) > 0 {
		fmt.Fprintf(tw, "graphql\t%s\n", strings.Join(x.GraphQL, ", "))
	}
	for _, g := range x.Grants {
		fmt.Fprintf(tw, "grants\t%s\n", g)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !x.Allow || x.Disabled {
		return quietExit(1) // scripts can test the answer: 0 allow, 1 deny
	}
	return nil
}
