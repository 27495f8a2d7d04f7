package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// walkValue is the fixture an id of kind k names.
func walkValue(f *walkFixtures, model string, k authz.IDKind) string {
	switch k {
	case authz.IDExperiment:
		return f.exp
	case authz.IDExperimentName:
		return "walk-" + f.suffix
	case authz.IDRun:
		return f.run
	case authz.IDRegisteredModel:
		return f.model
	case authz.IDModelVersion:
		return "1"
	case authz.IDLoggedModel:
		return model
	case authz.IDTrace:
		return f.trace
	case authz.IDArtifactPath:
		return f.artifactDir + "/" + f.artifact
	case authz.IDDataset:
		return f.dataset
	case authz.IDIssue:
		return f.issue
	}
	return "walk"
}

// setJSON puts v at a route's JSON body path ("a.b[].c").
func setJSON(m map[string]any, path, v string) {
	name, rest, more := strings.Cut(path, ".")
	name, list := strings.CutSuffix(name, "[]")
	switch {
	case !more && list:
		m[name] = []any{v}
	case !more:
		m[name] = v
	case list:
		child := map[string]any{}
		m[name] = []any{child}
		setJSON(child, rest, v)
	default:
		child, _ := m[name].(map[string]any)
		if child == nil {
			child = map[string]any{}
			m[name] = child
		}
		setJSON(child, rest, v)
	}
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)(\.\.\.)?\}`)

// TestResourceWalkRefusesEveryRoute walks the whole route table as a user
// whose role the permission table lets do everything but who holds no
// resource grant, with resources private by default: every route that
// touches an experiment, a registered model or a gateway endpoint of
// someone else is refused by the resource permissions (not the table), and
// every search answers without them. Creates are the exception: making a
// new resource needs no grant.
func TestResourceWalkRefusesEveryRoute(t *testing.T) {
	h := newHostileRig(t, nil)
	f := makeWalkFixtures(t)
	model := str(mlflowMust(t, "POST", "/api/2.0/mlflow/logged-models", map[string]any{"experiment_id": f.exp}), "model", "info", "model_id")

	// Role Everything holds every scope of the permission table.
	tbl := authz.DefaultTable()
	for _, r := range tbl.Resources {
		tbl.Permissions = append(tbl.Permissions, authz.Permission{Role: "Everything", Resource: r.Name, Scopes: r.Scopes})
	}
	b, err := authz.MarshalTableYAML(tbl)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "table.yaml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"role", "add", "Everything"}, {"authz", "import", file}, {"perm", "default", "Default", "none"}} {
		if out, err := cli(t, h.env, "", args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if out, err := cli(t, h.env, browserPassword+"\n", "user", "add", "mallory", "--password-stdin", "--roles", "Everything"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	mallory := createPAT(t, h.env, "mallory")

	checked := 0
	for _, rt := range authz.Routes() {
		if rt.GrantKind() == 0 || !strings.HasPrefix(rt.Pattern, "/") || rt.Kind.Creates() {
			continue
		}
		values := map[string]string{}
		body := map[string]any{}
		query := []string{}
		hdr := []string{}
		for _, id := range rt.IDs {
			v := walkValue(f, model, id.Kind)
			switch id.In {
			case authz.InPath:
				values[id.Key] = v
			case authz.InQuery:
				query = append(query, id.Key+"="+v)
			case authz.InBody:
				setJSON(body, id.Key, v)
			case authz.InHeader:
				hdr = append(hdr, id.Key, v)
			}
		}
		path := pathParam.ReplaceAllStringFunc(rt.Pattern, func(m string) string {
			name := pathParam.FindStringSubmatch(m)[1]
			if v, ok := values[name]; ok {
				return v
			}
			return "walk"
		})
		if len(query) > 0 {
			path += "?" + strings.Join(query, "&")
		}
		var send any
		if rt.Method != "GET" && rt.Method != "HEAD" {
			send = body
		}
		code, answer, _ := h.call(t, mallory, rt.Method, path, send, hdr...)
		text := string(answer)
		checked++
		if rt.Kind.Searches() {
			if code != http.StatusOK || strings.Contains(text, `"`+f.exp+`"`) || strings.Contains(text, f.model) {
				t.Errorf("%s: a search answers %d %.300s: it must answer without the fixtures", rt.Key(), code, text)
			}
			continue
		}
		var e struct{ Message string }
		_ = json.Unmarshal(answer, &e)
		byGrants := strings.Contains(e.Message, "needs a grant") || strings.Contains(e.Message, "does not name the") ||
			strings.Contains(e.Message, "does not exist or cannot be checked")
		if code != http.StatusForbidden || !byGrants {
			t.Errorf("%s (%s): %d %.300s; want the resource permissions' 403", rt.Key(), path, code, text)
		}
	}
	if checked < 150 {
		t.Fatalf("walked only %d routes", checked)
	}
	t.Logf("%d routes refused or filtered", checked)
}
