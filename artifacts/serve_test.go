package artifacts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestAnswersAsMLflowDoes writes files through MLflow's own artifact proxy,
// then lists and downloads them both through MLflow and through the Store's
// handlers on the same bucket: the listings are the same JSON, and the
// downloads the same bytes with the same type and disposition.
func TestAnswersAsMLflowDoes(t *testing.T) {
	mlflowURL := os.Getenv("MLFLOW_GATE_TEST_MLFLOW_URL")
	if mlflowURL == "" {
		t.Fatal("MLFLOW_GATE_TEST_MLFLOW_URL is not set: run the tests through scripts/test or scripts/services run")
	}
	s := rigStore(t)
	s.prefix = "artifacts" // MLflow's --artifacts-destination in the rig: s3://<bucket>/artifacts
	exp := fmt.Sprint(900000 + rand.IntN(99999))
	root := exp + "/0123456789abcdef0123456789abcdef/artifacts"
	files := map[string]string{
		"MLmodel": "flavors: {}\n", "model.pkl": "\x80\x04binary", "plot.png": "\x89PNG....", "report.html": "<script>1</script>",
		"sub/metrics.json": `{"a":1}`, "sub/deeper/notes.md": "# hi", "naïve ü.txt": "unicode",
	}
	for name, body := range files {
		req, _ := http.NewRequest(http.MethodPut, mlflowURL+"/api/2.0/mlflow-artifacts/artifacts/"+root+"/"+strings.ReplaceAll(name, " ", "%20"), strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("MLflow upload of %s: %v %v", name, resp, err)
		}
		resp.Body.Close()
	}
	get := func(h http.Handler, url string) (*http.Response, []byte) {
		t.Helper()
		var resp *http.Response
		if h == nil {
			var err error
			if resp, err = http.Get(mlflowURL + url); err != nil {
				t.Fatal(err)
			}
		} else {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
			resp = rec.Result()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	ours := func(list bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if list {
				s.ServeList(w, r, mustParse(t, r.URL.Query().Get("path"), false), nil)
				return
			}
			p := strings.TrimPrefix(r.URL.Path, "/api/2.0/mlflow-artifacts/artifacts/")
			s.ServeDownload(w, r, mustParse(t, p, true), nil)
		})
	}
	for _, dir := range []string{root, root + "/sub", root + "/sub/deeper", root + "/model.pkl", root + "/nothing"} {
		url := "/api/2.0/mlflow-artifacts/artifacts?path=" + strings.ReplaceAll(dir, " ", "%20")
		mr, mb := get(nil, url)
		gr, gb := get(ours(true), url)
		var mv, gv any
		if json.Unmarshal(mb, &mv) != nil || json.Unmarshal(gb, &gv) != nil || !reflect.DeepEqual(mv, gv) || mr.StatusCode != gr.StatusCode {
			t.Errorf("listing %s:\n MLflow %d %s\n ours   %d %s", dir, mr.StatusCode, mb, gr.StatusCode, gb)
		}
	}
	for name, body := range files {
		url := "/api/2.0/mlflow-artifacts/artifacts/" + root + "/" + strings.ReplaceAll(name, " ", "%20")
		mr, mb := get(nil, url)
		gr, gb := get(ours(false), url)
		if !bytes.Equal(mb, []byte(body)) || !bytes.Equal(gb, mb) {
			t.Errorf("%s: MLflow gave %q, ours %q", name, mb, gb)
		}
		for _, h := range []string{"Content-Type", "X-Content-Type-Options"} {
			if mr.Header.Get(h) != gr.Header.Get(h) {
				t.Errorf("%s: %s: MLflow %q, ours %q", name, h, mr.Header.Get(h), gr.Header.Get(h))
			}
		}
		if !strings.HasPrefix(gr.Header.Get("Content-Disposition"), "attachment") || gr.Header.Get("Content-Security-Policy") != "sandbox" ||
			gr.Header.Get("Content-Length") != fmt.Sprint(len(body)) || gr.Header.Get("ETag") == "" {
			t.Errorf("%s: our headers %v", name, gr.Header)
		}
		t.Logf("%s: MLflow %q / ours %q", name, mr.Header.Get("Content-Disposition"), gr.Header.Get("Content-Disposition"))
	}
	// Range, and a missing file.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("Range", "bytes=2-4")
	s.ServeDownload(rec, req, mustParse(t, root+"/MLmodel", true), nil)
	if rec.Code != http.StatusPartialContent || rec.Body.String() != files["MLmodel"][2:5] {
		t.Errorf("range: %d %q", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	s.ServeDownload(rec, httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(context.Background()), mustParse(t, root+"/missing", true), nil)
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "RESOURCE_DOES_NOT_EXIST") {
		t.Errorf("missing: %d %s", rec.Code, rec.Body.String())
	}
}

// TestRunListingAnswersAsMLflowDoes: the tracking API's artifacts/list of a
// real run, from MLflow and from HandleRunList on the same bucket, is the
// same JSON for the root, folders, a file and a missing folder.
func TestRunListingAnswersAsMLflowDoes(t *testing.T) {
	mlflowURL := os.Getenv("MLFLOW_GATE_TEST_MLFLOW_URL")
	if mlflowURL == "" {
		t.Fatal("MLFLOW_GATE_TEST_MLFLOW_URL is not set: run the tests through scripts/test or scripts/services run")
	}
	s := rigStore(t)
	s.prefix = "artifacts"
	// made creates a run or a logged model in MLflow, fills its folder with
	// files through MLflow, and returns its id and artifact URI.
	made := func(path, kind, idField string) (id, uri string) {
		t.Helper()
		resp, err := http.Post(mlflowURL+path, "application/json", strings.NewReader(`{"experiment_id":"0"}`))
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]map[string]map[string]any
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		id, _ = v[kind]["info"][idField].(string)
		uri, _ = v[kind]["info"]["artifact_uri"].(string)
		if err != nil || !strings.HasPrefix(uri, "mlflow-artifacts:/") {
			t.Fatalf("%s: %v %q", path, err, uri)
		}
		for _, name := range []string{"a.txt", "model.pkl", "sub/b.json", "sub/deeper/c.md"} {
			req, _ := http.NewRequest(http.MethodPut, mlflowURL+"/api/2.0/mlflow-artifacts/artifacts/"+strings.TrimPrefix(uri, "mlflow-artifacts:/")+"/"+name, strings.NewReader("x"+name))
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("MLflow upload of %s: %v %v", name, resp, err)
			}
			resp.Body.Close()
		}
		return id, uri
	}
	compare := func(what, mlflowPath, param, uri string) {
		t.Helper()
		root := strings.TrimPrefix(uri, "mlflow-artifacts:/")
		for _, rel := range []string{"", "sub", "sub/deeper", "model.pkl", "nothing"} {
			u := mlflowURL + mlflowPath
			if rel != "" {
				u += param + rel
			}
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			mb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			rec := httptest.NewRecorder()
			s.HandleRunList(rec, httptest.NewRequest(http.MethodGet, "/x", nil), root, rel, uri)
			var mv, gv any
			if json.Unmarshal(mb, &mv) != nil || json.Unmarshal(rec.Body.Bytes(), &gv) != nil || !reflect.DeepEqual(mv, gv) || resp.StatusCode != rec.Code {
				t.Errorf("%s listing %q:\n MLflow %d %s\n ours   %d %s", what, rel, resp.StatusCode, mb, rec.Code, rec.Body.String())
			}
		}
	}
	run, uri := made("/api/2.0/mlflow/runs/create", "run", "run_id")
	compare("run", "/api/2.0/mlflow/artifacts/list?run_id="+run, "&path=", uri)
	// A logged model's folder, listed by logged-models/<id>/artifacts/directories.
	model, uri := made("/api/2.0/mlflow/logged-models", "model", "model_id")
	compare("logged model", "/api/2.0/mlflow/logged-models/"+model+"/artifacts/directories?", "artifact_directory_path=", uri)
}
