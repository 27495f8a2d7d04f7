package authz

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync/atomic"
)

// Resource-level permissions: the route/role table decides what kind of call
// a role may make; grants decide on which experiments, registered models and
// gateway endpoints. A call is allowed only when both allow it.
//
// Precedence, first match wins:
//  1. a grant to the user on the resource itself (its id or its name);
//  2. a grant to the user on a pattern matching the resource's name (the
//     highest level among the matching patterns);
//  3. grants to the user's roles, exact or by pattern (the highest wins);
//  4. the default level of the user's roles (the highest wins);
//  5. nothing: no access.
//
// An explicit LevelNone at step 1 or 2 ends the search: it takes away what
// the user's roles would give, for this user only.

// Level is how much a grant allows on a resource: each level includes the
// ones below it.
type Level uint8

const (
	// LevelUnset: no grant (the search goes on).
	LevelUnset Level = iota
	// LevelNone: explicitly nothing, for one user.
	LevelNone
	LevelRead
	LevelWrite
	LevelDelete
	// LevelManage may also grant others.
	LevelManage
)

var levelNames = [...]string{LevelUnset: "", LevelNone: "none", LevelRead: "read", LevelWrite: "write", LevelDelete: "delete", LevelManage: "manage"}

func (l Level) String() string {
	if int(l) < len(levelNames) && l != LevelUnset {
		return levelNames[l]
	}
	return "unset"
}

// ParseLevel reads a level name.
func ParseLevel(name string) (Level, error) {
	for l := LevelNone; int(l) < len(levelNames); l++ {
		if levelNames[l] == name {
			return l, nil
		}
	}
	return LevelUnset, fmt.Errorf("authz: unknown level %q (none, read, write, delete or manage)", name)
}

// Allows reports whether level l permits a call of scope sc. Invoking a
// gateway endpoint (use) needs read on it: the route table already limits
// use to the roles that may spend.
func (l Level) Allows(sc Scope) bool {
	need := LevelRead
	switch sc {
	case ScopeWrite:
		need = LevelWrite
	case ScopeDelete:
		need = LevelDelete
	case ScopeManage:
		need = LevelManage
	}
	return l >= need
}

// GrantKind is what a grant is on.
type GrantKind uint8

const (
	GrantExperiment GrantKind = iota + 1
	GrantRegisteredModel
	GrantGatewayEndpoint
	grantKinds
)

var grantKindNames = [...]string{GrantExperiment: "experiment", GrantRegisteredModel: "registered-model", GrantGatewayEndpoint: "gateway-endpoint"}

