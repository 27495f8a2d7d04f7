package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/proxy"
)

// The benchmarks run the trivial upstream and the bare reverse proxy as
// processes of their own, like the gate, so that none of them shares a Go
// runtime with the load generator: each is the bench binary re-executed with
// a hidden first argument. A child prints its base URL on its first line of
// standard output and serves until its standard input closes (so it never
// outlives the benchmark, even one that crashed).
const childArg = "--bench-child"

func init() {
	if len(os.Args) > 2 && os.Args[1] == childArg {
		if err := runChild(os.Args[2], os.Args[3:]); err != nil {
			fmt.Fprintln(os.Stderr, "mlflow-gate-bench child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// Bodies of the trivial upstream: the size of MLflow's answers to a small run
// and to a logged metric.
const (
	trivialRunJSON    = `{"run":{"info":{"run_id":"0123456789abcdef0123456789abcdef","run_uuid":"0123456789abcdef0123456789abcdef","experiment_id":"0","run_name":"bench","user_id":"bench","status":"RUNNING","start_time":1700000000000,"artifact_uri":"mlflow-artifacts:/0/0123456789abcdef0123456789abcdef/artifacts","lifecycle_stage":"active"},"data":{"metrics":[{"key":"loss","value":0.25,"timestamp":1700000000000,"step":3}],"params":[],"tags":[]},"inputs":{}}}`
	trivialRunGetPath = "/api/2.0/mlflow/runs/get"
	trivialLogPath    = "/api/2.0/mlflow/runs/log-metric"
	trivialBatchPath  = "/api/2.0/mlflow/runs/log-batch"
	trivialSearchPath = "/api/2.0/mlflow/runs/search"
)

// trivialUpstream answers the measured routes with small JSON bodies (a
// search answers ten copies of the run), and
// /version and /health for the gate's start-up and /readyz. It checks nothing.
func trivialUpstream() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "3.18.0") })
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "OK") })
	mux.HandleFunc("GET "+trivialRunGetPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, trivialRunJSON)
	})
	empty := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	}
	mux.HandleFunc("POST "+trivialLogPath, empty)
	mux.HandleFunc("POST "+trivialBatchPath, empty)
	run := strings.TrimSuffix(strings.TrimPrefix(trivialRunJSON, `{"run":`), "}")
	search := `{"runs":[` + strings.TrimSuffix(strings.Repeat(run+",", 10), ",") + `]}`
	mux.HandleFunc("POST "+trivialSearchPath, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(search))) // as MLflow sends it: not a stream
		_, _ = io.WriteString(w, search)
	})
	return mux
}

// bareProxy is the reference the budget names: httputil.ReverseProxy with
// Rewrite and the gate's own tuned transport (proxy.NewTransport), nothing else.
// flush is its FlushInterval: 0 for the reference; the gate's own -1 (flush
// every write) for a second, diagnostic reference that separates the cost of
// that setting from the cost of the gate's logic.
func bareProxy(target *url.URL, flush time.Duration) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
			pr.SetXForwarded()
		},
		Transport:     proxy.NewTransport(60 * time.Second),
		FlushInterval: flush,
	}
}

func runChild(kind string, args []string) error {
	var h http.Handler
	switch kind {
	case "upstream":
		h = trivialUpstream()
	case "bare", "bare-flush":
		if len(args) != 1 {
			return errors.New("bare needs the upstream URL")
		}
		target, err := url.Parse(args[0])
		if err != nil {
			return err
		}
		var flush time.Duration
		if kind == "bare-flush" {
			flush = -1
		}
		h = bareProxy(target, flush)
	default:
		return fmt.Errorf("unknown child %q", kind)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The same server settings as the gate's (cmd/mlflow-gate/run.go).
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); _ = srv.Close() }()
	fmt.Printf("http://%s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// child is a running helper process.
type child struct {
	url   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

func startChild(kind string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{childArg, kind}, args...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(io.Discard, stdout)
		c.done <- cmd.Wait()
	}()
	select {
	case c.url = <-line:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("child %s did not start", kind)
	}
	if !strings.HasPrefix(c.url, "http://") {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("child %s did not start: %q", kind, c.url)
	}
	return c, nil
}

func (c *child) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
