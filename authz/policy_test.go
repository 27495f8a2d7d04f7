package authz

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

var defaultPolicy = sync.OnceValue(func() *Policy {
	p, err := Compile(DefaultTable())
	if err != nil {
		panic(err)
	}
	return p
})

var (
	asDefault = Subject{Name: "alice", Roles: []string{RoleDefault}}
	asAdmin   = Subject{Name: "admin", Roles: []string{RoleAdmin}}
)

func decidePath(t *testing.T, p *Policy, s Subject, method, rawPath string) Decision {
	t.Helper()
	path, err := NormalizePath(rawPath)
	if err != nil {
		t.Fatalf("%s: %v", rawPath, err)
	}
	return p.Decide(s, &Request{Method: method, Path: path})
}

func TestDefaultTableCoversEveryRoute(t *testing.T) {
	if u := defaultPolicy().Uncovered(); len(u) > 0 {
		t.Fatalf("routes no resource covers: %v", u)
	}
}

func TestDefaultPolicyDecisions(t *testing.T) {
	p := defaultPolicy()
	cases := []struct {
		name, method, path string
		subject            Subject
		allow              bool
		code               ReasonCode
		reason             string
	}{
		{"Default reads runs", "GET", "/api/2.0/mlflow/runs/get", asDefault, true, ReasonAllowed, "allowed by Default#read on runs"},
		{"Default HEAD is a read", "HEAD", "/api/2.0/mlflow/runs/get", asDefault, true, ReasonAllowed, "allowed by Default#read on runs"},
		{"Default creates experiments", "POST", "/api/2.0/mlflow/experiments/create", asDefault, true, ReasonAllowed, "allowed by Default#write on experiments"},
		{"Default uploads artifacts", "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/m.pkl", asDefault, true, ReasonAllowed, "allowed by Default#write on artifacts"},
		{"Default logs OTLP traces", "POST", "/v1/traces", asDefault, true, ReasonAllowed, "allowed by Default#write on traces"},
		{"Default uses the UI", "GET", "/static-files/main.js", asDefault, true, ReasonAllowed, "allowed by Default#read on ui"},
		{"Default may not delete runs", "POST", "/api/2.0/mlflow/runs/delete", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds delete on runs"},
		{"Default may not delete via ajax", "POST", "/ajax-api/2.0/mlflow/runs/delete", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds delete on runs"},
		{"Default may not restore", "POST", "/api/2.0/mlflow/experiments/restore", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds manage on experiments"},
		{"Default may not delete artifacts", "DELETE", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/m.pkl", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds delete on artifacts"},
		{"Default may not delete tags", "DELETE", "/api/2.0/mlflow/registered-models/delete-tag", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds delete on registered_models"},
		{"Default may not delete aliases", "DELETE", "/ajax-api/2.0/mlflow/registered-models/alias", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds delete on registered_models"},
		{"Default may not invoke scorers", "POST", "/ajax-api/3.0/mlflow/scorer/invoke", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds use on scorers"},
		{"Default may not use the gateway", "POST", "/gateway/ep/mlflow/invocations", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds use on gateway"},
		{"Default may not read gateway secrets", "GET", "/api/3.0/mlflow/gateway/secrets/list", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds read on gateway"},
		{"Default may not talk to the assistant", "POST", "/ajax-api/3.0/mlflow/assistant/message", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds use on assistant"},
		{"Default may not create webhooks", "POST", "/api/2.0/mlflow/webhooks", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds write on webhooks"},
		{"Default may not submit jobs", "POST", "/ajax-api/3.0/jobs/", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds use on jobs"},
		{"Default may not generate demos", "POST", "/ajax-api/3.0/mlflow/demo/generate", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds write on demo"},
		{"Default may not create workspaces", "POST", "/api/3.0/mlflow/workspaces", asDefault, false, ReasonNoPermission, "denied: no role of [Default] holds manage on workspaces"},
		{"Default lists workspaces", "GET", "/ajax-api/3.0/mlflow/workspaces", asDefault, true, ReasonAllowed, "allowed by Default#read on workspaces"},
		{"Admin deletes runs", "POST", "/api/2.0/mlflow/runs/delete", asAdmin, true, ReasonAllowed, "allowed by Admin#delete on runs"},
		{"Admin uses the gateway", "POST", "/gateway/openai/v1/chat/completions", asAdmin, true, ReasonAllowed, "allowed by Admin#use on gateway"},
		{"unknown route", "GET", "/api/2.0/mlflow/nope", asAdmin, false, ReasonUnknownRoute, "denied: unknown route"},
		{"no roles", "GET", "/api/2.0/mlflow/runs/get", Subject{Name: "nobody"}, false, ReasonNoPermission, "denied: no role of [] holds read on runs"},
		{"unknown role", "GET", "/api/2.0/mlflow/runs/get", Subject{Roles: []string{"Guest"}}, false, ReasonNoPermission, "denied: no role of [Guest] holds read on runs"},
		{"second role allows", "POST", "/api/2.0/mlflow/runs/delete", Subject{Roles: []string{RoleDefault, RoleAdmin}}, true, ReasonAllowed, "allowed by Admin#delete on runs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decidePath(t, p, c.subject, c.method, c.path)
			if d.Allow != c.allow || d.Code != c.code || d.Reason() != c.reason {
				t.Fatalf("%s %s as %v: %v, want allow=%v code=%v reason %q", c.method, c.path, c.subject.Roles, d, c.allow, c.code, c.reason)
			}
			if d.Allow && (d.Permission == nil || d.Resource == nil || d.Role == "") {
				t.Fatalf("allow without its rule: %+v", d)
			}
			if !strings.Contains(d.String(), c.path) {
				t.Fatalf("String() %q does not name the path", d.String())
			}
		})
	}
}

// The seed's rule: a Default user gets 403 on every delete route, under every prefix.
func TestDefaultDeniedEveryDeleteRoute(t *testing.T) {
	p := defaultPolicy()
	prefixes := map[string]bool{}
	n := 0
	for _, rt := range Routes() {
		if rt.Scope != ScopeDelete && !(rt.Method == "DELETE") {
			continue
		}
		n++
		for _, pre := range []string{"/api/2.0/", "/api/3.0/", "/ajax-api/2.0/", "/ajax-api/3.0/"} {
			if strings.HasPrefix(rt.Pattern, pre) {
				prefixes[pre] = true
			}
		}
		d := decidePath(t, p, asDefault, rt.Method, fillPattern(rt.Pattern))
		if d.Allow || d.Code != ReasonNoPermission {
			t.Errorf("Default on delete route %s: %v", rt.Key(), d)
		}
	}
	if n < 100 || len(prefixes) != 4 {
		t.Fatalf("only %d delete routes under prefixes %v", n, prefixes)
	}
}

func TestDecideAllocatesNothing(t *testing.T) {
	p := defaultPolicy()
	reqs := []*Request{
		{Method: "GET", Path: "/api/2.0/mlflow/runs/get"},
		{Method: "POST", Path: "/ajax-api/2.0/mlflow/runs/delete"},
		{Method: "GET", Path: "/api/2.0/nope"},
	}
	n := testing.AllocsPerRun(100, func() {
		for _, r := range reqs {
			_ = p.Decide(asDefault, r)
		}
	})
	if n != 0 {
		t.Fatalf("Decide allocates %v times", n)
	}
}

func TestHolder(t *testing.T) {
	h := NewHolder(nil)
	req := &Request{Method: "GET", Path: "/api/2.0/mlflow/runs/get"}
	if d := h.Decide(asAdmin, req); d.Allow || d.Code != ReasonNoPolicy {
		t.Fatalf("empty holder: %v", d)
	}
	h.Store(defaultPolicy())
	if d := h.Decide(asDefault, req); !d.Allow {
		t.Fatalf("default policy: %v", d)
	}
	readOnly, err := Compile(Table{
		Resources:   []Resource{{Name: "runs", Type: TypeRun, Scopes: []Scope{ScopeRead, ScopeWrite}}},
		Permissions: []Permission{{Role: "Reader", Resource: "runs", Scopes: []Scope{ScopeRead}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Store(readOnly)
	if d := h.Decide(asDefault, req); d.Allow || h.Load() != readOnly {
		t.Fatalf("after swap: %v", d)
	}
	if d := h.Decide(Subject{Roles: []string{"Reader"}}, &Request{Method: "GET", Path: "/api/2.0/mlflow/experiments/get"}); d.Code != ReasonUncovered {
		t.Fatalf("uncovered route: %v", d)
	}
}

func TestResourceURIsNarrow(t *testing.T) {
	p, err := Compile(Table{
		Resources: []Resource{
			{Name: "run-deletion", Type: TypeRun, URIs: []string{"POST /api/2.0/mlflow/runs/delete"}, Scopes: []Scope{ScopeDelete}},
			{Name: "v3-traces", Type: TypeTrace, URIs: []string{"/api/3.0/mlflow/traces/*"}, Scopes: []Scope{ScopeRead}},
		},
		Permissions: []Permission{
			{Role: "Janitor", Resource: "run-deletion", Scopes: []Scope{ScopeDelete}},
			{Role: "Janitor", Resource: "v3-traces", Scopes: []Scope{ScopeRead}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	j := Subject{Roles: []string{"Janitor"}}
	for _, c := range []struct {
		method, path string
		allow        bool
	}{
		{"POST", "/api/2.0/mlflow/runs/delete", true},
		{"POST", "/ajax-api/2.0/mlflow/runs/delete", false},
		{"GET", "/api/3.0/mlflow/traces/tr-1", true},
		{"GET", "/ajax-api/3.0/mlflow/traces/tr-1", false},
	} {
		if d := decidePath(t, p, j, c.method, c.path); d.Allow != c.allow {
			t.Errorf("%s %s: %v", c.method, c.path, d)
		}
	}
	if len(p.Uncovered()) == 0 || slices.Contains(p.Uncovered(), "POST /api/2.0/mlflow/runs/delete") {
		t.Errorf("Uncovered: %d routes", len(p.Uncovered()))
	}
}

func TestCompileRefuses(t *testing.T) {
	res := Resource{Name: "runs", Type: TypeRun, Scopes: []Scope{ScopeRead}}
	cases := []struct {
		name  string
		table Table
		want  string
	}{
		{"unknown type", Table{Resources: []Resource{{Name: "x", Type: "nope", Scopes: []Scope{ScopeRead}}}}, "unknown type"},
		{"duplicate resource", Table{Resources: []Resource{res, res}}, "defined twice"},
		{"no scopes", Table{Resources: []Resource{{Name: "runs", Type: TypeRun}}}, "no scopes"},
		{"bad scope", Table{Resources: []Resource{{Name: "runs", Type: TypeRun, Scopes: []Scope{9}}}}, "unknown scope"},
		{"repeated scope", Table{Resources: []Resource{{Name: "runs", Type: TypeRun, Scopes: []Scope{ScopeRead, ScopeRead}}}}, "listed twice"},
		{"catch-all URI", Table{Resources: []Resource{{Name: "all", Type: TypeRun, URIs: []string{"/*"}, Scopes: []Scope{ScopeRead}}}}, "not a route pattern"},
		{"wildcard URI", Table{Resources: []Resource{{Name: "all", Type: TypeRun, URIs: []string{"/api/*/mlflow/runs/get"}, Scopes: []Scope{ScopeRead}}}}, "not a route pattern"},
		{"typo URI", Table{Resources: []Resource{{Name: "r", Type: TypeRun, URIs: []string{"GET /api/2.0/mlflow/run/get"}, Scopes: []Scope{ScopeRead}}}}, "matches no run route"},
		{"URI of another type", Table{Resources: []Resource{{Name: "r", Type: TypeRun, URIs: []string{"GET /api/2.0/mlflow/experiments/get"}, Scopes: []Scope{ScopeRead}}}}, "matches no run route"},
		{"missing resource", Table{Permissions: []Permission{{Role: "A", Resource: "runs", Scopes: []Scope{ScopeRead}}}}, `no resource "runs"`},
		{"scope not offered", Table{Resources: []Resource{res}, Permissions: []Permission{{Role: "A", Resource: "runs", Scopes: []Scope{ScopeDelete}}}}, "offers no delete"},
		{"no role", Table{Resources: []Resource{res}, Permissions: []Permission{{Resource: "runs", Scopes: []Scope{ScopeRead}}}}, "no role"},
		{"duplicate permission", Table{Resources: []Resource{res}, Permissions: []Permission{{Role: "A", Resource: "runs", Scopes: []Scope{ScopeRead}}, {Role: "A", Resource: "runs", Scopes: []Scope{ScopeRead}}}}, "already has"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.table)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Compile: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestPolicyIsImmutable(t *testing.T) {
	tab := DefaultTable()
	p, err := Compile(tab)
	if err != nil {
		t.Fatal(err)
	}
	tab.Permissions[0].Scopes[0] = ScopeManage
	tab.Permissions = nil
	if d := decidePath(t, p, asDefault, "GET", "/api/2.0/mlflow/experiments/get"); !d.Allow {
		t.Fatalf("changing the table after Compile changed the policy: %v", d)
	}
	got := p.Table()
	got.Resources[0].Name = "changed"
	if p.Table().Resources[0].Name == "changed" {
		t.Fatal("Table() shares memory with the policy")
	}
	var nilPolicy *Policy
	if d := nilPolicy.Decide(asAdmin, &Request{Method: "GET", Path: "/"}); d.Allow || d.Code != ReasonNoPolicy {
		t.Fatalf("nil policy: %v", d)
	}
}
