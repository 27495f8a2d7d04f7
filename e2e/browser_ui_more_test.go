package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserUIRunsAndExperiments drives MLflow's own UI behind the gate as
// alice (Default) in a real browser: a run logged by the stock client shows its
// param, metric and image; an experiment created from the UI lands in MLflow,
// audited as a session call; deleting a run from the UI is refused with the
// gate's reason shown, and the run stays.
func TestBrowserUIRunsAndExperiments(t *testing.T) {
	start := time.Now()
	h := newHostileRig(t, nil)
	expName := uniqueName(t)
	runName := "ui-run-" + randomSecret()[:8]
	out, err := python(t, map[string]string{"MLFLOW_TRACKING_URI": h.g.URL, "MLFLOW_TRACKING_TOKEN": h.alice,
		"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "GATE_EXPERIMENT": expName, "GATE_RUN": runName}, "mlflow_ui_run.py")
	if err != nil {
		t.Fatalf("mlflow client: %v\nstdout: %s", err, out)
	}
	// MLflow prints a link to the run on stdout before the script's JSON.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var ids struct {
		Exp string `json:"experiment_id"`
		Run string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ids); err != nil || ids.Exp == "" || ids.Run == "" {
		t.Fatalf("client output %q: %v", out, err)
	}
	t.Logf("rig and run ready after %v", time.Since(start).Round(time.Millisecond))

	b := newChromium(t, 150*time.Second)
	if err := chromedp.Do(b.tab, chromedp.Navigate(h.g.URL+"/")); err != nil {
		t.Fatalf("open %s/: %v", h.g.URL, err)
	}
	b.waitFor(t, "the login page", `document.querySelector("#username") !== null`, 15*time.Second)
	if err := chromedp.Do(b.tab,
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery staple"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	); err != nil {
		t.Fatalf("filling in the login form: %v", err)
	}
	b.waitFor(t, "MLflow's UI after login", `location.pathname === "/" && document.querySelector("#root") !== null &&
		document.querySelector("#root").childElementCount > 0`, 30*time.Second)
	hash := func(t *testing.T, frag string) {
		t.Helper()
		if err := chromedp.Do(b.tab, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q; undefined", frag))); err != nil {
			t.Fatalf("going to %s: %v", frag, err)
		}
	}
	// click clicks, with real mouse events (the UI's tabs ignore a bare
	// element.click()), the last visible element matching the XPath expression
	// xpath (the last: a modal's button comes after the page's).
	click := func(t *testing.T, what, xpath string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(b.tab, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.Search("("+xpath+")[last()]"), chromedp.NodeVisible)); err != nil {
			text, _ := chromedp.Run(b.tab, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("clicking %s (%s): %v\npage text: %.1500s", what, xpath, err, text)
		}
	}

	t.Run("run page", func(t *testing.T) {
		hash(t, "#/experiments/"+ids.Exp+"/runs/"+ids.Run)
		b.waitForText(t, "the run's param and metric", 45*time.Second, runName, "optimizer_name", "adamw-sgd", "validation_loss")
		click(t, "the Artifacts tab", `//button[normalize-space(.)="Artifacts"]`)
		b.waitFor(t, "the artifacts tab", `location.hash.endsWith("/artifacts")`, 10*time.Second)
		// The tree may re-render once its listing arrives and swallow a click:
		// click the file until its preview shows.
		// MLflow 3.18's preview fetches the file through the artifact proxy
		// (mlflow-artifacts, not get-artifact) and shows it from a blob: URL.
		const img = `[...document.querySelectorAll("img")].filter(i => i.src.startsWith("blob:"))`
		for try := 0; ; try++ {
			click(t, "the image in the artifact tree", `//*[normalize-space(text())="gradient.png"]`)
			ok, _ := chromedp.Run(b.tab, chromedp.Evaluate[bool](img+`.length > 0`))
			if ok || try == 10 {
				break
			}
			time.Sleep(2 * time.Second)
		}
		b.waitFor(t, "the image preview loaded", img+`.some(i => i.complete && i.naturalWidth > 0)`, 30*time.Second)
		fetched, err := chromedp.Run(b.tab, chromedp.Evaluate[bool](`performance.getEntriesByType("resource").some(e =>
			e.name.includes("/ajax-api/2.0/mlflow-artifacts/artifacts/") && e.name.endsWith("/`+ids.Run+`/artifacts/gradient.png") &&
			e.responseStatus === 200)`))
		if err != nil || !fetched {
			names, _ := chromedp.Run(b.tab, chromedp.Evaluate[string](`performance.getEntriesByType("resource").map(e => e.name + " " + e.responseStatus).filter(n => n.includes("artifact")).join("\n")`))
			t.Errorf("the browser did not fetch gradient.png through the gate with status 200 (%v); fetched:\n%s", err, names)
		}
		w, err := chromedp.Run(b.tab, chromedp.Evaluate[int](img+`.find(i => i.naturalWidth > 0).naturalWidth`))
		if err != nil || w != 32 {
			t.Errorf("the previewed image is %d wide (%v), want the logged 32", w, err)
		}
	})

	t.Run("create experiment", func(t *testing.T) {
		name := "ui-created-" + randomSecret()[:8]
		hash(t, "#/experiments")
		click(t, "the Create button", `//button[@data-testid="create-experiment-button"]`)
		b.waitFor(t, "the create dialog", `document.querySelector('[role="dialog"] input') !== null`, 15*time.Second)
		if err := chromedp.Do(b.tab, chromedp.SendKeys(chromedp.CSS(`[role="dialog"] input`), name)); err != nil {
			t.Fatalf("typing the name: %v", err)
		}
		click(t, "the dialog's Create", `//*[@role="dialog"]//button[normalize-space(.)="Create"]`)
		b.waitForText(t, "the new experiment's page", 30*time.Second, name)
		st, body, _ := h.call(t, h.alice, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name="+name, nil)
		var got struct {
			Experiment struct {
				LifecycleStage string `json:"lifecycle_stage"`
			}
		}
		if st != 200 || json.Unmarshal(body, &got) != nil || got.Experiment.LifecycleStage != "active" {
			t.Fatalf("the experiment created in the UI is not in MLflow: %d %s", st, body)
		}
		db := h.env["MLFLOW_GATE_DATABASE_URL"]
		waitAudit(t, db, `actor = 'alice' AND decision = 'allow' AND detail->>'credential' = 'session'
				AND detail->>'path' = '/ajax-api/2.0/mlflow/experiments/create'`, "the UI's experiments/create with credential session")
	})

	t.Run("delete run refused", func(t *testing.T) {
		hash(t, "#/experiments/"+ids.Exp+"?workflowType=machine_learning")
		b.waitForText(t, "the runs table", 45*time.Second, runName)
		if ok, _ := chromedp.Run(b.tab, chromedp.Evaluate[bool](`document.body.innerText.includes("holds delete")`)); ok {
			t.Fatal("a delete refusal shows before the delete was tried")
		}
		click(t, "the run's checkbox", `//input[starts-with(@aria-label, "Press Space to toggle row selection")]`)
		click(t, "the Delete button", `//button[normalize-space(.)="Delete"]`)
		b.waitFor(t, "the confirmation", `document.querySelector('[role="dialog"]') !== null`, 15*time.Second)
		// Let the dialog's opening animation finish: a click on the moving
		// button lands on the overlay and closes the dialog.
		time.Sleep(time.Second)
		click(t, "the confirmation's Delete", `//*[@role="dialog"]//button[normalize-space(.)="Delete selected"]`)
		// The gate's reason, not any PERMISSION_DENIED: the UI also shows those
		// for the Admin-only gateway calls it makes on load.
		b.waitForText(t, "the gate's refusal in the UI", 30*time.Second, "no role of [Default] holds delete on runs")
		res := h.must(t, h.alice, "GET", "/api/2.0/mlflow/runs/get?run_id="+ids.Run, nil)
		info, _ := res["run"].(map[string]any)["info"].(map[string]any)
		if info["lifecycle_stage"] != "active" {
			t.Fatalf("the run after the refused delete: %v", info)
		}
	})
}
