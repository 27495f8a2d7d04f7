package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// The end-to-end proof that scope follows effect: every route of the table whose
// body can make a write delete, overwrite or relocate data (Route.Effects), and every
// route the proxy looks behind before writing (Route.Kind), is sent as a Default user
// with a body that would trigger it against real fixtures; each is refused, and
// MLflow's data, read straight from MLflow, is the same afterwards.

// mlflowDirect sends one request to MLflow itself, without the gate.
func mlflowDirect(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, need(t, "MLFLOW_GATE_TEST_MLFLOW_URL")+path, bodyReader(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// mlflowMust is mlflowDirect that wants 200 and decodes the answer.
func mlflowMust(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	code, b := mlflowDirect(t, method, path, body)
	if code != http.StatusOK {
		t.Fatalf("MLflow %s %s: %d %s", method, path, code, b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("MLflow %s %s: %q: %v", method, path, b, err)
	}
	return out
}

func str(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		mm, _ := v.(map[string]any)
		v = mm[k]
	}
	s, _ := v.(string)
	return s
}

// walkFixtures is what the hostile requests aim at, created directly in MLflow.
type walkFixtures struct {
	suffix                 string
	bucket                 string
	exp, run               string
	artifactDir, artifact  string // "<exp>/<run>/artifacts", "a.txt"
	model                  string // two versions, 1 in Production
	trace, assessment      string
	skill, org, skillAlias string // skill and @org/skill, each with draft version 1 and the alias
	mcp, mcpVersion        string
	issue                  string
	dataset                string
	queue, schema          string
	emptyQueue             string // no items: MLflow locks the schemas of a queue with items
}

func makeWalkFixtures(t *testing.T) *walkFixtures {
	t.Helper()
	f := &walkFixtures{suffix: randomSecret()[:8], bucket: need(t, "MLFLOW_GATE_TEST_S3_BUCKET"), artifact: "a.txt",
		org: "acme", skillAlias: "champ", mcpVersion: "1.0.0"}
	f.exp = str(mlflowMust(t, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "walk-" + f.suffix}), "experiment_id")
	run := mlflowMust(t, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": f.exp,
		"tags": []any{map[string]string{"key": "team", "value": "ml"}, map[string]string{"key": "mlflow.user", "value": "alice"}}})
	f.run = str(run, "run", "info", "run_id")
	f.artifactDir = f.exp + "/" + f.run + "/artifacts"
	if code, b := mlflowDirect(t, "PUT", "/api/2.0/mlflow-artifacts/artifacts/"+f.artifactDir+"/"+f.artifact, "original bytes"); code != 200 {
		t.Fatalf("artifact upload: %d %s", code, b)
	}

	f.model = "walk-model-" + f.suffix
	mlflowMust(t, "POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": f.model})
	for range 2 {
		mlflowMust(t, "POST", "/api/2.0/mlflow/model-versions/create", map[string]any{"name": f.model,
			"source": "runs:/" + f.run + "/model", "run_id": f.run})
	}
	mlflowMust(t, "POST", "/api/2.0/mlflow/model-versions/transition-stage", map[string]any{"name": f.model, "version": "1", "stage": "Production"})

	f.trace = "tr-" + randomSecret()[:32]
	mlflowMust(t, "POST", "/api/3.0/mlflow/traces", traceStart(f.trace, f.exp, "OK"))
	f.assessment = str(mlflowMust(t, "POST", "/api/3.0/mlflow/traces/"+f.trace+"/assessments", map[string]any{"assessment": map[string]any{
		"trace_id": f.trace, "assessment_name": "quality", "source": map[string]string{"source_type": "HUMAN", "source_id": "bob"},
		"feedback": map[string]any{"value": true}}}), "assessment", "assessment_id")

	f.skill = "walk-skill-" + f.suffix
	for _, base := range []string{"/api/3.0/mlflow/skills/" + f.skill, "/api/3.0/mlflow/skills/@" + f.org + "/" + f.skill} {
		body := map[string]any{"name": f.skill}
		if strings.Contains(base, "@") {
			body["organization"] = f.org
		}
		mlflowMust(t, "POST", "/api/3.0/mlflow/skills", body)
		// A draft version: draft -> deleted is a transition MLflow allows.
		mlflowMust(t, "POST", base+"/versions", map[string]any{"source": "https://github.com/acme/skills", "source_type": "git",
			"ref": "main", "digest": randomSecret(), "status": "draft"})
		mlflowMust(t, "POST", base+"/aliases", map[string]any{"alias": f.skillAlias, "version": 1})
	}

	f.mcp = "acme/walk-mcp-" + f.suffix
	mlflowMust(t, "POST", "/api/3.0/mlflow/mcp-servers", map[string]any{"name": f.mcp, "description": "d"})
	mlflowMust(t, "POST", "/api/3.0/mlflow/mcp-servers/"+f.mcp+"/versions", map[string]any{"server_json": map[string]any{"name": f.mcp, "version": f.mcpVersion}})

	f.issue = str(mlflowMust(t, "POST", "/api/3.0/mlflow/issues", map[string]any{"experiment_id": f.exp, "name": "slow answers",
		"description": "d", "status": "pending", "metadata": map[string]string{"k1": "v1", "k2": "v2"}}), "issue", "issue_id")
	f.dataset = str(mlflowMust(t, "POST", "/api/3.0/mlflow/datasets/create", map[string]any{"name": "walk-ds-" + f.suffix,
		"experiment_ids": []string{f.exp}}), "dataset", "dataset_id")
	f.schema = str(mlflowMust(t, "POST", "/api/3.0/mlflow/label-schemas/create", map[string]any{"experiment_id": f.exp, "name": "quality",
		"type": "FEEDBACK", "input": map[string]any{"pass_fail": map[string]string{"positive_label": "good", "negative_label": "bad"}},
		"instruction": "rate"}), "label_schema", "schema_id")
	f.queue = str(mlflowMust(t, "POST", "/api/3.0/mlflow/review-queues/create", map[string]any{"experiment_id": f.exp, "name": "walk-q",
		"queue_type": "CUSTOM", "users": []string{"bob", "carol"}, "schema_ids": []string{f.schema}}), "review_queue", "queue_id")
	f.emptyQueue = str(mlflowMust(t, "POST", "/api/3.0/mlflow/review-queues/create", map[string]any{"experiment_id": f.exp, "name": "walk-empty-q",
		"queue_type": "CUSTOM", "users": []string{"bob"}, "schema_ids": []string{f.schema}}), "review_queue", "queue_id")
	mlflowMust(t, "POST", "/api/3.0/mlflow/review-queues/items/add", map[string]any{"queue_id": f.queue, "item_type": "TRACE",
		"item_ids": []string{f.trace}})
	return f
}

