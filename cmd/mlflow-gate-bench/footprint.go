package main

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// footprint: the budgets are idle RSS ≤ 40 MB and start to ready ≤ 0.5 s
// on a migrated database. The first start migrates and bootstraps (not
// budgeted, reported); the following starts are the ones measured.
func footprint(ctx context.Context, env *benchEnv) error {
	db, err := env.database(ctx)
	if err != nil {
		return err
	}
	first, err := env.startGate(db, "MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD=correct horse battery staple")
	if err != nil {
		return err
	}
	d, err := first.waitReady("/readyz", 60*time.Second)
	if err != nil {
		return err
	}
	if err := first.stop(); err != nil {
		return err
	}
	fmt.Printf("first start (migrate + bootstrap) to /readyz: %s\n", d.Round(time.Millisecond))

	const runs = 7
	var starts []time.Duration
	var rss []int
	for range runs {
		g, err := env.startGate(db)
		if err != nil {
			return err
		}
		d, err := g.waitReady("/readyz", 30*time.Second)
		if err != nil {
			g.stop()
			return err
		}
		starts = append(starts, d)
		time.Sleep(2 * time.Second) // idle: let start-up garbage be collected
		kib, err := rssKiB(g.cmd.Process.Pid)
		if err != nil {
			g.stop()
			return err
		}
		rss = append(rss, kib)
		if err := g.stop(); err != nil {
			return err
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	sort.Ints(rss)
	med := starts[runs/2]
	fmt.Printf("| measure | median | min | max | budget | within |\n|---|---|---|---|---|---|\n")
	fmt.Printf("| start to /readyz 200, migrated database (%d runs) | %s | %s | %s | ≤ 500ms | %v |\n",
		runs, med.Round(time.Millisecond), starts[0].Round(time.Millisecond), starts[runs-1].Round(time.Millisecond), med <= 500*time.Millisecond)
	fmt.Printf("| idle RSS after 2 s | %.1f MB | %.1f MB | %.1f MB | ≤ 40 MB | %v |\n",
		float64(rss[runs/2])/1024, float64(rss[0])/1024, float64(rss[runs-1])/1024, float64(rss[runs/2])/1024 <= 40)
	return nil
}
