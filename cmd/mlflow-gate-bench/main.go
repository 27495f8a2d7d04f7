// Command mlflow-gate-bench measures mlflow-gate against the budgets in
// docs/BENCHMARKS.md, side by side with the direct path where there is one,
// and prints the figures and ratios. Run it through the rig:
//
//	scripts/bench                 # every benchmark but the optional ones
//	scripts/bench footprint       # one of them
//	scripts/bench keycloak        # an optional one: runs only when named
//
// It starts the gate binary it is given (or builds one) against the rig's
// PostgreSQL and MLflow on loopback only; every load it generates is bounded
// in count and time.
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"sort"
	"strings"
)

type benchmark struct {
	name string
	doc  string
	run  func(ctx context.Context, env *benchEnv) error
	when when
}

// when says whether a benchmark is among "every benchmark" (no names given)
// or runs only when named: a comparison that needs a download and a runtime
// the rig does not have (Keycloak, Java) is optional.
type when bool

const (
	always  when = false
	ifNamed when = true
)

var benchmarks = []benchmark{
	{"footprint", "start to ready on a migrated database, and idle RSS", footprint, always},
	{"profile", "CPU and allocation profiles of the gate under the stock client's requests at concurrency 1 and 16", profileProxy, ifNamed},
	{"proxy", "gate vs bare httputil.ReverseProxy vs direct, against a trivial upstream", proxyOverhead, always},
	{"mlflow", "gate vs direct, against the rig's real MLflow", mlflowOverhead, always},
	{"propagation", "time until a second replica refuses a revoked role or disabled user", propagation, always},
	{"search", "filtered experiments/search over 10,000 experiments and 50,000 runs, gate vs the same MLflow pages direct", searchOverhead, always},
	{"ui", "MLflow UI first screen in Chromium, gate vs direct, and static asset headers", uiFirstScreen, always},
	{"artifacts", "1 MiB and 256 MiB up and down: S3 directly, gate streamed, gate presigned, MLflow's proxy; gate RSS while 1 GiB streams", artifactsThroughput, always},
	{"keycloak", "Keycloak (production mode, on the rig's PostgreSQL) beside the gate: grants, introspection, discovery, logins, the UMA decision, start and RSS", keycloakBench, ifNamed},
}

func main() {
	fs := flag.NewFlagSet("mlflow-gate-bench", flag.ExitOnError)
	binary := fs.String("binary", "", "mlflow-gate binary to measure (default: build ./cmd/mlflow-gate)")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: mlflow-gate-bench [--binary PATH] [BENCHMARK...]\n\nBenchmarks:\n")
		for _, b := range benchmarks {
			opt := ""
			if b.when == ifNamed {
				opt = " (optional: only when named)"
			}
			fmt.Fprintf(os.Stderr, "  %-12s %s%s\n", b.name, b.doc, opt)
		}
		fmt.Fprintf(os.Stderr, "\nWith no BENCHMARK, every one not marked optional runs. keycloak needs MLFLOW_GATE_BENCH_KEYCLOAK_HOME\n"+
			"(a Keycloak distribution) and JAVA_HOME (Java 21+), which `scripts/bench keycloak` fetches and picks.\n")
		fmt.Fprintf(os.Stderr, "\nNeeds the rig's MLFLOW_GATE_TEST_* variables: run it as scripts/bench.\n")
	}
	_ = fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	env, err := newBenchEnv(ctx, *binary)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mlflow-gate-bench:", err)
		os.Exit(1)
	}
	defer env.close()
	want := map[string]bool{}
	for _, a := range fs.Args() {
		want[a] = true
	}
	var names []string
	for _, b := range benchmarks {
		names = append(names, b.name)
	}
	sort.Strings(names)
	failed := false
	unknown := maps.Clone(want)
	for _, b := range benchmarks {
		if len(want) > 0 && !want[b.name] || len(want) == 0 && b.when == ifNamed {
			continue
		}
		delete(unknown, b.name)
		fmt.Printf("## %s: %s\n\n", b.name, b.doc)
		if err := b.run(ctx, env); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", b.name, err)
			failed = true
		}
		fmt.Println()
	}
	for n := range unknown {
		fmt.Fprintf(os.Stderr, "unknown benchmark %q (have: %s)\n", n, strings.Join(names, ", "))
		failed = true
	}
	if failed {
		os.Exit(1)
	}
}
