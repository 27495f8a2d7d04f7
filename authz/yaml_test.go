package authz

import (
	"slices"
	"strings"
	"testing"
)

func TestTableYAMLRoundTrip(t *testing.T) {
	want := DefaultTable()
	want.Resources = append(want.Resources, Resource{Name: "run-deletion", Type: TypeRun, Description: "deleting runs",
		URIs: []string{"POST /api/2.0/mlflow/runs/delete"}, Scopes: []Scope{ScopeDelete}})
	b, err := MarshalTableYAML(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalTableYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(want, got); len(d) > 0 {
		t.Fatalf("round trip changed the table: %v", d)
	}
	if _, err := Compile(got); err != nil {
		t.Fatal(err)
	}
}

func TestUnmarshalTableYAMLRefuses(t *testing.T) {
	for _, c := range []struct{ name, doc, want string }{
		{"unknown field", "version: 1\nresources: []\npermissions: []\nextra: 1\n", "extra"},
		{"unknown scope", "version: 1\nresources:\n  - {name: r, type: run, scopes: [reed]}\n", "unknown scope"},
		{"duplicate key", "version: 1\nversion: 1\n", "already defined"},
		{"missing version", "resources: []\n", "version 0"},
		{"two documents", "version: 1\n---\nversion: 1\n", "more than one"},
		{"not yaml", "version: [\n", "read table"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := UnmarshalTableYAML([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	old := Table{
		Resources: []Resource{
			{Name: "runs", Type: TypeRun, Scopes: []Scope{ScopeRead, ScopeWrite, ScopeDelete}},
			{Name: "gone", Type: TypeDemo, Scopes: []Scope{ScopeWrite}},
		},
		Permissions: []Permission{
			{Role: "Default", Resource: "runs", Scopes: []Scope{ScopeRead, ScopeWrite}},
			{Role: "Admin", Resource: "gone", Scopes: []Scope{ScopeWrite}},
		},
	}
	new := Table{
		Resources: []Resource{
			{Name: "runs", Type: TypeRun, Scopes: []Scope{ScopeRead, ScopeWrite, ScopeDelete}, URIs: []string{"/api/2.0/mlflow/runs/*"}},
			{Name: "jobs", Type: TypeJob, Scopes: []Scope{ScopeRead}},
		},
		Permissions: []Permission{
			{Role: "Default", Resource: "runs", Scopes: []Scope{ScopeRead}},
			{Role: "Admin", Resource: "jobs", Scopes: []Scope{ScopeRead}},
		},
	}
	want := []string{
		`~ resource runs: uris [] → ["/api/2.0/mlflow/runs/*"]`,
		"- resource gone (demo; write)",
		"+ resource jobs (job; read)",
		"~ permission Default on runs: scopes read,write → read",
		"- permission Admin#write on gone",
		"+ permission Admin#read on jobs",
	}
	if got := Diff(old, new); !slices.Equal(got, want) {
		t.Fatalf("Diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := Diff(new, new); len(got) != 0 {
		t.Fatalf("Diff of a table with itself: %v", got)
	}
}
