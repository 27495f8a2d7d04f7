package authz

import "testing"

// The budget: route match plus roles check ≤ 1 µs, no allocation on the common path.

func benchDecide(b *testing.B, s Subject, method, path string) {
	p := defaultPolicy()
	req := &Request{Method: method, Path: path}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d := p.Decide(s, req); d.Code == 0 {
			b.Fatal("no decision")
		}
	}
}

func BenchmarkDecideRunGet(b *testing.B) {
	benchDecide(b, asDefault, "GET", "/api/2.0/mlflow/runs/get")
}

func BenchmarkDecideLogBatch(b *testing.B) {
	benchDecide(b, asDefault, "POST", "/api/2.0/mlflow/runs/log-batch")
}

func BenchmarkDecideArtifactPut(b *testing.B) {
	benchDecide(b, asDefault, "PUT", "/api/2.0/mlflow-artifacts/artifacts/12/0123456789abcdef0123456789abcdef/artifacts/model/model.pkl")
}

func BenchmarkDecideTraceV3Param(b *testing.B) {
	benchDecide(b, asDefault, "GET", "/ajax-api/3.0/mlflow/traces/tr-0123456789abcdef/assessments/a-1")
}

func BenchmarkDecideDeniedDelete(b *testing.B) {
	benchDecide(b, asDefault, "POST", "/ajax-api/2.0/mlflow/runs/delete")
}

func BenchmarkDecideUnknownRoute(b *testing.B) {
	benchDecide(b, asDefault, "GET", "/api/2.0/mlflow/nope/nope")
}

func BenchmarkDecideAdminMCPVersionTag(b *testing.B) {
	benchDecide(b, asAdmin, "DELETE", "/api/3.0/mlflow/mcp-servers/com.example/server/versions/1.0.0/tags/k")
}

func BenchmarkDecideManyRoles(b *testing.B) {
	benchDecide(b, Subject{Roles: []string{"Guest", "Viewer", "Analyst", RoleDefault}}, "GET", "/api/2.0/mlflow/runs/get")
}

func BenchmarkNormalizeAndDecide(b *testing.B) {
	p := defaultPolicy()
	b.ReportAllocs()
	for b.Loop() {
		path, err := NormalizePath("/api/2.0/mlflow/experiments/get-by-name")
		if err != nil {
			b.Fatal(err)
		}
		req := Request{Method: "GET", Path: path}
		if d := p.Decide(asDefault, &req); !d.Allow {
			b.Fatal(d)
		}
	}
}

func BenchmarkReadRequestQuery(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadRequest(Input{Method: "GET", RawPath: "/api/2.0/mlflow/runs/get", RawQuery: "run_id=0123456789abcdef"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadRequestJSON(b *testing.B) {
	body := []byte(`{"run_id": "0123456789abcdef", "metrics": [{"key": "loss", "value": 0.5, "timestamp": 1, "step": 1}], "params": [], "tags": []}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadRequest(Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/log-batch", Body: body}); err != nil {
			b.Fatal(err)
		}
	}
}
