package admin

import (
	"context"
	"sort"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/authz/authzstore"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// GrantInput names a resource grant: who (exactly one of User and Role),
// on what (a kind and a resource id or name, or a pattern) and, for
// PutGrant, at which level.
type GrantInput struct {
	Kind     string // experiment, registered-model or gateway-endpoint
	User     string
	Role     string
	Resource string // an id or a name; with Pattern true a glob or "re:" expression
	Pattern  bool
	Level    string // none, read, write, delete or manage
}

func (in GrantInput) record() (storage.ResourceGrant, error) {
	g := storage.ResourceGrant{Kind: in.Kind, User: in.User, Role: in.Role, Level: in.Level}
	if in.Pattern {
		g.Pattern = in.Resource
	} else {
		g.Resource = in.Resource
	}
	kind, err := authz.ParseGrantKind(in.Kind)
	if err != nil {
		return g, Errorf(EInvalid, "%s", strings.TrimPrefix(err.Error(), "authz: "))
	}
	switch {
	case (in.User == "") == (in.Role == ""):
		return g, Errorf(EInvalid, "a grant goes to a user or to a role: name exactly one")
	case strings.TrimSpace(in.Resource) == "":
		return g, Errorf(EInvalid, "name the %s (its id or name, or a pattern with --pattern)", in.Kind)
	case len(in.Resource) > 500:
		return g, Errorf(EInvalid, "a resource or pattern may be at most 500 characters")
	}
	level := authz.LevelRead
	if in.Level != "" {
		if level, err = authz.ParseLevel(in.Level); err != nil {
			return g, Errorf(EInvalid, "%s", strings.TrimPrefix(err.Error(), "authz: "))
		}
		if level == authz.LevelNone && in.Role != "" {
			return g, Errorf(EInvalid, "none takes access away from one user; for a role, revoke its grant or lower its default")
		}
	}
	// Compile it alone: a pattern that does not compile is refused here,
	// not at every replica's next load.
	if _, err := authz.CompileGrants([]authz.Grant{{Kind: kind, User: in.User, Role: in.Role,
		Resource: g.Resource, Pattern: g.Pattern, Level: level}}, nil); err != nil {
		msg := OneLine(err)
		if _, rest, ok := strings.Cut(msg, "): "); ok {
			msg = rest
		}
		return g, Errorf(EInvalid, "%s", msg)
	}
	return g, nil
}

// PutGrant gives a user or a role a level on a resource or a pattern,
// replacing the level the same grant had.
func (s *Service) PutGrant(ctx context.Context, a Actor, in GrantInput) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	if in.Level == "" {
		return Errorf(EInvalid, "name the level: none, read, write, delete or manage")
	}
	g, err := in.record()
	if err != nil {
		return err
	}
	return classify(s.st.PutResourceGrant(ctx, a.audit(), g))
}

// RevokeGrant removes a grant (Level is ignored).
func (s *Service) RevokeGrant(ctx context.Context, a Actor, in GrantInput) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	in.Level = ""
	g, err := in.record()
	if err != nil {
		return err
	}
	err = classify(s.st.DeleteResourceGrant(ctx, a.audit(), g))
	if ErrorCode(err) == ENotFound {
		who := "user " + in.User
		if in.Role != "" {
			who = "role " + in.Role
		}
		return Errorf(ENotFound, "%s has no grant on %s %s", who, in.Kind, in.Resource)
	}
	return err
}

// SetDefaultLevel sets the level a role has on resources nobody granted it.
func (s *Service) SetDefaultLevel(ctx context.Context, a Actor, role, level string) error {
	if err := s.authorize(ctx, a); err != nil {
		return err
	}
	if _, err := authz.ParseLevel(level); err != nil {
		return Errorf(EInvalid, "%s", strings.TrimPrefix(err.Error(), "authz: "))
	}
	return classify(s.st.SetRoleDefaultLevel(ctx, a.audit(), role, level))
}

// GrantFilter narrows ListGrants; empty fields match everything.
type GrantFilter struct {
	User, Role, Kind, Resource string
}

// GrantListing is the stored grants a filter matches and every role's default.
type GrantListing struct {
	Grants   []storage.ResourceGrant
	Defaults []RoleDefault
}

// RoleDefault is a role's level on resources nobody granted it.
type RoleDefault struct{ Role, Level string }

