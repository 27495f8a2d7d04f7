package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// keycloakBench: the gate replaces a Keycloak + NGINX template, so it is
// measured beside Keycloak in production mode, on the same PostgreSQL, with
// the same load generator, each measurement alternating the two servers in
// rounds: the OAuth/OIDC endpoints both serve, the browser login (both hash
// the password), the UMA decision the template's NGINX asks Keycloak for on
// every MLflow call beside what the gate adds to such a call, start to ready
// and idle RSS. Optional (`scripts/bench keycloak`): it needs Keycloak and
// Java 21+, which the rig does not have.
func keycloakBench(ctx context.Context, env *benchEnv) error {
	began := time.Now()
	load0 := loadAvg()
	dist, err := keycloakDist(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("Keycloak %s (%s), Java: %s (JAVA_HOME=%s)\n", dist.version, dist.home, dist.java, dist.javaHome)
	fmt.Printf("machine: %d cores, load average at start %s\n\n", numCPU(), load0)
	if err := dist.build(ctx, filepath.Join(env.tmp, "keycloak-build.log")); err != nil {
		return err
	}

	// Keycloak on a fresh database: the first start creates its schema and
	// the bootstrap admin, who then makes the realm.
	kcDBURL, err := env.database(ctx)
	if err != nil {
		return err
	}
	kdb, err := jdbcFromURL(kcDBURL)
	if err != nil {
		return err
	}
	kcLog := filepath.Join(env.tmp, "keycloak.log")
	const adminUser = "bench-admin"
	adminPass := randToken(24)
	k, err := dist.start(kdb, adminUser, adminPass, kcLog)
	if err != nil {
		return err
	}
	stopKC := sync.OnceValue(k.stop)
	defer stopKC()
	firstKC, err := k.waitReady(ctx, 180*time.Second)
	if err != nil {
		return err
	}
	setup, err := setupKeycloakRealm(ctx, k, adminUser, adminPass)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tail(kcLog, 20))
	}
	kcPID := k.javaPID()
	if kcPID == 0 {
		return errors.New("no java process in Keycloak's process group")
	}

	// The gate on a database of its own, in front of the trivial upstream.
	up, err := startChild("upstream")
	if err != nil {
		return err
	}
	defer up.stop()
	gdb, err := env.database(ctx)
	if err != nil {
		return err
	}
	g, err := env.readyGate(gdb, "MLFLOW_GATE_MLFLOW_URL="+up.url, "MLFLOW_GATE_TOKEN_ACCESS_TTL=1h")
	if err != nil {
		return err
	}
	stopGate := sync.OnceValue(g.stop)
	defer stopGate()
	gatePW, _, err := env.benchUser(ctx, gdb, "bench")
	if err != nil {
		return err
	}
	gateSvcSecret, err := env.clientSecret(ctx, gdb, "client", "add", "bench-service", "--grants", "client_credentials", "--roles", "Default")
	if err != nil {
		return err
	}
	gateWebSecret, err := env.clientSecret(ctx, gdb, "client", "add", "bench-web", "--grants", "authorization_code",
		"--redirect-uris", kcRedirect, "--api")
	if err != nil {
		return err
	}
	fmt.Printf("first Keycloak start (creates its schema) to /health/ready: %s; gate, Keycloak, upstream, load generator: pids %d, %d, %d, %d\n\n",
		firstKC.Round(time.Millisecond), g.cmd.Process.Pid, kcPID, up.cmd.Process.Pid, os.Getpid())

	// Introspection: on the gate any confidential client may introspect a
	// token for the gate's API; Keycloak 26 wants the client in the token's
	// audience, so there mlflow, the resource server, introspects.
	gate := side{name: "gate", issuer: g.url, svcID: "bench-service", svcSecret: gateSvcSecret,
		webID: "bench-web", webSecret: gateWebSecret, introID: "bench-service", introSecret: gateSvcSecret,
		user: "bench", pw: gatePW, pid: g.cmd.Process.Pid}
	kc := side{name: "Keycloak", issuer: setup.issuer, svcID: "mlflow-service", svcSecret: setup.serviceSecret,
		webID: "mlflow-web", webSecret: setup.webSecret, introID: "mlflow", introSecret: setup.resourceSecret,
		user: setup.user, pw: setup.password, pid: kcPID}
	for _, s := range []*side{&gate, &kc} {
		if err := s.prepare(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	const runID = "0123456789abcdef0123456789abcdef"
	runGet := trivialRunGetPath + "?run_id=" + runID
	uma := postStep(kc.disc.TokenEndpoint, bearer(kc.access), url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:uma-ticket"},
		"audience": {"mlflow"}, "permission": {"runs#read"}, "response_mode": {"decision"}}, `"result":true`)
	if err := confirm(ctx, gate, kc, setup, uma, up.url+runGet, g.url+runGet); err != nil {
		return err
	}

	slice := benchSlice(2 * time.Second)
	const rounds = 6
	const warm = 5 * time.Second // Keycloak's JIT compiles the hot paths in the first seconds
	pg := commProbe("postgres")
	fmt.Printf("Closed loop, keep-alive; each server gets one client warmed up for %s, then %d rounds of %s per server,\n"+
		"the order alternating; figures pool the rounds. Every answer's status is checked, and its body where a 200 can\n"+
		"still say no (a token grant must hold access_token, an introspection \"active\":true, a decision \"result\":true); any\n"+
		"failure ends the benchmark. CPU: user+system time per operation of the server process (the gate; Keycloak's java)\n"+
		"and of every PostgreSQL process. Both servers, PostgreSQL and the load generator share %d cores.\n\n",
		warm, rounds, slice, numCPU())
	fmt.Println("| measure | c | gate | Keycloak | gate ÷ Keycloak | per round: ratio, median (range) | p50 ms gate / Keycloak | p99 ms gate / Keycloak | CPU µs/op: gate / Keycloak | PostgreSQL, gate's op / Keycloak's |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	var final []ratioRow
	pair := func(what, unit string, conc int, perSec bool, gs, ks step) error {
		flows := []flow{
			{conc: conc, dur: slice, max: maxRequests, do: gs, probes: []probe{pidProbe(gate.pid), pg}},
			{conc: conc, dur: slice, max: maxRequests, do: ks, probes: []probe{pidProbe(kc.pid), pg}},
		}
		pooled, byRound, err := interleave(ctx, flows, rounds, warm)
		if err != nil {
			return fmt.Errorf("%s, c=%d: %w", what, conc, err)
		}
		value := func(r result) float64 {
			if perSec {
				return r.rps()
			}
			return float64(r.pct(0.5)) / float64(time.Millisecond)
		}
		var per []float64
		for _, rr := range byRound {
			per = append(per, value(rr[0])/value(rr[1]))
		}
		gv, kv := value(pooled[0]), value(pooled[1])
		fmt.Printf("| %s | %d | %s | %s | %.2f | %s | %s / %s | %s / %s | %s / %s | %s / %s |\n", what, conc, fmtValue(gv, unit), fmtValue(kv, unit), gv/kv,
			spread(per), ms(pooled[0].pct(0.5)), ms(pooled[1].pct(0.5)), ms(pooled[0].pct(0.99)), ms(pooled[1].pct(0.99)),
			usz(pooled[0].cpuPerReq(0)), usz(pooled[1].cpuPerReq(0)), usz(pooled[0].cpuPerReq(1)), usz(pooled[1].cpuPerReq(1)))
		final = append(final, ratioRow{what: fmt.Sprintf("%s, c=%d", what, conc), gate: fmtValue(gv, unit), kc: fmtValue(kv, unit),
			ratio: gv / kv, higherBetter: perSec})
		return nil
	}
	cc := func(s side) step {
		return postStep(s.disc.TokenEndpoint, basic(s.svcID, s.svcSecret), url.Values{"grant_type": {"client_credentials"}}, `"access_token"`)
	}
	introspect := func(s side) step {
		return postStep(s.disc.IntrospectionEndpoint, basic(s.introID, s.introSecret), url.Values{"token": {s.access}}, `"active":true`)
	}
	discovery := func(s side) step { return getStep(s.issuer+"/.well-known/openid-configuration", nil, `"issuer"`) }
	jwks := func(s side) step { return getStep(s.disc.JWKSURI, nil, `"keys"`) }
	login := func(s side) step { return s.web.step(s.user, s.pw) }
	for _, m := range []struct {
		what, unit string
		conc       int
		perSec     bool
		mk         func(side) step
	}{
		{"client-credentials grants/s (client_secret_basic)", "/s", 16, true, cc},
		{"introspections/s (RFC 7662, a confidential client)", "/s", 16, true, introspect},
		{"discovery req/s (/.well-known/openid-configuration)", "/s", 16, true, discovery},
		{"JWKS req/s", "/s", 16, true, jwks},
		{"browser logins/s (authorize, form POST, code exchange)", "/s", 4, true, login},
		{"browser login, p50", "ms", 1, false, login},
	} {
		if err := pair(m.what, m.unit, m.conc, m.perSec, m.mk(gate), m.mk(kc)); err != nil {
			return err
		}
	}
	fmt.Printf("\nPasswords are hashed on purpose on both sides: the gate with argon2id (m=19456 KiB, t=2, p=1, its default);\n"+
		"Keycloak with its default, which it stored for the bench user as: %s.\n\n", setup.passwordHash)

	// The per-call cost: what the template's NGINX asks Keycloak before every
	// MLflow call, beside what the gate adds to a call it forwards.
	fmt.Println("Per MLflow call, c=1, the three alternating in the same rounds: GET runs/get straight to the trivial upstream;")
	fmt.Println("the same through the gate (a JWT of bench-web); and the UMA decision the template's NGINX asks Keycloak for")
	fmt.Println("before each call (token endpoint, grant_type=urn:ietf:params:oauth:grant-type:uma-ticket, audience=mlflow,")
	fmt.Println("permission=runs#read, response_mode=decision, the user's access token). The template adds NGINX's own")
	fmt.Println("proxying on top of the decision; that is not measured here.")
	fmt.Println()
	flows := []flow{
		{conc: 1, dur: slice, max: maxRequests, do: getStep(up.url+runGet, nil, `"run_id"`), probes: []probe{pidProbe(up.cmd.Process.Pid), pg}},
		{conc: 1, dur: slice, max: maxRequests, do: getStep(g.url+runGet, bearer(gate.access), `"run_id"`), probes: []probe{pidProbe(gate.pid), pg}},
		{conc: 1, dur: slice, max: maxRequests, do: uma, probes: []probe{pidProbe(kc.pid), pg}},
	}
	pooled, byRound, err := interleave(ctx, flows, rounds, warm)
	if err != nil {
		return fmt.Errorf("per-call measurement: %w", err)
	}
	fmt.Println("| path | req/s | p50 ms | p90 ms | p99 ms | CPU µs/op: server | PostgreSQL |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for i, name := range []string{"direct to the upstream", "through the gate", "Keycloak UMA decision"} {
		r := pooled[i]
		fmt.Printf("| %s | %.0f | %s | %s | %s | %s | %s |\n", name, r.rps(), ms(r.pct(0.5)), ms(r.pct(0.9)), ms(r.pct(0.99)),
			usz(r.cpuPerReq(0)), usz(r.cpuPerReq(1)))
	}
	added := pooled[1].pct(0.5) - pooled[0].pct(0.5)
	umaP50 := pooled[2].pct(0.5)
	var per []float64
	for _, rr := range byRound {
		per = append(per, float64(rr[1].pct(0.5)-rr[0].pct(0.5))/float64(rr[2].pct(0.5)))
	}
	fmt.Printf("\ngate's added p50 per call: %s ms; Keycloak's UMA decision p50: %s ms; ratio %.2f, per round %s\n\n",
		ms(added), ms(umaP50), float64(added)/float64(umaP50), spread(per))
	final = append(final, ratioRow{what: "per MLflow call, p50: the gate's added latency vs Keycloak's UMA decision, c=1",
		gate: ms(added) + " ms", kc: ms(umaP50) + " ms", ratio: float64(added) / float64(umaP50)})

	// Start to ready and idle RSS, each server alone on the machine.
	if err := stopGate(); err != nil {
		return fmt.Errorf("stopping the gate: %w", err)
	}
	if err := stopKC(); err != nil {
		return fmt.Errorf("stopping Keycloak: %w", err)
	}
	const starts = 3
	var kcStarts, gateStarts []time.Duration
	var kcRSS, gateRSS []int
	for range starts {
		k, err := dist.start(kdb, adminUser, adminPass, kcLog)
		if err != nil {
			return err
		}
		d, err := k.waitReady(ctx, 120*time.Second)
		if err == nil {
			time.Sleep(2 * time.Second)
			var kib int
			if kib, err = rssKiB(k.javaPID()); err == nil {
				kcStarts, kcRSS = append(kcStarts, d), append(kcRSS, kib)
			}
		}
		if serr := k.stop(); err == nil && serr != nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("a timed Keycloak start: %w", err)
		}
	}
	for range starts {
		g, err := env.startGate(gdb, "MLFLOW_GATE_MLFLOW_URL="+up.url)
		if err != nil {
			return err
		}
		d, err := g.waitReady("/readyz", 30*time.Second)
		if err == nil {
			time.Sleep(2 * time.Second)
			var kib int
			if kib, err = rssKiB(g.cmd.Process.Pid); err == nil {
				gateStarts, gateRSS = append(gateStarts, d), append(gateRSS, kib)
			}
		}
		if serr := g.stop(); err == nil && serr != nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("a timed gate start: %w", err)
		}
	}
	slices.Sort(kcStarts)
	slices.Sort(gateStarts)
	slices.Sort(kcRSS)
	slices.Sort(gateRSS)
	fmt.Printf("Start to ready on an initialized database, %d starts each (Keycloak: kc.sh start --optimized to the management\n"+
		"interface's /health/ready 200; gate: mlflow-gate serve to /readyz 200), and RSS 2 s after ready (Keycloak: its java\n"+
		"process, with its shipped heap settings).\n\n", starts)
	fmt.Println("| measure | gate, median (min–max) | Keycloak, median (min–max) | gate ÷ Keycloak |")
	fmt.Println("|---|---|---|---|")
	sMed, kMed := gateStarts[starts/2], kcStarts[starts/2]
	fmt.Printf("| start to ready | %s (%s–%s) | %s (%s–%s) | %.3f |\n", sMed.Round(time.Millisecond), gateStarts[0].Round(time.Millisecond),
		gateStarts[starts-1].Round(time.Millisecond), kMed.Round(time.Millisecond), kcStarts[0].Round(time.Millisecond),
		kcStarts[starts-1].Round(time.Millisecond), float64(sMed)/float64(kMed))
	mb := func(kib int) string { return fmt.Sprintf("%.1f MB", float64(kib)/1024) }
	gR, kR := gateRSS[starts/2], kcRSS[starts/2]
	fmt.Printf("| idle RSS 2 s after ready | %s (%s–%s) | %s (%s–%s) | %.3f |\n\n", mb(gR), mb(gateRSS[0]), mb(gateRSS[starts-1]),
		mb(kR), mb(kcRSS[0]), mb(kcRSS[starts-1]), float64(gR)/float64(kR))
	final = append(final,
		ratioRow{what: "start to ready, initialized database, median of 3", gate: sMed.Round(time.Millisecond).String(), kc: kMed.Round(time.Millisecond).String(),
			ratio: float64(sMed) / float64(kMed)},
		ratioRow{what: "idle RSS 2 s after ready, median of 3", gate: mb(gR), kc: mb(kR), ratio: float64(gR) / float64(kR)})

	fmt.Printf("### gate ÷ Keycloak\n\nKeycloak %s in production mode (kc.sh start --optimized, PostgreSQL, default caches on loopback) on %s;\n"+
		"the gate built from this tree; the same PostgreSQL; %d cores shared with the load generator.\n\n", dist.version, dist.java, numCPU())
	fmt.Println("| measure | gate | Keycloak | gate ÷ Keycloak | better is |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range final {
		better := "lower"
		if r.higherBetter {
			better = "higher"
		}
		fmt.Printf("| %s | %s | %s | %.2f | %s |\n", r.what, r.gate, r.kc, r.ratio, better)
	}
	fmt.Printf("\nload average at start %s, at end %s; the benchmark took %s\n", load0, loadAvg(), time.Since(began).Round(time.Second))
	return nil
}

