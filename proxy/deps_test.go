package proxy

import (
	"os/exec"
	"strings"
	"testing"
)

// The arrows of ARCHITECTURE.md: proxy imports authz and nothing else of the module (no
// storage, no idp) but the leaf internal/reqid; it declares the interfaces it
// needs and cmd adapts to them.
func TestImportsOnlyAuthz(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/mlflow-gate/mlflow-gate/"
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, module) && pkg != module+"authz" && pkg != module+"internal/reqid" {
			t.Errorf("proxy imports %s", pkg)
		}
	}
}