// ListGrants lists resource grants (by kind, resource, principal) and the
// roles' default levels.
func (s *Service) ListGrants(ctx context.Context, a Actor, f GrantFilter) (GrantListing, error) {
	if err := s.authorize(ctx, a); err != nil {
		return GrantListing{}, err
	}
	rg, err := s.st.LoadResourceGrants(ctx)
	if err != nil {
		return GrantListing{}, classify(err)
	}
	var out GrantListing
	for _, g := range rg.Grants {
		if (f.User != "" && g.User != f.User) || (f.Role != "" && g.Role != f.Role) || (f.Kind != "" && g.Kind != f.Kind) ||
			(f.Resource != "" && g.Resource != f.Resource && g.Pattern != f.Resource) {
			continue
		}
		out.Grants = append(out.Grants, g)
	}
	sort.SliceStable(out.Grants, func(i, j int) bool {
		x, y := out.Grants[i], out.Grants[j]
		if x.Kind != y.Kind {
			return x.Kind < y.Kind
		}
		if x.Resource+x.Pattern != y.Resource+y.Pattern {
			return x.Resource+x.Pattern < y.Resource+y.Pattern
		}
		return x.User+"\x00"+x.Role < y.User+"\x00"+y.Role
	})
	for role, level := range rg.Defaults {
		if f.Role == "" || f.Role == role {
			out.Defaults = append(out.Defaults, RoleDefault{Role: role, Level: level})
		}
	}
	sort.Slice(out.Defaults, func(i, j int) bool { return out.Defaults[i].Role < out.Defaults[j].Role })
	return out, nil
}

// Access is one user's level on a resource and what decided it.
type Access struct {
	User  string
	Level string
	Why   string
}

// WhoCan lists every enabled user's level on one resource (by id, with its
// name for patterns: an experiment's patterns match its name, so pass both
// when they differ), highest first, leaving out users with no access.
func (s *Service) WhoCan(ctx context.Context, a Actor, kind, id, name string) ([]Access, error) {
	if err := s.authorize(ctx, a); err != nil {
		return nil, err
	}
	k, err := authz.ParseGrantKind(kind)
	if err != nil {
		return nil, Errorf(EInvalid, "%s", strings.TrimPrefix(err.Error(), "authz: "))
	}
	set, err := s.grantSet(ctx)
	if err != nil {
		return nil, err
	}
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return nil, classify(err)
	}
	if name == "" {
		name = id
	}
	ref := authz.ResourceRef{Kind: k, ID: id, Name: name}
	var out []Access
	for _, u := range users {
		if !u.Enabled() {
			continue
		}
		level, step, g := set.LevelOf(u.Username, u.Roles, ref)
		if level <= authz.LevelNone {
			continue
		}
		out = append(out, Access{User: u.Username, Level: level.String(), Why: describeStep(set, step, g, u.Roles)})
	}
	sort.SliceStable(out, func(i, j int) bool {
		li, _ := authz.ParseLevel(out[i].Level)
		lj, _ := authz.ParseLevel(out[j].Level)
		return li > lj
	})
	return out, nil
}

func (s *Service) grantSet(ctx context.Context) (*authz.GrantSet, error) {
	rg, err := s.st.LoadResourceGrants(ctx)
	if err != nil {
		return nil, classify(err)
	}
	grants, defaults, err := authzstore.GrantsFromRecords(rg)
	if err != nil {
		return nil, Errorf(EConflict, "the stored grants do not compile: %s", OneLine(err))
	}
	set, err := authz.CompileGrants(grants, defaults)
	if err != nil {
		return nil, Errorf(EConflict, "the stored grants do not compile: %s", OneLine(err))
	}
	return set, nil
}

// describeStep says in words which step of the precedence decided a level.
func describeStep(set *authz.GrantSet, step authz.Step, g int, roles []string) string {
	switch step {
	case authz.StepUser:
		return "the user's own grant (" + set.Grant(g).String() + ")"
	case authz.StepUserPattern:
		return "the user's pattern grant (" + set.Grant(g).String() + ")"
	case authz.StepRole:
		return "a role's grant (" + set.Grant(g).String() + ")"
	case authz.StepDefault:
		best, who := authz.LevelUnset, ""
		for _, r := range roles {
			if l := set.Default(r); l > best {
				best, who = l, r
			}
		}
		return "the default of role " + who
	}
	return "no grant and no default"
}