func (k GrantKind) String() string {
	if k >= GrantExperiment && k < grantKinds {
		return grantKindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseGrantKind reads experiment, registered-model or gateway-endpoint.
func ParseGrantKind(name string) (GrantKind, error) {
	for k := GrantExperiment; k < grantKinds; k++ {
		if grantKindNames[k] == name {
			return k, nil
		}
	}
	return 0, fmt.Errorf("authz: unknown resource type %q (experiment, registered-model or gateway-endpoint)", name)
}

// Grant gives a user or a role a level on one resource (by id or name) or on
// every resource whose name matches Pattern.
type Grant struct {
	Kind     GrantKind
	User     string // exactly one of User and Role
	Role     string
	Resource string // an id or a name; empty when Pattern is set
	// Pattern is a glob over names ("team-a/*": * is any run of characters,
	// ? one character) or, prefixed "re:", an anchored regular expression.
	Pattern string
	Level   Level
}

func (g Grant) String() string {
	who := "user " + g.User
	if g.Role != "" {
		who = "role " + g.Role
	}
	on := g.Resource
	if g.Pattern != "" {
		on = "pattern " + g.Pattern
	}
	return fmt.Sprintf("%s %s on %s %s", who, g.Level, g.Kind, on)
}

// Pattern guards: a pattern is written by an administrator, but it is matched
// on every request, so it must stay cheap.
const (
	maxPatternLen  = 200
	maxRegexpNodes = 100
)

type pattern struct {
	grant int // index into GrantSet.grants
	glob  string
	re    *regexp.Regexp
}

func (p *pattern) match(name string) bool {
	if p.re != nil {
		return p.re.MatchString(name)
	}
	return globMatch(p.glob, name)
}

type exactKey struct {
	kind      GrantKind
	role      bool   // principal names a role, not a user
	principal string // the user's or the role's name
	resource  string
}

// GrantSet is a compiled set of grants and role defaults; safe for
// concurrent use, never changed after CompileGrants.
type GrantSet struct {
	grants   []Grant
	exact    map[exactKey]int // → index into grants
	patterns map[exactKey][]pattern
	defaults map[string]Level // role → default level for resources nobody granted
	// principals are the users and roles some grant of a kind names, with
	// the lowest level those grants give.
	principals map[principalRef]Level
}

// CompileGrants checks grants and role defaults and compiles them.
func CompileGrants(grants []Grant, defaults map[string]Level) (*GrantSet, error) {
	s := &GrantSet{grants: append([]Grant(nil), grants...), exact: map[exactKey]int{}, patterns: map[exactKey][]pattern{},
		defaults: map[string]Level{}, principals: map[principalRef]Level{}}
	var problems []string
	for role, l := range defaults {
		if l < LevelNone || l > LevelManage {
			problems = append(problems, fmt.Sprintf("default of role %s: invalid level", role))
		}
		s.defaults[role] = l
	}
	for i, g := range s.grants {
		if err := checkGrant(g); err != nil {
			problems = append(problems, fmt.Sprintf("grant %d (%s): %v", i, g, err))
			continue
		}
		principal, role := g.User, g.Role != ""
		if role {
			principal = g.Role
		}
		pr := principalRef{g.Kind, role, principal}
		if low, ok := s.principals[pr]; !ok || g.Level < low {
			s.principals[pr] = g.Level
		}
		if g.Pattern == "" {
			k := exactKey{g.Kind, role, principal, g.Resource}
			if _, dup := s.exact[k]; dup {
				problems = append(problems, fmt.Sprintf("grant %d (%s): a second grant on the same resource", i, g))
			}
			s.exact[k] = i
			continue
		}
		p := pattern{grant: i}
		if expr, ok := strings.CutPrefix(g.Pattern, "re:"); ok {
			re, err := compileGuarded(expr)
			if err != nil {
				problems = append(problems, fmt.Sprintf("grant %d (%s): %v", i, g, err))
				continue
			}
			p.re = re
		} else {
			p.glob = g.Pattern
		}
		k := exactKey{g.Kind, role, principal, ""}
		s.patterns[k] = append(s.patterns[k], p)
	}
	if len(problems) > 0 {
		return nil, errors.New("authz: invalid grants:\n  " + strings.Join(problems, "\n  "))
	}
	return s, nil
}

func checkGrant(g Grant) error {
	switch {
	case g.Kind < GrantExperiment || g.Kind >= grantKinds:
		return errors.New("unknown resource type")
	case (g.User == "") == (g.Role == ""):
		return errors.New("name either a user or a role")
	case (g.Resource == "") == (g.Pattern == ""):
		return errors.New("name either a resource or a pattern")
	case g.Level < LevelNone || g.Level > LevelManage:
		return errors.New("invalid level")
	case g.Role != "" && g.Level == LevelNone:
		return errors.New("none is for one user; to give a role nothing, remove its grant")
	case len(g.Pattern) > maxPatternLen || len(g.Resource) > 500:
		return fmt.Errorf("longer than %d characters", maxPatternLen)
	}
	return nil
}

// compileGuarded compiles an anchored regular expression that is short and
// simple enough to run on every request (Go's engine is linear-time; the
// guard bounds the constant).
func compileGuarded(expr string) (*regexp.Regexp, error) {
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("regular expression: %v", err)
	}
	if n := countNodes(parsed); n > maxRegexpNodes {
		return nil, fmt.Errorf("regular expression too complex (%d parts, at most %d)", n, maxRegexpNodes)
	}
	return regexp.Compile("^(?:" + expr + ")$")
}

func countNodes(re *syntax.Regexp) int {
	n := 1
	for _, sub := range re.Sub {
		n += countNodes(sub)
	}
	if re.Op == syntax.OpRepeat && re.Max > 100 {
		n += re.Max
	}
	return n
}

// globMatch matches name against a glob of * (any run, / included) and ?
// (one character), without allocating.
func globMatch(glob, name string) bool {
	px, nx := 0, 0
	starP, starN := -1, 0
	for nx < len(name) {
		if px < len(glob) {
			switch c := glob[px]; c {
			case '*':
				starP, starN = px, nx
				px++
				continue
			case '?':
				px++
				nx++
				continue
			default:
				if c == name[nx] {
					px++
					nx++
					continue
				}
			}
		}
		if starP >= 0 {
			starN++
			px, nx = starP+1, starN
			continue
		}
		return false
	}
	for px < len(glob) && glob[px] == '*' {
		px++
	}
	return px == len(glob)
}

// Step says which step of the precedence decided a level.
type Step uint8

const (
	StepNothing     Step = iota // no grant and no default: no access
	StepUser                    // a grant to the user on the resource
	StepUserPattern             // a grant to the user on a matching pattern
	StepRole                    // a grant to one of the user's roles
	StepDefault                 // a role's default level
)

// ResourceRef names one resource: its kind, its id and its name (either may
// be empty when unknown; patterns match the name).
type ResourceRef struct {
	Kind     GrantKind
	ID, Name string
}

// LevelOf is the level user, holding roles, has on t, with the step and the
// grant that decided it (grant -1 for a role default or nothing). It does not
// allocate.
func (s *GrantSet) LevelOf(user string, roles []string, t ResourceRef) (Level, Step, int) {
	if s == nil {
		return LevelUnset, StepNothing, -1
	}
	// 1. The user, on the resource itself.
	if l, g := s.exactFor(t, false, user); l != LevelUnset {
		return l, StepUser, g
	}
	// 2. The user, by pattern.
	if l, g := s.patternFor(t, false, user); l != LevelUnset {
		return l, StepUserPattern, g
	}
	// 3. The user's roles: the highest grant.
	best, bestG := LevelUnset, -1
	for _, r := range roles {
		if l, g := s.exactFor(t, true, r); l > best {
			best, bestG = l, g
		}
		if l, g := s.patternFor(t, true, r); l > best {
			best, bestG = l, g
		}
	}
	if best != LevelUnset {
		return best, StepRole, bestG
	}
	// 4. The roles' defaults.
	for _, r := range roles {
		if l := s.defaults[r]; l > best {
			best = l
		}
	}
	if best != LevelUnset {
		return best, StepDefault, -1
	}
	return LevelUnset, StepNothing, -1
}

// exactFor looks the principal up on t's id, then its name; the key is made
// of strings the caller holds, so the lookup does not allocate.
func (s *GrantSet) exactFor(t ResourceRef, role bool, who string) (Level, int) {
	if len(s.exact) == 0 {
		return LevelUnset, -1
	}
	for _, res := range [2]string{t.ID, t.Name} {
		if res == "" {
			continue
		}
		if g, ok := s.exact[exactKey{t.Kind, role, who, res}]; ok {
			return s.grants[g].Level, g
		}
	}
	return LevelUnset, -1
}

func (s *GrantSet) patternFor(t ResourceRef, role bool, who string) (Level, int) {
	if len(s.patterns) == 0 || t.Name == "" {
		return LevelUnset, -1
	}
	best, bestG := LevelUnset, -1
	for _, p := range s.patterns[exactKey{t.Kind, role, who, ""}] {
		if l := s.grants[p.grant].Level; l > best && p.match(t.Name) {
			best, bestG = l, p.grant
		}
	}
	return best, bestG
}

// Grant returns grant i (as LevelOf reports it).
func (s *GrantSet) Grant(i int) Grant { return s.grants[i] }

// Default is role's default level.
func (s *GrantSet) Default(role string) Level { return s.defaults[role] }

// GrantHolder holds the grant set in force; replicas swap it when the stored
// grants change. The zero value holds none.
type GrantHolder struct{ p atomic.Pointer[GrantSet] }

// Load returns the grant set in force (nil before the first Store).
func (h *GrantHolder) Load() *GrantSet { return h.p.Load() }

// Store swaps in s; decisions already running finish on the old one.
func (h *GrantHolder) Store(s *GrantSet) { h.p.Store(s) }

// Uniform reports whether user, holding roles, has the same level on every
// resource of kind — no grant names the user or any of the roles for that
// kind — and that level: the gate then decides without resolving which
// resource a request touches (no lookup). It does not allocate.
func (s *GrantSet) Uniform(user string, roles []string, kind GrantKind) (Level, bool) {
	if s == nil {
		return LevelUnset, true
	}
	if s.names(kind, false, user) {
		return LevelUnset, false
	}
	best := LevelUnset
	for _, r := range roles {
		if s.names(kind, true, r) {
			return LevelUnset, false
		}
		if l := s.defaults[r]; l > best {
			best = l
		}
	}
	return best, true
}

// names reports whether any grant of kind names the principal.
func (s *GrantSet) names(kind GrantKind, role bool, who string) bool {
	_, ok := s.principals[principalRef{kind, role, who}]
	return ok
}

// Everywhere reports whether user, holding roles, may make a call of scope
// on every resource of kind, whatever the grants naming them: the best of
// their roles' defaults allows it and no grant to them or their roles gives
// less (their own grants may give more: an owner's manage). The gate then
// decides without learning which resource a request touches. It does not
// allocate.
func (s *GrantSet) Everywhere(user string, roles []string, kind GrantKind, scope Scope) bool {
	if s == nil {
		return true
	}
	best := LevelUnset
	for _, r := range roles {
		if low, ok := s.principals[principalRef{kind, true, r}]; ok && !low.Allows(scope) {
			return false
		}
		if l := s.defaults[r]; l > best {
			best = l
		}
	}
	if !best.Allows(scope) {
		return false
	}
	low, ok := s.principals[principalRef{kind, false, user}]
	return !ok || low.Allows(scope)
}

type principalRef struct {
	kind GrantKind
	role bool
	who  string
}

// GrantKind is the kind of resource whose grants decide an id of kind k:
// everything inside an experiment is decided on the experiment, model
// versions on their registered model. 0: grants do not decide it.
func (k IDKind) GrantKind() GrantKind {
	switch k {
	case IDExperiment, IDExperimentName, IDRun, IDLoggedModel, IDTrace, IDArtifactPath:
		return GrantExperiment
	case IDRegisteredModel:
		return GrantRegisteredModel
	case IDGatewayEndpoint:
		return GrantGatewayEndpoint
	}
	return 0
}

// GrantKind is the kind of resource the route acts on, whose grants decide
// it: the kind of the first id it names that grants decide (model-versions/
// create names the model, then the run it comes from), else by its type:
// experiments for everything stored inside one (runs, metrics, artifacts,
// traces, logged models, datasets, scorers, issues, labeling sessions,
// prompt-optimization jobs), registered models for versions and prompts,
// gateway endpoints for the AI gateway. 0: no resource grants apply (the
// server's own routes, the UI's files, webhooks, workspaces, skills, MCP
// servers, the assistant; GraphQL is decided field by field).
func (r *Route) GrantKind() GrantKind {
	for _, id := range r.IDs {
		if k := id.Kind.GrantKind(); k != 0 {
			return k
		}
	}
	switch r.Type {
	case TypeExperiment, TypeRun, TypeLoggedModel, TypeTrace, TypeArtifact, TypeScorer, TypeDataset,
		TypeIssue, TypeLabelSchema, TypeReviewQueue, TypeJob,
		TypePrompt: // prompt-optimization jobs, which run in an experiment
		return GrantExperiment
	case TypeRegisteredModel, TypeModelVersion:
		// Prompts themselves are registered models and use these routes.
		return GrantRegisteredModel
	case TypeGateway:
		return GrantGatewayEndpoint
	}
	return 0
}