func traceStart(id, exp, state string) map[string]any {
	return map[string]any{"trace": map[string]any{"trace_info": map[string]any{"trace_id": id,
		"trace_location": map[string]any{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": map[string]string{"experiment_id": exp}},
		"request_time":   "2024-01-01T00:00:00Z", "state": state}}}
}

// snapshot reads straight from MLflow everything the hostile requests could change,
// as "<status> <body>" per item.
func (f *walkFixtures) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	read := func(name, path string) {
		code, b := mlflowDirect(t, "GET", path, nil)
		if json.Valid(b) {
			b = []byte(canonicalJSON(t, b))
		}
		out[name] = fmt.Sprintf("%d %s", code, b)
	}
	read("artifact bytes", "/api/2.0/mlflow-artifacts/artifacts/"+f.artifactDir+"/"+f.artifact)
	read("artifact listing", "/api/2.0/mlflow-artifacts/artifacts?path="+url.QueryEscape(f.artifactDir))
	read("experiment", "/api/2.0/mlflow/experiments/get?experiment_id="+f.exp)
	read("run", "/api/2.0/mlflow/runs/get?run_id="+f.run)
	read("model versions", "/api/2.0/mlflow/model-versions/search?filter="+url.QueryEscape("name='"+f.model+"'"))
	read("trace", "/api/3.0/mlflow/traces/"+f.trace)
	read("assessment", "/api/3.0/mlflow/traces/"+f.trace+"/assessments/"+f.assessment)
	for _, base := range []string{"/api/3.0/mlflow/skills/" + f.skill, "/api/3.0/mlflow/skills/@" + f.org + "/" + f.skill} {
		read("skill version "+base, base+"/versions/1")
		read("skill alias "+base, base+"/aliases/"+f.skillAlias)
	}
	read("mcp version", "/api/3.0/mlflow/mcp-servers/"+f.mcp+"/versions/"+f.mcpVersion)
	read("issue", "/api/3.0/mlflow/issues/"+f.issue)
	read("dataset experiments", "/api/3.0/mlflow/datasets/"+f.dataset+"/experiment-ids")
	read("queue", "/api/3.0/mlflow/review-queues/get?queue_id="+f.queue)
	read("empty queue", "/api/3.0/mlflow/review-queues/get?queue_id="+f.emptyQueue)
	read("queue items", "/api/3.0/mlflow/review-queues/items/list?queue_id="+f.queue)
	return out
}

