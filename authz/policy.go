package authz

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// scopeSlots is the number of scope values a rule index reserves per route.
const scopeSlots = int(ScopeUse) + 1

// Resource is a named set of routes, modeled on a UMA resource: the routes of one
// Type, optionally narrowed by URIs, and the scopes permissions may grant on it.
type Resource struct {
	Name        string       `yaml:"name"`
	Type        ResourceType `yaml:"type"`
	Description string       `yaml:"description,omitempty"`
	// URIs narrows the resource to some of its type's routes. Each entry is a route
	// pattern as in Routes() ("POST /api/2.0/mlflow/runs/delete"; without a method it
	// names every method), or a prefix ending in "/*" that covers the patterns below
	// it. A bare "/*" is refused: no catch-all grants. Empty: every route of Type.
	URIs   []string `yaml:"uris,omitempty"`
	Scopes []Scope  `yaml:"scopes,flow"`
}

// Permission grants a role some scopes on a resource (role → resource # scopes).
type Permission struct {
	Role     string  `yaml:"role"`
	Resource string  `yaml:"resource"`
	Scopes   []Scope `yaml:"scopes,flow"`
}

func (p Permission) String() string {
	names := make([]string, len(p.Scopes))
	for i, s := range p.Scopes {
		names[i] = s.String()
	}
	return p.Role + "#" + strings.Join(names, ",") + " on " + p.Resource
}

// Table is the permission table: what the database stores, the admin page edits and
// YAML files carry.
type Table struct {
	Resources   []Resource   `yaml:"resources"`
	Permissions []Permission `yaml:"permissions"`
}

// Policy is a compiled Table: immutable, safe for concurrent use, and answering
// Decide from flat arrays indexed by route and role.
type Policy struct {
	table     Table
	roleIndex map[string]int
	roles     []string
	// rule[(route*scopeSlots+scope)*len(roles)+role] is the index of the first
	// permission that lets the role do scope on a resource covering the route, or -1.
	// Every scope has a slot, not only the route's: effects raise a request's scope.
	rule []int32
	// cover[route] is the first resource covering the route, or -1.
	cover []int32
	// permRes[perm] is the index of the permission's resource.
	permRes []int32
	// allowText[perm][scope] is the precomputed reason of decisions the permission
	// allows, so an allow costs no allocation.
	allowText [][ScopeUse + 1]string
	uncovered []string
}

// Compile checks a table and compiles it against the route table. It refuses unknown
// types and scopes, duplicate names, permissions on missing resources or with scopes
// the resource does not offer, and URIs that are catch-alls or match no route of the
// resource's type. Routes no resource covers are listed by Uncovered (and denied).
func Compile(t Table) (*Policy, error) {
	routes := Routes()
	p := &Policy{table: cloneTable(t), roleIndex: map[string]int{}}
	var errs []error
	resIndex := map[string]int{}
	covers := make([][]bool, len(t.Resources))
	for i, res := range t.Resources {
		if res.Name == "" || strings.ContainsAny(res.Name, " \t\n#") {
			errs = append(errs, fmt.Errorf("resource %d: bad name %q", i, res.Name))
		}
		if _, dup := resIndex[res.Name]; dup {
			errs = append(errs, fmt.Errorf("resource %q: defined twice", res.Name))
		}
		resIndex[res.Name] = i
		if !knownType(res.Type) {
			errs = append(errs, fmt.Errorf("resource %q: unknown type %q", res.Name, res.Type))
		}
		errs = append(errs, checkScopes("resource "+quote(res.Name), res.Scopes)...)
		cov, err := coverage(res, routes)
		errs = append(errs, err...)
		covers[i] = cov
	}
	permKey := map[string]bool{}
	for i, perm := range t.Permissions {
		what := fmt.Sprintf("permission %d (%s)", i, perm)
		if perm.Role == "" {
			errs = append(errs, fmt.Errorf("%s: no role", what))
		}
		ri, ok := resIndex[perm.Resource]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no resource %q", what, perm.Resource))
			continue
		}
		if k := perm.Role + "\x00" + perm.Resource; permKey[k] {
			errs = append(errs, fmt.Errorf("%s: role %q already has a permission on %q", what, perm.Role, perm.Resource))
		} else {
			permKey[k] = true
		}
		errs = append(errs, checkScopes(what, perm.Scopes)...)
		for _, s := range perm.Scopes {
			if !slices.Contains(t.Resources[ri].Scopes, s) {
				errs = append(errs, fmt.Errorf("%s: resource %q offers no %s scope", what, perm.Resource, s))
			}
		}
		if _, ok := p.roleIndex[perm.Role]; !ok {
			p.roleIndex[perm.Role] = len(p.roles)
			p.roles = append(p.roles, perm.Role)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("authz: invalid permission table:\n%w", err)
	}
	p.build(routes, covers, resIndex)
	return p, nil
}

