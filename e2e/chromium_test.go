package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium is one headless Chromium with one tab, for a single test.
type chromium struct {
	// tab is the tab's context, bounded by the timeout given to newBrowser;
	// pass it (or a context derived from it) to chromedp.Do and chromedp.Run.
	tab context.Context

	mu      sync.Mutex
	console []string
}

// newChromium starts headless Chromium (MLFLOW_GATE_TEST_CHROMIUM) with a
// throw-away profile and a 1280x900 window. Every step of the test must finish
// within timeout. The console of the page (console.* calls, uncaught
// exceptions, browser log entries) is collected; when the test fails, a
// full-page screenshot and the console log are written to artifactDir(t) and
// the paths named in the test log.
func newChromium(t *testing.T, timeout time.Duration) *chromium {
	t.Helper()
	exe := need(t, "MLFLOW_GATE_TEST_CHROMIUM")
	profile, err := os.MkdirTemp("", "mlflow-gate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoSandbox, // the rig runs as root, where Chromium's sandbox cannot start
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	// The allocator's deadline bounds everything, the failure artifacts included.
	allocCtx, cancelAlloc := context.WithTimeout(context.Background(), timeout+30*time.Second)
	allocCtx, cancelExec := chromedp.NewExecAllocator(allocCtx, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	b := &chromium{}
	t.Cleanup(func() {
		cancelBrowser()
		cancelExec() // waits for Chromium to exit
		cancelAlloc()
		_ = os.RemoveAll(profile)
	})
	if err := chromedp.Listen(browserCtx, b.record); err != nil {
		t.Fatalf("starting chromium %s: %v", exe, err)
	}
	// Registered after the shutdown above, so it runs first, while the tab lives.
	t.Cleanup(func() {
		if t.Failed() {
			b.saveArtifacts(t, browserCtx)
		}
	})
	tab, cancelTab := context.WithTimeout(browserCtx, timeout)
	t.Cleanup(cancelTab)
	b.tab = tab
	return b
}

// record is the tab's event listener; it must return fast (see chromedp.Listen).
func (b *chromium) record(ev any) {
	var line string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		args := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			switch {
			case len(a.Value) > 0:
				args = append(args, string(a.Value))
			case a.UnserializableValue != "":
				args = append(args, string(a.UnserializableValue))
			default:
				args = append(args, a.Description)
			}
		}
		line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		line = fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, text)
	case *log.EventEntryAdded:
		line = fmt.Sprintf("log %s %s: %s %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
	default:
		return
	}
	b.mu.Lock()
	b.console = append(b.console, time.Now().Format("15:04:05.000")+" "+line)
	b.mu.Unlock()
}

// Console returns the console lines collected so far.
func (b *chromium) Console() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// artifactDir is where a failed browser test leaves its screenshot and console
// log; it outlives the test's temporary directories.
func artifactDir(t *testing.T) string {
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	return filepath.Join(os.TempDir(), "mlflow-gate-e2e-artifacts", name)
}

// shot saves a full-page screenshot as name.png among the test's artifacts,
// for a person to look at.
func (b *chromium) shot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(b.tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := artifactDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func (b *chromium) saveArtifacts(t *testing.T, browserCtx context.Context) {
	dir := artifactDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("browser artifacts: %v", err)
		return
	}
	// A fresh deadline: the tab's own may be what ran out.
	ctx, cancel := context.WithTimeout(browserCtx, 15*time.Second)
	defer cancel()
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		t.Logf("browser was at %s", loc)
	}
	console := filepath.Join(dir, "console.log")
	if err := os.WriteFile(console, []byte(strings.Join(b.Console(), "\n")+"\n"), 0o644); err != nil {
		t.Logf("browser console log: %v", err)
	} else {
		t.Logf("browser console log: %s", console)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("browser screenshot: %v", err)
		return
	}
	shot := filepath.Join(dir, "screenshot.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Logf("browser screenshot: %v", err)
		return
	}
	t.Logf("browser screenshot: %s", shot)
}

// waitFor evaluates the JavaScript condition js every 100 ms until it is
// true, for at most limit (and within the tab's deadline). Errors while a page
// is being replaced (a form post, a redirect) count as "not yet".
func (b *chromium) waitFor(t *testing.T, what, js string, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, limit)
	defer cancel()
	var last error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			diag, stop := context.WithTimeout(context.WithoutCancel(b.tab), 5*time.Second)
			defer stop()
			loc, _ := chromedp.Run(diag, chromedp.Location())
			text, _ := chromedp.Run(diag, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("waiting %v for %s (%s): last error %v\nat %s, page text: %.1000s", limit, what, js, last, loc, text)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitForText waits until the page's visible text contains every one of words.
func (b *chromium) waitForText(t *testing.T, what string, limit time.Duration, words ...string) {
	t.Helper()
	js := "document.body !== null"
	for _, w := range words {
		js += fmt.Sprintf(" && document.body.innerText.includes(%q)", w)
	}
	b.waitFor(t, what, js, limit)
}
