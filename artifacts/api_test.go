package artifacts

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// presigningStore is rigStore with the rig's S3 as the public endpoint too.
func presigningStore(t *testing.T) *Store {
	t.Helper()
	s := rigStore(t)
	pub, err := client("http://"+os.Getenv("MLFLOW_GATE_TEST_S3_ENDPOINT"), Config{Region: os.Getenv("MLFLOW_GATE_TEST_S3_REGION"),
		AccessKey: os.Getenv("MLFLOW_GATE_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("MLFLOW_GATE_TEST_S3_SECRET_KEY")})
	if err != nil {
		t.Fatal(err)
	}
	s.public, s.ttl = pub, 2*time.Minute
	return s
}

func multipart(t *testing.T, s *Store, op MultipartOp, folder, body string, replace bool) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.HandleMultipart(rec, httptest.NewRequest(http.MethodPost, "/x", nil), op, folder, []byte(body), replace)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// TestMultipartAndPresignedAgainstS3: an upload's part URLs are for that
// upload's key and PUT only, and live the configured time; abort ends the
// upload; a caller who may not replace cannot start or complete one over an
// existing file; bad bodies get 400 and nothing is written.
func TestMultipartAndPresignedAgainstS3(t *testing.T) {
	s := presigningStore(t)
	const folder = "5/0123456789abcdef0123456789abcdef/artifacts/sub"
	code, created := multipart(t, s, MultipartCreate, folder, `{"path":"big.bin","num_parts":1}`, false)
	if code != http.StatusOK {
		t.Fatalf("create: %d %v", code, created)
	}
	creds := created["credentials"].([]any)
	u, _ := url.Parse(creds[0].(map[string]any)["url"].(string))
	if u.Query().Get("X-Amz-Expires") != "120" || u.Query().Get("partNumber") != "1" || !strings.HasSuffix(u.Path, "/"+s.prefix+"/"+folder+"/big.bin") {
		t.Errorf("part URL %s", u)
	}
	put := func(raw string, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPut, raw, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	part := put(u.String(), "part one")
	if part.StatusCode != http.StatusOK || part.Header.Get("ETag") == "" {
		t.Fatalf("part PUT: %d", part.StatusCode)
	}
	// The URL signs one key: another key with the same signature is refused.
	other := strings.Replace(u.String(), "big.bin", "other.bin", 1)
	if resp := put(other, "x"); resp.StatusCode/100 == 2 {
		t.Errorf("a part URL took another key: %d", resp.StatusCode)
	}
	id := created["upload_id"].(string)
	if code, out := multipart(t, s, MultipartAbort, folder, `{"path":"big.bin","upload_id":"`+id+`"}`, false); code != http.StatusOK {
		t.Fatalf("abort: %d %v", code, out)
	}
	done := `{"path":"big.bin","upload_id":"` + id + `","parts":[{"part_number":1,"etag":` + jsonString(part.Header.Get("ETag")) + `}]}`
	if code, out := multipart(t, s, MultipartComplete, folder, done, false); code != http.StatusBadRequest {
		t.Errorf("complete after abort: %d %v", code, out)
	}

	// A full round: create, PUT, complete; then the file is there, and a
	// second create or complete over it without replace is refused.
	_, created = multipart(t, s, MultipartCreate, folder, `{"path":"big.bin","num_parts":1}`, false)
	id = created["upload_id"].(string)
	part = put(created["credentials"].([]any)[0].(map[string]any)["url"].(string), "the whole file")
	done = `{"path":"big.bin","upload_id":"` + id + `","parts":[{"part_number":1,"etag":` + jsonString(part.Header.Get("ETag")) + `}]}`
	if code, out := multipart(t, s, MultipartComplete, folder, done, false); code != http.StatusOK {
		t.Fatalf("complete: %d %v", code, out)
	}
	if code, out := multipart(t, s, MultipartCreate, folder, `{"path":"big.bin","num_parts":1}`, false); code != http.StatusForbidden {
		t.Errorf("create over an existing file without replace: %d %v", code, out)
	}
	if code, out := multipart(t, s, MultipartComplete, folder, done, false); code != http.StatusForbidden {
		t.Errorf("complete over an existing file without replace: %d %v", code, out)
	}

	// The presigned download is a GET of that key only, an attachment.
	rec := httptest.NewRecorder()
	s.HandlePresigned(rec, httptest.NewRequest(http.MethodGet, "/x", nil), folder+"/big.bin")
	var pre struct {
		URL      string `json:"url"`
		FileSize int64  `json:"file_size"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &pre); err != nil || rec.Code != http.StatusOK || pre.FileSize != int64(len("the whole file")) {
		t.Fatalf("presigned: %d %s", rec.Code, rec.Body.String())
	}
	resp, err := http.Get(pre.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "the whole file" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("presigned GET: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	if resp := put(pre.URL, "replaced"); resp.StatusCode/100 == 2 {
		t.Errorf("a GET URL took a PUT: %d", resp.StatusCode)
	}

	for _, body := range []string{`{"path":"a/b.bin","num_parts":1}`, `{"path":"..\\\\x","num_parts":1}`, `{"path":"","num_parts":1}`,
		`{"num_parts":1}`, `{"path":"x.bin","num_parts":0}`, `{"path":"x.bin","num_parts":10001}`, `[1]`, `not json`} {
		if code, out := multipart(t, s, MultipartCreate, folder, body, true); code != http.StatusBadRequest {
			t.Errorf("create with %s: %d %v", body, code, out)
		}
	}
	// Without a public endpoint: MLflow's 501, on which the client streams.
	s.public = nil
	if code, out := multipart(t, s, MultipartCreate, folder, `{"path":"new.bin","num_parts":1}`, false); code != http.StatusNotImplemented || out["error_code"] != "NOT_IMPLEMENTED" {
		t.Errorf("create without a public endpoint: %d %v", code, out)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestStoreGoneIsA502WithoutInternals: with nothing listening where S3
// should be, every handler answers MLflow's 502 shape, names no address or
// S3 error, and logs the detail.
func TestStoreGoneIsA502WithoutInternals(t *testing.T) {
	ln := httptest.NewServer(http.NotFoundHandler())
	addr := ln.URL
	ln.Close() // nothing listens there now
	var logs strings.Builder
	s, err := New(Config{Endpoint: addr, Bucket: "b", Prefix: "artifacts", AccessKey: "k", SecretKey: "s", PublicEndpoint: addr,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	const root = "3/0123456789abcdef0123456789abcdef/artifacts"
	calls := map[string]func(w http.ResponseWriter, r *http.Request){
		"list":     func(w http.ResponseWriter, r *http.Request) { s.HandleList(w, r, root) },
		"download": func(w http.ResponseWriter, r *http.Request) { s.HandleDownload(w, r, root+"/a.txt") },
		"upload":   func(w http.ResponseWriter, r *http.Request) { s.HandleUpload(w, r, root+"/a.txt", false) },
		"delete":   func(w http.ResponseWriter, r *http.Request) { s.HandleDelete(w, r, root+"/a.txt") },
		"presign":  func(w http.ResponseWriter, r *http.Request) { s.HandlePresigned(w, r, root+"/a.txt") },
		"mpu": func(w http.ResponseWriter, r *http.Request) {
			s.HandleMultipart(w, r, MultipartCreate, root, []byte(`{"path":"a.bin","num_parts":1}`), false)
		},
	}
	host := strings.TrimPrefix(addr, "http://")
	for name, call := range calls {
		rec := httptest.NewRecorder()
		call(rec, httptest.NewRequest(http.MethodPut, "/x", strings.NewReader("bytes")))
		if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), `"TEMPORARILY_UNAVAILABLE"`) || strings.Contains(rec.Body.String(), host) {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body.String())
		}
	}
	if !strings.Contains(logs.String(), "artifact store") {
		t.Errorf("the failures were not logged:\n%s", logs.String())
	}
}
