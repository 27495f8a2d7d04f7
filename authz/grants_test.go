package authz

import (
	"strings"
	"testing"
)

func exp(id, name string) ResourceRef { return ResourceRef{Kind: GrantExperiment, ID: id, Name: name} }

func mustGrants(t testing.TB, gs []Grant, defaults map[string]Level) *GrantSet {
	t.Helper()
	s, err := CompileGrants(gs, defaults)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGrantPrecedence(t *testing.T) {
	s := mustGrants(t, []Grant{
		{Kind: GrantExperiment, Role: "TeamA", Pattern: "team-a/*", Level: LevelWrite},
		{Kind: GrantExperiment, Role: "TeamB", Pattern: "team-b/*", Level: LevelWrite},
		{Kind: GrantExperiment, Role: "TeamB", Resource: "7", Level: LevelRead},
		{Kind: GrantExperiment, Role: "Leads", Pattern: "re:team-(a|b)/.*", Level: LevelManage},
		{Kind: GrantExperiment, User: "mallory", Resource: "team-a/secret", Level: LevelNone},
		{Kind: GrantExperiment, User: "bob", Pattern: "team-a/shared-*", Level: LevelRead},
		{Kind: GrantExperiment, User: "bob", Resource: "12", Level: LevelDelete},
		{Kind: GrantRegisteredModel, Role: "TeamA", Resource: "team-a/secret", Level: LevelManage},
	}, map[string]Level{"Default": LevelWrite, "Private": LevelNone})
	for _, c := range []struct {
		name  string
		user  string
		roles []string
		t     ResourceRef
		level Level
		step  Step
	}{
		{"role pattern", "alice", []string{"TeamA"}, exp("1", "team-a/churn"), LevelWrite, StepRole},
		{"other team's pattern does not match", "alice", []string{"TeamA", "Private"}, exp("2", "team-b/x"), LevelNone, StepDefault},
		{"role exact by id", "carol", []string{"TeamB", "Private"}, exp("7", "misc"), LevelRead, StepRole},
		{"highest role grant wins", "dan", []string{"TeamA", "Leads"}, exp("1", "team-a/churn"), LevelManage, StepRole},
		{"regexp is anchored", "dan", []string{"Leads", "Private"}, exp("3", "x-team-a/y"), LevelNone, StepDefault},
		{"user none beats roles", "mallory", []string{"TeamA", "Leads"}, exp("4", "team-a/secret"), LevelNone, StepUser},
		{"user none is only for that name", "mallory", []string{"TeamA"}, exp("5", "team-a/other"), LevelWrite, StepRole},
		{"user pattern beats roles", "bob", []string{"Leads"}, exp("6", "team-a/shared-eval"), LevelRead, StepUserPattern},
		{"user exact beats user pattern", "bob", []string{}, exp("12", "team-a/shared-12"), LevelDelete, StepUser},
		{"default: highest of the roles", "erin", []string{"Private", "Default"}, exp("9", "anything"), LevelWrite, StepDefault},
		{"no role, no grant: nothing", "frank", nil, exp("9", "anything"), LevelUnset, StepNothing},
		{"kinds are separate", "alice", []string{"TeamA"}, ResourceRef{Kind: GrantRegisteredModel, Name: "team-a/churn"}, LevelUnset, StepNothing},
		{"registered model exact by name", "alice", []string{"TeamA"}, ResourceRef{Kind: GrantRegisteredModel, Name: "team-a/secret"}, LevelManage, StepRole},
		{"name unknown: patterns cannot match", "alice", []string{"TeamA"}, exp("1", ""), LevelUnset, StepNothing},
	} {
		l, step, g := s.LevelOf(c.user, c.roles, c.t)
		if l != c.level || step != c.step {
			t.Errorf("%s: %s at step %d (grant %d), want %s at step %d", c.name, l, step, g, c.level, c.step)
		}
		if (step == StepUser || step == StepUserPattern || step == StepRole) != (g >= 0) {
			t.Errorf("%s: grant index %d at step %d", c.name, g, step)
		}
	}
}

func TestLevelAllowsScopes(t *testing.T) {
	for _, c := range []struct {
		l      Level
		allows []Scope
		denies []Scope
	}{
		{LevelNone, nil, []Scope{ScopeRead, ScopeUse}},
		{LevelRead, []Scope{ScopeRead, ScopeUse}, []Scope{ScopeWrite}},
		{LevelWrite, []Scope{ScopeRead, ScopeWrite}, []Scope{ScopeDelete, ScopeManage}},
		{LevelDelete, []Scope{ScopeDelete}, []Scope{ScopeManage}},
		{LevelManage, []Scope{ScopeRead, ScopeWrite, ScopeDelete, ScopeManage, ScopeUse}, nil},
	} {
		for _, sc := range c.allows {
			if !c.l.Allows(sc) {
				t.Errorf("%s does not allow %s", c.l, sc)
			}
		}
		for _, sc := range c.denies {
			if c.l.Allows(sc) {
				t.Errorf("%s allows %s", c.l, sc)
			}
		}
	}
}

func TestCompileGrantsRefusesBadGrants(t *testing.T) {
	for name, g := range map[string]Grant{
		"no principal":       {Kind: GrantExperiment, Resource: "1", Level: LevelRead},
		"both principals":    {Kind: GrantExperiment, User: "a", Role: "B", Resource: "1", Level: LevelRead},
		"no resource":        {Kind: GrantExperiment, User: "a", Level: LevelRead},
		"no kind":            {User: "a", Resource: "1", Level: LevelRead},
		"no level":           {Kind: GrantExperiment, User: "a", Resource: "1"},
		"role none":          {Kind: GrantExperiment, Role: "B", Resource: "1", Level: LevelNone},
		"bad regexp":         {Kind: GrantExperiment, Role: "B", Pattern: "re:(", Level: LevelRead},
		"complex regexp":     {Kind: GrantExperiment, Role: "B", Pattern: "re:" + strings.Repeat("(a|b)", 40), Level: LevelRead},
		"huge repeat":        {Kind: GrantExperiment, Role: "B", Pattern: "re:a{1000}", Level: LevelRead},
		"long pattern":       {Kind: GrantExperiment, Role: "B", Pattern: strings.Repeat("a", 201), Level: LevelRead},
		"resource and glob":  {Kind: GrantExperiment, Role: "B", Resource: "1", Pattern: "x*", Level: LevelRead},
		"level out of range": {Kind: GrantExperiment, Role: "B", Resource: "1", Level: Level(9)},
	} {
		if _, err := CompileGrants([]Grant{g}, nil); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
	dup := []Grant{{Kind: GrantExperiment, Role: "B", Resource: "1", Level: LevelRead}, {Kind: GrantExperiment, Role: "B", Resource: "1", Level: LevelWrite}}
	if _, err := CompileGrants(dup, nil); err == nil {
		t.Error("two grants on one resource for one role compiled")
	}
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		glob, name string
		want       bool
	}{
		{"*", "", true}, {"*", "anything/at all", true}, {"a*", "abc", true}, {"a*", "ba", false},
		{"team-?/x", "team-a/x", true}, {"team-?/x", "team-ab/x", false}, {"*-prod", "churn-prod", true},
		{"*-prod", "churn-prod-2", false}, {"a*b*c", "a-b-b-c", true}, {"a*b*c", "a-c-b", false}, {"", "", true}, {"", "x", false},
	} {
		if got := globMatch(c.glob, c.name); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.glob, c.name, got)
		}
	}
}

