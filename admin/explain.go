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
	// Grants is the resource step, after the table allowed the request: one
	// line per resource the request names (its level and the grant that
	// decided it), or why no resource is looked at.
	Grants []string
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
	if d.Allow && d.Route != nil {
		set, err := s.grantSet(ctx)
		if err != nil {
			return Explanation{}, err
		}
		lines, allow := explainGrants(set, u.Username, u.Roles, req, d.Scope)
		x.Grants = lines
		if !allow {
			x.Allow = false
			x.Reason = "denied by the resource permissions (the table allows it: " + d.Reason() + ")"
		}
	}
	return x, nil
}

// explainGrants is the proxy's resource step in words. Ids the gate maps to
// their experiment by asking MLflow (runs, traces, logged models) cannot be
// decided here; the line says so and the verdict assumes the lookup.
func explainGrants(set *authz.GrantSet, user string, roles []string, req *authz.Request, scope authz.Scope) ([]string, bool) {
	rt := req.Route()
	home := rt.GrantKind()
	var lines []string
	allow, named := true, false
	for i, id := range req.Attrs.IDs {
		kind := id.Kind.GrantKind()
		if kind == 0 {
			continue
		}
		if rt.Kind.Creates() && i == 0 && kind == home {
			named = true
			lines = append(lines, fmt.Sprintf("%s %s: being created; its creator gets manage from MLflow's answer", kind, id.Value))
			continue
		}
		need := scope
		if kind == home {
			named = true
		} else {
			need = authz.ScopeRead
		}
		if set.Everywhere(user, roles, kind, need) {
			lines = append(lines, fmt.Sprintf("%s %s: %s allowed on every %s (the roles' default, and no grant to this user gives less)", id.Kind, id.Value, need, kind))
			continue
		}
		var ref authz.ResourceRef
		switch id.Kind {
		case authz.IDExperiment:
			ref = authz.ResourceRef{Kind: kind, ID: id.Value}
		case authz.IDExperimentName:
			ref = authz.ResourceRef{Kind: kind, Name: id.Value}
		case authz.IDRegisteredModel, authz.IDGatewayEndpoint:
			ref = authz.ResourceRef{Kind: kind, ID: id.Value, Name: id.Value}
		case authz.IDArtifactPath:
			first, _, _ := strings.Cut(strings.TrimPrefix(id.Value, "/"), "/")
			ref = authz.ResourceRef{Kind: kind, ID: first}
		default:
			if level, uniform := set.Uniform(user, roles, kind); uniform {
				allow = allow && level.Allows(need)
				lines = append(lines, fmt.Sprintf("%s %s: level %s on every %s (the roles' default; no grant names this user or their roles), which %s %s",
					id.Kind, id.Value, level, kind, verdictOf(level.Allows(need)), need))
				continue
			}
			lines = append(lines, fmt.Sprintf("%s %s: decided on its experiment, which the gate asks MLflow for; explain a call naming the experiment to see that level", id.Kind, id.Value))
			continue
		}
		level, step, g := set.LevelOf(user, roles, ref)
		verdict := verdictOf(level.Allows(need))
		allow = allow && level.Allows(need)
		what := ref.ID
		if what == "" {
			what = ref.Name
		}
		lines = append(lines, fmt.Sprintf("%s %s: level %s from %s, which %s %s (patterns match names: by id only exact grants count)",
			kind, what, level, describeStep(set, step, g, roles), verdict, need))
	}
	if !named && home != 0 {
		switch {
		case set.Everywhere(user, roles, home, scope):
			lines = append(lines, fmt.Sprintf("names no %s: %s allowed on every %s", home, scope, home))
		case rt.Kind.Searches():
			lines = append(lines, fmt.Sprintf("a search: the answer keeps only the %ss this user may read", home))
		default:
			allow = false
			lines = append(lines, fmt.Sprintf("names no %s, so it needs %s on every %s, which this user lacks", home, scope, home))
		}
	}
	return lines, allow
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

func verdictOf(ok bool) string {
	if ok {
		return "allows"
	}
	return "refuses"
}
