package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// teamRig is two replicas on one database with three users in two teams:
// alice and carol in team-a, bob in team-b, everyone also in Default, and
// resources private by default (perm default Default none).
type teamRig struct {
	env        map[string]string
	a, b       *gateProc
	alice, bob string // PATs
	carol      string
}

func newTeamRig(t *testing.T, extra ...string) *teamRig {
	t.Helper()
	db := storagetest.EmptyDatabase(t)
	envA := gateEnv(t, db)
	for i := 0; i+1 < len(extra); i += 2 {
		envA[extra[i]] = extra[i+1]
	}
	a := startGate(t, envA)
	envB := gateEnv(t, db)
	for i := 0; i+1 < len(extra); i += 2 {
		envB[extra[i]] = extra[i+1]
	}
	envB["MLFLOW_GATE_SECRET"] = envA["MLFLOW_GATE_SECRET"]
	b := startGate(t, envB)
	r := &teamRig{env: envA, a: a, b: b}
	r.must(t, "role", "add", "team-a")
	r.must(t, "role", "add", "team-b")
	for user, team := range map[string]string{"alice": "team-a", "carol": "team-a", "bob": "team-b"} {
		if out, err := cli(t, envA, browserPassword+"\n", "user", "add", user, "--password-stdin", "--roles", "Default,"+team); err != nil {
			t.Fatalf("user add %s: %v\n%s", user, err, out)
		}
	}
	r.alice, r.bob, r.carol = createPAT(t, envA, "alice"), createPAT(t, envA, "bob"), createPAT(t, envA, "carol")
	if out := r.must(t, "perm", "default", "Default", "none"); !strings.Contains(out, "role Default now has none") {
		t.Fatalf("perm default: %q", out)
	}
	return r
}