func FuzzGlobMatch(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Fuzz(func(t *testing.T, glob, name string) {
		_ = globMatch(glob, name) // must terminate without panicking
		if !strings.ContainsAny(glob, "*?") && globMatch(glob, name) != (glob == name) {
			t.Fatalf("a glob without wildcards matched differently from equality: %q %q", glob, name)
		}
	})
}

// BenchmarkLevelOf: the resource decision on a known id, with a realistic
// set of grants (the budget is 2 µs and no allocation).
func BenchmarkLevelOf(b *testing.B) {
	var gs []Grant
	for i := range 500 {
		gs = append(gs, Grant{Kind: GrantExperiment, Role: "Team" + string(rune('A'+i%20)), Resource: "exp-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)), Level: LevelWrite})
	}
	gs = append(gs, Grant{Kind: GrantExperiment, Role: "TeamA", Pattern: "team-a/*", Level: LevelWrite},
		Grant{Kind: GrantExperiment, Role: "TeamB", Pattern: "re:team-b/[a-z-]+", Level: LevelRead},
		Grant{Kind: GrantExperiment, User: "alice", Pattern: "shared-*", Level: LevelRead})
	s := mustGrants(b, gs, map[string]Level{"Default": LevelNone})
	roles := []string{"Default", "TeamA", "TeamB"}
	ref := exp("123456789", "team-b/churn-model")
	b.ReportAllocs()
	for b.Loop() {
		if l, _, _ := s.LevelOf("alice", roles, ref); l != LevelRead {
			b.Fatal(l)
		}
	}
}

func TestUniformSkipsLookupsOnlyWhenNoGrantNamesTheCaller(t *testing.T) {
	s := mustGrants(t, []Grant{
		{Kind: GrantExperiment, Role: "TeamA", Pattern: "team-a/*", Level: LevelWrite},
		{Kind: GrantRegisteredModel, User: "bob", Resource: "m", Level: LevelNone},
	}, map[string]Level{"Default": LevelWrite, "Private": LevelNone})
	for _, c := range []struct {
		user    string
		roles   []string
		kind    GrantKind
		level   Level
		uniform bool
	}{
		{"alice", []string{"Default"}, GrantExperiment, LevelWrite, true},
		{"alice", []string{"Private"}, GrantExperiment, LevelNone, true},
		{"alice", []string{"Default", "TeamA"}, GrantExperiment, LevelUnset, false},
		{"alice", []string{"TeamA"}, GrantRegisteredModel, LevelUnset, true},
		{"bob", []string{"Default"}, GrantRegisteredModel, LevelUnset, false},
		{"bob", []string{"Default"}, GrantExperiment, LevelWrite, true},
	} {
		l, ok := s.Uniform(c.user, c.roles, c.kind)
		if ok != c.uniform || (ok && l != c.level) {
			t.Errorf("%s %v on %s: %s %v, want %s %v", c.user, c.roles, c.kind, l, ok, c.level, c.uniform)
		}
		// Where it says uniform, LevelOf agrees on any resource.
		if ok {
			for _, name := range []string{"team-a/x", "m", "other"} {
				if got, _, _ := s.LevelOf(c.user, c.roles, ResourceRef{Kind: c.kind, ID: "1", Name: name}); got != l {
					t.Errorf("%s on %s %s: Uniform says %s, LevelOf %s", c.user, c.kind, name, l, got)
				}
			}
		}
	}
}

func BenchmarkUniform(b *testing.B) {
	s := mustGrants(b, []Grant{{Kind: GrantExperiment, Role: "TeamA", Pattern: "team-a/*", Level: LevelWrite}},
		map[string]Level{"Default": LevelWrite})
	roles := []string{"Default"}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Uniform("alice", roles, GrantExperiment); !ok {
			b.Fatal("not uniform")
		}
	}
}
