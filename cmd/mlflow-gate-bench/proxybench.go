package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// benchSlice is how long each measured slice of load lasts: def, or
// MLFLOW_GATE_BENCH_SECONDS for a quick look.
func benchSlice(def time.Duration) time.Duration {
	if s, err := strconv.ParseFloat(os.Getenv("MLFLOW_GATE_BENCH_SECONDS"), 64); err == nil && s > 0 && s <= 60 {
		return time.Duration(s * float64(time.Second))
	}
	return def
}

const (
	warmup      = time.Second
	maxRequests = 2_000_000 // per slice of load: a bound well above what 2 cores reach in it
)

// path is one side of a comparison: a base URL, the credential it needs and
// the process whose CPU time is charged to it.
type path struct {
	name   string
	base   string
	header http.Header
	pid    int
}

func metricBody(runID string) func(i uint64) []byte {
	return func(i uint64) []byte {
		return fmt.Appendf(nil, `{"run_id":%q,"key":"loss","value":%d.25,"timestamp":%d,"step":%d}`,
			runID, i%1000, time.Now().UnixMilli(), i)
	}
}

// proxyOverhead: the budget measures the gate against a trivial upstream at an
// added p50 latency ≤ 1.25 × what a bare httputil.ReverseProxy adds and a
// throughput ≥ 0.8 × the bare proxy's, measured in the same run. The upstream,
// the bare proxy and the gate binary are three processes; the load generator
// is this one. The gate runs with its shipped defaults plus audited reads, so
// every request it forwards is audited, and callers present real credentials.
func proxyOverhead(ctx context.Context, env *benchEnv) error {
	up, err := startChild("upstream")
	if err != nil {
		return err
	}
	defer up.stop()
	bare, err := startChild("bare", up.url)
	if err != nil {
		return err
	}
	defer bare.stop()
	bareFlush, err := startChild("bare-flush", up.url)
	if err != nil {
		return err
	}
	defer bareFlush.stop()

	g, db, metricsAddr, err := env.measuredGate(ctx, up.url)
	if err != nil {
		return err
	}
	stopGate := sync.OnceValue(g.stop)
	defer stopGate()
	pw, pat, err := env.benchUser(ctx, db, "bench")
	if err != nil {
		return err
	}
	paths := []path{
		{name: "direct", base: up.url, pid: up.cmd.Process.Pid},
		{name: "bare ReverseProxy", base: bare.url, pid: bare.cmd.Process.Pid},
		{name: "bare, FlushInterval -1", base: bareFlush.url, pid: bareFlush.cmd.Process.Pid},
		{name: "gate, PAT", base: g.url, header: bearer(pat), pid: g.cmd.Process.Pid},
	}
	jwt, err := loginAccessToken(ctx, g.url, "bench", pw)
	if err != nil {
		return fmt.Errorf("logging in for an access token: %w", err)
	}
	session, err := sessionHeader(ctx, g.url, "bench", pw)
	if err != nil {
		return fmt.Errorf("logging in for a browser session: %w", err)
	}
	paths = append(paths, path{name: "gate, JWT", base: g.url, header: bearer(jwt), pid: g.cmd.Process.Pid},
		path{name: "gate, session", base: g.url, header: session, pid: g.cmd.Process.Pid})

	const runID = "0123456789abcdef0123456789abcdef"
	reqs := []request{
		{method: "GET", path: trivialRunGetPath + "?run_id=" + runID},
		{method: "POST", path: trivialLogPath, body: metricBody(runID)},
	}
	slice := benchSlice(2 * time.Second)
	const rounds = 5
	seq := new(atomic.Uint64)
	none := func() map[int]time.Duration { return nil }
	upstreamCPU, pgCPU, selfCPU := pidProbe(up.cmd.Process.Pid), commProbe("postgres"), pidProbe(os.Getpid())
	fmt.Printf("processes: upstream %d, bare proxy %d, bare proxy flushing every write %d, gate %d, load generator %d\n\n",
		up.cmd.Process.Pid, bare.cmd.Process.Pid, bareFlush.cmd.Process.Pid, g.cmd.Process.Pid, os.Getpid())
	fmt.Printf("Closed loop, keep-alive, one client per path warmed up for %s; then %d rounds of %s per path, the order\n"+
		"rotating each round; figures pool the rounds. CPU columns: user+system time per request of the proxy, the\n"+
		"upstream, every PostgreSQL process (the gate's audit writes), the load generator, and the rest of the machine\n"+
		"(busy time in /proc/stat minus the others: ~0 unless something else ran; tick accounting makes it negative at c=1).\n"+
		"All share 2 cores. The gate audits every request it forwards (MLFLOW_GATE_AUDIT_READS=true) and logs at info\n"+
		"(to /dev/null).\n\n", warmup, rounds, slice)
	fmt.Println("| request | concurrency | path | req/s | p50 ms | p90 ms | p99 ms | added p50 ms | CPU µs/req: proxy | upstream | PostgreSQL | load generator | rest of machine |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	type verdict struct {
		what                string
		latRatio, tpRatio   float64
		latRounds, tpRounds []float64
		flushLat, flushTp   float64
	}
	var verdicts []verdict
	ratios := func(direct, bare, gate result) (float64, float64) {
		return float64(gate.pct(0.5)-direct.pct(0.5)) / float64(bare.pct(0.5)-direct.pct(0.5)), gate.rps() / bare.rps()
	}
	for _, rq := range reqs {
		for _, conc := range []int{1, 16, 64} {
			loads := make([]load, len(paths))
			for i, p := range paths {
				proxyCPU := none
				if i > 0 {
					proxyCPU = pidProbe(p.pid)
				}
				loads[i] = load{base: p.base, header: p.header, req: rq, conc: conc, dur: slice, max: maxRequests, seq: seq,
					probes: []probe{proxyCPU, upstreamCPU, pgCPU, selfCPU, machineProbe}}
			}
			pooled, byRound, err := interleave(ctx, loads, rounds, warmup)
			if err != nil {
				return fmt.Errorf("%s %s, concurrency %d: %w", rq.method, rq.path, conc, err)
			}
			for i, p := range paths {
				r := pooled[i]
				added := "—"
				if i > 0 {
					added = ms(r.pct(0.5) - pooled[0].pct(0.5))
				}
				rest := r.cpuPerReq(4) - r.cpuPerReq(0) - r.cpuPerReq(1) - r.cpuPerReq(2) - r.cpuPerReq(3)
				fmt.Printf("| %s %s | %d | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %.0f |\n", rq.method, routeName(rq.path), conc, p.name,
					r.rps(), ms(r.pct(0.5)), ms(r.pct(0.9)), ms(r.pct(0.99)), added,
					us(r.cpuPerReq(0)), us(r.cpuPerReq(1)), us(r.cpuPerReq(2)), us(r.cpuPerReq(3)), float64(rest)/1e3)
			}
			for i := 3; i < len(paths); i++ {
				v := verdict{what: fmt.Sprintf("%s %s, c=%d, %s", rq.method, routeName(rq.path), conc, paths[i].name)}
				v.latRatio, v.tpRatio = ratios(pooled[0], pooled[1], pooled[i])
				v.flushLat, v.flushTp = ratios(pooled[0], pooled[2], pooled[i])
				for _, rr := range byRound {
					l, t := ratios(rr[0], rr[1], rr[i])
					v.latRounds, v.tpRounds = append(v.latRounds, l), append(v.tpRounds, t)
				}
				verdicts = append(verdicts, v)
			}
		}
	}
	fmt.Println()
	fmt.Println("| request, concurrency, credential | gate added p50 ÷ bare added p50 (≤ 1.25) | within | gate req/s ÷ bare req/s (≥ 0.8) | within | per round: latency ratio, median (range) | throughput ratio | both against the bare proxy flushing every write |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, v := range verdicts {
		fmt.Printf("| %s | %.2f | %s | %.2f | %s | %s | %s | %.2f / %.2f |\n", v.what, v.latRatio, yesNo(v.latRatio <= 1.25), v.tpRatio, yesNo(v.tpRatio >= 0.8),
			spread(v.latRounds), spread(v.tpRounds), v.flushLat, v.flushTp)
	}

	// Audit on means audited: every request the gate allowed has its row.
	allowed := scrape("http://"+metricsAddr+"/metrics", `mlflow_gate_decisions_total{outcome="allow"}`)
	dropped := scrape("http://"+metricsAddr+"/metrics", "mlflow_gate_audit_dropped_total")
	logged := scrape("http://"+metricsAddr+"/metrics", "mlflow_gate_audit_logged_total")
	if err := stopGate(); err != nil {
		return fmt.Errorf("stopping the gate: %w", err)
	}
	rows, err := countAudit(ctx, db)
	if err != nil {
		return err
	}
	fmt.Printf("\naudit: %d requests allowed by the gate, %d audit rows written, %.0f records dropped (queue full), %.0f sent to the log instead\n",
		int64(allowed), rows, dropped, logged)
	// A million audit rows would keep PostgreSQL busy (autovacuum) during
	// the next benchmark: drop them now.
	return env.dropDatabase(ctx, db)
}

