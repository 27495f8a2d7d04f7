package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestArtifactsStraightFromS3 runs the stock client's artifact work through
// the gate in both of its modes, then checks that the bytes went between the
// client, the gate and the bucket and never through MLflow: the gate's byte
// counters moved (streamed) or its presigned URLs were used (presigned), and
// MLflow's access log has no artifact request for the run.
func TestArtifactsStraightFromS3(t *testing.T) {
	s3 := "http://" + need(t, "MLFLOW_GATE_TEST_S3_ENDPOINT")
	for _, mode := range []string{"streamed", "presigned"} {
		t.Run(mode, func(t *testing.T) {
			extra := map[string]string{}
			bigMB := "300"
			if mode == "presigned" {
				extra["MLFLOW_GATE_S3_PUBLIC_ENDPOINT"] = s3
				bigMB = "0" // the large streamed file is the streamed mode's
			}
			h := newHostileRig(t, extra)
			before := gateCounters(t, h)
			out, err := python(t, map[string]string{"MLFLOW_TRACKING_URI": h.g.URL, "MLFLOW_TRACKING_TOKEN": h.alice,
				"GATE_EXPERIMENT": uniqueName(t), "GATE_BIG_MB": bigMB, "GATE_MPU_MB": "12",
				"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}, "mlflow_artifacts.py")
			if err != nil {
				t.Fatalf("stock client: %v\n%s", err, out)
			}
			var res map[string]string
			lines := strings.Split(strings.TrimSpace(out), "\n") // MLflow prints its run links first
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
				t.Fatalf("client output %q: %v", out, err)
			}
			for _, k := range []string{"files", "model", "multipart"} {
				if res[k] != "ok" {
					t.Errorf("%s: %q", k, res[k])
				}
			}
			if mode == "streamed" && res["big"] != "ok" {
				t.Errorf("300 MiB file: %q", res["big"])
			}
			if !strings.HasPrefix(res["artifact_uri"], "mlflow-artifacts:/") {
				t.Errorf("the run's artifact URI %q does not lead through the gate", res["artifact_uri"])
			}
			// Default may not delete: the client's delete was refused (checked
			// in the script's answer) and the file is still there.
			if res["delete"] != "PERMISSION_DENIED" {
				t.Errorf("alice's delete: %q", res["delete"])
			}

			after := gateCounters(t, h)
			up, down := after["uploaded"]-before["uploaded"], after["downloaded"]-before["downloaded"]
			presigned := after["presigned"] - before["presigned"]
			const mib = 1 << 20
			switch mode {
			case "streamed":
				// The large file and the multipart one (the client fell back to
				// one PUT on the gate's 501) came through the gate both ways.
				if up < 312*mib || down < 312*mib || presigned != 0 {
					t.Errorf("streamed: uploaded %d, downloaded %d bytes, %d presigned URLs", up, down, presigned)
				}
			case "presigned":
				// 12 MiB in 5 MiB parts is three part URLs and one download URL,
				// and the gate carried none of those bytes.
				if presigned < 4 || up >= 12*mib || down >= 12*mib {
					t.Errorf("presigned: uploaded %d, downloaded %d bytes, %d presigned URLs", up, down, presigned)
				}
			}
			if mode == "streamed" {
				// A registered model's version of the logged model: its files
				// through model-versions/get-artifact come from S3 by the gate too.
				model := uniqueName(t)
				h.must(t, h.alice, "POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": model})
				h.must(t, h.alice, "POST", "/api/2.0/mlflow/model-versions/create", map[string]any{"name": model,
					"source": "models:/" + res["model_id"], "model_id": res["model_id"]})
				code, b, hdr := h.call(t, h.alice, "GET", "/model-versions/get-artifact?name="+url.QueryEscape(model)+"&version=1&path=MLmodel", nil)
				if code != http.StatusOK || !strings.Contains(string(b), "sklearn") || hdr.Get("Content-Security-Policy") != "sandbox" {
					t.Errorf("model-versions/get-artifact: %d %.200s %v", code, b, hdr)
				}
				// The logged model's page: its folder and files.
				mid := res["model_id"]
				code, b, _ = h.call(t, h.alice, "GET", "/ajax-api/2.0/mlflow/logged-models/"+mid+"/artifacts/files?artifact_file_path=MLmodel", nil)
				if code != http.StatusOK || !strings.Contains(string(b), "sklearn") {
					t.Errorf("logged-model file: %d %.200s", code, b)
				}
				dirs := h.must(t, h.alice, "GET", "/api/2.0/mlflow/logged-models/"+mid+"/artifacts/directories", nil)
				if !strings.Contains(fmt.Sprint(dirs["files"]), "MLmodel") || !strings.HasSuffix(fmt.Sprint(dirs["root_uri"]), "/models/"+mid+"/artifacts") {
					t.Errorf("logged-model directories: %v", dirs)
				}
				log, _ := os.ReadFile(need(t, "MLFLOW_GATE_TEST_MLFLOW_LOG"))
				if strings.Contains(string(log), "/model-versions/get-artifact?name="+url.QueryEscape(model)) ||
					strings.Contains(string(log), "/logged-models/"+mid+"/artifacts") {
					t.Errorf("MLflow served model-versions/get-artifact of %s or the logged model's files", model)
				}
			}
			if mode == "presigned" {
				// The URL is for one key and one method, and S3 is told to answer
				// it as an attachment of MLflow's type.
				path := res["experiment_id"] + "/" + res["run_id"] + "/artifacts/notes.txt"
				pre := h.must(t, h.alice, "GET", "/api/2.0/mlflow-artifacts/presigned/"+path, nil)
				u, _ := pre["url"].(string)
				if !strings.HasPrefix(u, s3+"/") || pre["file_size"] != float64(len("hello artifacts\n")) {
					t.Fatalf("presigned answer: %v", pre)
				}
				resp, err := http.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(b) != "hello artifacts\n" ||
					!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || resp.Header.Get("Content-Type") != "text/plain" {
					t.Errorf("presigned GET: %d %q %v", resp.StatusCode, b, resp.Header)
				}
				req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("overwritten"))
				if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode/100 == 2 {
					t.Errorf("a presigned GET URL took a PUT: %v %v", resp, err)
				}
			}
			if lines := mlflowArtifactRequests(t, res["run_id"]); len(lines) > 0 {
				t.Errorf("MLflow served artifact requests of the run:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}

// gateCounters reads the gate's artifact counters from its metrics.
func gateCounters(t *testing.T, h *hostileRig) map[string]int64 {
	t.Helper()
	resp, err := http.Get("http://" + h.env["MLFLOW_GATE_METRICS_LISTEN"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		key := map[string]string{
			"mlflow_gate_artifact_bytes_uploaded_total":   "uploaded",
			"mlflow_gate_artifact_bytes_downloaded_total": "downloaded",
			"mlflow_gate_artifact_presigned_urls_total":   "presigned",
		}[name]
		if key == "" {
			continue
		}
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric %s: %v", name, err)
		}
		out[key] = int64(f)
	}
	if len(out) != 3 {
		t.Fatalf("artifact counters missing from the gate's metrics: %v", out)
	}
	return out
}

// mlflowArtifactRequests are the lines of MLflow's access log that served
// artifact bytes or listings of the run.
func mlflowArtifactRequests(t *testing.T, runID string) []string {
	t.Helper()
	b, err := os.ReadFile(need(t, "MLFLOW_GATE_TEST_MLFLOW_LOG"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "GET /version") {
		t.Fatal("MLflow's log has no access log lines: the check below would prove nothing")
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, runID) && strings.Contains(line, "artifact") { // mlflow-artifacts/..., get-artifact, artifacts/list, upload-artifact
			out = append(out, line)
		}
	}
	return out
}

// rawCall sends the request line exactly as given (no cleaning of dot
// segments or escapes by a client library) and returns the status.
func rawCall(t *testing.T, gateURL, pat, method, target, body string) (int, string) {
	t.Helper()
	host := strings.TrimPrefix(gateURL, "http://")
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		method, target, host, pat, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestArtifactsFailClosed: in an experiment bob has no access to, no
// artifact route under either prefix lets him read, list, write or delete
// (presigned and multipart included), and afterwards the files are exactly
// as they were. Paths that could leave the experiment's folders get 400,
// sent byte for byte. A write over an existing file by a user who may not
// delete is refused, and an HTML artifact never runs on the gate's origin.
func TestArtifactsFailClosed(t *testing.T) {
	h := newHostileRig(t, nil)
	if out, err := cli(t, h.env, browserPassword+"\n", "user", "add", "bob", "--password-stdin"); err != nil {
		t.Fatalf("user add bob: %v\n%s", err, out)
	}
	bob := createPAT(t, h.env, "bob")
	exp := h.experiment(t, h.alice, uniqueName(t))
	res := h.must(t, h.alice, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp, "start_time": time.Now().UnixMilli()})
	run, _ := res["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	root := exp + "/" + run + "/artifacts"
	put := func(pat, rel, body string) int {
		code, _, _ := h.call(t, pat, "PUT", "/api/2.0/mlflow-artifacts/artifacts/"+root+"/"+rel, body)
		return code
	}
	for rel, body := range map[string]string{"keep.txt": "alice's words", "dir/inner.json": `{"a":1}`, "report.html": "<script>alert(document.cookie)</script>"} {
		if code := put(h.alice, rel, body); code != http.StatusOK {
			t.Fatalf("alice's upload of %s: %d", rel, code)
		}
	}
	listing := func() string {
		t.Helper()
		code, b, _ := h.call(t, h.alice, "GET", "/api/2.0/mlflow-artifacts/artifacts?path="+root, nil)
		if code != http.StatusOK {
			t.Fatalf("alice's listing: %d %s", code, b)
		}
		return string(b)
	}
	read := func(rel string) string {
		t.Helper()
		code, b, _ := h.call(t, h.alice, "GET", "/api/2.0/mlflow-artifacts/artifacts/"+root+"/"+rel, nil)
		if code != http.StatusOK {
			t.Fatalf("alice reading %s: %d %s", rel, code, b)
		}
		return string(b)
	}
	was := listing()

	// Private by default: bob loses every experiment he was not given.
	if out, err := cli(t, h.env, "", "perm", "default", "Default", "none"); err != nil {
		t.Fatalf("perm default: %v\n%s", err, out)
	}
	mpu := func(file string) string { return `{"path":"` + file + `","num_parts":1}` }
	complete := `{"path":"keep.txt","upload_id":"x","parts":[{"part_number":1,"etag":"e"}]}`
	abort := `{"path":"keep.txt","upload_id":"x"}`
	var attempts []struct{ method, target, body string }
	for _, pre := range []string{"/api/2.0", "/ajax-api/2.0"} {
		a := pre + "/mlflow-artifacts/"
		attempts = append(attempts, []struct{ method, target, body string }{
			{"GET", a + "artifacts?path=" + root, ""},
			{"GET", a + "artifacts?path=" + root + "/dir", ""},
			{"GET", a + "artifacts/" + root + "/keep.txt", ""},
			{"HEAD", a + "artifacts/" + root + "/keep.txt", ""},
			{"PUT", a + "artifacts/" + root + "/keep.txt", "bob's words"},
			{"PUT", a + "artifacts/" + root + "/new.txt", "bob's words"},
			{"DELETE", a + "artifacts/" + root + "/keep.txt", ""},
			{"DELETE", a + "artifacts/" + root + "/dir", ""},
			{"POST", a + "mpu/create/" + root, mpu("keep.txt")},
			{"POST", a + "mpu/create/" + root, mpu("new.bin")},
			{"POST", a + "mpu/complete/" + root, complete},
			{"POST", a + "mpu/abort/" + root, abort},
			{"GET", a + "presigned/" + root + "/keep.txt", ""},
		}...)
	}
	attempts = append(attempts, []struct{ method, target, body string }{
		{"GET", "/api/2.0/mlflow/artifacts/list?run_id=" + run, ""},
		{"GET", "/ajax-api/2.0/mlflow/artifacts/list?run_id=" + run + "&path=dir", ""},
		{"GET", "/get-artifact?run_id=" + run + "&path=keep.txt", ""},
		{"GET", "/get-artifact?run_uuid=" + run + "&path=report.html", ""},
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=" + run + "&path=bob.txt", "bob's words"},
		{"POST", "/api/2.0/mlflow/artifacts/presigned-download-url", `{"run_id":"` + run + `","path":"keep.txt"}`},
		{"POST", "/api/2.0/mlflow/artifacts/presigned-upload-url", `{"run_id":"` + run + `","path":"bob.txt"}`},
	}...)
	deadline := time.Now().Add(3 * time.Second)
	for _, at := range attempts {
		for {
			code, body := rawCall(t, h.g.URL, bob, at.method, at.target, at.body)
			if code == http.StatusForbidden {
				break
			}
			if time.Now().After(deadline) { // the change feed brings the default within milliseconds
				t.Errorf("bob: %s %s answered %d %s, want 403", at.method, at.target, code, body)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Nor may bob aim a model version of his own registered model at her
	// files: the run or folder its source names must be readable to him.
	model := uniqueName(t)
	if code, b, _ := h.call(t, bob, "POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": model}); code != http.StatusOK {
		t.Fatalf("bob's registered model: %d %s", code, b)
	}
	bobExp := h.experiment(t, bob, uniqueName(t))
	bobRun := h.must(t, bob, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": bobExp, "start_time": time.Now().UnixMilli()})
	bobRunID, _ := bobRun["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	for _, body := range []map[string]any{
		{"name": model, "source": "mlflow-artifacts:/" + root + "/dir"},
		{"name": model, "source": "mlflow-artifacts:" + root},
		{"name": model, "source": "runs:/" + run + "/dir", "run_id": bobRunID},
		{"name": model, "source": "mlflow-artifacts:/" + root + "/dir", "run_id": bobRunID},
	} {
		if code, b, _ := h.call(t, bob, "POST", "/api/2.0/mlflow/model-versions/create", body); code != http.StatusForbidden {
			t.Errorf("bob's model version from %v: %d %s", body, code, b)
		}
	}
	// The control: from his own run it works.
	if code, b, _ := h.call(t, bob, "POST", "/api/2.0/mlflow/model-versions/create", map[string]any{"name": model, "source": "runs:/" + bobRunID + "/model", "run_id": bobRunID}); code != http.StatusOK {
		t.Errorf("bob's model version from his own run: %d %s", code, b)
	}
	versions := h.must(t, createPAT(t, h.env, "admin"), "GET", "/api/2.0/mlflow/model-versions/search?filter="+url.QueryEscape("name='"+model+"'"), nil)
	if vs, _ := versions["model_versions"].([]any); len(vs) != 1 {
		t.Errorf("bob's model should have the one version from his run: %v", versions)
	}
	if now := listing(); now != was {
		t.Errorf("alice's files changed under bob's attempts:\nbefore %s\nafter  %s", was, now)
	}
	if got := read("keep.txt"); got != "alice's words" {
		t.Errorf("keep.txt is now %q", got)
	}

	// Traversal and malformed paths, as alice (who may read and write here):
	// 400 whatever the route, and nothing written.
	long := strings.Repeat("x", 600)
	bad := []struct{ method, target, body string }{
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/../../../1/x/artifacts/keep.txt", ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/%2e%2e/%2e%2e/x", ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/dir%2Finner.json", ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/dir%5Cinner.json", ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/a%00b", ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/" + root + "//keep.txt", ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/./keep.txt", ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/" + long, ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=" + root + "/..", ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=" + root + "/%2e%2e", ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=" + exp, ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=" + exp + "/" + run, ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=%2F" + root, ""},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/../../x/artifacts/evil.txt", "evil"},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/" + root, "evil"},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/create/" + root, mpu("../evil.bin")},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/create/" + root, mpu("dir/evil.bin")},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/create/" + root, mpu("..")},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/create/" + root + "/../..", mpu("evil.bin")},
		{"GET", "/api/2.0/mlflow-artifacts/presigned/" + root + "/../keep.txt", ""},
	}
	for _, at := range bad {
		if code, body := rawCall(t, h.g.URL, h.alice, at.method, at.target, at.body); code != http.StatusBadRequest {
			t.Errorf("alice: %s %s answered %d %s, want 400", at.method, at.target, code, body)
		}
	}
	// Even the Admin, who may delete, never deletes an artifacts root or
	// what lies above one.
	admin := createPAT(t, h.env, "admin")
	for _, target := range []string{root, exp + "/" + run, exp, root + "/../.."} {
		if code, body := rawCall(t, h.g.URL, admin, "DELETE", "/api/2.0/mlflow-artifacts/artifacts/"+target, ""); code != http.StatusBadRequest {
			t.Errorf("admin: DELETE %s answered %d %s, want 400", target, code, body)
		}
	}
	if now := listing(); now != was {
		t.Errorf("alice's files changed under malformed requests:\nbefore %s\nafter  %s", was, now)
	}

	// alice may write but not delete: replacing or erasing her own file is a
	// delete, refused atomically by the bucket; a new name is fine.
	if code := put(h.alice, "keep.txt", "replaced"); code != http.StatusForbidden {
		t.Errorf("alice replacing keep.txt: %d", code)
	}
	if code := put(h.alice, "keep.txt", ""); code != http.StatusForbidden {
		t.Errorf("alice erasing keep.txt with an empty PUT: %d", code)
	}
	if got := read("keep.txt"); got != "alice's words" {
		t.Errorf("keep.txt is now %q", got)
	}

	// Streamed mode: the multipart calls answer MLflow's 501, never a URL.
	if code, body := rawCall(t, h.g.URL, h.alice, "POST", "/api/2.0/mlflow-artifacts/mpu/create/"+root, mpu("fresh.bin")); code != http.StatusNotImplemented || !strings.Contains(body, "NOT_IMPLEMENTED") {
		t.Errorf("mpu/create without a public endpoint: %d %s", code, body)
	}
	if code, body := rawCall(t, h.g.URL, h.alice, "GET", "/api/2.0/mlflow-artifacts/presigned/"+root+"/keep.txt", ""); code != http.StatusNotImplemented {
		t.Errorf("presigned without a public endpoint: %d %s", code, body)
	}

	// The UI's small upload: a new name is written, the same name again is a
	// replace alice may not make, an empty or oversized file is refused.
	ui := func(name, body string) int {
		code, _, _ := h.call(t, h.alice, "POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid="+run+"&path="+name, body)
		return code
	}
	if code := ui("dir/ui.txt", "from the UI"); code != http.StatusOK {
		t.Errorf("UI upload: %d", code)
	}
	if got := read("dir/ui.txt"); got != "from the UI" {
		t.Errorf("UI upload stored %q", got)
	}
	if code := ui("dir/ui.txt", "again"); code != http.StatusForbidden {
		t.Errorf("UI upload over an existing file: %d", code)
	}
	if code := ui("empty.txt", ""); code != http.StatusBadRequest {
		t.Errorf("empty UI upload: %d", code)
	}
	if code := ui("big.bin", strings.Repeat("x", 10<<20+1)); code != http.StatusBadRequest {
		t.Errorf("oversized UI upload: %d", code)
	}
	if code := ui("../../x/artifacts/evil.txt", "evil"); code != http.StatusBadRequest {
		t.Errorf("UI upload with a traversal: %d", code)
	}

	// The tracking API's listing (the UI's artifact tree) from the bucket.
	lst := h.must(t, h.alice, "GET", "/api/2.0/mlflow/artifacts/list?run_id="+run+"&path=dir", nil)
	if files, _ := lst["files"].([]any); len(files) != 2 || files[0].(map[string]any)["path"] != "dir/inner.json" || lst["root_uri"] != "mlflow-artifacts:/"+root {
		t.Errorf("artifacts/list: %v", lst)
	}

	// Ranges and HEAD, with S3's length and ETag.
	code, b, hdr := h.call(t, h.alice, "GET", "/api/2.0/mlflow-artifacts/artifacts/"+root+"/keep.txt", nil, "Range", "bytes=0-6")
	if code != http.StatusPartialContent || string(b) != "alice's" || hdr.Get("Content-Range") != "bytes 0-6/13" || hdr.Get("ETag") == "" {
		t.Errorf("ranged download: %d %q %v", code, b, hdr)
	}
	code, b, hdr = h.call(t, h.alice, "HEAD", "/api/2.0/mlflow-artifacts/artifacts/"+root+"/keep.txt", nil)
	if code != http.StatusOK || len(b) != 0 || hdr.Get("Content-Length") != "13" || hdr.Get("ETag") == "" {
		t.Errorf("HEAD: %d %q %v", code, b, hdr)
	}
	code, b, _ = h.call(t, h.alice, "GET", "/api/2.0/mlflow-artifacts/artifacts/"+root+"/missing.txt", nil)
	if code != http.StatusNotFound || !strings.Contains(string(b), "RESOURCE_DOES_NOT_EXIST") {
		t.Errorf("a missing file: %d %s", code, b)
	}

	// Content safety: HTML is an attachment in a sandbox, never a page.
	code, _, hdr = h.call(t, h.alice, "GET", "/api/2.0/mlflow-artifacts/artifacts/"+root+"/report.html", nil)
	if code != http.StatusOK || hdr.Get("Content-Security-Policy") != "sandbox" || hdr.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(hdr.Get("Content-Disposition"), "attachment") {
		t.Errorf("report.html: %d %v", code, hdr)
	}
	code, body, hdr := h.call(t, h.alice, "GET", "/get-artifact?run_id="+run+"&path=report.html", nil)
	if code != http.StatusOK || hdr.Get("Content-Security-Policy") != "sandbox" || hdr.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(hdr.Get("Content-Disposition"), "attachment") || !strings.Contains(string(body), "<script>") {
		t.Errorf("report.html through get-artifact: %d %v", code, hdr)
	}
	// The UI's get-artifact and every call above were served from S3 by the
	// gate: MLflow's access log has no artifact request of the run.
	if lines := mlflowArtifactRequests(t, run); len(lines) > 0 {
		t.Errorf("MLflow served artifact requests of the run:\n%s", strings.Join(lines, "\n"))
	}
}
