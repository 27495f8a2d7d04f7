package authzstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// TableReader is what the loader needs of the database.
type TableReader interface {
	PermissionTable(ctx context.Context) (storage.PermissionTable, error)
}

// Loader keeps a Holder's policy equal to the compiled table in the database,
// following a storage.Feed: it reloads on every (re)connection and on every
// ChangePolicy.
type Loader struct {
	st     TableReader
	holder *authz.Holder
	log    *slog.Logger
	feed   *storage.Feed // nil until Subscribe

	loadMu sync.Mutex // one load at a time, so an older table never replaces a newer one
	mu     sync.Mutex
	status Status
}

// Status is the outcome of the loader's latest load.
type Status struct {
	LoadedAt  time.Time // when a policy was last compiled and swapped in
	Err       error     // the latest load's error (nil when it succeeded)
	Listening bool      // the feed is live: the table was reloaded on its current connection
}

// NewLoader returns a loader over st whose Holder denies everything until Load or
// its feed has loaded a policy.
func NewLoader(st TableReader, log *slog.Logger) *Loader {
	return &Loader{st: st, holder: authz.NewHolder(nil), log: log}
}

// Subscribe has f keep the policy current; call it before f connects.
func (l *Loader) Subscribe(f *storage.Feed) {
	l.mu.Lock()
	l.feed = f
	l.mu.Unlock()
	f.Subscribe("policy loader", loaderFeed{l})
}

// loaderFeed is the loader as a storage.Subscriber. A database error ends the
// feed's connection (the reconnection reloads); a table that does not compile
// is logged by install and keeps the previous policy.
type loaderFeed struct{ l *Loader }

func (s loaderFeed) Reload(ctx context.Context) error {
	dbErr, _ := s.l.load(ctx)
	return dbErr
}

func (s loaderFeed) Changed(ctx context.Context, c storage.Change) error {
	if c.Kind != storage.ChangePolicy {
		return nil
	}
	return s.Reload(ctx)
}

// Holder is what the proxy decides through.
func (l *Loader) Holder() *authz.Holder { return l.holder }

// Status reports the latest load.
func (l *Loader) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.status
	st.Listening = l.feed != nil && l.feed.Live()
	return st
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
