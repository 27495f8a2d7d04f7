package authz

import (
	"fmt"
	"strings"
	"sync/atomic"
)

// Subject is who asks: the authenticated user and their current roles. Decide only
// reads it, so the proxy can keep one per cached user.
type Subject struct {
	Name  string
	Roles []string
}

// ReasonCode classifies a decision for logs and metrics.
type ReasonCode uint8

// Reason codes.
const (
	ReasonAllowed      ReasonCode = iota + 1 // a permission of one of the roles allows it
	ReasonNoPermission                       // the route is known; no role holds its scope
	ReasonUnknownRoute                       // no MLflow route has this method and path
	ReasonUncovered                          // the route is known but no resource covers it
	ReasonNoPolicy                           // no policy is loaded
)

func (c ReasonCode) String() string {
	switch c {
	case ReasonAllowed:
		return "allowed"
	case ReasonNoPermission:
		return "no_permission"
	case ReasonUnknownRoute:
		return "unknown_route"
	case ReasonUncovered:
		return "uncovered_route"
	case ReasonNoPolicy:
		return "no_policy"
	}
	return fmt.Sprintf("reason(%d)", uint8(c))
}

// Decision is the answer to one request, with what it rests on.
type Decision struct {
	Allow      bool
	Code       ReasonCode
	Method     string
	Path       string
	Route      *Route      // nil for an unknown route
	Resource   *Resource   // the resource covering the route (nil if none)
	Permission *Permission // the rule that allowed (nil on deny)
	Role       string      // the role whose permission allowed
	// Scope is the scope the request asked for: the route's, or what an effect
	// raised it to; Effect then says why ("deletes the version and its aliases").
	Scope     Scope
	Effect    string
	roles     []string
	allowText string
}

// Reason is the human reason: "allowed by Default#write on experiments",
// "denied: no role of [Default] holds delete on runs", "denied: unknown route".
// Only denials format anything.
func (d Decision) Reason() string {
	switch d.Code {
	case ReasonAllowed:
		return d.allowText
	case ReasonNoPermission:
		r := "denied: no role of [" + strings.Join(d.roles, " ") + "] holds " + d.Scope.String() + " on " + d.Resource.Name
		if d.Effect != "" {
			r += " (this request " + d.Effect + ")"
		}
		return r
	case ReasonUnknownRoute:
		return "denied: unknown route"
	case ReasonUncovered:
		return "denied: no resource covers " + d.Route.Key()
	case ReasonNoPolicy:
		return "denied: no policy loaded"
	}
	return "denied"
}

// String explains the decision on one line, for logs and `why`:
// "ALLOW GET /api/2.0/mlflow/runs/get [GET /api/2.0/mlflow/runs/get: run read]: allowed by Default#read on runs".
func (d Decision) String() string {
	verdict := "DENY"
	if d.Allow {
		verdict = "ALLOW"
	}
	route := "no route"
	if d.Route != nil {
		route = d.Route.Key() + ": " + string(d.Route.Type) + " " + d.Route.Scope.String()
		if d.Scope != 0 && d.Scope != d.Route.Scope {
			route += " raised to " + d.Scope.String()
		}
	}
	return verdict + " " + d.Method + " " + d.Path + " [" + route + "]: " + d.Reason()
}

// Decide answers whether subject may make req: affirmatively (one role's permission is
// enough), enforcing (anything not allowed is denied, unknown routes included). It
// does not allocate. A nil policy denies everything.
func (p *Policy) Decide(subject Subject, req *Request) Decision {
	d := Decision{Method: req.Method, Path: req.Path, roles: subject.Roles}
	if p == nil {
		d.Code = ReasonNoPolicy
		return d
	}
	var route *Route
	if req.routed {
		route = req.match.Route
	} else if m, ok := MatchRoute(req.Method, req.Path); ok {
		route = m.Route
	}
	if route == nil {
		d.Code = ReasonUnknownRoute
		return d
	}
	d.Route, d.Scope = route, route.Scope
	for _, e := range req.Escalations {
		if stronger(e.Scope, d.Scope) {
			d.Scope, d.Effect = e.Scope, e.Why
		}
	}
	res := p.cover[route.ID]
	if res < 0 {
		d.Code = ReasonUncovered
		return d
	}
	d.Resource = &p.table.Resources[res]
	nr := len(p.roles)
	for _, role := range subject.Roles {
		ri, ok := p.roleIndex[role]
		if !ok {
			continue
		}
		if pi := p.rule[(route.ID*scopeSlots+int(d.Scope))*nr+ri]; pi >= 0 {
			perm := &p.table.Permissions[pi]
			d.Allow, d.Code, d.Permission, d.Role = true, ReasonAllowed, perm, role
			d.Resource = &p.table.Resources[p.resourceOf(pi)]
			d.allowText = p.allowText[pi][d.Scope]
			return d
		}
	}
	d.Code = ReasonNoPermission
	return d
}

// Holder holds the current policy; the proxy decides through it while a reloader
// swaps in a newly compiled policy when the table changes in the database.
type Holder struct{ p atomic.Pointer[Policy] }

// NewHolder returns a holder with p loaded (p may be nil: everything is denied).
func NewHolder(p *Policy) *Holder {
	h := &Holder{}
	h.p.Store(p)
	return h
}

// Load returns the current policy.
func (h *Holder) Load() *Policy { return h.p.Load() }

// Store swaps in p; decisions already running finish on the old one.
func (h *Holder) Store(p *Policy) { h.p.Store(p) }

// Decide decides with the current policy.
func (h *Holder) Decide(subject Subject, req *Request) Decision {
	return h.p.Load().Decide(subject, req)
}
