package authz

import (
	"fmt"
	"strings"
	"sync"
)

// Match is a route found for a method and path, with its path parameters.
type Match struct {
	Route *Route
	vals  [maxParams]string
	n     int
}

// Param returns the value of the named path parameter, or "".
func (m *Match) Param(name string) string {
	if m.Route == nil {
		return ""
	}
	for i, p := range m.Route.params {
		if p == name && i < m.n {
			return m.vals[i]
		}
	}
	return ""
}

// routeSet is the compiled route table. It is built once from the specs: the routes
// are MLflow's surface, not policy data, so Route pointers stay valid across policy
// swaps.
type routeSet struct {
	routes []Route
	root   *node
}

var (
	routesOnce sync.Once
	routesVal  *routeSet
	routesErr  error
)

func allSpecs() [][]spec {
	return [][]spec{trackingRoutes, traceRoutes, registryRoutes, artifactRoutes, genaiRoutes,
		gatewayRoutes, registryAppRoutes, skillRoutes(), adminRoutes, serverSideRoutes, serverRoutes}
}

func table() *routeSet {
	routesOnce.Do(func() { routesVal, routesErr = compileRoutes(allSpecs()) })
	if routesErr != nil {
		// The table is source code; its test fails long before a binary ships.
		panic(routesErr)
	}
	return routesVal
}

// Routes returns the compiled route table, one entry per method, pattern and prefix.
// The slice is shared: do not modify it.
func Routes() []Route { return table().routes }

func compileRoutes(groups [][]spec) (*routeSet, error) {
	rs := &routeSet{root: newNode()}
	for _, g := range groups {
		for _, s := range g {
			for _, pre := range s.pre.list {
				proto := s.pre.proto
				if s.proto != nil {
					proto = *s.proto
				}
				rt := Route{
					ID: len(rs.routes), Method: s.method, Pattern: pre + s.path, Type: s.typ,
					Scope: s.scope, IDs: s.ids, Repeat: s.repeat, Proto: proto, ParamFirst: s.paramFirst,
					Kind: s.routeKind, Artifact: s.files || s.typ == TypeArtifact, Store: s.store, StoreParam: s.storeParam, Effects: s.effects, Why: s.whyText,
				}
				if rt.Why == "" {
					rt.Why = defaultWhy[s.scope]
				}
				rs.routes = append(rs.routes, rt)
			}
		}
	}
	for i := range rs.routes {
		rt := &rs.routes[i]
		mi := methodIndex(rt.Method)
		if mi < 0 || rt.Method == "HEAD" {
			return nil, fmt.Errorf("authz: route %s: bad method", rt.Key())
		}
		if !knownType(rt.Type) || rt.Scope < ScopeRead || rt.Scope > ScopeUse {
			return nil, fmt.Errorf("authz: route %s: bad type or scope", rt.Key())
		}
		if rt.Why == "" {
			return nil, fmt.Errorf("authz: route %s: a write route must say why it is only a write (spec.why)", rt.Key())
		}
		if (rt.Kind == KindGraphQL) != (rt.Type == TypeGraphQL) {
			return nil, fmt.Errorf("authz: route %s: GraphQL routes and only they are KindGraphQL", rt.Key())
		}
		for _, e := range rt.Effects {
			if !stronger(e.Scope, rt.Scope) || e.test == nil || e.When == "" || e.Why == "" {
				return nil, fmt.Errorf("authz: route %s: effect %q must raise the scope and say when and why", rt.Key(), e.When)
			}
		}
		segs, err := parsePattern(rt.Pattern)
		if err != nil {
			return nil, fmt.Errorf("authz: %w", err)
		}
		for _, s := range segs {
			if s.kind != segLit {
				rt.params = append(rt.params, s.name)
			}
		}
		for _, id := range rt.IDs {
			if id.In == InPath && !contains(rt.params, id.Key) {
				return nil, fmt.Errorf("authz: route %s: id %s names no path parameter", rt.Key(), id)
			}
			if id.In == InQuery && rt.Method != "GET" && rt.Type != TypeArtifact {
				return nil, fmt.Errorf("authz: route %s: query id on a non-GET proto route", rt.Key())
			}
		}
		if err := rs.root.insert(segs, mi, int32(i), rt.ParamFirst); err != nil {
			return nil, fmt.Errorf("authz: route %s: %w", rt.Key(), err)
		}
	}
	return rs, nil
}