// hostileReq is one request of the walk; path and query go after the route's prefix.
type hostileReq struct {
	path, query string
	body        any // JSON-encoded unless a string
}

// effectRequests maps "METHOD pattern-without-prefix | condition" (condition: an
// effect's When, or "kind=<kind>") to requests that trigger it against the fixtures.
// A route of the table with an effect or kind missing here fails the walk.
func effectRequests(f *walkFixtures, hostileName func() string) map[string][]hostileReq {
	expCreate := func(loc map[string]any) hostileReq {
		body := map[string]any{"name": hostileName()}
		for k, v := range loc {
			body[k] = v
		}
		return hostileReq{path: "/mlflow/experiments/create", body: body}
	}
	upload := "/mlflow-artifacts/artifacts/" + f.artifactDir + "/" + f.artifact
	skillPatch := func(base string) []hostileReq {
		return []hostileReq{{path: base + "/versions/1", body: map[string]string{"status": "deleted"}},
			{path: base + "/versions/1", body: map[string]string{"status": " Deleted "}}}
	}
	queueUpdate := func(queue string, extra map[string]any) hostileReq {
		body := map[string]any{"queue_id": queue}
		for k, v := range extra {
			body[k] = v
		}
		return hostileReq{path: "/mlflow/review-queues/update", body: body}
	}
	return map[string][]hostileReq{
		// Hole 1: where MLflow writes files.
		"POST /mlflow/experiments/create | artifact_location is set": {
			expCreate(map[string]any{"artifact_location": "/tmp/walk-" + f.suffix}),
			expCreate(map[string]any{"artifact_location": "relative/walk-" + f.suffix}),
			expCreate(map[string]any{"artifact_location": "file:///tmp/walk-" + f.suffix}),
			expCreate(map[string]any{"artifact_location": "s3://other-bucket/x"}),
			expCreate(map[string]any{"artifactLocation": "s3://other-bucket/camel"}),
			// A proto body may be a JSON string holding the JSON (decoded twice by MLflow).
			{path: "/mlflow/experiments/create", body: mustJSONString(map[string]any{"name": hostileName(), "artifact_location": "s3://other-bucket/twice"})},
		},
		"POST /mlflow/model-versions/create | source is outside runs:/, models:/, mlflow-artifacts:/": {
			{path: "/mlflow/model-versions/create", body: map[string]any{"name": f.model,
				"source": "s3://" + f.bucket + "/artifacts/" + f.artifactDir + "/" + f.artifact, "run_id": f.run}},
			{path: "/mlflow/model-versions/create", body: map[string]any{"name": f.model, "source": "file:///etc/passwd"}},
			{path: "/mlflow/model-versions/create", body: map[string]any{"name": f.model, "source": "s3://other-bucket/secret"}},
		},
		// Hole 2: writes that delete.
		"POST /mlflow/experiments/set-experiment-tag | key = \"mlflow.trace.archiveNow\"": {
			{path: "/mlflow/experiments/set-experiment-tag", body: map[string]string{"experiment_id": f.exp, "key": "mlflow.trace.archiveNow", "value": `{"older_than":"1m"}`}},
		},
		"POST /mlflow/experiments/set-experiment-tag | key = \"mlflow.trace.archivalRetention\"": {
			{path: "/mlflow/experiments/set-experiment-tag", body: map[string]string{"experiment_id": f.exp, "key": "mlflow.trace.archivalRetention", "value": `{"type":"duration","value":"1d"}`}},
		},
		"POST /mlflow/upload-artifact | kind=ui-upload": {
			{path: "/mlflow/upload-artifact", query: "run_uuid=" + f.run + "&path=" + f.artifact, body: "replaced through upload-artifact"},
			{path: "/mlflow/upload-artifact", query: "run_id=" + f.run + "&path=" + f.artifact, body: "replaced through upload-artifact"},
		},
		"PUT /mlflow-artifacts/artifacts/{artifact_path...} | kind=artifact-upload": {
			{path: upload, body: ""}, // an empty PUT erases the file
			{path: upload, body: "replaced through the artifact proxy"},
		},
		"POST /mlflow-artifacts/mpu/create/{artifact_path...} | kind=multipart-upload": {
			{path: "/mlflow-artifacts/mpu/create/" + f.artifactDir, body: map[string]any{"path": f.artifact, "num_parts": 1}},
		},
		"POST /mlflow-artifacts/mpu/complete/{artifact_path...} | kind=multipart-upload": {
			{path: "/mlflow-artifacts/mpu/complete/" + f.artifactDir, body: map[string]any{"path": f.artifact, "upload_id": "walk",
				"parts": []any{map[string]any{"part_number": 1, "etag": "x"}}}},
		},
		// The mlflow.user rule: only Admin changes who made a run.
		"POST /mlflow/runs/set-tag | key is mlflow.user": {
			{path: "/mlflow/runs/set-tag", body: map[string]string{"run_id": f.run, "key": "mlflow.user", "value": "mallory"}},
			{path: "/mlflow/runs/set-tag", body: map[string]string{"run_id": f.run, "key": "MLflow.User ", "value": "mallory"}},
		},
		"POST /mlflow/runs/delete-tag | key is mlflow.user": {
			{path: "/mlflow/runs/delete-tag", body: map[string]string{"run_id": f.run, "key": "mlflow.user"}},
		},
		"POST /mlflow/runs/log-batch | tags[].key is mlflow.user": {
			{path: "/mlflow/runs/log-batch", body: map[string]any{"run_id": f.run, "tags": []any{map[string]string{"key": "mlflow.user", "value": "mallory"}}}},
		},
		"POST /mlflow/traces | kind=trace-start": {
			{path: "/mlflow/traces", body: traceStart(f.trace, f.exp, "ERROR")},
		},
		"POST /mlflow/traces/{trace_id}/assessments | assessment.overrides is set": {
			{path: "/mlflow/traces/" + f.trace + "/assessments", body: map[string]any{"assessment": map[string]any{
				"trace_id": f.trace, "assessment_name": "quality", "source": map[string]string{"source_type": "HUMAN", "source_id": "mallory"},
				"feedback": map[string]any{"value": false}, "overrides": f.assessment}}},
		},
		"POST /mlflow/model-versions/transition-stage | archive_existing_versions is true": {
			{path: "/mlflow/model-versions/transition-stage", body: map[string]any{"name": f.model, "version": "2", "stage": "Production", "archive_existing_versions": true}},
			{path: "/mlflow/model-versions/transition-stage", body: map[string]any{"name": f.model, "version": "2", "stage": "production", "archiveExistingVersions": "true"}},
		},
		"PATCH /mlflow/issues/{issue_id} | delete_metadata_keys is set": {
			{path: "/mlflow/issues/" + f.issue, body: map[string]any{"issue_id": f.issue, "delete_metadata_keys": []string{"k1"}}},
			{path: "/mlflow/issues/" + f.issue, body: map[string]any{"issueId": f.issue, "deleteMetadataKeys": []string{"k2"}}},
		},
		"POST /mlflow/review-queues/update | update_users is true": {
			queueUpdate(f.queue, map[string]any{"update_users": true, "users": []string{}}),
			queueUpdate(f.queue, map[string]any{"updateUsers": true, "users": []string{"mallory"}}),
		},
		"POST /mlflow/review-queues/update | update_schema_ids is true": {
			queueUpdate(f.emptyQueue, map[string]any{"update_schema_ids": true, "schema_ids": []string{}}),
		},
		"POST /mlflow/review-queues/update | new_owner is set": {
			queueUpdate(f.queue, map[string]any{"new_owner": "mallory"}),
			queueUpdate(f.queue, map[string]any{"newOwner": "mallory"}),
		},
		"PATCH /mlflow/mcp-servers/{name...}/versions/{version...} | status = \"deleted\"": {
			{path: "/mlflow/mcp-servers/" + f.mcp + "/versions/" + f.mcpVersion, body: map[string]string{"status": "deleted"}},
		},
		"PATCH /mlflow/skills/{name}/versions/{version} | status = \"deleted\"":                 skillPatch("/mlflow/skills/" + f.skill),
		"PATCH /mlflow/skills/@{organization}/{name}/versions/{version} | status = \"deleted\"": skillPatch("/mlflow/skills/@" + f.org + "/" + f.skill),
	}
}

