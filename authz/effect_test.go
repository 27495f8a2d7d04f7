package authz

import (
	"slices"
	"strings"
	"testing"
)

func decideBody(t *testing.T, p *Policy, s Subject, method, path, body string) Decision {
	t.Helper()
	req, err := ReadRequest(Input{Method: method, RawPath: path, Body: []byte(body)})
	if err != nil {
		t.Fatalf("%s %s %s: %v", method, path, body, err)
	}
	return p.Decide(s, req)
}

// TestEffectsRaiseTheScope: a body field that makes a write delete, overwrite or
// relocate data makes the decision ask for that scope, under every prefix and in
// every spelling MLflow reads.
func TestEffectsRaiseTheScope(t *testing.T) {
	p := defaultPolicy()
	cases := []struct {
		name, method, path, body string
		defaultAllowed           bool
		scope                    Scope
	}{
		{"experiment without location", "POST", "/api/2.0/mlflow/experiments/create", `{"name":"e"}`, true, ScopeWrite},
		{"experiment with empty location", "POST", "/api/2.0/mlflow/experiments/create", `{"name":"e","artifact_location":""}`, true, ScopeWrite},
		{"experiment with s3 location", "POST", "/api/2.0/mlflow/experiments/create", `{"name":"e","artifact_location":"s3://other/x"}`, false, ScopeManage},
		{"experiment with local path", "POST", "/ajax-api/2.0/mlflow/experiments/create", `{"name":"e","artifact_location":"/etc"}`, false, ScopeManage},
		{"experiment with camelCase location", "POST", "/api/2.0/mlflow/experiments/create", `{"name":"e","artifactLocation":"file:///tmp"}`, false, ScopeManage},
		{"experiment as JSON string body", "POST", "/api/2.0/mlflow/experiments/create", `"{\"name\":\"e\",\"artifact_location\":\"/x\"}"`, false, ScopeManage},
		{"version from a run", "POST", "/api/2.0/mlflow/model-versions/create", `{"name":"m","source":"runs:/abc/model","run_id":"abc"}`, true, ScopeWrite},
		{"version from mlflow-artifacts", "POST", "/api/2.0/mlflow/model-versions/create", `{"name":"m","source":"mlflow-artifacts:/1/abc/artifacts/model","run_id":"abc"}`, true, ScopeWrite},
		{"version from a logged model", "POST", "/api/2.0/mlflow/model-versions/create", `{"name":"m","source":"models:/m-123","model_id":"m-123"}`, true, ScopeWrite},
		{"prompt version placeholder", "POST", "/api/2.0/mlflow/model-versions/create", `{"name":"p","source":"dummy-source"}`, true, ScopeWrite},
		{"version from another bucket", "POST", "/api/2.0/mlflow/model-versions/create", `{"name":"m","source":"s3://secrets/keys"}`, false, ScopeManage},
		{"version from a local file", "POST", "/ajax-api/2.0/mlflow/model-versions/create", `{"name":"m","source":"file:///etc/passwd"}`, false, ScopeManage},
		{"version from a plain path", "POST", "/api/2.0/mlflow/model-versions/create", `{"name":"m","source":"/etc/passwd"}`, false, ScopeManage},
		{"version from http", "POST", "/api/2.0/mlflow/model-versions/create", `{"name":"m","source":"http://169.254.169.254/latest"}`, false, ScopeManage},
		{"version from a runs URI with a host", "POST", "/api/2.0/mlflow/model-versions/create", `{"name":"m","source":"runs://other/abc/model"}`, false, ScopeManage},
		{"version source with space", "POST", "/api/2.0/mlflow/model-versions/create", `{"name":"m","source":" runs:/abc/model"}`, false, ScopeManage},
		{"version source not a string", "POST", "/api/2.0/mlflow/model-versions/create", `{"name":"m","source":7}`, false, ScopeManage},
		{"stage without archiving", "POST", "/api/2.0/mlflow/model-versions/transition-stage", `{"name":"m","version":"1","stage":"Production"}`, true, ScopeWrite},
		{"stage archiving the others", "POST", "/api/2.0/mlflow/model-versions/transition-stage", `{"name":"m","version":"1","stage":"Production","archive_existing_versions":true}`, false, ScopeDelete},
		{"stage archiving, camelCase", "POST", "/ajax-api/2.0/mlflow/model-versions/transition-stage", `{"name":"m","version":"1","archiveExistingVersions":true}`, false, ScopeDelete},
		{"stage archiving as a string", "POST", "/api/2.0/mlflow/model-versions/transition-stage", `{"name":"m","version":"1","archive_existing_versions":"True"}`, false, ScopeDelete},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decideBody(t, p, asDefault, c.method, c.path, c.body)
			if d.Allow != c.defaultAllowed || d.Scope != c.scope {
				t.Errorf("Default: %v (scope %s), want allow=%v scope %s", d, d.Scope, c.defaultAllowed, c.scope)
			}
			if !c.defaultAllowed && !strings.Contains(d.Reason(), "this request") {
				t.Errorf("the refusal does not say what the request does: %s", d.Reason())
			}
			if d := decideBody(t, p, asAdmin, c.method, c.path, c.body); !d.Allow {
				t.Errorf("Admin: %v", d)
			}
		})
	}
}

