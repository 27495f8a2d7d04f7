package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/idp/password"
	"github.com/mlflow-gate/mlflow-gate/internal/testlog"
	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// mlflowURL is the real MLflow server the rig started.
func mlflowURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("MLFLOW_GATE_TEST_MLFLOW_URL")
	if u == "" {
		t.Fatal("MLFLOW_GATE_TEST_MLFLOW_URL is not set: run the tests with `scripts/test`, which starts MLflow")
	}
	return u
}

type running struct {
	addr   string
	stdout *testlog.Buffer
	logs   *testlog.Buffer
	stop   func() error
}

// startServe runs serve in-process on :0 listeners until the test ends.
func startServe(t *testing.T, cfg Config) *running {
	t.Helper()
	mainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuer = "http://" + mainLn.Addr().String()
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &testlog.Buffer{}, logs: &testlog.Buffer{}}
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, &cfg, r.stdout, newLogger(r.logs, "info", logFormatJSON), &listeners{main: mainLn, metrics: metricsLn, ready: ready})
	}()
	select {
	case r.addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve exited before ready: %v\n%s", err, r.logs)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve not ready after 30s:\n%s", r.logs)
	}
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	t.Cleanup(func() { _ = r.stop() })
	t.Logf("metrics on %s", metricsLn.Addr())
	return r
}

func testConfig(t *testing.T, dbURL, upstream string) Config {
	var c Config
	c.bindFlags(newFlagSet(), "serve", envMap(map[string]string{
		"MLFLOW_GATE_DATABASE_URL":     dbURL,
		"MLFLOW_GATE_MLFLOW_URL":       upstream,
		"MLFLOW_GATE_ISSUER":           "http://127.0.0.1:8080",
		"MLFLOW_GATE_SECRET":           "test-secret-0123456789abcdef0123456789",
		"MLFLOW_GATE_DATABASE_WAIT":    "2s",
		"MLFLOW_GATE_SHUTDOWN_TIMEOUT": "10s",
	}))
	if err := c.Validate("serve"); err != nil {
		t.Fatal(err)
	}
	return c
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q", url, ct)
	}
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode, v
}

func TestServeHealthReadinessAndBootstrap(t *testing.T) {
	db := storagetest.EmptyDatabase(t)
	r := startServe(t, testConfig(t, db, mlflowURL(t)))

	if code, body := getJSON(t, "http://"+r.addr+"/healthz"); code != 200 || body["status"] != "alive" {
		t.Fatalf("healthz: %d %v", code, body)
	}
	if code, body := getJSON(t, "http://"+r.addr+"/readyz"); code != 200 || body["status"] != "ready" {
		t.Fatalf("readyz with database and MLflow up: %d %v", code, body)
	}
	// Everything else is the gate: no credential is a 401 in MLflow's shape, and
	// a Host other than the issuer's is refused before anything else.
	if code, body := getJSON(t, "http://"+r.addr+"/api/2.0/mlflow/experiments/search"); code != 401 || body["error_code"] != "UNAUTHENTICATED" {
		t.Fatalf("anonymous API call: %d %v", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.addr+"/api/2.0/mlflow/experiments/search", nil)
	req.Host = "evil.example:80"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(string(b), "its issuer is http://"+r.addr) ||
		!strings.Contains(string(b), "add evil.example:80 to MLFLOW_GATE_ALLOWED_HOSTS") {
		t.Fatalf("foreign Host: %d %s, want 421 naming the issuer and MLFLOW_GATE_ALLOWED_HOSTS", resp.StatusCode, b)
	}
	if code, body := getJSON(t, "http://"+r.addr+"/readyz"); code != 200 || !strings.HasPrefix(body["mlflow_version"].(string), "3.18") {
		t.Fatalf("readyz should report MLflow's version: %v", body)
	}

	// The generated admin password is printed once, works, and never reaches the log.
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(r.stdout.String())
	if m == nil {
		t.Fatalf("no admin password printed:\n%s", r.stdout)
	}
	if strings.Contains(r.logs.String(), m[1]) {
		t.Fatal("the admin password reached the log")
	}
	st, err := storage.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin, err := st.UserByName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := password.Verify(admin.PasswordHash, m[1]); !ok || err != nil {
		t.Fatalf("printed password does not match the stored hash: %v", err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	// A restart creates nothing and prints nothing.
	again := startServe(t, testConfig(t, db, mlflowURL(t)))
	if strings.Contains(again.stdout.String(), "password") {
		t.Fatalf("second start printed a password:\n%s", again.stdout)
	}
	users, _ := st.ListUsers(context.Background())
	if len(users) != 1 {
		t.Fatalf("%d users after restart", len(users))
	}
}

func TestReadyzNamesTheMissingPart(t *testing.T) {
	// A port nobody listens on stands for an MLflow that went away.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	r := startServe(t, testConfig(t, storagetest.EmptyDatabase(t), dead))
	code, body := getJSON(t, "http://"+r.addr+"/readyz")
	checks, _ := body["checks"].(map[string]any)
	if code != 503 || checks["mlflow"] != "unreachable" || checks["database"] != "ok" {
		t.Fatalf("readyz with MLflow down: %d %v", code, body)
	}
	if _, ok := checks["artifacts"]; ok {
		t.Errorf("readyz reports an artifact store that is not configured: %v", checks)
	}
}

// An S3 that went away is reported by readyz, and the gate stays ready:
// everything but artifacts still works.
func TestReadyzReportsTheArtifactStore(t *testing.T) {
	mlflow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/version" {
			_, _ = io.WriteString(w, mlflowTableVersion+".0")
		}
	}))
	defer mlflow.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	cfg := testConfig(t, storagetest.EmptyDatabase(t), mlflow.URL)
	cfg.S3Endpoint, cfg.S3Bucket, cfg.S3AccessKey, cfg.S3SecretKey = dead, "mlflow", "k", "s"
	r := startServe(t, cfg)
	code, body := getJSON(t, "http://"+r.addr+"/readyz")
	checks, _ := body["checks"].(map[string]any)
	if code != 200 || checks["artifacts"] != "unreachable" || checks["mlflow"] != "ok" {
		t.Fatalf("readyz with S3 down: %d %v", code, body)
	}
}