// explicitRequests are routes whose scope itself is delete or manage, named in the
// issue as ways to remove or relocate data: "METHOD pattern-without-prefix" to requests.
func explicitRequests(f *walkFixtures) map[string][]hostileReq {
	return map[string][]hostileReq{
		"POST /mlflow/artifacts/presigned-upload-url": {
			{path: "/mlflow/artifacts/presigned-upload-url", body: map[string]any{"run_id": f.run, "path": f.artifact}},
		},
		"POST /mlflow/review-queues/items/remove": {
			{path: "/mlflow/review-queues/items/remove", body: map[string]any{"queue_id": f.queue, "item_ids": []string{f.trace}}},
			{path: "/mlflow/review-queues/items/remove", body: map[string]any{"queue_id": f.queue, "itemIds": []string{f.trace}}},
		},
		"POST /mlflow/datasets/{dataset_id}/remove-experiments": {
			{path: "/mlflow/datasets/" + f.dataset + "/remove-experiments", body: map[string]any{"dataset_id": f.dataset, "experiment_ids": []string{f.exp}}},
		},
		"POST /mlflow-artifacts/mpu/abort/{artifact_path...}": {
			{path: "/mlflow-artifacts/mpu/abort/" + f.artifactDir, body: map[string]any{"path": f.artifact, "upload_id": "walk"}},
		},
	}
}