// TestEffectFieldsAreReadStrictly: a body that spells an effect field twice is refused
// rather than read one way.
func TestEffectFieldsAreReadStrictly(t *testing.T) {
	for _, body := range []string{
		`{"name":"e","artifact_location":"","artifactLocation":"/x"}`,
		`{"name":"e","artifact_location":"/x","artifact_location":""}`,
	} {
		if _, err := ReadRequest(Input{Method: "POST", RawPath: "/api/2.0/mlflow/experiments/create", Body: []byte(body)}); err == nil {
			t.Errorf("%s: read without error", body)
		}
	}
}

// TestEscalate: what the proxy learns by looking raises the scope too, and a weaker
// escalation changes nothing.
func TestEscalate(t *testing.T) {
	p := defaultPolicy()
	req, err := ReadRequest(Input{Method: "PUT", RawPath: "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if req.Route().Kind != KindArtifactUpload {
		t.Fatalf("artifact PUT is %s, want artifact-upload", req.Route().Kind)
	}
	req.Escalate(ScopeRead, "reads")
	if d := p.Decide(asDefault, req); !d.Allow || d.Scope != ScopeWrite {
		t.Fatalf("a weaker escalation changed the decision: %v", d)
	}
	req.Escalate(ScopeDelete, "overwrites an existing artifact")
	d := p.Decide(asDefault, req)
	if d.Allow || d.Scope != ScopeDelete || !strings.Contains(d.Reason(), "overwrites an existing artifact") {
		t.Fatalf("Default overwriting: %v", d)
	}
	if d := p.Decide(asAdmin, req); !d.Allow {
		t.Fatalf("Admin overwriting: %v", d)
	}
}

// TestEveryRouteSaysWhy: the golden file carries, for every route, why its scope is
// what it is; a write must say it explicitly (compileRoutes refuses one that does not).
func TestEveryRouteSaysWhy(t *testing.T) {
	for _, rt := range Routes() {
		if rt.Why == "" {
			t.Errorf("%s has no reason for its scope", rt.Key())
		}
		if rt.Scope == ScopeWrite && rt.Why == defaultWhy[ScopeRead] {
			t.Errorf("%s: a write says it reads", rt.Key())
		}
	}
}

func BenchmarkDecideWithEffects(b *testing.B) {
	p := defaultPolicy()
	req, err := ReadRequest(Input{Method: "POST", RawPath: "/api/2.0/mlflow/model-versions/transition-stage",
		Body: []byte(`{"name":"m","version":"1","stage":"Production"}`)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := p.Decide(asDefault, req); !d.Allow {
			b.Fatal(d)
		}
	}
}

// Every route that writes or deletes runs is either a run creation, a run-tag write
// (which carries the mlflow.user effect) or known not to touch run tags. A new
// MLflow route on runs fails here until someone decides.
func TestEveryRunWriteIsClassified(t *testing.T) {
	noTags := []string{
		"/mlflow/runs/update",        // run_name only (mlflow.runName)
		"/mlflow/runs/log-metric",    //
		"/mlflow/runs/log-parameter", //
		"/mlflow/runs/log-model",     // writes mlflow.log-model.history itself
		"/mlflow/runs/log-inputs",    // dataset and model inputs, with their own tags
		"/mlflow/runs/outputs",       // model outputs
		"/mlflow/runs/delete",        // the run, not a tag (Admin-only by policy)
		"/mlflow/runs/restore",       //
	}
	kinds := map[RouteKind]int{}
	for _, rt := range Routes() {
		if rt.Type != TypeRun || rt.Scope == ScopeRead {
			continue
		}
		kinds[rt.Kind]++
		switch rt.Kind {
		case KindRunTagSet, KindRunTagDelete, KindRunLogBatch:
			if !slices.ContainsFunc(rt.Effects, func(e Effect) bool { return e.Scope == ScopeManage && strings.Contains(e.When, UserTag) }) {
				t.Errorf("%s writes run tags without the %s effect", rt.Key(), UserTag)
			}
		case KindRunCreate, KindPromptlabRunCreate:
		default:
			if !slices.ContainsFunc(noTags, func(s string) bool { return strings.HasSuffix(rt.Pattern, s) }) {
				t.Errorf("%s writes runs and is not classified for the mlflow.user rule", rt.Key())
			}
		}
	}
	// Each such MLflow route exists under /api/2.0 and /ajax-api/2.0 (promptlab: ajax only).
	want := map[RouteKind]int{KindRunCreate: 2, KindPromptlabRunCreate: 1, KindRunTagSet: 2, KindRunTagDelete: 2, KindRunLogBatch: 2}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("kind %s covers %d routes, want %d", k, kinds[k], n)
		}
	}
}

