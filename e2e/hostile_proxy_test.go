package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// hostileRig is a gate on a fresh database with a Default user alice and her PAT.
type hostileRig struct {
	env   map[string]string
	g     *gateProc
	alice string // alice's PAT
}

func newHostileRig(t *testing.T, extra map[string]string) *hostileRig {
	t.Helper()
	env := gateEnv(t, storagetest.EmptyDatabase(t))
	for k, v := range extra {
		env[k] = v
	}
	g := startGate(t, env)
	if out, err := cli(t, env, "correct horse battery staple\n", "user", "add", "alice", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	return &hostileRig{env: env, g: g, alice: createPAT(t, env, "alice")}
}

// call sends one request through the gate as the holder of pat; hdr are
// name/value pairs set verbatim (underscores kept).
func (h *hostileRig) call(t *testing.T, pat, method, path string, body any, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, h.g.URL+path, bodyReader(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if pat != "" {
		req.Header.Set("Authorization", "Bearer "+pat)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header[hdr[i]] = append(req.Header[hdr[i]], hdr[i+1]) // no canonicalization
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// must is call that wants 200 and decodes the JSON answer.
func (h *hostileRig) must(t *testing.T, pat, method, path string, body any, hdr ...string) map[string]any {
	t.Helper()
	code, b, _ := h.call(t, pat, method, path, body, hdr...)
	if code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %q is not JSON: %v", method, path, b, err)
	}
	return out
}

// runTags reads a run back through the gate and returns its tags.
func (h *hostileRig) runTags(t *testing.T, pat, runID string) (map[string]string, map[string]any) {
	t.Helper()
	res := h.must(t, pat, "GET", "/api/2.0/mlflow/runs/get?run_id="+runID, nil)
	run, _ := res["run"].(map[string]any)
	info, _ := run["info"].(map[string]any)
	data, _ := run["data"].(map[string]any)
	tags := map[string]string{}
	list, _ := data["tags"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		k, _ := m["key"].(string)
		v, _ := m["value"].(string)
		tags[k] = v
	}
	return tags, info
}

func (h *hostileRig) experiment(t *testing.T, pat, name string) string {
	t.Helper()
	res := h.must(t, pat, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": name})
	id, _ := res["experiment_id"].(string)
	if id == "" {
		t.Fatalf("experiments/create: %v", res)
	}
	return id
}

func uniqueName(t *testing.T) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "-" + randomSecret()[:8]
}

// TestHostileProxyUnderscoreHeaders: MLflow's Flask side reads headers from the
// WSGI environ, where If_None_Match is If-None-Match. Through the gate no
// underscore spelling reaches MLflow: MLflow answers a download in full although
// the client asked, in underscore spelling, for a 304, and a run's mlflow.user is
// the gate user whatever identity headers the client adds.
func TestHostileProxyUnderscoreHeaders(t *testing.T) {
	h := newHostileRig(t, nil)
	exp := h.experiment(t, h.alice, uniqueName(t))
	hostile := []string{"X_Mlflow_Gate_User", "mallory", "X_Remote_User", "mallory", "X_Forwarded_For", "6.6.6.6",
		"X_MLFLOW_WORKSPACE", "other-team", "X_Forwarded_User", "mallory"}
	res := h.must(t, h.alice, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp}, hostile...)
	runID := res["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	tags, info := h.runTags(t, h.alice, runID)
	if tags["mlflow.user"] != "alice" || info["user_id"] != "alice" {
		t.Errorf("run made with X_Mlflow_Gate_User: mallory has mlflow.user %q, user_id %v; want alice", tags["mlflow.user"], info["user_id"])
	}

	const content = "hello through the gate"
	art := "/api/2.0/mlflow-artifacts/artifacts/" + exp + "/" + runID + "/artifacts/hello.txt"
	if code, b, _ := h.call(t, h.alice, "PUT", art, content); code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, b)
	}
	get := "/get-artifact?run_uuid=" + runID + "&path=hello.txt"
	// MLflow does act on the dashed spellings: the download is conditional.
	if code, b, _ := h.call(t, h.alice, "GET", get, nil, "If-None-Match", "*"); code != http.StatusNotModified {
		t.Fatalf("If-None-Match: * got %d %q; want MLflow's 304 (the check below would prove nothing)", code, b)
	}
	for _, hdr := range [][]string{{"If_None_Match", "*"}, {"If_Modified_Since", "Fri, 01 Jan 2100 00:00:00 GMT"}, {"If_Range", "x", "Range", "bytes=0-1"}} {
		code, b, _ := h.call(t, h.alice, "GET", get, nil, append(hdr, hostile...)...)
		want := http.StatusOK
		if len(hdr) > 2 {
			want = http.StatusPartialContent // Range applies; the underscore If_Range must not void it
		}
		if code != want || (want == http.StatusOK && string(b) != content) {
			t.Errorf("GET with %v: %d %q; want %d with the artifact (MLflow acted on an underscore header)", hdr, code, b, want)
		}
	}
}

// bodyReader turns a test's request body into a reader: nil is none, bytes and
// strings are sent as they are, anything else as JSON.
func bodyReader(t *testing.T, body any) io.Reader {
	t.Helper()
	switch b := body.(type) {
	case nil:
		return nil
	case []byte:
		return bytes.NewReader(b)
	case string:
		return strings.NewReader(b)
	}
	j, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(j)
}

// waitAudit waits up to 10 s for exactly one audit row matching where (the
// batch writer commits in the background).
func waitAudit(t *testing.T, dbURL, where, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); auditCount(t, dbURL, where) != 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no audit row for %s", what)
		}
	}
}