// Shutdown lets a request in flight finish instead of cutting it off.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	// An upstream that accepts and then says nothing keeps /readyz busy.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	r := startServe(t, testConfig(t, storagetest.EmptyDatabase(t), "http://"+ln.Addr().String()))
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + r.addr + "/readyz")
		if err != nil {
			got <- -1
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	time.Sleep(300 * time.Millisecond) // let the request reach the handler
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	if code := <-got; code != http.StatusServiceUnavailable {
		t.Fatalf("in-flight request during shutdown got %d, want its real answer 503", code)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if !strings.Contains(r.logs.String(), "draining") {
		t.Fatalf("shutdown not logged:\n%s", r.logs)
	}
}

func TestDatabaseUnreachableAtStartIsRetriedAndReported(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig(t, "postgres://gate:hunter2-db-password@"+addr+"/gate?sslmode=disable", "http://127.0.0.1:1")
	logs := &testlog.Buffer{}
	err := serve(context.Background(), &cfg, io.Discard, slog.New(slog.NewJSONHandler(logs, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), "database unreachable after") {
		t.Fatalf("serve with no database: %v", err)
	}
	if n := strings.Count(logs.String(), "retrying"); n < 2 {
		t.Fatalf("want several logged retries, got %d:\n%s", n, logs)
	}
	if strings.Contains(logs.String()+err.Error(), "hunter2") {
		t.Fatal("the database password leaked into the log or error")
	}
}

// TestProviderPathsNeverReachMLflow: every provider path answers every
// method itself (405 with Allow for the ones it does not serve), so that
// GET /oauth/token or DELETE /oauth/keys never falls through to the proxy.
func TestProviderPathsNeverReachMLflow(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	mlflow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
	}))
	defer mlflow.Close()
	r := startServe(t, testConfig(t, storagetest.EmptyDatabase(t), mlflow.URL))
	serves := map[string]string{
		"/.well-known/openid-configuration": "GET", "/oauth/keys": "GET", "/oauth/authorize": "GET POST",
		"/oauth/token": "POST", "/oauth/introspect": "POST", "/oauth/revoke": "POST", "/oauth/device_authorization": "POST",
		"/oauth/device": "GET POST", "/oauth/end_session": "GET POST", "/oauth/logged_out": "GET", "/oauth/logout": "GET POST",
		"/oauth/userinfo": "GET POST", "/oauth/login": "GET POST",
	}
	mu.Lock()
	before := len(seen)
	mu.Unlock()
	for path, methods := range serves {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			if strings.Contains(methods, m) {
				continue
			}
			req, _ := http.NewRequest(m, "http://"+r.addr+path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), strings.Fields(methods)[0]) ||
				!strings.Contains(string(b), `"invalid_request"`) {
				t.Errorf("%s %s: %d Allow=%q %s", m, path, resp.StatusCode, resp.Header.Get("Allow"), b)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen[before:] {
		if strings.HasPrefix(strings.Fields(s)[1], "/oauth") || strings.HasPrefix(strings.Fields(s)[1], "/.well-known") {
			t.Errorf("MLflow received %s", s)
		}
	}
}

// TestDatabaseProblemsThatCannotHealFailAtOnce: a refused password or a
// missing database fails every command, serve included, on the first try
// with the reason and what to do; an unreachable server fails one-shot
// commands on the first try too (only serve waits for it).
func TestDatabaseProblemsThatCannotHealFailAtOnce(t *testing.T) {
	good, err := url.Parse(storagetest.EmptyDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	user := good.User.Username()
	wrongPW, noDB := *good, *good
	wrongPW.User = url.UserPassword(user, "hunter2-wrong-password")
	noDB.Path = "/no_such_database_here"
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := "postgres://gate:hunter2-db-password@" + ln.Addr().String() + "/gate?sslmode=disable"
	ln.Close()
	for _, tc := range []struct {
		name, url, want string
	}{
		{"wrong password", wrongPW.String(), "refused the user or password"},
		{"missing database", noDB.String(), "does not exist"},
		{"no server (one-shot)", gone, "is PostgreSQL running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := gate(t, map[string]string{"MLFLOW_GATE_DATABASE_URL": tc.url}, "", "user", "list")
			if code != 1 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "retrying") || strings.Contains(stderr, "hunter2") {
				t.Errorf("user list: exit %d, stderr %q", code, stderr)
			}
			if tc.name == "no server (one-shot)" {
				return // serve waits for that one: TestDatabaseUnreachableAtStartIsRetriedAndReported
			}
			cfg := testConfig(t, tc.url, "http://127.0.0.1:1")
			logs := &testlog.Buffer{}
			err := serve(context.Background(), &cfg, io.Discard, slog.New(slog.NewJSONHandler(logs, nil)), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(logs.String(), "retrying") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("serve: %v\n%s", err, logs)
			}
		})
	}
}
