package authz

import (
	"regexp"
	"strings"
	"testing"
)

var paramSeg = regexp.MustCompile(`\{(\w+)(\.\.\.)?\}`)

// fillPattern builds a concrete path for a pattern: "{x}" becomes "x-1", "{x...}"
// becomes "1/x-1/artifacts/file.txt" (an artifact-shaped path).
func fillPattern(pattern string) string {
	return paramSeg.ReplaceAllStringFunc(pattern, func(s string) string {
		m := paramSeg.FindStringSubmatch(s)
		if m[2] != "" {
			if m[1] == "name" { // MCP server names are namespace/slug
				return "com.example/" + m[1] + "-1"
			}
			return "1/" + m[1] + "-1/artifacts/file.txt"
		}
		return m[1] + "-1"
	})
}

func TestEveryRouteMatchesItself(t *testing.T) {
	for _, rt := range Routes() {
		path := fillPattern(rt.Pattern)
		norm, err := NormalizePath(path)
		if err != nil {
			t.Errorf("%s: filled path %q: %v", rt.Key(), path, err)
			continue
		}
		m, ok := MatchRoute(rt.Method, norm)
		if !ok || m.Route.ID != rt.ID {
			got := "nothing"
			if ok {
				got = m.Route.Key()
			}
			t.Errorf("%s: %s %s matched %s", rt.Key(), rt.Method, path, got)
		}
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		name, method, path, want string
		params                   map[string]string
	}{
		{"literal", "GET", "/api/2.0/mlflow/runs/get", "GET /api/2.0/mlflow/runs/get", nil},
		{"ajax mirror", "GET", "/ajax-api/2.0/mlflow/runs/get", "GET /ajax-api/2.0/mlflow/runs/get", nil},
		{"HEAD is GET", "HEAD", "/api/2.0/mlflow/experiments/get", "GET /api/2.0/mlflow/experiments/get", nil},
		{"literal before param: traces/get", "GET", "/api/3.0/mlflow/traces/get", "GET /api/3.0/mlflow/traces/get", nil},
		{"literal before param: batchGet", "GET", "/api/3.0/mlflow/traces/batchGet", "GET /api/3.0/mlflow/traces/batchGet", nil},
		{"param after literals", "GET", "/api/3.0/mlflow/traces/tr-1", "GET /api/3.0/mlflow/traces/{trace_id}", map[string]string{"trace_id": "tr-1"}},
		{"literal before param: datasets/search", "GET", "/api/3.0/mlflow/datasets/search", "GET /api/3.0/mlflow/datasets/search", nil},
		{"param with method fallback", "POST", "/api/3.0/mlflow/traces/get/assessments", "POST /api/3.0/mlflow/traces/{trace_id}/assessments", map[string]string{"trace_id": "get"}},
		{"logged model search vs id", "POST", "/api/2.0/mlflow/logged-models/search", "POST /api/2.0/mlflow/logged-models/search", nil},
		{"logged model id", "GET", "/api/2.0/mlflow/logged-models/m-1", "GET /api/2.0/mlflow/logged-models/{model_id}", map[string]string{"model_id": "m-1"}},
		{"artifact remainder", "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a/b.txt", "PUT /api/2.0/mlflow-artifacts/artifacts/{artifact_path...}", map[string]string{"artifact_path": "1/r/artifacts/a/b.txt"}},
		{"artifact list", "GET", "/api/2.0/mlflow-artifacts/artifacts", "GET /api/2.0/mlflow-artifacts/artifacts", nil},
		{"trailing slash route", "POST", "/ajax-api/3.0/jobs/", "POST /ajax-api/3.0/jobs/", nil},
		{"root", "GET", "/", "GET /", nil},
		{"bad proto path", "POST", "/api/2.0mlflow/experiments/search-datasets", "POST /api/2.0mlflow/experiments/search-datasets", nil},
		{"gemini suffix", "POST", "/gateway/gemini/v1beta/models/ep:1:generateContent", "POST /gateway/gemini/v1beta/models/{endpoint_name}:generateContent", map[string]string{"endpoint_name": "ep:1"}},
		{"gemini stream", "POST", "/gateway/gemini/v1beta/models/ep:streamGenerateContent", "POST /gateway/gemini/v1beta/models/{endpoint_name}:streamGenerateContent", map[string]string{"endpoint_name": "ep"}},
		{"gateway literal route", "POST", "/gateway/mlflow/v1/chat/completions", "POST /gateway/mlflow/v1/chat/completions", nil},
		{"gateway invocations (Starlette order)", "POST", "/gateway/proxy/mlflow/invocations", "POST /gateway/{endpoint_name}/mlflow/invocations", map[string]string{"endpoint_name": "proxy"}},
		{"gateway endpoint named mlflow", "POST", "/gateway/mlflow/mlflow/invocations", "POST /gateway/{endpoint_name}/mlflow/invocations", map[string]string{"endpoint_name": "mlflow"}},
		{"gateway raw proxy", "POST", "/gateway/proxy/ep/v1/x", "POST /gateway/proxy/{endpoint_name}/{path...}", map[string]string{"endpoint_name": "ep", "path": "v1/x"}},
		{"skill organization", "GET", "/api/3.0/mlflow/skills/@acme/s", "GET /api/3.0/mlflow/skills/@{organization}/{name}", map[string]string{"organization": "acme", "name": "s"}},
		{"skill plain named @x", "GET", "/api/3.0/mlflow/skills/@acme", "GET /api/3.0/mlflow/skills/{name}", map[string]string{"name": "@acme"}},
		{"skill bulk register literal", "POST", "/api/3.0/mlflow/skills/bulk-register", "POST /api/3.0/mlflow/skills/bulk-register", nil},
		{"mcp server", "GET", "/api/3.0/mlflow/mcp-servers/com.example/srv", "GET /api/3.0/mlflow/mcp-servers/{name...}", map[string]string{"name": "com.example/srv"}},
		{"mcp endpoints literal", "GET", "/api/3.0/mlflow/mcp-servers/endpoints", "GET /api/3.0/mlflow/mcp-servers/endpoints", nil},
		{"mcp version", "GET", "/api/3.0/mlflow/mcp-servers/com.example/srv/versions/1.0.0", "GET /api/3.0/mlflow/mcp-servers/{name...}/versions/{version...}", map[string]string{"name": "com.example/srv", "version": "1.0.0"}},
		{"mcp version tag", "DELETE", "/ajax-api/3.0/mlflow/mcp-servers/com.example/srv/versions/1/tags/a/b", "DELETE /ajax-api/3.0/mlflow/mcp-servers/{name...}/versions/{version...}/tags/{key...}", map[string]string{"name": "com.example/srv", "version": "1", "key": "a/b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, ok := MatchRoute(c.method, c.path)
			if !ok {
				t.Fatalf("%s %s: no route, want %s", c.method, c.path, c.want)
			}
			if m.Route.Key() != c.want {
				t.Fatalf("%s %s: matched %s, want %s", c.method, c.path, m.Route.Key(), c.want)
			}
			for k, v := range c.params {
				if got := m.Param(k); got != v {
					t.Errorf("param %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestNoMatch(t *testing.T) {
	for _, c := range []struct{ name, method, path string }{
		{"unknown path", "GET", "/api/2.0/mlflow/nope"},
		{"trailing slash MLflow 404s", "GET", "/api/2.0/mlflow/runs/get/"},
		{"missing trailing slash", "POST", "/ajax-api/3.0/jobs"},
		{"wrong method", "DELETE", "/api/2.0/mlflow/runs/get"},
		{"OPTIONS", "OPTIONS", "/api/2.0/mlflow/runs/get"},
		{"unknown method", "BREW", "/"},
		{"api 4.0", "GET", "/ajax-api/4.0/mlflow/traces/x"},
		{"v2 path under 3.0", "GET", "/api/3.0/mlflow/runs/get"},
		{"ajax-only under api", "GET", "/api/2.0/mlflow/metrics/get-history-bulk"},
		{"artifact root with trailing slash", "GET", "/api/2.0/mlflow-artifacts/artifacts/"},
		{"dotdot in artifact path", "DELETE", "/api/2.0/mlflow-artifacts/artifacts/1/../.."},
		{"dot param", "GET", "/api/3.0/mlflow/traces/.."},
		{"empty param", "GET", "/api/2.0/mlflow/logged-models//artifacts/directories"},
		{"relative", "GET", "api/2.0/mlflow/runs/get"},
		{"static prefix not configured", "GET", "/mlflow/api/2.0/mlflow/runs/get"},
		{"gemini without name", "POST", "/gateway/gemini/v1beta/models/:generateContent"},
		{"unnormalized escapes", "GET", "/api/2.0/mlflow-artifacts/artifacts/1/%2e%2e/x"},
		{"unnormalized backslash", "GET", "/api/2.0/mlflow-artifacts/artifacts/1\\x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if m, ok := MatchRoute(c.method, c.path); ok {
				t.Fatalf("%s %s matched %s", c.method, c.path, m.Route.Key())
			}
		})
	}
}

// Routes whose patterns overlap under one method must agree on what they do, so
// that the gate's literal-first reading cannot change a decision even where it reads
// ids differently from Starlette's ordered, greedy matching.
func TestAmbiguousFamiliesShareTypeAndScope(t *testing.T) {
	for _, family := range []string{"/mlflow/mcp-servers/", "/mlflow/skills/", "/gateway/"} {
		seen := map[string]*Route{}
		for i := range Routes() {
			rt := &Routes()[i]
			if !strings.Contains(rt.Pattern, family) || !strings.Contains(rt.Pattern, "{") {
				continue
			}
			k := rt.Method + " " + strings.SplitN(rt.Pattern, family, 2)[0]
			if prev, ok := seen[k]; ok && (prev.Type != rt.Type || prev.Scope != rt.Scope) {
				// Gateway GETs differ from POSTs only by method; same method must agree.
				t.Errorf("%s and %s overlap but differ: %s %s vs %s %s", prev.Key(), rt.Key(), prev.Type, prev.Scope, rt.Type, rt.Scope)
			}
			seen[k] = rt
		}
	}
}

func TestRouteTableInvariants(t *testing.T) {
	keys := map[string]bool{}
	for i, rt := range Routes() {
		if rt.ID != i {
			t.Errorf("%s: ID %d at index %d", rt.Key(), rt.ID, i)
		}
		if keys[rt.Key()] {
			t.Errorf("%s listed twice", rt.Key())
		}
		keys[rt.Key()] = true
		if strings.Contains(rt.Pattern, "*") {
			t.Errorf("%s: wildcard", rt.Key())
		}
		if strings.Contains(rt.Pattern, "...}") && rt.Type != TypeArtifact && rt.Type != TypeUI &&
			rt.Type != TypeMCPServer && rt.Type != TypeSkill && rt.Type != TypeGateway {
			t.Errorf("%s: multi-segment parameter outside artifacts, UI files and registries", rt.Key())
		}
	}
	if _, err := compileRoutes([][]spec{{r(root, get, "/a/{x}", TypeUI, read), r(root, get, "/a/{y}", TypeUI, read)}}); err == nil {
		t.Error("two routes of one shape and method compiled")
	}
	if _, err := compileRoutes([][]spec{{r(root, get, "/a/*", TypeUI, read)}}); err == nil {
		t.Error("a wildcard pattern compiled")
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		if _, ok := MatchRoute("POST", "/api/2.0/mlflow-artifacts/mpu/create/1/r/artifacts/x"); !ok {
			t.Fatal("no match")
		}
		if _, ok := MatchRoute("DELETE", "/api/3.0/mlflow/mcp-servers/a.b/c/versions/1/tags/k"); !ok {
			t.Fatal("no match")
		}
	})
	if n != 0 {
		t.Fatalf("MatchRoute allocates %v times", n)
	}
}
