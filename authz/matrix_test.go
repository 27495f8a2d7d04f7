package authz

import (
	"slices"
	"testing"
)

// TestDecisionMatrix decides, for every route whose scope is delete, manage or use,
// or whose type is Admin-only, under every prefix the table has it, as Default
// (denied) and as Admin (allowed), on a concrete path built from the pattern.
// Every other route is allowed to both.
func TestDecisionMatrix(t *testing.T) {
	p := defaultPolicy()
	privileged := 0
	for _, rt := range Routes() {
		path := fillPattern(rt.Pattern)
		adminOnly := rt.Scope == ScopeDelete || rt.Scope == ScopeManage || rt.Scope == ScopeUse ||
			slices.Contains(AdminOnlyTypes, rt.Type)
		if adminOnly {
			privileged++
		}
		for _, method := range []string{rt.Method, "HEAD"} {
			if method == "HEAD" && rt.Method != "GET" {
				continue
			}
			if d := decidePath(t, p, asDefault, method, path); d.Allow == adminOnly {
				t.Errorf("Default %s %s (%s): %v", method, path, rt.Key(), d)
			} else if d.Route == nil || d.Route.ID != rt.ID {
				t.Errorf("Default %s %s decided on route %v, want %s", method, path, d.Route, rt.Key())
			}
			if d := decidePath(t, p, asAdmin, method, path); !d.Allow {
				t.Errorf("Admin %s %s (%s): %v", method, path, rt.Key(), d)
			}
		}
	}
	if privileged < 150 {
		t.Fatalf("only %d privileged routes: is the table complete?", privileged)
	}
}
