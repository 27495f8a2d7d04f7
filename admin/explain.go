package admin

import (
	"context"
	"fmt"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// Explanation is what deciding one request with the stored permission table
// says: the verdict and everything that led to it (what `authz explain`
// prints and the admin page's "test a request" box shows).
type Explanation struct {
	Allow  bool
	Method string
	Path   string
	User   string
	Roles  []string
	// Disabled: the user is disabled, so every request is refused before the
	// table is consulted (the table's own verdict is still reported).
	Disabled bool
	// Malformed is why the gate would refuse the request as ambiguous or
	// malformed (400) before deciding; the fields below are then empty.
	Malformed string
	Route     string // "key (type scope)", or "" when no route matches
	Resource  string
	Rule      string // the permission that decided, or ""
	Reason    string
	IDs       []string // "kind value (in key)"
	GraphQL   []string // root fields of a GraphQL request
}

// Explain decides in for username with the stored table, as the gate would.
func (s *Service) Explain(ctx context.Context, a Actor, username string, in authz.Input) (Explanation, error) {
	u, err := s.User(ctx, a, username)
	if ErrorCode(err) == ENotFound {
		return Explanation{}, Errorf(ENotFound, "no user %q", username)
	} else if err != nil {
		return Explanation{}, err
	}
	t, err := s.Table(ctx, a)
	if err != nil {
		return Explanation{}, err
	}
	policy, err := authz.Compile(t)
	if err != nil {
		return Explanation{}, Errorf(EConflict, "the stored permission table does not compile: %s", OneLine(err))
	}
	x := Explanation{Method: in.Method, Path: in.RawPath, User: u.Username, Roles: u.Roles, Disabled: !u.Enabled()}
	req, err := authz.ReadRequest(in)
	if err != nil {
		x.Malformed = err.Error()
		return x, nil
	}
	d := policy.Decide(authz.Subject{Name: u.Username, Roles: u.Roles}, req)
	x.Allow, x.Method, x.Path = d.Allow && u.Enabled(), d.Method, d.Path
	if d.Route != nil {
		x.Route = fmt.Sprintf("%s (%s %s)", d.Route.Key(), d.Route.Type, d.Route.Scope)
	}
	if d.Resource != nil {
		x.Resource = d.Resource.Name
	}
	if d.Permission != nil {
		x.Rule = d.Permission.String()
	}
	x.Reason = d.Reason()
	if !u.Enabled() {
		x.Reason = "denied: user " + u.Username + " is disabled (the table alone would say: " + d.Reason() + ")"
	}
	for _, id := range req.Attrs.IDs {
		x.IDs = append(x.IDs, fmt.Sprintf("%s %s (%s %s)", id.Kind, id.Value, id.In, id.Key))
	}
	x.GraphQL = req.Attrs.GraphQLFields
	return x, nil
}

// OneLine folds a multi-line error (a compiler's list of problems) into one
// line for a message.
func OneLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.ReplaceAll(strings.Join(lines, "; "), ":; ", ": ")
}