func mustJSONString(v any) string {
	inner, _ := json.Marshal(v)
	outer, _ := json.Marshal(string(inner))
	return string(outer)
}

// routePrefixes are the mount points of the table's patterns.
var routePrefixes = []string{"/api/2.0", "/ajax-api/2.0", "/api/3.0", "/ajax-api/3.0"}

func splitRoutePrefix(pattern string) (prefix, rest string) {
	for _, p := range routePrefixes {
		if r, ok := strings.CutPrefix(pattern, p+"/"); ok {
			return p, "/" + r
		}
	}
	return "", pattern
}

// walkCase is one request of the walk, under one prefix.
type walkCase struct {
	key, method, prefix string
	req                 hostileReq
}

// walkRoute is one route of the table, under one prefix.
type walkRoute struct{ method, prefix string }

// walkKeys lists, for every effect and kind of the table and every route named in
// explicit, the routes it occurs on: "METHOD pattern-without-prefix | condition".
func walkKeys(explicit map[string][]hostileReq) map[string][]walkRoute {
	keys := map[string][]walkRoute{}
	for _, rt := range authz.Routes() {
		prefix, rest := splitRoutePrefix(rt.Pattern)
		base := rt.Method + " " + rest
		at := walkRoute{rt.Method, prefix}
		if _, ok := explicit[base]; ok {
			keys[base] = append(keys[base], at)
		}
		if rt.Kind.Overwrites() { // the kinds the proxy decides by looking
			keys[base+" | kind="+rt.Kind.String()] = append(keys[base+" | kind="+rt.Kind.String()], at)
		}
		for _, e := range rt.Effects {
			keys[base+" | "+e.When] = append(keys[base+" | "+e.When], at)
		}
	}
	return keys
}

