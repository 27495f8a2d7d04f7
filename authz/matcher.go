package authz

import (
	"fmt"
	"strings"
)

// Pattern syntax. A pattern is an absolute path split at "/"; each segment is
//
//	literal       matched exactly ("runs"); an empty last segment is a trailing slash
//	{name}        one non-empty segment (Werkzeug's default converter, Starlette's [^/]+)
//	pre{name}suf  one segment with a literal prefix and/or suffix ("@{organization}",
//	              "{endpoint_name}:generateContent")
//	{name...}     one or more segments (Werkzeug's <path:name>, Starlette's {name:path})
//
// There are no wildcards: every entry is one MLflow route. Matching prefers literal
// segments, then prefixed/suffixed parameters, then plain ones, then multi-segment
// ones, and backtracks when a branch dead-ends, which is how Werkzeug ranks rules.
// A parameter never binds "." or "..", so a path with a dot segment matches nothing
// even if it skipped NormalizePath.

const maxParams = 8

// methodIndex maps the methods MLflow routes use to a slot; HEAD is decided as GET
// (Flask answers HEAD with the GET view; MLflow's own auth app keys its
// validators on the exact method and so lets HEAD through).
func methodIndex(method string) int {
	switch method {
	case "GET", "HEAD":
		return 0
	case "POST":
		return 1
	case "PUT":
		return 2
	case "PATCH":
		return 3
	case "DELETE":
		return 4
	}
	return -1
}

const numMethods = 5

type segKind uint8

const (
	segLit segKind = iota
	segParam
	segAffix
	segMulti
)

type patSeg struct {
	kind           segKind
	lit, name      string
	prefix, suffix string
}

type affixEdge struct {
	prefix, suffix string
	next           *node
}

type node struct {
	lits       map[string]*node
	affixes    []affixEdge
	param      *node
	multi      *node
	paramFirst bool
	routes     [numMethods]int32 // index into the route slice, -1 when none
}

func newNode() *node {
	n := &node{}
	for i := range n.routes {
		n.routes[i] = -1
	}
	return n
}

func (n *node) leaf() bool {
	return len(n.lits) == 0 && len(n.affixes) == 0 && n.param == nil && n.multi == nil
}

// parsePattern splits a pattern into segments and checks its syntax.
func parsePattern(pat string) ([]patSeg, error) {
	if !strings.HasPrefix(pat, "/") {
		return nil, fmt.Errorf("pattern %q does not start with /", pat)
	}
	if strings.ContainsAny(pat, "*\\%") {
		return nil, fmt.Errorf("pattern %q has a wildcard, backslash or escape", pat)
	}
	raw := strings.Split(pat[1:], "/")
	segs := make([]patSeg, 0, len(raw))
	seen := map[string]bool{}
	for i, s := range raw {
		open, close := strings.IndexByte(s, '{'), strings.IndexByte(s, '}')
		if open < 0 && close < 0 {
			if s == "" && i != len(raw)-1 {
				return nil, fmt.Errorf("pattern %q has an empty segment", pat)
			}
			if s == "." || s == ".." {
				return nil, fmt.Errorf("pattern %q has a dot segment", pat)
			}
			segs = append(segs, patSeg{kind: segLit, lit: s})
			continue
		}
		if open < 0 || close < open || strings.Count(s, "{") != 1 || strings.Count(s, "}") != 1 {
			return nil, fmt.Errorf("pattern %q: bad parameter segment %q", pat, s)
		}
		name, prefix, suffix := s[open+1:close], s[:open], s[close+1:]
		kind := segParam
		if n, ok := strings.CutSuffix(name, "..."); ok {
			name, kind = n, segMulti
			if prefix != "" || suffix != "" {
				return nil, fmt.Errorf("pattern %q: multi-segment parameter with affixes", pat)
			}
		} else if prefix != "" || suffix != "" {
			kind = segAffix
		}
		if !validParamName(name) || seen[name] {
			return nil, fmt.Errorf("pattern %q: bad or repeated parameter name %q", pat, name)
		}
		seen[name] = true
		segs = append(segs, patSeg{kind: kind, name: name, prefix: prefix, suffix: suffix})
	}
	if len(seen) > maxParams {
		return nil, fmt.Errorf("pattern %q has more than %d parameters", pat, maxParams)
	}
	return segs, nil
}

func validParamName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// insert adds route index id under its segments; it refuses a second route with the
// same method and shape.
func (n *node) insert(segs []patSeg, method int, id int32, paramFirst bool) error {
	cur := n
	firstParam := true
	for _, s := range segs {
		if s.kind != segLit && firstParam {
			firstParam = false
			if paramFirst {
				cur.paramFirst = true
			}
		}
		switch s.kind {
		case segLit:
			if cur.lits == nil {
				cur.lits = map[string]*node{}
			}
			next := cur.lits[s.lit]
			if next == nil {
				next = newNode()
				cur.lits[s.lit] = next
			}
			cur = next
		case segParam:
			if cur.param == nil {
				cur.param = newNode()
			}
			cur = cur.param
		case segMulti:
			if cur.multi == nil {
				cur.multi = newNode()
			}
			cur = cur.multi
		case segAffix:
			var next *node
			for _, e := range cur.affixes {
				if e.prefix == s.prefix && e.suffix == s.suffix {
					next = e.next
				}
			}
			if next == nil {
				next = newNode()
				cur.affixes = append(cur.affixes, affixEdge{s.prefix, s.suffix, next})
			}
			cur = next
		}
	}
	if cur.routes[method] >= 0 {
		return fmt.Errorf("route conflicts with route #%d", cur.routes[method])
	}
	cur.routes[method] = id
	return nil
}

// validSeg is what a parameter may bind: Werkzeug and Starlette both need at least
// one character, and the gate never binds a dot segment.
func validSeg(s string) bool { return s != "" && s != "." && s != ".." }
