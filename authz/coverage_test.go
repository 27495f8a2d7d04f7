package authz

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// mlflowSurface is what testdata/mlflow_routes.py prints.
type mlflowSurface struct {
	Version string `json:"mlflow_version"`
	Routes  []struct {
		Method, Path, Source string
	} `json:"routes"`
	Proto []struct {
		Method, Path, Message string
		Fields, Repeated      []string
	} `json:"proto"`
}

// loadMLflowSurface runs the route dump with the rig's MLflow. The coverage guarantee
// is the point of this test, so a missing interpreter fails it instead of skipping.
func loadMLflowSurface(t *testing.T) *mlflowSurface {
	t.Helper()
	surfaceMu.Lock()
	defer surfaceMu.Unlock()
	if surfaceCache == nil {
		surfaceCache = runRouteDump(t)
	}
	return surfaceCache
}

var (
	surfaceMu    sync.Mutex
	surfaceCache *mlflowSurface
)

func runRouteDump(t *testing.T) *mlflowSurface {
	t.Helper()
	py := os.Getenv("MLFLOW_GATE_TEST_PYTHON")
	if py == "" {
		t.Fatal("MLFLOW_GATE_TEST_PYTHON is not set: run it through scripts/test (which starts the rig " +
			"and points it at the pinned MLflow's venv), or set it to that venv's python")
	}
	cmd := exec.Command(py, "testdata/mlflow_routes.py")
	cmd.Env = append(os.Environ(), "PYTHONWARNINGS=ignore")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s testdata/mlflow_routes.py: %v\n%s", py, err, stderr.String())
	}
	var s mlflowSurface
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("route dump: %v", err)
	}
	if len(s.Routes) == 0 {
		t.Fatal("route dump listed no routes")
	}
	return &s
}

var (
	mlflowPathParam = regexp.MustCompile(`\{\w+:path\}`)
	mlflowParam     = regexp.MustCompile(`\{\w+\}`)
	gateMultiParam  = regexp.MustCompile(`\{\w+\.\.\.\}`)
)

// canonMLflow and canonGate write both syntaxes as "{}" and "{*}" so names may differ.
func canonMLflow(path string) string {
	return mlflowParam.ReplaceAllString(mlflowPathParam.ReplaceAllString(path, "{*}"), "{}")
}

func canonGate(path string) string {
	return mlflowParam.ReplaceAllString(gateMultiParam.ReplaceAllString(path, "{*}"), "{}")
}

func TestCoverageAgainstMLflow(t *testing.T) {
	s := loadMLflowSurface(t)
	t.Logf("MLflow %s: %d routes", s.Version, len(s.Routes))

	theirs := map[string]string{}
	for _, r := range s.Routes {
		theirs[r.Method+" "+canonMLflow(r.Path)] = r.Source + " " + r.Method + " " + r.Path
	}
	ours := map[string]string{}
	for i := range Routes() {
		rt := &Routes()[i]
		ours[rt.Method+" "+canonGate(rt.Pattern)] = rt.Key()
	}
	var missing, extra []string
	for k, v := range theirs {
		if _, ok := ours[k]; !ok {
			missing = append(missing, v)
		}
	}
	for k, v := range ours {
		if _, ok := theirs[k]; !ok {
			extra = append(extra, v)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	for _, m := range missing {
		t.Errorf("MLflow serves %s; the gate's table lacks it", m)
	}
	for _, e := range extra {
		t.Errorf("the gate's table has %s; MLflow does not serve it", e)
	}
}

// TestProtoRoutesAgainstMLflow checks what the table says about proto endpoints
// against their request messages: the Proto flag, the query keys that may repeat
// (exactly the repeated fields, for GET) and that every query or body id names a field.
func TestProtoRoutesAgainstMLflow(t *testing.T) {
	s := loadMLflowSurface(t)
	for _, pe := range s.Proto {
		m, ok := MatchRoute(pe.Method, strings.NewReplacer("{", "x", "}", "x", ":path", "").Replace(pe.Path))
		if !ok || canonGate(m.Route.Pattern) != canonMLflow(pe.Path) {
			t.Errorf("%s %s (%s): no table entry", pe.Method, pe.Path, pe.Message)
			continue
		}
		rt := m.Route
		if !rt.Proto {
			t.Errorf("%s: MLflow reads it as %s, the table says not proto", rt.Key(), pe.Message)
		}
		if pe.Method == "GET" {
			want, got := slices.Clone(pe.Repeated), slices.Clone(rt.Repeat)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(want, got) {
				t.Errorf("%s: repeatable query keys %v, %s's repeated fields are %v", rt.Key(), got, pe.Message, want)
			}
		}
		for _, id := range rt.IDs {
			if id.In != InQuery && id.In != InBody {
				continue
			}
			for _, key := range []string{id.Key, id.Alt} {
				top, _, _ := strings.Cut(strings.TrimSuffix(key, "[]"), ".")
				top = strings.TrimSuffix(top, "[]")
				if key != "" && !slices.Contains(pe.Fields, top) {
					t.Errorf("%s: id %s: %s has no field %q", rt.Key(), id, pe.Message, top)
				}
			}
		}
	}
}
