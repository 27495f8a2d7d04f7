package authz

import (
	"fmt"
	"slices"
	"strings"
)

// Diff lists what changes from old to new, one human-readable line each, for a dry
// run before an import: "- " removed, "+ " added, "~ " changed. Resources are keyed
// by name and permissions by role and resource; an empty result means no change.
func Diff(old, new Table) []string {
	var out []string
	oldRes, newRes := indexResources(old), indexResources(new)
	for _, r := range old.Resources {
		n, ok := newRes[r.Name]
		if !ok {
			out = append(out, "- resource "+describeResource(r))
			continue
		}
		var changes []string
		if r.Type != n.Type {
			changes = append(changes, fmt.Sprintf("type %s → %s", r.Type, n.Type))
		}
		if !slices.Equal(r.Scopes, n.Scopes) {
			changes = append(changes, "scopes "+scopeList(r.Scopes)+" → "+scopeList(n.Scopes))
		}
		if !slices.Equal(r.URIs, n.URIs) {
			changes = append(changes, fmt.Sprintf("uris %q → %q", r.URIs, n.URIs))
		}
		if r.Description != n.Description {
			changes = append(changes, fmt.Sprintf("description %q → %q", r.Description, n.Description))
		}
		if len(changes) > 0 {
			out = append(out, "~ resource "+r.Name+": "+strings.Join(changes, "; "))
		}
	}
	for _, r := range new.Resources {
		if _, ok := oldRes[r.Name]; !ok {
			out = append(out, "+ resource "+describeResource(r))
		}
	}
	oldPerm, newPerm := indexPermissions(old), indexPermissions(new)
	for _, p := range old.Permissions {
		n, ok := newPerm[permKey(p)]
		switch {
		case !ok:
			out = append(out, "- permission "+p.String())
		case !slices.Equal(p.Scopes, n.Scopes):
			out = append(out, "~ permission "+p.Role+" on "+p.Resource+": scopes "+scopeList(p.Scopes)+" → "+scopeList(n.Scopes))
		}
	}
	for _, p := range new.Permissions {
		if _, ok := oldPerm[permKey(p)]; !ok {
			out = append(out, "+ permission "+p.String())
		}
	}
	return out
}

func indexResources(t Table) map[string]Resource {
	m := make(map[string]Resource, len(t.Resources))
	for _, r := range t.Resources {
		m[r.Name] = r
	}
	return m
}

func indexPermissions(t Table) map[string]Permission {
	m := make(map[string]Permission, len(t.Permissions))
	for _, p := range t.Permissions {
		m[permKey(p)] = p
	}
	return m
}

func permKey(p Permission) string { return p.Role + "\x00" + p.Resource }

func describeResource(r Resource) string {
	s := r.Name + " (" + string(r.Type) + "; " + scopeList(r.Scopes)
	if len(r.URIs) > 0 {
		s += "; uris " + strings.Join(r.URIs, ", ")
	}
	return s + ")"
}

func scopeList(scopes []Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = s.String()
	}
	return strings.Join(names, ",")
}