func (p *Policy) build(routes []Route, covers [][]bool, resIndex map[string]int) {
	nr := len(p.roles)
	p.rule = make([]int32, len(routes)*scopeSlots*nr)
	p.cover = make([]int32, len(routes))
	for i := range p.rule {
		p.rule[i] = -1
	}
	for ri := range routes {
		p.cover[ri] = -1
		for res := range p.table.Resources {
			if covers[res][ri] {
				p.cover[ri] = int32(res)
				break
			}
		}
		if p.cover[ri] < 0 {
			p.uncovered = append(p.uncovered, routes[ri].Key())
		}
	}
	p.allowText = make([][ScopeUse + 1]string, len(p.table.Permissions))
	p.permRes = make([]int32, len(p.table.Permissions))
	for pi, perm := range p.table.Permissions {
		res := resIndex[perm.Resource]
		p.permRes[pi] = int32(res)
		role := p.roleIndex[perm.Role]
		for ri := range routes {
			if !covers[res][ri] {
				continue
			}
			for _, s := range perm.Scopes {
				if i := (ri*scopeSlots+int(s))*nr + role; p.rule[i] < 0 {
					p.rule[i] = int32(pi)
				}
			}
		}
		for _, s := range perm.Scopes {
			p.allowText[pi][s] = "allowed by " + perm.Role + "#" + s.String() + " on " + perm.Resource
		}
	}
}

// coverage marks the routes a resource covers and checks its URIs.
func coverage(res Resource, routes []Route) ([]bool, []error) {
	cov := make([]bool, len(routes))
	var errs []error
	for ri := range routes {
		cov[ri] = routes[ri].Type == res.Type && len(res.URIs) == 0
	}
	for _, uri := range res.URIs {
		method, pattern, hasMethod := strings.Cut(uri, " ")
		if !hasMethod {
			method, pattern = "", uri
		}
		prefix, isPrefix := strings.CutSuffix(pattern, "/*")
		if pattern == "*" || pattern == "/*" || isPrefix && prefix == "" || !strings.HasPrefix(pattern, "/") ||
			strings.Contains(prefix, "*") {
			errs = append(errs, fmt.Errorf("resource %q: URI %q is not a route pattern or a prefix/*", res.Name, uri))
			continue
		}
		n := 0
		for ri := range routes {
			rt := &routes[ri]
			if rt.Type != res.Type || method != "" && rt.Method != method {
				continue
			}
			if rt.Pattern == pattern || isPrefix && strings.HasPrefix(rt.Pattern, prefix+"/") {
				cov[ri] = true
				n++
			}
		}
		if n == 0 {
			errs = append(errs, fmt.Errorf("resource %q: URI %q matches no %s route", res.Name, uri, res.Type))
		}
	}
	return cov, errs
}

func checkScopes(what string, scopes []Scope) []error {
	var errs []error
	if len(scopes) == 0 {
		errs = append(errs, fmt.Errorf("%s: no scopes", what))
	}
	for i, s := range scopes {
		if s < ScopeRead || s > ScopeUse {
			errs = append(errs, fmt.Errorf("%s: unknown scope %d", what, s))
		}
		if slices.Contains(scopes[:i], s) {
			errs = append(errs, fmt.Errorf("%s: scope %s listed twice", what, s))
		}
	}
	return errs
}

func cloneTable(t Table) Table {
	c := Table{Resources: slices.Clone(t.Resources), Permissions: slices.Clone(t.Permissions)}
	for i := range c.Resources {
		c.Resources[i].URIs = slices.Clone(c.Resources[i].URIs)
		c.Resources[i].Scopes = slices.Clone(c.Resources[i].Scopes)
	}
	for i := range c.Permissions {
		c.Permissions[i].Scopes = slices.Clone(c.Permissions[i].Scopes)
	}
	return c
}

func (p *Policy) resourceOf(perm int32) int32 { return p.permRes[perm] }

// Table returns a copy of the table the policy was compiled from.
func (p *Policy) Table() Table { return cloneTable(p.table) }

// Uncovered lists the routes ("METHOD pattern") no resource covers: nobody may call
// them. A dry run shows it; DefaultTable covers every route.
func (p *Policy) Uncovered() []string { return slices.Clone(p.uncovered) }

// Roles lists the roles the policy grants anything to.
func (p *Policy) Roles() []string { return slices.Clone(p.roles) }
