package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The requests the stock MLflow client sends most while a run trains and while
// someone looks at it, with its headers: runs/get, log-batch with a step's
// metrics, and runs/search over one experiment.
func stockClientRequests(runID string) []request {
	batch := func(i uint64) []byte {
		now := time.Now().UnixMilli()
		var b strings.Builder
		fmt.Fprintf(&b, `{"run_id":%q,"metrics":[`, runID)
		for k, key := range []string{"loss", "accuracy", "val_loss", "val_accuracy", "lr"} {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"key":%q,"value":%d.5,"timestamp":%d,"step":%d}`, key, i%997, now, i)
		}
		b.WriteString(`],"params":[],"tags":[{"key":"mlflow.note","value":"epoch"}]}`)
		return []byte(b.String())
	}
	search := func(uint64) []byte {
		return []byte(`{"experiment_ids":["0"],"filter":"","run_view_type":"ACTIVE_ONLY","max_results":100,"order_by":[]}`)
	}
	return []request{
		{method: "GET", path: trivialRunGetPath + "?run_id=" + runID},
		{method: "POST", path: trivialBatchPath, body: batch},
		{method: "POST", path: trivialSearchPath, body: search},
	}
}

// stockClientHeader is what the mlflow Python client (requests underneath)
// sends besides the credential.
func stockClientHeader(auth http.Header) http.Header {
	h := auth.Clone()
	h.Set("User-Agent", "mlflow-python-client/3.18.0")
	h.Set("Accept", "*/*")
	h.Set("Accept-Encoding", "gzip, deflate")
	return h
}

// profileProxy runs the shipped binary (audited reads, log level info, as in
// the proxy benchmark) against the trivial upstream under the stock client's
// requests at concurrency 1 and 16, with a PAT and with a JWT, and takes a CPU
// profile and the allocations over each window from the gate's pprof
// endpoints. It prints the top entries and leaves the profiles in
// MLFLOW_GATE_BENCH_PROFILE_DIR (default: a new temporary directory) for
// `go tool pprof -http`.
func profileProxy(ctx context.Context, env *benchEnv) error {
	dir := os.Getenv("MLFLOW_GATE_BENCH_PROFILE_DIR")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "mlflow-gate-profiles"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	up, err := startChild("upstream")
	if err != nil {
		return err
	}
	defer up.stop()
	g, db, metricsAddr, err := env.measuredGate(ctx, up.url, "MLFLOW_GATE_PPROF=true")
	if err != nil {
		return err
	}
	defer g.stop()
	pw, pat, err := env.benchUser(ctx, db, "bench")
	if err != nil {
		return err
	}
	jwt, err := loginAccessToken(ctx, g.url, "bench", pw)
	if err != nil {
		return err
	}
	session, err := sessionHeader(ctx, g.url, "bench", pw)
	if err != nil {
		return err
	}
	creds := []struct {
		name   string
		header http.Header
	}{{"PAT", bearer(pat)}, {"JWT", bearer(jwt)}, {"session", session}}
	reqs := stockClientRequests("0123456789abcdef0123456789abcdef")
	slice := benchSlice(2 * time.Second)
	seq := new(atomic.Uint64)
	pprofURL := "http://" + metricsAddr + "/debug/pprof/"
	fmt.Printf("Gate: audited reads, log level info (to /dev/null), as in the proxy benchmark. Per window: %s of each of\n"+
		"GET runs/get, POST log-batch (5 metrics, 1 tag), POST runs/search (10 runs back), with a PAT, a JWT and a browser\n"+
		"session; stock client headers. Profiles in %s.\n\n", slice, dir)
	for _, conc := range []int{1, 16} {
		var loads []load
		for _, c := range creds {
			for _, rq := range reqs {
				loads = append(loads, load{base: g.url, header: stockClientHeader(c.header), req: rq, conc: conc,
					dur: slice, max: maxRequests, seq: seq})
			}
		}
		// Warm the connections and the gate's caches outside the window.
		clients := make([]*http.Client, len(loads))
		for i, l := range loads {
			clients[i] = newClient(conc)
			defer clients[i].CloseIdleConnections()
			w := l
			w.dur = warmup / 2
			if r := w.run(ctx, clients[i]); r.failed > 0 {
				return fmt.Errorf("warm-up: %w", r.check("warm-up"))
			}
		}
		tag := fmt.Sprintf("c%d", conc)
		allocsBefore := filepath.Join(dir, "allocs-"+tag+"-before.pprof")
		if err := fetchTo(ctx, pprofURL+"allocs", allocsBefore); err != nil {
			return err
		}
		window := time.Duration(len(loads)) * slice
		cpuFile := filepath.Join(dir, "cpu-"+tag+".pprof")
		cpuDone := make(chan error, 1)
		go func() {
			secs := int(math.Ceil(window.Seconds()))
			cpuDone <- fetchTo(ctx, pprofURL+"profile?seconds="+strconv.Itoa(secs), cpuFile)
		}()
		time.Sleep(50 * time.Millisecond) // let the profile start first
		var total uint64
		for i, l := range loads {
			r := l.run(ctx, clients[i])
			if err := r.check("load"); err != nil {
				return err
			}
			total += uint64(len(r.lat))
		}
		if err := <-cpuDone; err != nil {
			return err
		}
		allocsAfter := filepath.Join(dir, "allocs-"+tag+"-after.pprof")
		if err := fetchTo(ctx, pprofURL+"allocs", allocsAfter); err != nil {
			return err
		}
		fmt.Printf("### concurrency %d: %d requests in %s\n\n", conc, total, window)
		cpuTop, cpuTotal, err := pprofTop(ctx, "-top", "-cum", "-nodecount=30", cpuFile)
		if err != nil {
			return err
		}
		fmt.Printf("CPU, cumulative (%s sampled; %s per request):\n\n```\n%s```\n\n", cpuTotal, perRequest(cpuTotal, total), cpuTop)
		flatTop, _, err := pprofTop(ctx, "-top", "-nodecount=25", cpuFile)
		if err != nil {
			return err
		}
		fmt.Printf("CPU, flat:\n\n```\n%s```\n\n", flatTop)
		for _, idx := range []string{"alloc_objects", "alloc_space"} {
			top, sum, err := pprofTop(ctx, "-top", "-nodecount=25", "-sample_index="+idx, "-base", allocsBefore, allocsAfter)
			if err != nil {
				return err
			}
			fmt.Printf("Allocations (%s: %s in the window; %s per request):\n\n```\n%s```\n\n", idx, sum, perRequest(sum, total), top)
		}
	}
	return nil
}

func fetchTo(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var pprofTotal = regexp.MustCompile(`of ([0-9.]+[a-zA-Zµ]*) total`)

// pprofTop runs `go tool pprof` and returns its table without the preamble,
// and the total it names.
func pprofTop(ctx context.Context, args ...string) (string, string, error) {
	out, err := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, args...)...).CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("go tool pprof %s: %v: %s", strings.Join(args, " "), err, out)
	}
	text := string(out)
	total := ""
	if m := pprofTotal.FindStringSubmatch(text); m != nil {
		total = m[1]
	}
	if i := strings.Index(text, "      flat"); i >= 0 {
		text = text[i:]
	}
	return text, total, nil
}

// perRequest divides a pprof total ("12.5s", "3.2GB", "1534021") by n.
func perRequest(total string, n uint64) string {
	if n == 0 {
		return "—"
	}
	units := []struct {
		suffix string
		scale  float64
		out    string
	}{{"ms", 1e3, "µs"}, {"s", 1e6, "µs"}, {"kB", 1e3, "B"}, {"MB", 1e6, "B"}, {"GB", 1e9, "B"}, {"B", 1, "B"}, {"k", 1e3, "objects"}, {"M", 1e6, "objects"}, {"", 1, "objects"}}
	for _, u := range units {
		num, ok := strings.CutSuffix(total, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			continue
		}
		return fmt.Sprintf("%.1f %s", v*u.scale/float64(n), u.out)
	}
	return "?"
}