type ratioRow struct {
	what, gate, kc string
	ratio          float64
	higherBetter   bool
}

// usz is µs per operation; unlike us, 0 is a measured 0 (below one 10 ms
// clock tick over the whole load), not "not measured".
func usz(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)) }

func fmtValue(v float64, unit string) string {
	if unit == "ms" {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f%s", v, unit)
}

// side is one of the two servers, with the clients and the user the
// benchmark made on it.
type side struct {
	name, issuer     string
	svcID, svcSecret string // confidential client with client credentials
	webID, webSecret string // confidential client with authorization code
	introID          string // confidential client that introspects the user's token
	introSecret      string
	user, pw         string
	pid              int // the server process, for CPU time
	disc             oidcDiscovery
	web              webLogin
	access           string // the user's access token from a browser login
}

type oidcDiscovery struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
}

// prepare reads the server's discovery document and logs the user in once.
func (s *side) prepare(ctx context.Context) error {
	c := newClient(1)
	defer c.CloseIdleConnections()
	_, b, err := exchange(ctx, c, http.MethodGet, s.issuer+"/.well-known/openid-configuration", nil, "", http.StatusOK, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &s.disc); err != nil {
		return fmt.Errorf("discovery: %v", err)
	}
	if s.disc.Issuer != s.issuer || s.disc.TokenEndpoint == "" || s.disc.AuthorizationEndpoint == "" || s.disc.IntrospectionEndpoint == "" || s.disc.JWKSURI == "" {
		return fmt.Errorf("discovery lacks an endpoint or names another issuer: %+v", s.disc)
	}
	s.web = webLogin{authorize: s.disc.AuthorizationEndpoint, token: s.disc.TokenEndpoint, clientID: s.webID, secret: s.webSecret, scope: "openid profile"}
	if s.access, _, err = s.web.login(ctx, c, s.user, s.pw); err != nil {
		return fmt.Errorf("browser login of %s: %w", s.user, err)
	}
	return nil
}