func (r *teamRig) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cli(t, r.env, "", args...)
	if err != nil {
		t.Fatalf("mlflow-gate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// do sends one request to a replica as the holder of pat.
func do(t *testing.T, g *gateProc, pat, method, path string, body any) (int, []byte) {
	t.Helper()
	h := &hostileRig{g: g}
	code, b, _ := h.call(t, pat, method, path, body)
	return code, b
}

// teamWork is what alice's script made.
type teamWork struct {
	Exp     string `json:"experiment_id"`
	Run     string `json:"run_id"`
	Trace   string `json:"trace_id"`
	Model   string `json:"model_id"`
	RM      string `json:"registered_model"`
	Version string `json:"version"`
}

// probe is one way of reading alice's work; ok tells from the answer
// whether the caller saw it.
type probe struct {
	name         string
	method, path string
	body         any
	sees         func(code int, body []byte) bool
}

func named(code int, _ []byte) bool { return code == http.StatusOK }

// listed: a search answered and its results include s.
func listed(s string) func(int, []byte) bool {
	return func(code int, body []byte) bool { return code == http.StatusOK && strings.Contains(string(body), s) }
}

func teamProbes(w teamWork, expName string) []probe {
	gqlRun := map[string]any{"query": "query GetRun($data: MlflowGetRunInput!) { mlflowGetRun(input: $data) { run { info { runId } } } }",
		"variables": map[string]any{"data": map[string]any{"runId": w.Run}}}
	gqlExp := map[string]any{"query": `query { mlflowGetExperiment(input: {experimentId: "` + w.Exp + `"}) { experiment { name } } }`}
	gqlSearch := map[string]any{"query": "mutation S($ids: [String]) { mlflowSearchRuns(input: {experimentIds: $ids}) { runs { info { runId } } } }",
		"variables": map[string]any{"ids": []string{w.Exp}}}
	var ps []probe
	for _, pre := range []string{"/api/2.0", "/ajax-api/2.0"} {
		ps = append(ps,
			probe{"experiments/get", "GET", pre + "/mlflow/experiments/get?experiment_id=" + w.Exp, nil, named},
			probe{"experiments/get-by-name", "GET", pre + "/mlflow/experiments/get-by-name?experiment_name=" + url.QueryEscape(expName), nil, named},
			probe{"experiments/search GET", "GET", pre + "/mlflow/experiments/search?max_results=1000", nil, listed(expName)},
			probe{"experiments/search POST", "POST", pre + "/mlflow/experiments/search", map[string]any{"max_results": 50, "filter": "name LIKE '" + expName + "%'"}, listed(expName)},
			probe{"runs/get", "GET", pre + "/mlflow/runs/get?run_id=" + w.Run, nil, named},
			probe{"runs/search", "POST", pre + "/mlflow/runs/search", map[string]any{"experiment_ids": []string{w.Exp}}, named},
			probe{"metrics/get-history", "GET", pre + "/mlflow/metrics/get-history?run_id=" + w.Run + "&metric_key=loss", nil, named},
			probe{"artifacts/list", "GET", pre + "/mlflow/artifacts/list?run_id=" + w.Run, nil, named},
			probe{"mlflow-artifacts list", "GET", pre + "/mlflow-artifacts/artifacts?path=" + w.Exp + "/" + w.Run + "/artifacts", nil, named},
			probe{"mlflow-artifacts download", "GET", pre + "/mlflow-artifacts/artifacts/" + w.Exp + "/" + w.Run + "/artifacts/notes.txt", nil, named},
			probe{"logged-models/get", "GET", pre + "/mlflow/logged-models/" + w.Model, nil, named},
			probe{"logged-models/search", "POST", pre + "/mlflow/logged-models/search", map[string]any{"experiment_ids": []string{w.Exp}}, named},
			probe{"registered-models/get", "GET", pre + "/mlflow/registered-models/get?name=" + url.QueryEscape(w.RM), nil, named},
			probe{"registered-models/search", "GET", pre + "/mlflow/registered-models/search?max_results=100", nil, listed(w.RM)},
			probe{"model-versions/search", "GET", pre + "/mlflow/model-versions/search?filter=" + url.QueryEscape("name='"+w.RM+"'"), nil, listed(w.RM)},
			probe{"model-versions/get-download-uri", "GET", pre + "/mlflow/model-versions/get-download-uri?name=" + url.QueryEscape(w.RM) + "&version=" + w.Version, nil, named},
		)
	}
	for _, pre := range []string{"/api/3.0", "/ajax-api/3.0"} {
		ps = append(ps,
			probe{"traces/get", "GET", pre + "/mlflow/traces/" + w.Trace, nil, named},
			probe{"traces/search", "POST", pre + "/mlflow/traces/search", map[string]any{"locations": []any{map[string]any{"type": "MLFLOW_EXPERIMENT",
				"mlflow_experiment": map[string]string{"experiment_id": w.Exp}}}}, named},
		)
	}
	ps = append(ps,
		probe{"get-artifact", "GET", "/get-artifact?path=notes.txt&run_uuid=" + w.Run, nil, named},
		probe{"model-versions/get-artifact", "GET", "/model-versions/get-artifact?path=MLmodel&name=" + url.QueryEscape(w.RM) + "&version=" + w.Version, nil,
			func(code int, _ []byte) bool { return code != http.StatusForbidden }},
		probe{"traces v2 list", "GET", "/api/2.0/mlflow/traces?experiment_ids=" + w.Exp, nil, named},
		probe{"graphql mlflowGetRun", "POST", "/graphql", gqlRun, listed(w.Run)},
		probe{"graphql mlflowGetExperiment", "POST", "/graphql", gqlExp, listed(expName)},
		probe{"graphql mlflowSearchRuns", "POST", "/graphql", gqlSearch, listed(w.Run)},
	)
	return ps
}

// seesAll waits (up to a second: the change feed's goal) until every probe
// through g as pat agrees with want, and fails naming the probes that do not.
func seesAll(t *testing.T, what string, g *gateProc, pat string, probes []probe, want bool) {
	t.Helper()
	start := time.Now()
	for {
		var wrong []string
		for _, p := range probes {
			code, body := do(t, g, pat, p.method, p.path, p.body)
			if p.sees(code, body) != want {
				wrong = append(wrong, p.name+" "+p.path+" → "+http.StatusText(code)+" "+string(body[:min(len(body), 200)]))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Since(start) > time.Second {
			t.Fatalf("%s (want sees=%v), after %v:\n  %s", what, want, time.Since(start).Round(time.Millisecond), strings.Join(wrong, "\n  "))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestTeamsSeeOnlyTheirOwn: with private-by-default on, alice's experiment,
// run, metrics, artifacts, trace, logged model and registered model, made
// with the stock client, are hers (ownership from MLflow's answers) and
// invisible to bob and to carol by every route and prefix, on the other
// replica too; a grant to team-a shows them to carol within a second there,
// never to bob, and revoking it hides them again.
func TestTeamsSeeOnlyTheirOwn(t *testing.T) {
	r := newTeamRig(t)
	prefix := "team-" + randomSecret()[:8]
	expName := prefix + "-exp"
	out, err := python(t, map[string]string{"MLFLOW_TRACKING_URI": r.a.URL, "MLFLOW_TRACKING_TOKEN": r.alice,
		"GATE_PREFIX": prefix, "MODE": "create", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}, "mlflow_team.py")
	if err != nil {
		t.Fatalf("alice's work with the stock client: %v\n%s", err, out)
	}
	var w teamWork
	if err := json.Unmarshal([]byte(out), &w); err != nil || w.Exp == "" || w.Run == "" || w.Trace == "" || w.Model == "" || w.RM == "" {
		t.Fatalf("script output %q: %v", out, err)
	}
	probes := teamProbes(w, expName)

	seesAll(t, "alice on the other replica", r.b, r.alice, probes, true)
	seesAll(t, "bob", r.b, r.bob, probes, false)
	seesAll(t, "carol before any grant", r.b, r.carol, probes, false)
	// Through the stock client too: searches page through the gate's tokens.
	look := func(pat string) map[string]any {
		t.Helper()
		out, err := python(t, map[string]string{"MLFLOW_TRACKING_URI": r.b.URL, "MLFLOW_TRACKING_TOKEN": pat,
			"GATE_PREFIX": prefix, "MODE": "look", "RUN_ID": w.Run, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}, "mlflow_team.py")
		if err != nil {
			t.Fatalf("look: %v\n%s", err, out)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("look output %q: %v", out, err)
		}
		return v
	}
	if v := look(r.bob); len(v["experiments"].([]any)) != 0 || len(v["registered_models"].([]any)) != 0 || v["get_run"] != "PERMISSION_DENIED" {
		t.Fatalf("bob through the stock client: %v", v)
	}
	if v := look(r.alice); len(v["experiments"].([]any)) != 1 || len(v["registered_models"].([]any)) != 1 || v["get_run"] != "ok" {
		t.Fatalf("alice through the stock client: %v", v)
	}

	// Owners are recorded, and the CLI says who may act and why.
	if out := r.must(t, "perm", "who-can", "--name", expName, "experiment", w.Exp); !strings.Contains(out, "alice") || !strings.Contains(out, "manage") ||
		strings.Contains(out, "bob") || strings.Contains(out, "carol") {
		t.Fatalf("who-can before the grant:\n%s", out)
	}
	// A deny is an answer, with exit status 1.
	if out, err := cli(t, r.env, "", "authz", "explain", "--user", "bob", "GET", "/api/2.0/mlflow/experiments/get?experiment_id="+w.Exp); !strings.HasPrefix(out, "DENY") ||
		!strings.Contains(out, "level none") || err == nil {
		t.Fatalf("explain for bob (%v):\n%s", err, out)
	}

	r.must(t, "perm", "grant", "--role", "team-a", "--pattern", "experiment", prefix+"-*", "read")
	r.must(t, "perm", "grant", "--role", "team-a", "registered-model", w.RM, "read")
	seesAll(t, "carol after the grant to team-a", r.b, r.carol, probes, true)
	seesAll(t, "bob after the grant to team-a", r.b, r.bob, probes, false)
	// Read is not write.
	if code, _ := do(t, r.b, r.carol, "POST", "/api/2.0/mlflow/runs/log-metric", map[string]any{"run_id": w.Run, "key": "loss", "value": 9,
		"timestamp": time.Now().UnixMilli()}); code != http.StatusForbidden {
		t.Fatalf("carol writing with read: %d", code)
	}
	if out := r.must(t, "perm", "list", "--role", "team-a"); !strings.Contains(out, prefix+"-*") || !strings.Contains(out, w.RM) {
		t.Fatalf("perm list --role team-a:\n%s", out)
	}

	r.must(t, "perm", "revoke", "--role", "team-a", "--pattern", "experiment", prefix+"-*")
	r.must(t, "perm", "revoke", "--role", "team-a", "registered-model", w.RM)
	seesAll(t, "carol after the revoke", r.b, r.carol, probes, false)
	if _, err := cli(t, r.env, "", "perm", "revoke", "--role", "team-a", "registered-model", w.RM); err == nil {
		t.Fatal("revoking a grant that is gone succeeded")
	}
}

// TestFilteredSearchPages: a filtered search refills each page to
// max_results from MLflow's later pages, its page tokens walk the whole
// set exactly once, and a token is good only for its own caller and search.
func TestFilteredSearchPages(t *testing.T) {
	r := newTeamRig(t)
	prefix := "pages-" + randomSecret()[:8]
	var mine []string
	for i := range 9 {
		pat, who := r.alice, "alice"
		if i%3 == 0 {
			pat, who = r.bob, "bob"
		}
		name := prefix + "-" + who + "-" + string(rune('a'+i))
		if code, b := do(t, r.a, pat, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": name}); code != http.StatusOK {
			t.Fatalf("create %s: %d %s", name, code, b)
		}
		if who == "bob" {
			mine = append(mine, name)
		}
	}
	search := func(pat, token string) (names []string, next string, code int, body []byte) {
		t.Helper()
		q := url.Values{"max_results": {"2"}, "filter": {"name LIKE '" + prefix + "%'"}, "order_by": {"name ASC"}}
		if token != "" {
			q.Set("page_token", token)
		}
		code, body = do(t, r.b, pat, "GET", "/api/2.0/mlflow/experiments/search?"+q.Encode(), nil)
		var page struct {
			Experiments []struct{ Name string }
			Next        string `json:"next_page_token"`
		}
		_ = json.Unmarshal(body, &page)
		for _, e := range page.Experiments {
			names = append(names, e.Name)
		}
		return names, page.Next, code, body
	}
	var seen []string
	token, first := "", ""
	for pages := 0; ; pages++ {
		names, next, code, body := search(r.bob, token)
		if code != http.StatusOK || pages > 10 {
			t.Fatalf("page %d: %d %s", pages, code, body)
		}
		if next != "" && len(names) != 2 {
			t.Fatalf("page %d has %d results and a next token: pages are refilled to max_results", pages, len(names))
		}
		seen = append(seen, names...)
		if pages == 0 {
			first = next
		}
		if token = next; token == "" {
			break
		}
	}
	if !slices.Equal(seen, mine) {
		t.Fatalf("bob's pages: %v, want %v", seen, mine)
	}
	// The token is bob's, for this search only, and cannot be altered.
	if _, _, code, _ := search(r.alice, first); code != http.StatusBadRequest {
		t.Fatalf("alice using bob's page token: %d", code)
	}
	forged := []byte(first)
	forged[3] ^= 1
	if _, _, code, body := search(r.bob, string(forged)); code != http.StatusBadRequest || !strings.Contains(string(body), "page_token") {
		t.Fatalf("a forged token: %d %s", code, body)
	}
	if code, body := do(t, r.b, r.bob, "GET", "/api/2.0/mlflow/experiments/search?max_results=2&page_token="+url.QueryEscape(first), nil); code != http.StatusBadRequest {
		t.Fatalf("the token with another filter: %d %s", code, body)
	}
}

// TestOwnRunsOnly: with MLFLOW_GATE_OWN_RUNS_ONLY, carol, who may write in
// alice's experiment through team-a, logs into her own runs there but not
// into alice's; alice, who manages the experiment, may touch carol's.
func TestOwnRunsOnly(t *testing.T) {
	r := newTeamRig(t, "MLFLOW_GATE_OWN_RUNS_ONLY", "true")
	name := "own-" + randomSecret()[:8]
	var exp struct {
		ID string `json:"experiment_id"`
	}
	code, b := do(t, r.a, r.alice, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": name})
	if code != http.StatusOK || json.Unmarshal(b, &exp) != nil {
		t.Fatalf("create: %d %s", code, b)
	}
	r.must(t, "perm", "grant", "--role", "team-a", "experiment", exp.ID, "write")
	newRun := func(pat string) string {
		t.Helper()
		for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
			code, b := do(t, r.b, pat, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp.ID})
			var out struct {
				Run struct {
					Info struct {
						RunID string `json:"run_id"`
					}
				}
			}
			if code == http.StatusOK && json.Unmarshal(b, &out) == nil {
				return out.Run.Info.RunID
			}
			if time.Since(start) > time.Second {
				t.Fatalf("runs/create: %d %s", code, b)
			}
		}
	}
	alices, carols := newRun(r.alice), newRun(r.carol)
	logTo := func(pat, run string) (int, string) {
		code, b := do(t, r.b, pat, "POST", "/api/2.0/mlflow/runs/log-metric", map[string]any{"run_id": run, "key": "m", "value": 1, "timestamp": time.Now().UnixMilli()})
		return code, string(b)
	}
	if code, b := logTo(r.carol, carols); code != http.StatusOK {
		t.Fatalf("carol into her own run: %d %s", code, b)
	}
	if code, b := logTo(r.carol, alices); code != http.StatusForbidden || !strings.Contains(b, "only your own runs") {
		t.Fatalf("carol into alice's run: %d %s", code, b)
	}
	if code, b := do(t, r.b, r.carol, "POST", "/api/2.0/mlflow/runs/delete", map[string]any{"run_id": alices}); code != http.StatusForbidden {
		t.Fatalf("carol deleting alice's run: %d %s", code, b)
	}
	if code, b := logTo(r.alice, carols); code != http.StatusOK {
		t.Fatalf("alice (manage) into carol's run: %d %s", code, b)
	}
	// Reading stays shared.
	if code, b := do(t, r.b, r.carol, "GET", "/api/2.0/mlflow/runs/get?run_id="+alices, nil); code != http.StatusOK {
		t.Fatalf("carol reading alice's run: %d %s", code, b)
	}
}