// defaultWhy is the reason of routes whose scope is plain from the table's own
// vocabulary; every write route says its own (a write is where effects hide).
var defaultWhy = map[Scope]string{
	ScopeRead:   "reads; changes nothing",
	ScopeDelete: "deletes or removes what it names",
	ScopeManage: "administers, restores deleted data or names storage; Admin by default",
	ScopeUse:    "runs code, calls out or spends money on the server",
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// MatchRoute finds the route for a method and a path NormalizePath returned. HEAD
// matches as GET. ok is false for an unknown route, including a known path with
// another method (the gate denies both). A path NormalizePath would not have
// returned (escapes, backslashes, NUL) matches nothing, so a caller that skipped
// normalization fails closed.
func MatchRoute(method, path string) (m Match, ok bool) {
	rs := table()
	mi := methodIndex(method)
	if mi < 0 || path == "" || path[0] != '/' || strings.ContainsAny(path, "%\\\x00") {
		return Match{}, false
	}
	id := rs.walk(rs.root, path[1:], false, mi, &m)
	if id < 0 {
		return Match{}, false
	}
	m.Route = &rs.routes[id]
	return m, true
}

// walk matches rest (the path after the last consumed "/"); done means the whole path
// has been consumed. It returns a route index or -1, leaving parameters in m.
func (rs *routeSet) walk(n *node, rest string, done bool, mi int, m *Match) int32 {
	if done {
		return n.routes[mi]
	}
	seg, tail, more := strings.Cut(rest, "/")
	if n.paramFirst {
		if id := rs.walkParam(n, seg, tail, more, mi, m); id >= 0 {
			return id
		}
	}
	if c := n.lits[seg]; c != nil {
		if id := rs.walk(c, tail, !more, mi, m); id >= 0 {
			return id
		}
	}
	for _, e := range n.affixes {
		if len(seg) > len(e.prefix)+len(e.suffix) && strings.HasPrefix(seg, e.prefix) && strings.HasSuffix(seg, e.suffix) {
			v := seg[len(e.prefix) : len(seg)-len(e.suffix)]
			if validSeg(v) && m.n < maxParams {
				m.vals[m.n] = v
				m.n++
				if id := rs.walk(e.next, tail, !more, mi, m); id >= 0 {
					return id
				}
				m.n--
			}
		}
	}
	if !n.paramFirst {
		if id := rs.walkParam(n, seg, tail, more, mi, m); id >= 0 {
			return id
		}
	}
	if n.multi != nil && m.n < maxParams {
		return rs.walkMulti(n.multi, rest, mi, m)
	}
	return -1
}

func (rs *routeSet) walkParam(n *node, seg, tail string, more bool, mi int, m *Match) int32 {
	if n.param == nil || !validSeg(seg) || m.n >= maxParams {
		return -1
	}
	m.vals[m.n] = seg
	m.n++
	if id := rs.walk(n.param, tail, !more, mi, m); id >= 0 {
		return id
	}
	m.n--
	return -1
}

// walkMulti binds one or more whole segments, shortest first, so that literal
// segments after the parameter ("/versions/...") are found where they first occur.
func (rs *routeSet) walkMulti(next *node, rest string, mi int, m *Match) int32 {
	slot := m.n
	m.n++
	end := 0
	for {
		i := strings.IndexByte(rest[end:], '/')
		segEnd := len(rest)
		if i >= 0 {
			segEnd = end + i
		}
		if !validSeg(rest[end:segEnd]) {
			break // every longer value contains this segment too
		}
		if i < 0 || !next.leaf() {
			m.vals[slot] = rest[:segEnd]
			var id int32
			if i < 0 {
				id = rs.walk(next, "", true, mi, m)
			} else {
				id = rs.walk(next, rest[segEnd+1:], false, mi, m)
			}
			if id >= 0 {
				return id
			}
			m.n = slot + 1
		}
		if i < 0 {
			break
		}
		end = segEnd + 1
	}
	m.n = slot
	return -1
}
