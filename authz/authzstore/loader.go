package authzstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// ListenerApplicationName is the application_name of the loader's LISTEN connection,
// so operators (and tests) can find it in pg_stat_activity.
const ListenerApplicationName = "mlflow-gate policy listener"

// Loader keeps a Holder's policy equal to the compiled table in the database.
type Loader struct {
	st     *storage.Store
	holder *authz.Holder
	log    *slog.Logger

	// MinBackoff and MaxBackoff bound the wait between reconnection attempts;
	// Heartbeat is how long the listener waits for a notification before it checks
	// that its connection is alive. Set them before Run.
	MinBackoff, MaxBackoff, Heartbeat time.Duration

	loadMu sync.Mutex // one load at a time, so an older table never replaces a newer one
	mu     sync.Mutex
	status Status
}

// Status is the outcome of the loader's latest load.
type Status struct {
	LoadedAt  time.Time // when a policy was last compiled and swapped in
	Err       error     // the latest load's error (nil when it succeeded)
	Listening bool      // the LISTEN connection is up and the table was reloaded on it
}

// NewLoader returns a loader over st whose Holder denies everything until Load or Run
// has loaded a policy.
func NewLoader(st *storage.Store, log *slog.Logger) *Loader {
	return &Loader{st: st, holder: authz.NewHolder(nil), log: log,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second, Heartbeat: 30 * time.Second}
}

// Holder is what the proxy decides through.
func (l *Loader) Holder() *authz.Holder { return l.holder }

// Status reports the latest load.
func (l *Loader) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// Load reads, compiles and swaps in the stored table once. On any error the previous
// policy stays (nil at first: everything is denied) and the error is returned.
func (l *Loader) Load(ctx context.Context) error {
	dbErr, compileErr := l.load(ctx)
	if dbErr != nil {
		return dbErr
	}
	return compileErr
}

// load reads and installs the table, telling a database error (the connection may be
// gone) from a table that does not compile.
func (l *Loader) load(ctx context.Context) (dbErr, compileErr error) {
	l.loadMu.Lock()
	defer l.loadMu.Unlock()
	pt, err := l.st.PermissionTable(ctx)
	if err != nil {
		l.setErr(err)
		return fmt.Errorf("loading the permission table: %w", err), nil
	}
	return nil, l.install(pt)
}

// install compiles a stored table and swaps it in; a table that does not compile is
// logged loudly and leaves the previous policy in place.
func (l *Loader) install(pt storage.PermissionTable) error {
	t, err := FromRecords(pt)
	var p *authz.Policy
	if err == nil {
		p, err = authz.Compile(t)
	}
	if err != nil {
		err = fmt.Errorf("the permission table in the database does not compile, keeping the previous policy: %w", err)
		l.log.Error("policy not loaded", "error", strings.ReplaceAll(err.Error(), "\n", "; "),
			"previous", l.holder.Load() != nil)
		l.setErr(err)
		return err
	}
	attrs := []any{"resources", len(t.Resources), "permissions", len(t.Permissions), "roles", len(p.Roles())}
	if prev := l.holder.Load(); prev != nil {
		attrs = append(attrs, "changes", len(authz.Diff(prev.Table(), t)))
	}
	l.holder.Store(p)
	l.mu.Lock()
	l.status.LoadedAt, l.status.Err = time.Now(), nil
	l.mu.Unlock()
	l.log.Info("policy loaded", attrs...)
	if u := p.Uncovered(); len(u) > 0 {
		l.log.Warn("policy leaves routes uncovered: nobody may call them", "count", len(u), "first", u[0])
	}
	return nil
}

func (l *Loader) setErr(err error) {
	l.mu.Lock()
	l.status.Err = err
	l.mu.Unlock()
}

func (l *Loader) setListening(on bool) {
	l.mu.Lock()
	l.status.Listening = on
	l.mu.Unlock()
}

// Run listens for "policy" notifications and reloads on each, until ctx ends. After
// every (re)connection it reloads fully. A lost connection is retried with
// exponential backoff; a table that does not compile keeps the previous policy.
func (l *Loader) Run(ctx context.Context) error {
	delay := l.MinBackoff
	for {
		connected, err := l.listen(ctx)
		l.setListening(false)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			delay = l.MinBackoff
		}
		l.log.Warn("policy listener lost its connection; reconnecting", "retry_in", delay.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, l.MaxBackoff)
	}
}

// listen runs one connection: LISTEN, reload, then reload on each notification. It
// reports whether it got as far as listening with the table reloaded (which resets the
// backoff), and why it stopped.
func (l *Loader) listen(ctx context.Context) (connected bool, err error) {
	cfg := l.st.Pool.Config().ConnConfig // a copy: the pool's settings are untouched
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = ListenerApplicationName
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(cctx)
		cancel()
	}()
	// LISTEN before loading: a change committed after the load is then announced.
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{storage.Channel}.Sanitize()); err != nil {
		return false, err
	}
	if err := l.reload(ctx); err != nil {
		return false, err
	}
	l.setListening(true)
	for {
		wctx, cancel := context.WithTimeout(ctx, l.Heartbeat)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// Quiet for a while: make sure the connection is not silently gone.
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("heartbeat: %w", err)
			}
		case err != nil:
			return true, err
		case kindOf(n.Payload) == "policy":
			if err := l.reload(ctx); err != nil {
				return true, err
			}
		}
	}
}

// reload loads the table; only a database error is returned (it ends the connection,
// and the reconnection reloads). Compile errors are logged by install.
func (l *Loader) reload(ctx context.Context) error {
	dbErr, _ := l.load(ctx)
	return dbErr
}

// kindOf returns the kind of a storage.Notify payload ("policy:" → "policy").
func kindOf(payload string) string {
	kind, _, _ := strings.Cut(payload, ":")
	return kind
}
