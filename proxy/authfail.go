package proxy

import (
	"errors"
	"net"
	"sync"
	"time"
)

// Bad-credential 401s are not audited one row each: anyone can send them, as
// fast as the network allows, and each row would be a database write. They are
// counted per client address and written as one summary row per address per
// window (AuditRecord.Failures). The Prometheus counter still counts every one.
const (
	authFailureWindow = time.Minute
	// maxFailureAddrs bounds the map: addresses beyond it in one window share
	// the row of otherAddr, so spoofed or many sources cannot grow memory.
	maxFailureAddrs = 1024
	otherAddr       = "other"
)

// FailureSummary is the detail of a summary audit record: how many requests
// from one address presented a bad credential in one window, and the reason
// code of the first (a code, never the credential).
type FailureSummary struct {
	Count       int
	First, Last time.Time
	Reason      string
}

// BadCredentials returns an error that is ErrBadCredentials, carries the
// Authenticator's reason code (a fixed word such as "expired", for the audit
// summary; never the credential) and wraps err for the log.
func BadCredentials(reason string, err error) error {
	return &badCredError{reason: reason, err: err}
}

type badCredError struct {
	reason string
	err    error
}

func (e *badCredError) Error() string {
	if e.err == nil {
		return ErrBadCredentials.Error() + ": " + e.reason
	}
	return ErrBadCredentials.Error() + ": " + e.err.Error()
}

func (e *badCredError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrBadCredentials}
	}
	return []error{ErrBadCredentials, e.err}
}

// reasonOf is the reason code of a bad-credential error.
func reasonOf(err error) string {
	var b *badCredError
	if errors.As(err, &b) && b.reason != "" {
		return b.reason
	}
	return "bad_credentials"
}

// authFailures counts bad-credential requests per address for the current
// window. Safe for concurrent use; add is one map lookup under a mutex.
type authFailures struct {
	mu    sync.Mutex
	addrs map[string]*FailureSummary
	other *FailureSummary
}

func newAuthFailures() *authFailures {
	return &authFailures{addrs: map[string]*FailureSummary{}}
}

// addrOf is the client's address without the port: every connection from one
// host is one source.
func addrOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

func (f *authFailures) add(remote, reason string, at time.Time) {
	addr := addrOf(remote)
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.addrs[addr]
	if s == nil {
		if len(f.addrs) >= maxFailureAddrs {
			if f.other == nil {
				f.other = &FailureSummary{First: at, Reason: reason}
			}
			s = f.other
		} else {
			s = &FailureSummary{First: at, Reason: reason}
			f.addrs[addr] = s
		}
	}
	s.Count++
	if at.After(s.Last) {
		s.Last = at
	}
}

// take empties the window and returns one summary record per address.
func (f *authFailures) take() []AuditRecord {
	f.mu.Lock()
	addrs, other := f.addrs, f.other
	if len(addrs) > 0 || other != nil {
		f.addrs, f.other = make(map[string]*FailureSummary, len(addrs)), nil
	}
	f.mu.Unlock()
	recs := make([]AuditRecord, 0, len(addrs)+1)
	for addr, s := range addrs {
		recs = append(recs, failureRecord(addr, s))
	}
	if other != nil {
		recs = append(recs, failureRecord(otherAddr, other))
	}
	return recs
}

func failureRecord(addr string, s *FailureSummary) AuditRecord {
	return AuditRecord{At: s.First, Decision: OutcomeUnauthenticated, Rule: s.Reason, Status: 401,
		RemoteAddr: addr, Failures: s}
}

// flushFailures writes the window's summaries to the audit sink.
func (g *Gate) flushFailures() {
	for _, r := range g.failures.take() {
		g.audit.Record(r)
	}
}

// runFailureFlush flushes every window until Close.
func (g *Gate) runFailureFlush(every time.Duration) {
	defer close(g.flushDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			g.flushFailures()
		case <-g.stop:
			g.flushFailures()
			return
		}
	}
}

// Close stops the gate's background work and writes the pending
// authentication-failure summaries to the audit sink. Call it after the
// server has stopped serving and before the sink is closed. Idempotent.
func (g *Gate) Close() error {
	g.closeOnce.Do(func() {
		close(g.stop)
		<-g.flushDone
	})
	return nil
}
