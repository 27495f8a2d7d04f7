package main

import (
	"context"
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
			"A request the gate would refuse as ambiguous or malformed prints the 400 reason.",
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
	u, err := ad.User(ctx, admin.CLI, username)
	if admin.ErrorCode(err) == admin.ENotFound {
		return fmt.Errorf("no user %q", username)
	} else if err != nil {
		return err
	}
	t, err := ad.Table(ctx, admin.CLI)
	if err != nil {
		return err
	}
	policy, err := authz.Compile(t)
	if err != nil {
		return fmt.Errorf("the stored permission table does not compile: %s", oneLine(err))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	roles := strings.Join(u.Roles, ",")
	if roles == "" {
		roles = "no roles"
	}
	req, err := authz.ReadRequest(in)
	if err != nil {
		fmt.Fprintf(tw, "DENY %s %s\n", in.Method, in.RawPath)
		fmt.Fprintf(tw, "user\t%s (%s)\n", u.Username, roles)
		fmt.Fprintf(tw, "status\t400 Bad Request: the gate refuses to guess how MLflow would read this request\n")
		fmt.Fprintf(tw, "reason\t%v\n", err)
		return tw.Flush()
	}
	d := policy.Decide(authz.Subject{Name: u.Username, Roles: u.Roles}, req)
	verdict := "DENY"
	if d.Allow && u.Enabled() {
		verdict = "ALLOW"
	}
	fmt.Fprintf(tw, "%s %s %s\n", verdict, d.Method, d.Path)
	fmt.Fprintf(tw, "user\t%s (%s)\n", u.Username, roles)
	if !u.Enabled() {
		fmt.Fprintf(tw, "status\t401: user %s is disabled, so every request is refused before the permission table is consulted\n", u.Username)
	}
	route := "none: the gate denies unknown routes"
	if d.Route != nil {
		route = fmt.Sprintf("%s (%s %s)", d.Route.Key(), d.Route.Type, d.Route.Scope)
	}
	fmt.Fprintf(tw, "route\t%s\n", route)
	if d.Resource != nil {
		fmt.Fprintf(tw, "resource\t%s\n", d.Resource.Name)
	}
	rule := "none"
	if d.Permission != nil {
		rule = d.Permission.String()
	}
	fmt.Fprintf(tw, "rule\t%s\n", rule)
	reason := d.Reason()
	if !u.Enabled() {
		reason = "denied: user " + u.Username + " is disabled (the table alone would say: " + d.Reason() + ")"
	}
	fmt.Fprintf(tw, "reason\t%s\n", reason)
	for _, id := range req.Attrs.IDs {
		fmt.Fprintf(tw, "id\t%s %s (%s %s)\n", id.Kind, id.Value, id.In, id.Key)
	}
	if len(req.Attrs.GraphQLFields) > 0 {
		fmt.Fprintf(tw, "graphql\t%s\n", strings.Join(req.Attrs.GraphQLFields, ", "))
	}
	return tw.Flush()
}