// confirm checks, once, that every grant and decision measured works, and
// that Keycloak's decision does depend on the role: a user without Default
// is refused.
func confirm(ctx context.Context, gate, kc side, setup *kcSetup, uma step, direct, viaGate string) error {
	c := newClient(1)
	defer c.CloseIdleConnections()
	for _, s := range []side{gate, kc} {
		for what, st := range map[string]step{
			"client-credentials grant": postStep(s.disc.TokenEndpoint, basic(s.svcID, s.svcSecret), url.Values{"grant_type": {"client_credentials"}}, `"access_token"`),
			"introspection":            postStep(s.disc.IntrospectionEndpoint, basic(s.introID, s.introSecret), url.Values{"token": {s.access}}, `"active":true`),
			"JWKS":                     getStep(s.disc.JWKSURI, nil, `"keys"`),
		} {
			if _, err := st(ctx, c); err != nil {
				return fmt.Errorf("%s: %s: %w", s.name, what, err)
			}
		}
	}
	// An inactive token must read as inactive: the body check is what tells.
	for _, s := range []side{gate, kc} {
		bad := postStep(s.disc.IntrospectionEndpoint, basic(s.introID, s.introSecret), url.Values{"token": {s.access + "x"}}, `"active":true`)
		if _, err := bad(ctx, c); err == nil {
			return fmt.Errorf("%s: a corrupted token introspects as active", s.name)
		}
	}
	if _, err := uma(ctx, c); err != nil {
		return fmt.Errorf("keycloak: UMA decision for %s (role Default) on runs#read: %w", kc.user, err)
	}
	nobody, _, err := kc.web.login(ctx, c, setup.nobody, setup.nobodyPassword)
	if err != nil {
		return fmt.Errorf("keycloak: browser login of %s: %w", setup.nobody, err)
	}
	s, _, err := exchange(ctx, c, http.MethodPost, kc.disc.TokenEndpoint, bearer(nobody), url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:uma-ticket"},
		"audience": {"mlflow"}, "permission": {"runs#read"}, "response_mode": {"decision"}}.Encode(), http.StatusForbidden, nil)
	if err != nil {
		return fmt.Errorf("keycloak: the UMA decision for %s (no Default role) is not a refusal: status %d: %v", setup.nobody, s, err)
	}
	if _, err := getStep(direct, nil, `"run_id"`)(ctx, c); err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	if _, err := getStep(viaGate, bearer(gate.access), `"run_id"`)(ctx, c); err != nil {
		return fmt.Errorf("gate: GET runs/get with the user's access token: %w", err)
	}
	fmt.Printf("confirmed on both: client-credentials grant, introspection (active; a corrupted token inactive), JWKS, browser login;\n" +
		"Keycloak's UMA decision grants runs#read to a user with Default and refuses one without; the gate forwards runs/get.\n\n")
	return nil
}

// clientSecret runs `mlflow-gate client add ...`, which prints the new
// client's secret once, and returns it.
func (e *benchEnv) clientSecret(ctx context.Context, dbURL string, args ...string) (string, error) {
	out, err := e.cli(ctx, dbURL, "", args...)
	if err != nil {
		return "", err
	}
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "mgs_") {
			return f, nil
		}
	}
	return "", fmt.Errorf("mlflow-gate %s printed no secret: %q", strings.Join(args, " "), out)
}

func jsonField(b []byte, name string) (string, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	s, _ := m[name].(string)
	return s, nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int { return runtime.NumCPU() }
