package authz

import (
	"strings"
	"testing"
)

// Every type has a description, and the default table's resources carry it;
// a resource stored without one is described by its type.
func TestResourceDescriptions(t *testing.T) {
	for _, typ := range ResourceTypes {
		if d := TypeDescription(typ); d == "" || strings.Contains(d, "\n") {
			t.Errorf("type %s: description %q", typ, d)
		}
	}
	for _, r := range DefaultTable().Resources {
		if r.Description != TypeDescription(r.Type) {
			t.Errorf("default resource %s: description %q", r.Name, r.Description)
		}
	}
	if got := (Resource{Type: TypeRun}).Describe(); got != TypeDescription(TypeRun) {
		t.Errorf("Describe without a description: %q", got)
	}
	if got := (Resource{Type: TypeRun, Description: "deleting runs"}).Describe(); got != "deleting runs" {
		t.Errorf("Describe with one: %q", got)
	}
}
