package artifacts

import (
	"errors"
	"strings"
	"testing"
)

func TestParseKeepsPathsInsideTheirExperiment(t *testing.T) {
	run := "0123456789abcdef0123456789abcdef"
	good := []struct {
		path       string
		file       bool
		root, rel  string
		experiment string
	}{
		{"1/" + run + "/artifacts", false, "1/" + run + "/artifacts", "", "1"},
		{"1/" + run + "/artifacts/model/MLmodel", true, "1/" + run + "/artifacts", "model/MLmodel", "1"},
		{"12/models/m-abc/artifacts/model.pkl", true, "12/models/m-abc/artifacts", "model.pkl", "12"},
		{"3/traces/tr-1/artifacts/traces.json", true, "3/traces/tr-1/artifacts", "traces.json", "3"},
		{"1/" + run + "/artifacts/a b ü.txt", true, "1/" + run + "/artifacts", "a b ü.txt", "1"},
		{"1/" + run + "/artifacts/...", true, "1/" + run + "/artifacts", "...", "1"},
	}
	for _, g := range good {
		p, err := Parse(g.path, g.file)
		if err != nil {
			t.Errorf("%q: %v", g.path, err)
			continue
		}
		if p.Root != g.root || p.Rel != g.rel || p.Experiment != g.experiment || p.String() != g.path {
			t.Errorf("%q: got %+v", g.path, p)
		}
		if k := Key("artifacts", p); k != "artifacts/"+g.path {
			t.Errorf("%q: key %q", g.path, k)
		}
	}
	bad := []struct {
		path string
		file bool
	}{
		{"", false}, {"/", false}, {".", false}, {"1", false}, {"1/", false}, {"10", false},
		{"1/" + run, false}, {"1/" + run + "/other/x", true},
		{"1/" + run + "/artifacts", true}, // a folder where a file is needed: never delete a root
		{"/1/" + run + "/artifacts/x", true}, {"1/" + run + "/artifacts/x/", true}, {"1//" + run + "/artifacts/x", true},
		{"1/" + run + "/artifacts/../x", true}, {"1/" + run + "/artifacts/./x", true}, {"1/" + run + "/artifacts/..", true},
		{"1/" + run + "/artifacts/a\\..\\b", true}, {"1/" + run + "/artifacts/a\x00b", true}, {"1/" + run + "/artifacts/a\nb", true},
		{"workspaces/w/1/" + run + "/artifacts/x", true}, {"skills/s/0123/x", true}, {"1x/" + run + "/artifacts/x", true},
		{"1/models/m/x", true}, {"1/models/artifacts", false},
		{"1/" + run + "/artifacts/" + strings.Repeat("a", MaxKey), true},
		{"1/" + run + "/artifacts/\xff", true},
	}
	for _, b := range bad {
		if p, err := Parse(b.path, b.file); !errors.Is(err, ErrBadPath) {
			t.Errorf("%q (file %v): accepted as %+v", b.path, b.file, p)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("1/0123456789abcdef0123456789abcdef/artifacts/a.txt", true)
	f.Add("1/models/m/artifacts/../../2", false)
	f.Fuzz(func(t *testing.T, path string, file bool) {
		p, err := Parse(path, file)
		if err != nil {
			return
		}
		// Whatever is accepted stays below its experiment and its root.
		s := p.String()
		if s != path || !strings.HasPrefix(s, p.Experiment+"/") || !strings.HasPrefix(s, p.Root) ||
			strings.Contains("/"+s+"/", "/../") || strings.Contains("/"+s+"/", "/./") || strings.Contains(s, "//") {
			t.Fatalf("%q accepted as %+v", path, p)
		}
	})
}