// walkCases expands the table's effects and kinds into requests, failing for every
// effect or kind it has no request for, and for requests no route uses any more.
func walkCases(t *testing.T, effects, explicit map[string][]hostileReq) []walkCase {
	t.Helper()
	keys := walkKeys(explicit)
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var cases []walkCase
	for _, key := range sorted {
		reqs, ok := effects[key]
		if !ok {
			reqs = explicit[key]
		}
		if len(reqs) == 0 {
			t.Errorf("the walk has no request for %q (on %v): add one to effectRequests", key, keys[key])
			continue
		}
		for _, at := range keys[key] {
			for _, r := range reqs {
				cases = append(cases, walkCase{key: key, method: at.method, prefix: at.prefix, req: r})
			}
		}
	}
	for key := range effects {
		if _, ok := keys[key]; !ok {
			t.Errorf("effectRequests has %q, which no route of the table has any more", key)
		}
	}
	for key := range explicit {
		if _, ok := keys[key]; !ok {
			t.Errorf("explicitRequests has %q, which is not a route of the table", key)
		}
	}
	return cases
}

// TestHostileDefaultCannotDestroyThroughEffects walks the route table as a Default
// user: every effect and kind is refused with 403 under every prefix, MLflow's data is
// unchanged, and the same requests work for Admin, as do new uploads and traces for
// Default.
func TestHostileDefaultCannotDestroyThroughEffects(t *testing.T) {
	env := gateEnv(t, storagetest.EmptyDatabase(t))
	env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = "bootstrap passphrase for e2e"
	h := &hostileRig{env: env, g: startGate(t, env)}
	if out, err := cli(t, env, "correct horse battery staple\n", "user", "add", "alice", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	h.alice = createPAT(t, env, "alice")
	admin := createPAT(t, env, "admin")

	f := makeWalkFixtures(t)
	before := f.snapshot(t)
	for k, v := range before {
		if !strings.HasPrefix(v, "200 ") {
			t.Fatalf("snapshot of the fixtures: %s is %s", k, v)
		}
	}
	var hostileNames []string
	nameHostile := func() string {
		n := fmt.Sprintf("hostile-%s-%d", f.suffix, len(hostileNames))
		hostileNames = append(hostileNames, n)
		return n
	}
	cases := walkCases(t, effectRequests(f, nameHostile), explicitRequests(f))
	if len(cases) < 60 {
		t.Fatalf("only %d requests in the walk: the table walk found too few routes", len(cases))
	}
	for _, c := range cases {
		path := c.prefix + c.req.path
		if c.req.query != "" {
			path += "?" + c.req.query
		}
		code, b, _ := h.call(t, h.alice, c.method, path, c.req.body)
		var e struct {
			Code    string `json:"error_code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		if code != http.StatusForbidden || e.Code != "PERMISSION_DENIED" || e.Message == "" {
			t.Errorf("%s (%s %s, body %v): %d %s; want 403 PERMISSION_DENIED with a message", c.key, c.method, path, c.req.body, code, b)
		}
	}
	t.Logf("%d hostile requests sent", len(cases))

	after := f.snapshot(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("MLflow's %s changed:\nbefore %s\nafter  %s", k, v, after[k])
		}
	}
	for _, n := range hostileNames {
		code, b := mlflowDirect(t, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name="+url.QueryEscape(n), nil)
		if code != http.StatusNotFound {
			t.Errorf("experiment %s: MLflow answers %d %s; want 404 (a hostile create went through)", n, code, b)
		}
	}
	if t.Failed() {
		return
	}

	// The same requests are not simply broken.
	t.Run("Admin overwrites the artifact", func(t *testing.T) {
		p := "/api/2.0/mlflow-artifacts/artifacts/" + f.artifactDir + "/" + f.artifact
		if code, b, _ := h.call(t, admin, "PUT", p, "admin bytes"); code != http.StatusOK {
			t.Fatalf("Admin PUT over the artifact: %d %s", code, b)
		}
		if _, b := mlflowDirect(t, "GET", p, nil); string(b) != "admin bytes" {
			t.Errorf("after Admin's upload MLflow has %q", b)
		}
	})
	t.Run("Admin sets an artifact location", func(t *testing.T) {
		loc := "s3://" + f.bucket + "/artifacts/admin-" + f.suffix
		res := h.must(t, admin, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "admin-loc-" + f.suffix, "artifact_location": loc})
		got := mlflowMust(t, "GET", "/api/2.0/mlflow/experiments/get?experiment_id="+str(res, "experiment_id"), nil)
		if l := str(got, "experiment", "artifact_location"); l != loc {
			t.Errorf("Admin's experiment has artifact_location %q, want %q", l, loc)
		}
	})
	t.Run("Admin archives through transition-stage", func(t *testing.T) {
		h.must(t, admin, "POST", "/api/2.0/mlflow/model-versions/transition-stage", map[string]any{"name": f.model, "version": "2", "stage": "Production", "archive_existing_versions": true})
		v1 := mlflowMust(t, "GET", "/api/2.0/mlflow/model-versions/get?name="+url.QueryEscape(f.model)+"&version=1", nil)
		if s := str(v1, "model_version", "current_stage"); s != "Archived" {
			t.Errorf("version 1 is %q after Admin archived existing versions", s)
		}
	})
	t.Run("Default uploads new files", func(t *testing.T) {
		p := "/api/2.0/mlflow-artifacts/artifacts/" + f.artifactDir + "/new/b.txt"
		if code, b, _ := h.call(t, h.alice, "PUT", p, "new bytes"); code != http.StatusOK {
			t.Fatalf("Default PUT of a new file: %d %s", code, b)
		}
		if _, b := mlflowDirect(t, "GET", p, nil); string(b) != "new bytes" {
			t.Errorf("MLflow has %q for Default's new file", b)
		}
		q := "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=" + f.run + "&path=new/c.txt"
		if code, b, _ := h.call(t, h.alice, "POST", q, "more bytes"); code != http.StatusOK {
			t.Fatalf("Default upload-artifact of a new file: %d %s", code, b)
		}
		if _, b := mlflowDirect(t, "GET", "/api/2.0/mlflow-artifacts/artifacts/"+f.artifactDir+"/new/c.txt", nil); string(b) != "more bytes" {
			t.Errorf("MLflow has %q for Default's upload-artifact file", b)
		}
	})
	t.Run("MLflow acts on the walk's requests", checkWalkBites)
	t.Run("Default starts a new trace", func(t *testing.T) {
		id := "tr-" + randomSecret()[:32]
		h.must(t, h.alice, "POST", "/api/3.0/mlflow/traces", traceStart(id, f.exp, "OK"))
		got := mlflowMust(t, "GET", "/api/3.0/mlflow/traces/"+id, nil)
		if s := str(got, "trace", "trace_info", "state"); s != "OK" {
			t.Errorf("Default's new trace: %v", got)
		}
	})
}

// inertInThisRig are walk entries whose request MLflow cannot carry out against the
// rig's fixtures, so the check that the walk's requests bite skips them: the run's
// root is mlflow-artifacts (presigned uploads need direct cloud storage), and a
// multipart upload needs a real upload id and parts (create only starts one).
var inertInThisRig = map[string]string{
	"POST /mlflow/artifacts/presigned-upload-url":                                    "MLflow refuses presigned uploads for mlflow-artifacts roots",
	"POST /mlflow-artifacts/mpu/create/{artifact_path...} | kind=multipart-upload":   "starting an upload changes nothing yet",
	"POST /mlflow-artifacts/mpu/complete/{artifact_path...} | kind=multipart-upload": "completing needs a real upload id and parts",
	"POST /mlflow-artifacts/mpu/abort/{artifact_path...}":                            "aborting needs a real upload id",
}

// checkWalkBites sends each walk entry's requests straight to MLflow, on fresh
// fixtures, and requires at least one of them to change MLflow's data: the walk's
// refusals then mean something.
func checkWalkBites(t *testing.T) {
	keys := walkKeys(explicitRequests(&walkFixtures{}))
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, key := range sorted {
		if _, ok := inertInThisRig[key]; ok {
			continue
		}
		method, prefix := keys[key][0].method, keys[key][0].prefix
		bit := false
		var answers []string
		for i := 0; !bit; i++ {
			f := makeWalkFixtures(t)
			var names []string
			name := func() string { n := "bite-" + randomSecret()[:12]; names = append(names, n); return n }
			reqs := effectRequests(f, name)[key]
			if reqs == nil {
				reqs = explicitRequests(f)[key]
			}
			if i >= len(reqs) {
				break
			}
			before := f.snapshot(t)
			r := reqs[i]
			path := prefix + r.path
			if r.query != "" {
				path += "?" + r.query
			}
			code, b := mlflowDirect(t, method, path, r.body)
			answers = append(answers, fmt.Sprintf("%d %.200s", code, b))
			after := f.snapshot(t)
			for k, v := range before {
				bit = bit || after[k] != v
			}
			for _, n := range names {
				if c, _ := mlflowDirect(t, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name="+n, nil); c == http.StatusOK {
					bit = true
				}
			}
		}
		if !bit {
			t.Errorf("%s: sent straight to MLflow, no request of the walk changed its data (answers %v): the refusal proves nothing", key, answers)
		}
	}
}

// TestRegisterModelAndPromptAsDefault: the stock client's registration calls,
// which send source models:/m-... and dummy-source, work for a Default user.
func TestRegisterModelAndPromptAsDefault(t *testing.T) {
	h := newHostileRig(t, nil)
	prefix := "reg-" + randomSecret()[:8]
	out, err := python(t, map[string]string{"MLFLOW_TRACKING_URI": h.g.URL, "MLFLOW_TRACKING_TOKEN": h.alice,
		"GATE_PREFIX": prefix, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}, "mlflow_register.py")
	if err != nil {
		t.Fatalf("mlflow_register.py: %v\n%s", err, out)
	}
	var res map[string]string
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	for _, k := range []string{"register_model", "register_prompt"} {
		if res[k] != "ok" {
			t.Errorf("%s as Default: %s", k, res[k])
		}
	}
	if !strings.HasPrefix(res["source"], "models:/m-") {
		t.Errorf("register_model sent source %q; want models:/m-... (the test proves less)", res["source"])
	}
	// Read back from MLflow itself.
	mv := mlflowMust(t, "GET", "/api/2.0/mlflow/model-versions/get?name="+url.QueryEscape(prefix+"-model")+"&version=1", nil)
	if s := str(mv, "model_version", "source"); s != res["source"] || str(mv, "model_version", "run_id") != res["run_id"] {
		t.Errorf("MLflow's model version: %v; want source %s, run %s", mv, res["source"], res["run_id"])
	}
	rm := mlflowMust(t, "GET", "/api/2.0/mlflow/registered-models/get?name="+url.QueryEscape(prefix+"-prompt"), nil)
	tags := map[string]string{}
	list, _ := rm["registered_model"].(map[string]any)["tags"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		tags[fmt.Sprint(m["key"])] = fmt.Sprint(m["value"])
	}
	if tags["mlflow.prompt.is_prompt"] != "true" {
		keys := make([]string, 0, len(tags))
		for k := range tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("the prompt in MLflow has tags %v; want mlflow.prompt.is_prompt=true", keys)
	}
}
