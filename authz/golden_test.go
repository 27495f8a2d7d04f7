package authz

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./authz -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the compiled result; review the change and rerun with -update.\n%s",
			path, firstDiff(want, got))
	}
}

func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return fmt.Sprintf("line %d:\n-%s\n+%s", i+1, w, g)
		}
	}
	return ""
}

// TestRoutesGolden pins the compiled route table: one line per method and pattern
// with its type, scope and id locations, so a review sees every change to it.
func TestRoutesGolden(t *testing.T) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# %d routes: METHOD pattern -> type scope ids=kind@where:key repeat=keys proto param-first\n", len(Routes()))
	for i := range Routes() {
		buf.WriteString(Routes()[i].String())
		buf.WriteByte('\n')
	}
	checkGolden(t, "routes.golden", buf.Bytes())
}

// TestDefaultTableGolden pins the seed table in its YAML form.
func TestDefaultTableGolden(t *testing.T) {
	b, err := MarshalTableYAML(DefaultTable())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "default_table.yaml", b)
}
