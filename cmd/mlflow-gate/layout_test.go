package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/mlflow-gate/mlflow-gate/"

// forbidden lists, per package, the project packages it must never depend on
// (directly or not). The arrows: cmd wires everything; proxy sees only authz
// and declares the interfaces it needs; storage knows no HTTP and no policy;
// admin sits on storage, idp's formats and authzstore, and only cmd and web
// call it.
var forbidden = map[string][]string{
	"storage":    {"authz", "idp", "proxy", "web", "cmd", "admin"},
	"migrations": {"storage", "authz", "idp", "proxy", "web", "cmd", "admin"},
	"authz":      {"idp", "proxy", "web", "cmd", "migrations", "admin"},
	"proxy":      {"storage", "idp", "web", "cmd", "migrations", "admin"},
	"idp":        {"proxy", "web", "cmd", "admin"},
	"admin":      {"proxy", "web", "cmd"},
	"web":        {"proxy", "cmd"},
	"artifacts":  {"storage", "migrations", "authz", "idp", "proxy", "web", "cmd", "admin"},
}

func TestDependenciesPointInward(t *testing.T) {
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "../../"+pkg+"/...").CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, ok := strings.CutPrefix(dep, module)
			if !ok {
				continue
			}
			for _, b := range bad {
				if rel == b || strings.HasPrefix(rel, b+"/") {
					t.Errorf("%s depends on %s", pkg, rel)
				}
			}
		}
	}
}
