package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/authz/authzstore"
	"github.com/mlflow-gate/mlflow-gate/idp"
	"github.com/mlflow-gate/mlflow-gate/idp/password"
	"github.com/mlflow-gate/mlflow-gate/migrations"
	"github.com/mlflow-gate/mlflow-gate/proxy"
	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/web"
)

func serveCommand() *command {
	return &command{name: "serve", group: "serve", nargs: 0,
		short: "apply migrations and serve the gate",
		long: "Apply database migrations, create the first administrator on an empty database, and serve\n" +
			"the gate: the OpenID provider, the MLflow proxy, /healthz and /readyz, and Prometheus\n" +
			"/metrics on its own listener. SIGINT or SIGTERM drains in-flight requests, then exits.",
		action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
			return serve(ctx, &e.cfg, e.stdout, newLogger(e.stderr, e.cfg.LogLevel, e.cfg.LogFormat), nil)
		}}
}

// openStore connects to the database. serve (wait) retries with
// exponential backoff for up to cfg.DatabaseWait, logging every failed
// attempt, so that a gate started before its database neither crash-loops
// nor waits silently; one-shot commands try once. Neither waits for what
// cannot heal (a refused password, a missing database): that fails at once
// with the reason and what to do.
func openStore(ctx context.Context, cfg *Config, log *slog.Logger, wait bool) (*storage.Store, error) {
	st, err := storage.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		if _, hint := storage.ConnectProblem(err); hint != "" {
			return nil, fmt.Errorf("%s (%w)", hint, err)
		}
		return nil, err
	}
	wait = wait && cfg.DatabaseWait > 0
	deadline := time.Now().Add(cfg.DatabaseWait)
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = st.Ping(pctx)
		cancel()
		if err == nil {
			return st, nil
		}
		if permanent, hint := storage.ConnectProblem(err); permanent {
			st.Close()
			return nil, fmt.Errorf("%s: %w", hint, err)
		}
		if !wait {
			st.Close()
			return nil, fmt.Errorf("%w (is PostgreSQL running, and is MLFLOW_GATE_DATABASE_URL's host and port right?)", err)
		}
		if ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			st.Close()
			return nil, fmt.Errorf("database unreachable after %d attempts; last error: %w", attempt, err)
		}
		log.Warn("database unreachable, retrying", "attempt", attempt, "retry_in", delay.String(), "error", err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// listeners are handed to serve by tests that listen on :0; nil means
// listen on the configured addresses.
type listeners struct {
	main, metrics net.Listener
	ready         chan<- string // receives the main address once serving
}

// serve runs the gate until ctx ends, then drains. Start-up is sequential
// (database, migrations, bootstrap, policy, provider, the change feed's first
// connection); what runs afterwards is a group of actors that stop together:
// the HTTP servers, the change feed, the provider's sweeper and the audit
// sweeper. When ctx ends, or any actor fails, every actor stops and the
// servers drain their in-flight requests.
func serve(ctx context.Context, cfg *Config, stdout io.Writer, log *slog.Logger, ls *listeners) error {
	start := time.Now()
	st, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer st.Close()

	// Held for as long as this gate serves, so that `migrate down` sees it
	// and refuses; taken before migrating, so no gate starts during a revert.
	serving, err := migrations.HoldServing(ctx, st.Pool, func() {
		log.Warn("`mlflow-gate migrate down` is reverting the schema; waiting for it to finish before migrating and serving")
	})
	if err != nil {
		return err
	}
	defer serving.Close()

	m, err := migrations.New(st.Pool)
	if err != nil {
		return err
	}
	err = m.Up(ctx)
	m.Close()
	if err != nil {
		return err
	}
	if err := bootstrap(ctx, cfg, st, stdout, log); err != nil {
		return err
	}
	policy, err := loadPolicy(ctx, st, log)
	if err != nil {
		return err
	}

	// zitadel/oidc logs through the default logger; keep it on ours.
	slog.SetDefault(log)
	prov, err := idp.New(ctx, providerConfig(cfg), st, log)
	if err != nil {
		return fmt.Errorf("identity provider: %w", err)
	}
	// One change feed keeps this replica's caches current: the verifier's
	// revocation set and the policy. Its first connection loads both.
	feed := storage.NewFeed(st, log)
	policy.Subscribe(feed)
	// The resource grants follow the same feed; its first connection loads them.
	grants := authzstore.NewGrantsLoader(st, log)
	grants.Subscribe(feed)
	prov.Verifier().Subscribe(feed)
	if err := feed.Connect(ctx); err != nil {
		return fmt.Errorf("identity provider: revocation set: %w", err)
	}
	defer feed.Close() // when start-up fails before the feed runs

	audit := storage.NewAuditLog(st, log, storage.AuditLogOptions{})
	defer func() {
		actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = audit.Close(actx)
	}()

	metrics := newMetrics()
	upstream := &http.Client{Timeout: 3 * time.Second}
	version := &mlflowVersion{}
	version.set(checkMLflowVersion(ctx, upstream, cfg.MLflowURL, log))
	store, err := openArtifacts(ctx, cfg, log, metrics.reg)
	if err != nil {
		return err
	}
	var artifactStore proxy.ArtifactStore
	if store != nil {
		artifactStore = artifactServer{store}
		checkArtifactRoot(ctx, upstream, cfg.MLflowURL, cfg, log)
	}
	upstreamURL, _ := url.Parse(cfg.MLflowURL)
	hosts, _ := hostsFor(cfg.Issuer)
	gate, err := proxy.New(proxy.Config{
		Upstream:    upstreamURL,
		Hosts:       append(hosts, cfg.AllowedHosts...),
		Policy:      policy.Holder(),
		Auth:        authenticator{v: prov.Verifier()},
		Audit:       auditSink{log: audit},
		Metric:      newGateMetrics(metrics.reg, audit),
		Logger:      log,
		AuditReads:  cfg.AuditReads,
		Workspaces:  cfg.MLflowWorkspaces,
		UITelemetry: cfg.UITelemetry,
		MinBodyRate: 16 << 10,
		BodyGrace:   10 * time.Second,
		Origin:      originOf(cfg.Issuer),
		LoginPath:   idp.PathLogin,
		Grants:      grants.Holder(),
		Owners:      grants,
		OwnRunsOnly: cfg.OwnRunsOnly,
		PageKey:     cfg.DeriveKey("search-pages"),
		Artifacts:   artifactStore,
		// A 421 says which setting would let another host in.
		HostsSetting: "MLFLOW_GATE_ALLOWED_HOSTS",
	})
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	defer gate.Close() // after the servers stop, before the audit log closes: it writes the failure summaries

	pages, err := web.New(web.Config{
		Admin: admin.New(st, admin.Config{
			KeyEncryptionKey: keyEncryptionKey(cfg),
			KeyLifetime:      idp.KeyLifetime(cfg.AccessTokenTTL, cfg.IDTokenTTL),
		}),
		Sessions: prov,
		Policy:   policy.Holder(),
		Issuer:   cfg.Issuer,
		Origin:   originOf(cfg.Issuer),
		Key:      cfg.DeriveKey("web-pages"),
		Secure:   strings.HasPrefix(cfg.Issuer, "https://"),
		Logger:   log,
	})
	if err != nil {
		return fmt.Errorf("pages: %w", err)
	}

	mux := http.NewServeMux()
	prov.Mount(mux)
	mux.Handle(web.Prefix, pages)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	var bucket pinger
	if store != nil {
		bucket = store
	}
	schema := &schemaCheck{db: st.Pool, every: 5 * time.Second}
	mux.Handle("GET /readyz", readyHandler(st, schema, upstream, cfg.MLflowURL, version, bucket, log))
	mux.Handle("/", gate)

	// Outside-in: the recoverer sees every panic, the id is set before the
	// request is logged and counted.
	handler := chain(mux, recoverer(log), requestID, observe(log, metrics, cfg.RequestLog), cleanPaths)
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout or WriteTimeout: they would cap every artifact upload and
		// download; the proxy cuts off bodies sent slower than a minimum rate.
		IdleTimeout:    90 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	mainLn, metricsLn, err := listen(cfg, ls)
	if err != nil {
		return err
	}
	actors := []actor{
		httpActor("server", srv, mainLn, cfg.ShutdownTimeout, log),
		{"change feed", feed.Run},
		{"identity provider sweeper", prov.Run},
		{"audit sweeper", func(ctx context.Context) error { return sweepAudit(ctx, st, cfg.AuditRetention, log) }},
		{"serving lock", func(ctx context.Context) error {
			return serving.Run(ctx, 15*time.Second, func(err error) {
				log.Warn("lost the serving lock's database connection; taking it again", "error", err.Error())
			})
		}},
	}
	attrs := []any{"listen", mainLn.Addr().String(), "issuer", cfg.Issuer, "startup", time.Since(start).String(), "version", version}
	if metricsLn != nil {
		msrv := &http.Server{Handler: metrics.handler(cfg.Pprof), ReadHeaderTimeout: 5 * time.Second}
		actors = append(actors, httpActor("metrics server", msrv, metricsLn, cfg.ShutdownTimeout, nil))
		attrs = append(attrs, "metrics", metricsLn.Addr().String())
	}
	// Start-up made garbage (the hasher's dummy hash alone is 19 MiB of
	// argon2id memory); give it back now rather than at the next GC cycle.
	debug.FreeOSMemory()
	return runActors(ctx, actors, func() {
		log.Info("mlflow-gate serving", attrs...)
		if ls != nil && ls.ready != nil {
			ls.ready <- mainLn.Addr().String()
		}
	}, func() { log.Info("stopped") })
}

// listen opens the main and metrics listeners (nil when metrics are off),
// unless the test handed them in.
func listen(cfg *Config, ls *listeners) (mainLn, metricsLn net.Listener, err error) {
	if ls != nil {
		mainLn, metricsLn = ls.main, ls.metrics
	}
	if mainLn == nil {
		if mainLn, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, nil, fmt.Errorf("listening on %s: %w", cfg.Listen, err)
		}
	}
	if metricsLn == nil && cfg.MetricsListen != "off" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			mainLn.Close()
			return nil, nil, fmt.Errorf("listening on %s for metrics: %w", cfg.MetricsListen, err)
		}
	}
	return mainLn, metricsLn, nil
}

