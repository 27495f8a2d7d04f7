package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// mlflowOverhead: the budget puts the gate in front of real MLflow at
// ≥ 0.95 × direct throughput. MLflow (the rig's, one worker) is the
// bottleneck, so concurrency is modest; direct and gated loads alternate in
// short rounds so that drift in MLflow (its tables grow) falls on both alike.
func mlflowOverhead(ctx context.Context, env *benchEnv) error {
	db, err := env.database(ctx)
	if err != nil {
		return err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	g, err := env.startGate(db, "MLFLOW_GATE_AUDIT_READS=true", "MLFLOW_GATE_LOG_LEVEL=info", "MLFLOW_GATE_METRICS_LISTEN="+metricsAddr)
	if err != nil {
		return err
	}
	stopGate := sync.OnceValue(g.stop)
	defer stopGate()
	if _, err := g.waitReady("/readyz", 60*time.Second); err != nil {
		return err
	}
	_, pat, err := env.benchUser(ctx, db, "bench")
	if err != nil {
		return err
	}
	// The run is created through the gate, so it carries mlflow.user = bench.
	runID, err := createRun(ctx, g.url, pat)
	if err != nil {
		return err
	}

	direct := path{name: "direct", base: env.mlflowURL}
	gated := path{name: "gate, PAT", base: g.url, header: bearer(pat), pid: g.cmd.Process.Pid}
	reqs := []request{
		{method: "GET", path: "/api/2.0/mlflow/experiments/get?experiment_id=0"},
		{method: "POST", path: "/api/2.0/mlflow/runs/log-metric", body: metricBody(runID)},
	}
	const conc, rounds = 8, 8
	slice := benchSlice(2500 * time.Millisecond)
	seq := new(atomic.Uint64)
	fmt.Printf("MLflow %s at %s (one worker). Concurrency %d; after a %s warm-up per path, %d rounds of %s per path,\n"+
		"direct and gate alternating; figures pool the rounds. The gate audits reads too.\n\n",
		mlflowVersion(env.mlflowURL), env.mlflowURL, conc, warmup, rounds, slice)
	fmt.Println("| request | path | req/s | p50 ms | p90 ms | p99 ms | gate CPU µs/req |")
	fmt.Println("|---|---|---|---|---|---|---|")
	var ratios []string
	for _, rq := range reqs {
		var loads []load
		for _, p := range []path{direct, gated} {
			l := load{base: p.base, header: p.header, req: rq, conc: conc, dur: slice, max: maxRequests, seq: seq}
			if p.pid != 0 {
				l.probes = []probe{pidProbe(p.pid)}
			}
			loads = append(loads, l)
		}
		pooled, byRound, err := interleave(ctx, loads, rounds, warmup)
		if err != nil {
			return fmt.Errorf("%s %s: %w", rq.method, rq.path, err)
		}
		for i, p := range []path{direct, gated} {
			r := pooled[i]
			fmt.Printf("| %s %s | %s | %.1f | %s | %s | %s | %s |\n", rq.method, routeName(rq.path), p.name,
				r.rps(), ms(r.pct(0.5)), ms(r.pct(0.9)), ms(r.pct(0.99)), us(r.cpuPerReq(0)))
		}
		var perRound []float64
		for _, rr := range byRound {
			perRound = append(perRound, rr[1].rps()/rr[0].rps())
		}
		ratio := pooled[1].rps() / pooled[0].rps()
		ratios = append(ratios, fmt.Sprintf("| %s %s | %.1f | %.1f | %.3f | %s | %s |", rq.method, routeName(rq.path),
			pooled[0].rps(), pooled[1].rps(), ratio, yesNo(ratio >= 0.95), spread(perRound)))
	}
	fmt.Println()
	fmt.Println("| request | direct req/s | gate req/s | gate ÷ direct (≥ 0.95) | within | per round: median (range) |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range ratios {
		fmt.Println(r)
	}
	allowed := scrape("http://"+metricsAddr+"/metrics", `mlflow_gate_decisions_total{outcome="allow"}`)
	dropped := scrape("http://"+metricsAddr+"/metrics", "mlflow_gate_audit_dropped_total")
	if err := stopGate(); err != nil {
		return fmt.Errorf("stopping the gate: %w", err)
	}
	rows, err := countAudit(ctx, db)
	if err != nil {
		return err
	}
	fmt.Printf("\naudit: %d requests allowed by the gate, %d audit rows written, %.0f dropped\n", int64(allowed), rows, dropped)
	return nil
}

// createRun starts a run in the default experiment through the gate and
// checks that it carries the gate user's mlflow.user tag.
func createRun(ctx context.Context, gateURL, pat string) (string, error) {
	body := fmt.Sprintf(`{"experiment_id":"0","run_name":"bench","start_time":%d}`, time.Now().UnixMilli())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gateURL+"/api/2.0/mlflow/runs/create", bytes.NewBufferString(body))
	req.Header = bearer(pat)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
			Data struct {
				Tags []struct{ Key, Value string } `json:"tags"`
			} `json:"data"`
		} `json:"run"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.Run.Info.RunID == "" {
		return "", fmt.Errorf("runs/create through the gate: status %d: %.200s", resp.StatusCode, b)
	}
	for _, t := range out.Run.Data.Tags {
		if t.Key == "mlflow.user" && t.Value != "bench" {
			return "", fmt.Errorf("run created through the gate has mlflow.user %q", t.Value)
		}
	}
	return out.Run.Info.RunID, nil
}

func mlflowVersion(base string) string {
	resp, err := http.Get(base + "/version")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	return string(bytes.TrimSpace(b))
}
