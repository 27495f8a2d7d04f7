package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// uiFirstScreen: the budget puts the MLflow UI's first screen through the
// gate at ≤ 1.1 × its load time straight from MLflow. One headless Chromium
// signs in at the gate once; then direct and gated page loads of / alternate,
// each until the experiments list shows an experiment made for the purpose,
// with the browser's cache warm (a returning user) and disabled (every asset
// transferred). Only the page load after login is measured.
func uiFirstScreen(ctx context.Context, env *benchEnv) error {
	exe := os.Getenv("MLFLOW_GATE_TEST_CHROMIUM")
	if exe == "" {
		return fmt.Errorf("MLFLOW_GATE_TEST_CHROMIUM is not set: run it as scripts/bench ui")
	}
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
	pw, pat, err := env.benchUser(ctx, db, "bench")
	if err != nil {
		return err
	}
	expName := "ui-bench-" + randToken(6)
	if err := createExperiment(ctx, g.url, pat, expName); err != nil {
		return err
	}

	profile, err := os.MkdirTemp(env.tmp, "chromium-")
	if err != nil {
		return err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.DisableGPU,
		chromedp.NoSandbox, // the rig runs as root, where Chromium's sandbox cannot start
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelAlloc()
	allocCtx, cancelExec := chromedp.NewExecAllocator(allocCtx, opts...)
	defer cancelExec()
	tab, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()

	// Sign in once.
	if err := chromedp.Do(tab,
		chromedp.Navigate(g.url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "bench"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	); err != nil {
		return fmt.Errorf("signing in: %w", err)
	}
	// Back at / after the form post and its redirect; evaluating fails while
	// the page navigates.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](`location.pathname === "/" && document.querySelector("#root") !== null &&
			document.querySelector("#root").childElementCount > 0`))
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not back in the UI 30s after signing in (last error %v)", err)
		}
	}
	if _, err := firstScreen(tab, g.url, expName); err != nil {
		return fmt.Errorf("first screen after login: %w", err)
	}
	if _, err := firstScreen(tab, env.mlflowURL, expName); err != nil {
		return fmt.Errorf("first screen from MLflow: %w", err)
	}

	const rounds = 7
	fmt.Printf("MLflow %s at %s; headless Chromium %s, 1280x900. Page: / until the experiments list shows %q.\n"+
		"%d rounds, direct and gate alternating, after one load of each; signed in at the gate once beforehand.\n"+
		"wall: navigation start to the experiment name visible; load: navigation timing loadEventEnd;\n"+
		"resources: the sum of the resource timing entries' durations (count in brackets).\n\n",
		mlflowVersion(env.mlflowURL), env.mlflowURL, exe, expName, rounds)
	fmt.Println("| cache | path | wall ms (median) | load ms (median) | resources ms (median) |")
	fmt.Println("|---|---|---|---|---|")
	var ratios []string
	for _, cold := range []bool{false, true} {
		if _, err := chromedp.Call(tab, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: cold}); err != nil {
			return err
		}
		var m [2][]pageTiming
		for r := 0; r < rounds; r++ {
			for i, base := range []string{env.mlflowURL, g.url} {
				pt, err := firstScreen(tab, base, expName)
				if err != nil {
					return fmt.Errorf("round %d %s: %w", r, base, err)
				}
				m[i] = append(m[i], pt)
			}
		}
		mode := "warm"
		if cold {
			mode = "disabled"
		}
		var wall [2]float64
		for i, name := range []string{"direct", "gate"} {
			w, l, s, n := medianTiming(m[i])
			wall[i] = w
			fmt.Printf("| %s | %s | %.0f | %.0f | %.0f (%d) |\n", mode, name, w, l, s, n)
		}
		ratio := wall[1] / wall[0]
		ratios = append(ratios, fmt.Sprintf("| %s | %.0f | %.0f | %.2f | %s |", mode, wall[0], wall[1], ratio, yesNo(ratio <= 1.1)))
	}
	fmt.Println()
	fmt.Println("| cache | direct wall ms | gate wall ms | gate ÷ direct (≤ 1.1) | within |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range ratios {
		fmt.Println(r)
	}
	return staticHeaders(ctx, env.mlflowURL, g.url)
}

type pageTiming struct {
	wall, load, resources float64 // ms
	count                 int
}

type uiPerf struct {
	Load      float64 `json:"load"`
	Resources float64 `json:"resources"`
	Count     int     `json:"count"`
}

// firstScreen loads base+"/" in tab until expName is visible and reads the
// browser's own timing.
func firstScreen(tab context.Context, base, expName string) (pageTiming, error) {
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	var pt pageTiming
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		return pt, err
	}
	// Evaluating fails while the page is replaced (the app may navigate itself).
	visible := fmt.Sprintf(`[...document.querySelectorAll("a")].some(a => a.textContent.includes(%q) && a.offsetParent !== null)`, expName)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](visible))
		if err == nil && ok {
			break
		}
		if ctx.Err() != nil {
			return pt, fmt.Errorf("%q not visible at %s/ after 60s (last error %v)", expName, base, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	pt.wall = float64(time.Since(start)) / float64(time.Millisecond)
	perf, err := chromedp.Run(ctx, chromedp.Evaluate[uiPerf](`(() => {
		const nav = performance.getEntriesByType("navigation")[0];
		const res = performance.getEntriesByType("resource");
		return {load: nav ? nav.loadEventEnd : -1, resources: res.reduce((s, e) => s + e.duration, 0), count: res.length};
	})()`))
	pt.load, pt.resources, pt.count = perf.Load, perf.Resources, perf.Count
	return pt, err
}

func medianTiming(ts []pageTiming) (wall, load, resources float64, count int) {
	med := func(f func(pageTiming) float64) float64 {
		v := make([]float64, len(ts))
		for i, t := range ts {
			v[i] = f(t)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return med(func(t pageTiming) float64 { return t.wall }), med(func(t pageTiming) float64 { return t.load }),
		med(func(t pageTiming) float64 { return t.resources }), int(med(func(t pageTiming) float64 { return float64(t.count) }))
}

func createExperiment(ctx context.Context, gateURL, pat, name string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gateURL+"/api/2.0/mlflow/experiments/create",
		strings.NewReader(fmt.Sprintf(`{"name":%q}`, name)))
	req.Header = bearer(pat)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("experiments/create through the gate: %d %.200s", resp.StatusCode, b)
	}
	return nil
}

var staticAsset = regexp.MustCompile(`(?:src|href)="(/?static-files/[^"]+\.js)"`)

// staticHeaders fetches one of the UI's static assets from MLflow and through
// the gate with Accept-Encoding: gzip and compares the caching and encoding
// headers.
func staticHeaders(ctx context.Context, mlflowURL, gateURL string) error {
	raw := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	resp, err := raw.Get(mlflowURL + "/")
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := staticAsset.FindSubmatch(page)
	if m == nil {
		return fmt.Errorf("no static-files script in MLflow's index page")
	}
	asset := "/" + strings.TrimLeft(string(m[1]), "/")
	fmt.Printf("\nstatic asset %s, Accept-Encoding: gzip:\n\n", asset)
	fmt.Println("| path | status | Cache-Control | Content-Encoding | bytes on the wire |")
	fmt.Println("|---|---|---|---|---|")
	var got [2][2]string
	for i, base := range []string{mlflowURL, gateURL} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+asset, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := raw.Do(req)
		if err != nil {
			return err
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got[i] = [2]string{resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Encoding")}
		fmt.Printf("| %s | %d | %q | %q | %d |\n", []string{"direct", "gate"}[i], resp.StatusCode, got[i][0], got[i][1], n)
	}
	fmt.Printf("\nthe gate keeps Cache-Control: %s; keeps Content-Encoding: %s\n", yesNo(got[0][0] == got[1][0]), yesNo(got[0][1] == got[1][1]))
	return nil
}