func auditCount(t *testing.T, dbURL, where string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE `+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHostileProxyJunkTokensCannotFillTheAudit sends 20,000 requests with junk
// credentials from loopback: the audit table grows by a handful of summary
// rows (one per address and minute, with the count), the metric counts every
// 401, and the gate still serves a valid PAT.
func TestHostileProxyJunkTokensCannotFillTheAudit(t *testing.T) {
	h := newHostileRig(t, nil)
	db := h.env["MLFLOW_GATE_DATABASE_URL"]
	before := auditCount(t, db, "true")
	const total, workers = 20000, 32
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 10 * time.Second}
	junk := []string{"Bearer not-a-token", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "Basic " + basic("alice", "mgp_junk"),
		"Bearer " + h.alice[:len(h.alice)-1] + flip(h.alice[len(h.alice)-1])}
	var next, unauthorized, other atomic.Int64
	deadline := time.Now().Add(90 * time.Second)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= total && time.Now().Before(deadline); i = next.Add(1) {
				req, _ := http.NewRequest("GET", h.g.URL+"/api/2.0/mlflow/experiments/search?max_results=1", nil)
				req.Header.Set("Authorization", junk[i%int64(len(junk))])
				resp, err := client.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized {
					unauthorized.Add(1)
				} else {
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := unauthorized.Load(); n != total || other.Load() != 0 {
		t.Fatalf("%d of %d junk requests got 401 in time, %d something else", n, total, other.Load())
	}
	// The gate still answers a valid credential after the flood.
	if code, b, _ := h.call(t, h.alice, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil); code != http.StatusOK {
		t.Fatalf("valid PAT after the flood: %d %s", code, b)
	}
	_, metrics := get(t, "http://"+h.env["MLFLOW_GATE_METRICS_LISTEN"]+"/metrics")
	if !strings.Contains(metrics, `mlflow_gate_decisions_total{outcome="unauthenticated"} 20000`) {
		t.Errorf("the 401 counter does not count every junk request:\n%s", grepLines(metrics, "decisions_total"))
	}
	h.g.stop(t) // flushes the window
	grown := auditCount(t, db, "true") - before
	if grown > 5 {
		t.Fatalf("the audit table grew by %d rows for %d junk requests, want a handful", grown, total)
	}
	if n := auditCount(t, db, `action = 'auth.failures' AND remote_addr = '127.0.0.1' AND decision = 'unauthenticated'
		AND status = 401 AND rule <> '' AND (detail->>'count')::int > 0 AND detail ? 'first' AND detail ? 'last'`); n == 0 || n > 3 {
		t.Fatalf("%d summary rows for 127.0.0.1, want one per minute the flood lasted", n)
	}
	if sum := auditCount(t, db, `action = 'auth.failures' AND (detail->>'count')::int > 0`); sum == 0 {
		t.Fatal("no summary row")
	}
	var counted int
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT coalesce(sum((detail->>'count')::int), 0) FROM audit_events WHERE action = 'auth.failures'`).Scan(&counted); err != nil {
		t.Fatal(err)
	}
	if counted != total {
		t.Fatalf("summary rows count %d failures, want %d", counted, total)
	}
	if leaked := auditCount(t, db, `detail::text LIKE '%mgp_%' OR detail::text LIKE '%not-a-token%'`); leaked != 0 {
		t.Fatalf("%d audit rows carry a credential", leaked)
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestHostileProxyUITelemetryOffByDefault: the UI's telemetry calls are answered
// by the gate in the shapes real MLflow uses with telemetry disabled, and reach
// MLflow (here told apart by MLflow's Server header) only with
// MLFLOW_GATE_UI_TELEMETRY=true.
func TestHostileProxyUITelemetryOffByDefault(t *testing.T) {
	const path = "/ajax-api/3.0/mlflow/ui-telemetry"
	records := `{"records":[{"event_name":"forged","timestamp_ns":1,"params":{},"installation_id":"x","session_id":"y"}]}`
	direct := func(method, body string) (string, string) {
		req, _ := http.NewRequest(method, need(t, "MLFLOW_GATE_TEST_MLFLOW_URL")+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return canonicalJSON(t, b), resp.Header.Get("Server")
	}
	wantGet, server := direct("GET", "")
	wantPost, _ := direct("POST", records)
	if server == "" {
		t.Fatal("MLflow sends no Server header: the test cannot tell who answered")
	}
	for _, on := range []bool{false, true} {
		extra := map[string]string{}
		if on {
			extra["MLFLOW_GATE_UI_TELEMETRY"] = "true"
		}
		h := newHostileRig(t, extra)
		for method, want := range map[string]string{"GET": wantGet, "POST": wantPost} {
			var body any
			if method == "POST" {
				body = records
			}
			code, b, hdr := h.call(t, h.alice, method, path, body)
			if code != http.StatusOK || canonicalJSON(t, b) != want {
				t.Errorf("on=%v %s: %d %s, want MLflow's %s", on, method, code, b, want)
			}
			if forwarded := hdr.Get("Server") == server; forwarded != on {
				t.Errorf("on=%v %s: forwarded to MLflow = %v", on, method, forwarded)
			}
		}
	}
}

func canonicalJSON(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%q is not JSON", b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// TestHostileProxyServerErrorsHideInternals: real MLflow 3.18 answers some odd
// but accepted input with a 500 whose message is the Python exception (int()
// failing on an experiment id inside traces/search; the promptlab handler
// passing tags to the store as dicts). Through the gate the caller gets the error code and
// the request id; the gate's log has MLflow's text.
func TestHostileProxyServerErrorsHideInternals(t *testing.T) {
	h := newHostileRig(t, nil)
	mlflow := need(t, "MLFLOW_GATE_TEST_MLFLOW_URL")
	exp := h.experiment(t, h.alice, uniqueName(t))
	promptlab := `{"experiment_id":"` + exp + `","tags":[{"key":"a","value":"b"}],"prompt_template":"x","prompt_parameters":[{"key":"a","value":"b"}],"model_route":"r","model_input":"i","mlflow_version":"3.18.0"}`
	for _, tc := range []struct {
		method, path, body, leak string
	}{
		{"POST", "/api/3.0/mlflow/traces/search", `{"locations":[{"type":"MLFLOW_EXPERIMENT","mlflow_experiment":{"experiment_id":"x"}}]}`, "invalid literal for int()"},
		{"POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", promptlab, "object has no attribute 'key'"},
	} {
		// MLflow itself leaks it (else this test proves nothing).
		req, _ := http.NewRequest(tc.method, mlflow+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		direct, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || !strings.Contains(string(direct), tc.leak) {
			t.Fatalf("MLflow answers %s %s with %d %s; want a 500 with %q", tc.method, tc.path, resp.StatusCode, direct, tc.leak)
		}
		var body any
		if tc.body != "" {
			body = tc.body
		}
		code, b, hdr := h.call(t, h.alice, tc.method, tc.path, body)
		var e struct {
			Code    string `json:"error_code"`
			Message string `json:"message"`
		}
		rid := hdr.Get("X-Request-Id")
		if code != 500 || json.Unmarshal(b, &e) != nil || e.Code != "INTERNAL_ERROR" || rid == "" || !strings.Contains(e.Message, rid) {
			t.Errorf("%s %s through the gate: %d %s (X-Request-Id %q); want 500 INTERNAL_ERROR naming the request id", tc.method, tc.path, code, b, rid)
		}
		if strings.Contains(string(b), tc.leak) {
			t.Errorf("%s %s: MLflow's internals reached the caller: %s", tc.method, tc.path, b)
		}
		// The gate logs before it answers, but its stderr reaches this
		// process through a pipe: give it a moment.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !strings.Contains(h.g.stderr.String(), rid); {
			time.Sleep(20 * time.Millisecond)
		}
		logs := h.g.stderr.String()
		if !strings.Contains(logs, tc.leak) || !strings.Contains(logs, rid) {
			t.Errorf("the gate log lacks MLflow's original %q with request id %s", tc.leak, rid)
		}
	}
}

// TestHostileProxyPromptlabRunCarriesTheGateUser: create-promptlab-run cannot
// take tags in its body (MLflow hands them to the store as dicts), so the gate
// tags the run it made; a client's mlflow.user claim is dropped. Read back as
// the user, the run's mlflow.user and user_id are alice's.
func TestHostileProxyPromptlabRunCarriesTheGateUser(t *testing.T) {
	h := newHostileRig(t, nil)
	exp := h.experiment(t, h.alice, uniqueName(t))
	for name, tags := range map[string]any{"no tags": nil, "claimed mallory": []any{map[string]string{"key": "mlflow.user", "value": "mallory"}}} {
		body := map[string]any{"experiment_id": exp, "prompt_template": "say {{ x }}", "prompt_parameters": []any{map[string]string{"key": "x", "value": "hi"}},
			"model_route": "route", "model_input": "say hi", "model_output": "hi", "mlflow_version": "3.18.0", "user_id": "mallory"}
		if tags != nil {
			body["tags"] = tags
		}
		res := h.must(t, h.alice, "POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", body)
		runID, _ := res["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
		if runID == "" {
			t.Fatalf("%s: no run in %v", name, res)
		}
		tagsGot, info := h.runTags(t, h.alice, runID)
		if tagsGot["mlflow.user"] != "alice" || info["user_id"] != "alice" {
			t.Errorf("%s: promptlab run has mlflow.user %q, user_id %v; want alice", name, tagsGot["mlflow.user"], info["user_id"])
		}
	}
}
