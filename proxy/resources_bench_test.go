package proxy

import (
	"context"
	"net/url"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// BenchmarkResourceDecision is the resource step on a cached id when grants
// name the caller (so the gate must learn the run's experiment): the
// resolver's cache, then the grant lookup. Budget: ≤ 2 µs, no allocation.
//
//	go test -run '^$' -bench BenchmarkResourceDecision -benchmem ./proxy/
func BenchmarkResourceDecision(b *testing.B) {
	policy, err := authz.Compile(authz.DefaultTable())
	if err != nil {
		b.Fatal(err)
	}
	set, err := authz.CompileGrants([]authz.Grant{
		{Kind: authz.GrantExperiment, User: "alice", Resource: "7", Level: authz.LevelManage},
		{Kind: authz.GrantExperiment, Role: "team-a", Pattern: "team-a/*", Level: authz.LevelRead},
	}, map[string]authz.Level{authz.RoleDefault: authz.LevelNone})
	if err != nil {
		b.Fatal(err)
	}
	holder := &authz.GrantHolder{}
	holder.Store(set)
	target, _ := url.Parse("http://127.0.0.1:1")
	g, err := New(Config{Upstream: target, Hosts: []string{"127.0.0.1"}, Policy: authz.NewHolder(policy), Auth: &benchAuth{}, Grants: holder})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	const run = "0123456789abcdef0123456789abcdef"
	g.resolver.store(resolveKey{authz.IDRun, run}, resolved{ref: authz.ResourceRef{Kind: authz.GrantExperiment, ID: "7"}})
	g.resolver.store(resolveKey{authz.IDExperiment, "7"}, resolved{ref: authz.ResourceRef{Kind: authz.GrantExperiment, ID: "7", Name: "team-a/x"},
		good: g.resolver.now().Add(resolverNameFor * 100)})
	req, err := authz.ReadRequest(authz.Input{Method: "GET", RawPath: "/api/2.0/mlflow/runs/get", RawQuery: "run_id=" + run})
	if err != nil {
		b.Fatal(err)
	}
	subject := authz.Subject{Name: "alice", Roles: []string{"Default", "team-a"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if f, err := g.checkResources(ctx, subject, req, authz.ScopeWrite); err != nil || f != filterNone {
			b.Fatal(f, err)
		}
	}
}