// measuredGate starts, on a database of its own, the gate as the proxy
// benchmarks measure it: in front of upstream, every forwarded request
// audited, log level info, metrics (and extra's settings) on a free address,
// hour-long access tokens so that none expires during a run. It returns once
// the gate is ready.
func (e *benchEnv) measuredGate(ctx context.Context, upstream string, extra ...string) (g *gate, db, metricsAddr string, err error) {
	if db, err = e.database(ctx); err != nil {
		return nil, "", "", err
	}
	if metricsAddr, err = freeAddr(); err != nil {
		return nil, "", "", err
	}
	g, err = e.readyGate(db, append([]string{"MLFLOW_GATE_MLFLOW_URL=" + upstream, "MLFLOW_GATE_AUDIT_READS=true",
		"MLFLOW_GATE_LOG_LEVEL=info", "MLFLOW_GATE_METRICS_LISTEN=" + metricsAddr, "MLFLOW_GATE_TOKEN_ACCESS_TTL=1h"}, extra...)...)
	return g, db, metricsAddr, err
}

func (e *benchEnv) dropDatabase(ctx context.Context, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, e.serverURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()+" WITH (FORCE)")
	return err
}

func routeName(p string) string {
	p, _, _ = strings.Cut(p, "?")
	return strings.TrimPrefix(p, "/api/2.0/mlflow/")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// scrape reads one sample from a Prometheus text page; -1 when absent.
func scrape(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return -1
}

func countAudit(ctx context.Context, dbURL string) (int64, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action LIKE 'mlflow.%'`).Scan(&n)
	return n, err
}
