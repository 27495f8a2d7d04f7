package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Search with resource permissions: 10,000 experiments and 50,000 runs, one
// experiment in ten owned by the benchmark's user, resources private by
// default. The gate filters experiments/search and refills its pages from
// MLflow's; the direct path is the same MLflow pages fetched straight (what
// the gate must ask for), so the difference is the gate's own time.
const (
	searchExperiments = 10_000
	searchRunsPer     = 5
	searchOwnedEvery  = 10
	searchPage        = 100
	searchReps        = 15
)

func searchOverhead(ctx context.Context, env *benchEnv) error {
	db, err := env.database(ctx)
	if err != nil {
		return err
	}
	g, err := env.startGate(db)
	if err != nil {
		return err
	}
	defer g.stop()
	if _, err := g.waitReady("/readyz", 60*time.Second); err != nil {
		return err
	}
	_, pat, err := env.benchUser(ctx, db, "bench")
	if err != nil {
		return err
	}
	if _, err := env.cli(ctx, db, "", "perm", "default", "Default", "none"); err != nil {
		return err
	}
	prefix := "sb-" + randToken(6) + "-"
	client := newClient(16)
	start := time.Now()
	// Experiments in batches of 16 at a time: the owned ones through the
	// gate (their owner is recorded from MLflow's answer), the rest direct.
	ids := make([]string, searchExperiments)
	if err := parallel(ctx, searchExperiments, 16, func(i int) error {
		base, hdr, name := env.mlflowURL, http.Header{}, fmt.Sprintf("%s%05d", prefix, i)
		if i%searchOwnedEvery == 0 {
			base, hdr, name = g.url, bearer(pat), name+"-own"
		}
		var out struct {
			ID string `json:"experiment_id"`
		}
		if err := postJSON(ctx, client, base+"/api/2.0/mlflow/experiments/create", hdr, map[string]any{"name": name}, &out); err != nil {
			return err
		}
		ids[i] = out.ID
		return nil
	}); err != nil {
		return fmt.Errorf("creating experiments: %w", err)
	}
	if err := parallel(ctx, searchExperiments*searchRunsPer, 16, func(i int) error {
		return postJSON(ctx, client, env.mlflowURL+"/api/2.0/mlflow/runs/create", http.Header{},
			map[string]any{"experiment_id": ids[i/searchRunsPer], "start_time": time.Now().UnixMilli()}, nil)
	}); err != nil {
		return fmt.Errorf("creating runs: %w", err)
	}
	fmt.Printf("Made %d experiments (one in %d owned by the user, through the gate) and %d runs in %s; Default's level is none.\n"+
		"Each search asks for %d results, %d times per path, alternating; medians.\n\n",
		searchExperiments, searchOwnedEvery, searchExperiments*searchRunsPer, time.Since(start).Round(time.Second), searchPage, searchReps)

	filter := "name LIKE '" + prefix + "%'"
	viaGate := func() (time.Duration, int, error) {
		q := url.Values{"max_results": {fmt.Sprint(searchPage)}, "filter": {filter}}
		t0 := time.Now()
		var page struct {
			Experiments []struct{ Name string }
		}
		err := getJSON(ctx, client, g.url+"/api/2.0/mlflow/experiments/search?"+q.Encode(), bearer(pat), &page)
		for _, e := range page.Experiments {
			if !strings.HasSuffix(e.Name, "-own") {
				return 0, 0, fmt.Errorf("the gate's answer holds %s, which the user may not read", e.Name)
			}
		}
		return time.Since(t0), len(page.Experiments), err
	}
	// direct fetches the pages the gate needs for a full page of readable
	// experiments, straight from MLflow, and filters them the way it does.
	direct := func() (time.Duration, int, int, error) {
		t0 := time.Now()
		found, pages, token := 0, 0, ""
		for found < searchPage {
			q := url.Values{"max_results": {fmt.Sprint(searchPage)}, "filter": {filter}}
			if token != "" {
				q.Set("page_token", token)
			}
			var page struct {
				Experiments []json.RawMessage
				Next        string `json:"next_page_token"`
			}
			if err := getJSON(ctx, client, env.mlflowURL+"/api/2.0/mlflow/experiments/search?"+q.Encode(), http.Header{}, &page); err != nil {
				return 0, 0, 0, err
			}
			pages++
			for _, e := range page.Experiments {
				var x struct{ Name string }
				_ = json.Unmarshal(e, &x)
				if strings.HasSuffix(x.Name, "-own") && found < searchPage {
					found++
				}
			}
			if token = page.Next; token == "" {
				break
			}
		}
		return time.Since(t0), found, pages, nil
	}
	runsSearch := func(base string, hdr http.Header) (time.Duration, error) {
		t0 := time.Now()
		err := postJSON(ctx, client, base+"/api/2.0/mlflow/runs/search", hdr, map[string]any{"experiment_ids": []string{ids[0]}, "max_results": 100}, nil)
		return time.Since(t0), err
	}
	var gateT, directT, gateRuns, directRuns []time.Duration
	pages, got := 0, 0
	for range searchReps {
		d, n, p, err := direct()
		if err != nil {
			return err
		}
		gd, gn, err := viaGate()
		if err != nil {
			return err
		}
		if gn != n {
			return fmt.Errorf("the gate answered %d experiments, the direct pages hold %d readable", gn, n)
		}
		rd, err := runsSearch(env.mlflowURL, http.Header{})
		if err != nil {
			return err
		}
		rg, err := runsSearch(g.url, bearer(pat))
		if err != nil {
			return err
		}
		directT, gateT, directRuns, gateRuns = append(directT, d), append(gateT, gd), append(directRuns, rd), append(gateRuns, rg)
		pages, got = p, n
	}
	med := func(v []time.Duration) time.Duration { slices.Sort(v); return v[len(v)/2] }
	fmt.Println("| search | MLflow pages | direct ms | gate ms | gate's added ms | added ÷ MLflow's time (≤ 10 %) |")
	fmt.Println("|---|---|---|---|---|---|")
	row := func(what string, pages int, d, gt time.Duration) {
		added := gt - d
		fmt.Printf("| %s | %d | %s | %s | %s | %.1f %% %s |\n", what, pages, ms(d), ms(gt), ms(added),
			100*float64(added)/float64(d), map[bool]string{true: "within", false: "over"}[float64(added) <= 0.1*float64(d)])
	}
	row(fmt.Sprintf("experiments/search, %d readable of the first %d", got, pages*searchPage), pages, med(directT), med(gateT))
	row("runs/search in an owned experiment", 1, med(directRuns), med(gateRuns))
	return nil
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func postJSON(ctx context.Context, c *http.Client, u string, hdr http.Header, body, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header = hdr.Clone()
	req.Header.Set("Content-Type", "application/json")
	return doJSON(c, req, out)
}

func getJSON(ctx context.Context, c *http.Client, u string, hdr http.Header, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header = hdr.Clone()
	return doJSON(c, req, out)
}

func doJSON(c *http.Client, req *http.Request, out any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %.200s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}
