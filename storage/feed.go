package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// FeedApplicationName is the application_name of the feed's LISTEN connection,
// so operators (and tests) can find it in pg_stat_activity.
const FeedApplicationName = "mlflow-gate change feed"

// Subscriber is an in-memory cache kept current by a Feed.
type Subscriber interface {
	// Reload replaces everything the subscriber caches with the database's. The
	// feed calls it after every (re)connection, once it is listening: changes
	// committed while it was disconnected were announced to nobody.
	Reload(ctx context.Context) error
	// Changed folds one announced change in. An error means the subscriber could
	// not learn what changed: the feed reconnects, and so reloads everything.
	Changed(ctx context.Context, c Change) error
}

// Feed is a replica's one listener on Channel: a dedicated connection that
// LISTENs, reconnects with exponential backoff, and hands every change to
// every subscriber in the order they subscribed. While it is disconnected its
// subscribers' caches may miss changes; Stale tells how long that has lasted.
type Feed struct {
	st  *Store
	log *slog.Logger

	// MinBackoff and MaxBackoff bound the wait between reconnection attempts;
	// Heartbeat is how long the feed waits for a notification before it checks
	// that its connection is alive. Set them before Connect or Run.
	MinBackoff, MaxBackoff, Heartbeat time.Duration

	mu   sync.Mutex
	subs []subscription
	conn *pgx.Conn // opened by Connect, consumed by Run

	live      atomic.Bool
	downSince atomic.Int64 // unix nanos when the feed was last live; 0 = never
	now       func() time.Time
}

type subscription struct {
	name string
	s    Subscriber
}

// NewFeed returns a feed over st's database; nothing connects until Connect or Run.
func NewFeed(st *Store, log *slog.Logger) *Feed {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Feed{st: st, log: log, MinBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second,
		Heartbeat: 30 * time.Second, now: time.Now}
}

// Subscribe registers s (name is for logs). Subscribe before Connect or Run: a
// subscriber added later misses the reload until the next reconnection.
func (f *Feed) Subscribe(name string, s Subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, subscription{name, s})
}

// Live reports whether the feed is listening with every subscriber reloaded.
func (f *Feed) Live() bool { return f.live.Load() }

// Stale reports whether caches fed by f cannot be trusted at now: the feed was
// never live, or has been down for longer than maxStale.
func (f *Feed) Stale(now time.Time, maxStale time.Duration) bool {
	if f.live.Load() {
		return false
	}
	since := f.downSince.Load()
	return since == 0 || now.Sub(time.Unix(0, since)) > maxStale
}

func (f *Feed) markLive() { f.live.Store(true) }

func (f *Feed) markDown() {
	if f.live.Swap(false) {
		f.downSince.Store(f.now().UnixNano())
	}
}

// Connect makes the first connection and reloads every subscriber, so that a
// caller learns at start-up whether the feed works. Run carries on with it.
func (f *Feed) Connect(ctx context.Context) error {
	conn, err := f.connect(ctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	if f.conn != nil {
		f.mu.Unlock()
		closeConn(conn)
		return errors.New("change feed: already connected")
	}
	f.conn = conn
	f.mu.Unlock()
	return nil
}

// Close closes the connection Connect opened if Run never took it over, for a
// caller that fails between the two.
func (f *Feed) Close() {
	f.mu.Lock()
	conn := f.conn
	f.conn = nil
	f.mu.Unlock()
	if conn != nil {
		f.markDown()
		closeConn(conn)
	}
}

// Run delivers changes until ctx ends, reconnecting (and reloading every
// subscriber) whenever the connection is lost or a subscriber fails. It
// returns nil when ctx ends.
func (f *Feed) Run(ctx context.Context) error {
	delay := f.MinBackoff
	for {
		f.mu.Lock()
		conn := f.conn
		f.conn = nil
		f.mu.Unlock()
		var err error
		if conn == nil {
			conn, err = f.connect(ctx)
		}
		if err == nil {
			delay = f.MinBackoff
			err = f.consume(ctx, conn)
			f.markDown()
			closeConn(conn)
		}
		if ctx.Err() != nil {
			return nil
		}
		f.log.Warn("change feed lost its connection or could not reload; reconnecting",
			"retry_in", delay.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, f.MaxBackoff)
	}
}

// connect opens the LISTEN connection and reloads every subscriber on it.
func (f *Feed) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg := f.st.Pool.Config().ConnConfig // a copy: the pool's settings are untouched
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = FeedApplicationName
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("change feed: connecting: %w", redact(err))
	}
	// LISTEN before reloading: a change committed in between is both in the
	// reload and in a notification, never in neither.
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("change feed: LISTEN: %w", err)
	}
	for _, s := range f.subscribers() {
		if err := s.s.Reload(cctx); err != nil {
			closeConn(conn)
			return nil, fmt.Errorf("change feed: reloading %s: %w", s.name, err)
		}
	}
	f.markLive()
	return conn, nil
}

func (f *Feed) subscribers() []subscription {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]subscription(nil), f.subs...)
}

// consume hands notifications to the subscribers until the connection fails,
// a subscriber fails, or ctx ends.
func (f *Feed) consume(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, f.Heartbeat)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// Quiet for a while: make sure the connection is not silently gone.
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("heartbeat: %w", err)
			}
			continue
		case err != nil:
			return err
		}
		c := parseChange(n.Payload)
		for _, s := range f.subscribers() {
			if err := s.s.Changed(ctx, c); err != nil {
				return fmt.Errorf("%s applying %s: %w", s.name, c, err)
			}
		}
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
