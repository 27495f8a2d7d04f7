package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEConfigurationTable keeps the README's table and the settings in step.
func TestREADMEConfigurationTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `(MLFLOW_GATE_[A-Z0-9_]+)` \\| `--([a-z0-9-]+)` \\| (`([^`]*)`)? *\\| (yes)? *\\|")
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		env, flagName, def, secret := m[1], m[2], m[4], m[5] == "yes"
		var s *setting
		for i := range settings {
			if settings[i].env == env {
				s = &settings[i]
			}
		}
		if s == nil {
			t.Errorf("README lists %s, which is not a setting", env)
			continue
		}
		seen[env] = true
		if s.flag != flagName || s.def != def || s.secret != secret {
			t.Errorf("README row for %s says flag %q default %q secret %v; the code says %q %q %v",
				env, flagName, def, secret, s.flag, s.def, s.secret)
		}
	}
	for _, s := range settings {
		if !seen[s.env] {
			t.Errorf("README's configuration table lacks %s", s.env)
		}
	}
}
