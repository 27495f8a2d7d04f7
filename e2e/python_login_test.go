package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// TestPythonLogin runs the pytest suite of the Python login package
// (clients/python) against a real gate, MLflow and PostgreSQL, with the
// package installed from its wheel into a fresh virtual environment beside
// the rig's MLflow, as a training machine would have it.
//
// The gate's access tokens live accessTTL, and clients reach it through a
// front that holds every refresh answer back for refreshDelay, so refreshes
// that start together overlap (the race the package's lock must win), and
// that can lose one refresh answer after the gate has rotated the token.
func TestPythonLogin(t *testing.T) {
	t.Parallel()
	const accessTTL, refreshDelay = 4 * time.Second, 600 * time.Millisecond
	py := need(t, "MLFLOW_GATE_TEST_PYTHON")
	dbURL := storagetest.EmptyDatabase(t)
	env := gateEnv(t, dbURL)
	frontAddr := freePort(t)
	env["MLFLOW_GATE_ISSUER"] = "http://" + frontAddr
	env["MLFLOW_GATE_TOKEN_ACCESS_TTL"] = accessTTL.String()
	env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = "bootstrap passphrase for e2e"
	front := startFront(t, frontAddr, "http://"+env["MLFLOW_GATE_LISTEN"], refreshDelay)
	g := startGate(t, env)

	const user, password = "trainer-ann", "correct horse battery staple"
	if out, err := cli(t, env, password+"\n", "user", "add", user, "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	out, err := cli(t, env, "", "client", "add", "nightly-job", "--grants", "client_credentials", "--roles", "Default")
	if err != nil {
		t.Fatalf("client add: %v\n%s", err, out)
	}
	secret := firstLine(out)

	venv := pythonLoginVenv(t, py)
	src, err := filepath.Abs("../clients/python")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(venv, "bin", "python"), "-m", "pytest", "-p", "no:cacheprovider",
		"-q", "-rA", "--durations=5", "tests")
	cmd.Dir = src
	cmd.Env = environ(map[string]string{
		"HOME":                           t.TempDir(),
		"PYTHONDONTWRITEBYTECODE":        "1",
		"MLFLOW_DISABLE_TELEMETRY":       "true",
		"DO_NOT_TRACK":                   "true",
		"MLFLOW_GATE_TEST_GATE_URL":      g.URL,
		"MLFLOW_GATE_TEST_FRONT_CONTROL": front.control,
		"MLFLOW_GATE_TEST_USERNAME":      user,
		"MLFLOW_GATE_TEST_PASSWORD":      password,
		"MLFLOW_GATE_TEST_CLIENT_ID":     "nightly-job",
		"MLFLOW_GATE_TEST_CLIENT_SECRET": secret,
		"MLFLOW_GATE_TEST_DATABASE_URL":  dbURL,
		"MLFLOW_GATE_TEST_ACCESS_TTL":    strconv.Itoa(int(accessTTL.Seconds())),
	})
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = cmd.Run()
	t.Logf("pytest clients/python/tests:\n%s", buf.String())
	if err != nil {
		t.Fatalf("pytest failed: %v", err)
	}
	if !strings.Contains(buf.String(), " passed") || strings.Contains(buf.String(), " skipped") {
		t.Fatalf("pytest did not report its tests as passed (and none skipped)")
	}
}

// pythonLoginVenv builds the package's wheel from a copy of its sources (the
// build writes into the tree it builds) and installs it into a new virtual
// environment that sees the rig's packages (MLflow, requests, pytest) through
// a .pth file, so nothing is downloaded.
func pythonLoginVenv(t *testing.T, py string) string {
	t.Helper()
	dir := t.TempDir()
	run := func(name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = environ(map[string]string{"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"})
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	srcCopy := filepath.Join(dir, "src")
	if err := os.CopyFS(srcCopy, os.DirFS("../clients/python")); err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(dir, "dist")
	run(py, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, srcCopy)
	wheels, _ := filepath.Glob(filepath.Join(dist, "mlflow_gate_client-*.whl"))
	if len(wheels) != 1 {
		t.Fatalf("pip wheel made %v, want one mlflow_gate_client wheel", wheels)
	}
	venv := filepath.Join(dir, "venv")
	run(py, "-m", "venv", "--without-pip", venv)
	site := run(filepath.Join(venv, "bin", "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
	rigSite := run(py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
	if err := os.WriteFile(filepath.Join(site, "rig-mlflow.pth"), []byte(rigSite+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// pip of the rig installs into the new environment; requests is found there through the .pth.
	run(filepath.Join(venv, "bin", "python"), "-m", "pip", "install", "-q", "--no-index", "--find-links", dist, "mlflow-gate-client")
	return venv
}

// front is the gate as the Python tests' clients see it: a reverse proxy that
// holds refresh answers back, counts refresh grants, and on request loses
// the next refresh answer after the gate has given it.
type front struct {
	control   string
	refreshes atomic.Int64
	lose      atomic.Bool
}

func startFront(t *testing.T, addr, gateURL string, delay time.Duration) *front {
	t.Helper()
	target, err := url.Parse(gateURL)
	if err != nil {
		t.Fatal(err)
	}
	f := &front{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		// The gate is not up yet while startGate polls /healthz.
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) },
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
			proxy.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			http.Error(w, "front: reading body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if form.Get("grant_type") != "refresh_token" {
			proxy.ServeHTTP(w, r)
			return
		}
		f.refreshes.Add(1)
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r)
		time.Sleep(delay)
		if f.lose.CompareAndSwap(true, false) {
			// The gate has rotated the token; its answer never reaches the client.
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})}
	go func() { _ = srv.Serve(ln) }()

	ctl := http.NewServeMux()
	ctl.HandleFunc("GET /refreshes", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, f.refreshes.Load())
	})
	ctl.HandleFunc("POST /lose-next-refresh", func(w http.ResponseWriter, _ *http.Request) {
		f.lose.Store(true)
	})
	ctlSrv := httptest.NewServer(ctl)
	f.control = ctlSrv.URL
	t.Cleanup(func() {
		ctlSrv.Close()
		_ = srv.Close()
	})
	return f
}
