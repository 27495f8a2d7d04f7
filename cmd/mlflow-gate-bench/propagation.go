package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// propagation: issue 6 sets a goal of ≤ 1 s from revoking a user's role or
// disabling the user to every replica refusing them. Two gate processes share
// one database; pollers call each of them with the user's PAT every
// millisecond while the change is made, (a) in this process with the storage
// functions the CLI calls, which brackets the commit tightly, and (b) with the
// CLI itself, as an operator would. Each change is undone between trials and
// the time until both replicas allow the user again is reported too.
func propagation(ctx context.Context, env *benchEnv) error {
	up, err := startChild("upstream")
	if err != nil {
		return err
	}
	defer up.stop()
	db, err := env.database(ctx)
	if err != nil {
		return err
	}
	var gates []*gate
	for range 2 {
		g, err := env.startGate(db, "MLFLOW_GATE_MLFLOW_URL="+up.url)
		if err != nil {
			return err
		}
		defer sync.OnceValue(g.stop)()
		// The first start migrates and bootstraps; the second joins it.
		if _, err := g.waitReady("/readyz", 60*time.Second); err != nil {
			return err
		}
		gates = append(gates, g)
	}
	const user = "bench"
	_, pat, err := env.benchUser(ctx, db, user)
	if err != nil {
		return err
	}
	st, err := storage.Open(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()

	type change struct {
		name          string
		through       string
		apply, revert func() error
	}
	cli := func(args ...string) func() error {
		return func() error { _, err := env.cli(ctx, db, "", args...); return err }
	}
	// Disabling a user revokes the user's personal access tokens for good;
	// undoing it takes enabling the user and a new token.
	thenNewPAT := func(enable func() error) func() error {
		return func() error {
			if err := enable(); err != nil {
				return err
			}
			out, err := env.cli(ctx, db, "", "token", "create", "--user", user, "--name", "bench")
			if err != nil {
				return err
			}
			pat = strings.TrimSpace(out)
			return nil
		}
	}
	changes := []change{
		{"revoke role Default", "storage call",
			func() error { return st.RevokeRole(ctx, storage.Actor{Name: "bench"}, storage.RoleDefault, user) },
			func() error { return st.GrantRole(ctx, storage.Actor{Name: "bench"}, storage.RoleDefault, user) }},
		{"disable user", "storage call",
			func() error { return st.SetDisabled(ctx, storage.Actor{Name: "bench"}, user, true) },
			thenNewPAT(func() error { return st.SetDisabled(ctx, storage.Actor{Name: "bench"}, user, false) })},
		{"revoke role Default", "CLI", cli("role", "revoke", storage.RoleDefault, user), cli("role", "grant", storage.RoleDefault, user)},
		{"disable user", "CLI", cli("user", "disable", user), thenNewPAT(cli("user", "enable", user))},
	}
	const trials = 5
	fmt.Printf("Two replicas on one database; %d trials per change, pollers on both every 1 ms. Times are from the return of\n"+
		"the call that committed the change (for the CLI: the command's exit) to the first refused answer.\n\n", trials)
	fmt.Println("| change | made through | replica | refused with | median ms | max ms | change call median ms | allowed again after undo (a new PAT after a disable): median / max ms | goal ≤ 1 s |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	var worst time.Duration
	for _, c := range changes {
		refused := make([][]time.Duration, len(gates))
		restored := []time.Duration{}
		calls := []time.Duration{}
		statuses := make([]map[int]int, len(gates))
		for i := range statuses {
			statuses[i] = map[int]int{}
		}
		for range trials {
			if _, err := waitAllowed(ctx, gates, pat, 10*time.Second); err != nil {
				return fmt.Errorf("before %s: %w", c.name, err)
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			type outcome struct {
				at     time.Time
				status int
				err    error
			}
			outs := make([]outcome, len(gates))
			var wg sync.WaitGroup
			ready := make(chan struct{}, len(gates))
			for i, g := range gates {
				wg.Add(1)
				go func() {
					defer wg.Done()
					at, status, err := pollUntilRefused(pctx, g.url, pat, ready)
					outs[i] = outcome{at, status, err}
				}()
			}
			for range gates {
				<-ready // each poller has had an allowed answer
			}
			time.Sleep(20 * time.Millisecond)
			t0 := time.Now()
			err := c.apply()
			t1 := time.Now()
			if err != nil {
				cancel()
				wg.Wait()
				return fmt.Errorf("%s through %s: %w", c.name, c.through, err)
			}
			wg.Wait()
			cancel()
			calls = append(calls, t1.Sub(t0))
			for i, o := range outs {
				if o.err != nil {
					return fmt.Errorf("%s through %s, replica %c: %w", c.name, c.through, 'A'+i, o.err)
				}
				refused[i] = append(refused[i], o.at.Sub(t1))
				statuses[i][o.status]++
			}
			if err := c.revert(); err != nil {
				return fmt.Errorf("undoing %s: %w", c.name, err)
			}
			t1 = time.Now()
			at, err := waitAllowed(ctx, gates, pat, 10*time.Second)
			if err != nil {
				return fmt.Errorf("after undoing %s: %w", c.name, err)
			}
			restored = append(restored, at.Sub(t1))
		}
		for i := range gates {
			med, mx := medianMax(refused[i])
			worst = max(worst, mx)
			rm, rx := medianMax(restored)
			cm, _ := medianMax(calls)
			var sts []string
			for s, n := range statuses[i] {
				sts = append(sts, fmt.Sprintf("%d ×%d", s, n))
			}
			slices.Sort(sts)
			fmt.Printf("| %s | %s | %c | %s | %s | %s | %s | %s / %s | %s |\n", c.name, c.through, 'A'+i, strings.Join(sts, ", "),
				ms(med), ms(mx), ms(cm), ms(rm), ms(rx), yesNo(mx <= time.Second))
		}
	}
	fmt.Printf("\nslowest refusal over every trial and replica: %s (goal ≤ 1 s: %s)\n", worst.Round(time.Microsecond), yesNo(worst <= time.Second))
	return nil
}

// pollUntilRefused calls a gate with the PAT every millisecond until it
// answers 401 or 403, and returns when that answer arrived. It signals ready
// after its first allowed answer.
func pollUntilRefused(ctx context.Context, base, pat string, ready chan<- struct{}) (time.Time, int, error) {
	client := newClient(1)
	defer client.CloseIdleConnections()
	signalled := false
	defer func() {
		if !signalled {
			ready <- struct{}{}
		}
	}()
	for {
		status, err := get(ctx, client, base+trivialRunGetPath+"?run_id=0123456789abcdef0123456789abcdef", pat)
		at := time.Now()
		switch {
		case err != nil:
			return at, 0, fmt.Errorf("not refused within the time allowed: %w", err)
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			if !signalled {
				return at, status, errors.New("refused before the change was made")
			}
			return at, status, nil
		case status != http.StatusOK:
			return at, status, fmt.Errorf("unexpected status %d", status)
		}
		if !signalled {
			signalled = true
			ready <- struct{}{}
		}
		select {
		case <-ctx.Done():
			return at, 0, errors.New("not refused within 10 s")
		case <-time.After(time.Millisecond):
		}
	}
}

// waitAllowed polls every gate until each allows the PAT again and returns
// when the last one did.
func waitAllowed(ctx context.Context, gates []*gate, pat string, limit time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := newClient(len(gates))
	defer client.CloseIdleConnections()
	var last time.Time
	for i, g := range gates {
		for {
			status, err := get(ctx, client, g.url+trivialRunGetPath+"?run_id=0123456789abcdef0123456789abcdef", pat)
			if err != nil {
				return last, fmt.Errorf("replica %c does not allow the user again: %w", 'A'+i, err)
			}
			if status == http.StatusOK {
				last = time.Now()
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	return last, nil
}

func get(ctx context.Context, client *http.Client, url, pat string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header = bearer(pat)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func medianMax(d []time.Duration) (time.Duration, time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}