// loadPolicy seeds the default table on an empty database and loads it once;
// the change feed keeps it current afterwards.
func loadPolicy(ctx context.Context, st *storage.Store, log *slog.Logger) (*authzstore.Loader, error) {
	seeded, err := authzstore.SeedIfEmpty(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("permission table: %w", err)
	}
	if seeded {
		log.Info("stored the default permission table")
	}
	loader := authzstore.NewLoader(st, log)
	if err := loader.Load(ctx); err != nil {
		return nil, fmt.Errorf("permission table: %w", err)
	}
	return loader, nil
}

// sweepAudit deletes audit records past the retention, hourly, until ctx ends.
func sweepAudit(ctx context.Context, st *storage.Store, retention time.Duration, log *slog.Logger) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := st.DeleteAuditBefore(ctx, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			log.Warn("deleting old audit records failed", "error", err.Error())
		} else if n > 0 {
			log.Info("deleted old audit records", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// providerConfig maps settings onto the identity provider, deriving one key
// per purpose from the master secret.
func providerConfig(cfg *Config) idp.Config {
	return idp.Config{
		Issuer:           cfg.Issuer,
		CookieHashKey:    cfg.DeriveKey("sso-cookie-hmac"),
		CookieBlockKey:   cfg.DeriveKey("sso-cookie-aes"),
		CodeKey:          cfg.DeriveKey("code-encryption"),
		KeyEncryptionKey: keyEncryptionKey(cfg),
		AccessTokenTTL:   cfg.AccessTokenTTL,
		IDTokenTTL:       cfg.IDTokenTTL,
		RefreshIdleTTL:   cfg.RefreshIdleTTL,
		RefreshMaxTTL:    cfg.RefreshMaxTTL,
		SessionTTL:       cfg.SessionTTL,
		SessionIdleTTL:   cfg.SessionIdleTTL,
		SigningAlg:       cfg.SigningAlg,
		GroupsClaim:      cfg.GroupsClaim,
		TrustedProxies:   cfg.TrustedProxies,
	}
}

// bootstrap creates the first administrator and the command-line client on an
// empty database. Without MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD a password is
// generated and printed once to stdout (never to the log).
func bootstrap(ctx context.Context, cfg *Config, st *storage.Store, stdout io.Writer, log *slog.Logger) error {
	done, err := st.Bootstrapped(ctx)
	if err != nil || done {
		return err
	}
	pw, generated := cfg.BootstrapAdminPassword, false
	if pw == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		pw, generated = base64.RawURLEncoding.EncodeToString(b), true
	} else if err := password.Check(pw, "admin"); err != nil {
		return &ConfigError{Problems: []string{"MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD: " + err.Error()}}
	}
	hash, err := password.Hash(pw, password.DefaultParams)
	if err != nil {
		return err
	}
	created, err := st.Bootstrap(ctx, storage.BootstrapAdmin{Username: "admin", PasswordHash: hash}, cliClient())
	if err != nil {
		return fmt.Errorf("creating the first administrator: %w", err)
	}
	if !created {
		return nil // another replica won the race
	}
	log.Info("empty database: created roles Admin and Default, user admin, and client " + storage.CLIClientID)
	if generated {
		fmt.Fprintf(stdout, "\nmlflow-gate: created the administrator account (shown only this once)\n  username: admin\n  password: %s\n\n", pw)
	}
	return nil
}

// cliClient is the public client for command-line use: authorization code +
// PKCE with loopback redirects on any port (RFC 8252 §7.3), and the device flow.
func cliClient() storage.Client {
	return storage.Client{
		ID:           storage.CLIClientID,
		Name:         "mlflow-gate command line",
		Public:       true,
		Native:       true,
		GrantTypes:   []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"},
		Scopes:       append(slices.Clone(idp.DefaultClientScopes), idp.ScopeMLflow), // the MLflow API's own client
		RedirectURIs: []string{"http://127.0.0.1/callback", "http://[::1]/callback"},
	}
}