// TestUserTagEffect: naming mlflow.user, in any spelling a store reads as it, asks
// for manage; Admin holds it in the default table, Default does not.
func TestUserTagEffect(t *testing.T) {
	p := defaultPolicy()
	for body, raised := range map[string]bool{
		`{"run_id":"r","key":"mlflow.user","value":"x"}`:                  true,
		`{"run_id":"r","key":"MLflow.User  ","value":"x"}`:                true,
		`"{\"run_id\":\"r\",\"key\":\"mlflow.user\"}"`:                    true,
		`{"run_id":"r","key":"mlflow.username","value":"x"}`:              false,
		`{"run_id":"r","key":7,"value":"x"}`:                              false,
		`{"run_id":"r","tags":[1,{"key":"a"},{"key":"mlflow.user "}]}`:    true,
		`{"run_id":"r","tags":{"key":"mlflow.user"}}`:                     false,
		`{"run_id":"r","params":[{"key":"mlflow.user","value":"param"}]}`: false,
	} {
		route := "/api/2.0/mlflow/runs/set-tag"
		if strings.Contains(body, "tags") || strings.Contains(body, "params") {
			route = "/api/2.0/mlflow/runs/log-batch"
		}
		req, err := ReadRequest(Input{Method: "POST", RawPath: route, Body: []byte(body)})
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		d := p.Decide(asDefault, req)
		if raised != (d.Scope == ScopeManage) || d.Allow == raised {
			t.Errorf("%s: %v", body, d)
		}
		if raised && !strings.Contains(d.Reason(), UserTag) {
			t.Errorf("%s: reason %q", body, d.Reason())
		}
		if raised && !p.Decide(Subject{Name: "root", Roles: []string{RoleAdmin}}, req).Allow {
			t.Errorf("%s: Admin refused", body)
		}
	}
}
