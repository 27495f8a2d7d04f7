package authz

import (
	"strings"
	"testing"
)

// Seeds shared by the path fuzzers: real routes, and the tricks gates leak through.
var pathSeeds = []string{
	"/", "/api/2.0/mlflow/runs/get", "/ajax-api/3.0/jobs/", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a.txt",
	"/api/2.0/mlflow-artifacts/artifacts/1/../../etc/passwd", "/api/2.0/mlflow-artifacts/artifacts/1/%2e%2e/x",
	"/api/2.0/mlflow%2fruns/get", "/api/2.0//mlflow/runs/get", "/static-files/a\\b", "/x%00", "/x%zz", "/x%252e",
	"/gateway/gemini/v1beta/models/e:generateContent", "/api/3.0/mlflow/mcp-servers/a.b/c/versions/1/tags/k",
	"/api/3.0/mlflow/skills/@o/n/versions/1", "/gateway/proxy/mlflow/invocations", "/%C3%A9", "/\xff",
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := NormalizePath(raw)
		if err != nil {
			return
		}
		again, err := NormalizePath(out)
		if err != nil || again != out {
			t.Fatalf("NormalizePath(%q) = %q, which re-normalizes to %q, %v", raw, out, again, err)
		}
		for _, seg := range strings.Split(out, "/")[1:] {
			if seg == "." || seg == ".." {
				t.Fatalf("NormalizePath(%q) = %q keeps a dot segment", raw, out)
			}
		}
		if strings.ContainsAny(out, "\\\x00") || strings.Contains(out, "//") {
			t.Fatalf("NormalizePath(%q) = %q", raw, out)
		}
	})
}

func FuzzMatch(f *testing.F) {
	for _, s := range pathSeeds {
		for _, m := range []string{"GET", "POST", "DELETE"} {
			f.Add(m, s)
		}
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		m, ok := MatchRoute(method, path)
		hasDot := false
		for _, seg := range strings.Split(path, "/") {
			hasDot = hasDot || seg == "." || seg == ".."
		}
		if !ok {
			return
		}
		if hasDot {
			t.Fatalf("%s %q has a dot segment and matched %s", method, path, m.Route.Key())
		}
		if m.Route.Method != method && !(method == "HEAD" && m.Route.Method == "GET") {
			t.Fatalf("%s %q matched %s", method, path, m.Route.Key())
		}
		// Filling the matched pattern with the bound parameters gives the path back.
		rebuilt := paramSeg.ReplaceAllStringFunc(m.Route.Pattern, func(s string) string {
			return m.Param(paramSeg.FindStringSubmatch(s)[1])
		})
		if rebuilt != path {
			t.Fatalf("%s %q matched %s with params giving %q", method, path, m.Route.Key(), rebuilt)
		}
		d := defaultPolicy().Decide(asAdmin, &Request{Method: method, Path: path})
		if !d.Allow || d.Route != m.Route {
			t.Fatalf("Admin on matched route %s: %v", m.Route.Key(), d)
		}
	})
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "run_id=a", "run_ids=a&run_ids=b", "a=1;b=2", "a=%zz", "a+b=c%20d", "&&=&", "a=1&a=1", "a=%ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseQuery(raw, []string{"run_ids"})
		if err != nil {
			return
		}
		if strings.Contains(raw, ";") {
			t.Fatalf("%q has ';' and parsed", raw)
		}
		seen := map[string]bool{}
		for _, p := range q.pairs {
			if seen[p.key] && p.key != "run_ids" {
				t.Fatalf("%q: key %q repeated", raw, p.key)
			}
			seen[p.key] = true
			if strings.ContainsRune(p.key+p.val, 0) {
				t.Fatalf("%q: NUL decoded", raw)
			}
		}
	})
}

func FuzzStrictJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"run_id": "a"}`, `{"a": "x", "A": "y"}`, `{"a": 1, "a": 2}`, `[1, 2.5e3, -0, NaN]`,
		`"{\"run_id\": \"r\"}"`, `{"a": "\ud83d\ude00"}`, `{"a": "\ud800"}`, `[[[[]]]]`, `{"a":`, "\ufeff{}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := ParseStrictJSON(body, 1<<16)
		if err != nil || v == nil {
			return
		}
		var check func(v *JSONValue)
		check = func(v *JSONValue) {
			for i, m := range v.Members {
				for _, prev := range v.Members[:i] {
					if strings.EqualFold(prev.Key, m.Key) {
						t.Fatalf("keys %q and %q both accepted", prev.Key, m.Key)
					}
				}
				check(&v.Members[i].Value)
			}
			for i := range v.Elems {
				check(&v.Elems[i])
			}
		}
		check(v)
		// Whatever the strict reader accepts, extraction either reads it or refuses it.
		_, _ = ReadRequest(Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/update", Body: body})
		_, _ = ReadRequest(Input{Method: "POST", RawPath: "/graphql", Body: body})
	})
}
