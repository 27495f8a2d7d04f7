package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// errSlowBody is returned by a request body read that missed its deadline: the
// client sent the body slower than the configured minimum rate, or stalled.
var errSlowBody = errors.New("proxy: request body arrived slower than the minimum rate")

// minRateReader enforces a minimum average rate on a request body with read
// deadlines on the client's connection (http.ResponseController), which is the
// only thing that interrupts a Read blocked on a stalled client: a wrapper alone
// cannot. Server-wide ReadTimeout would cap every upload at one duration whatever
// its size; a rate lets a 5 GB model upload through and still cuts off a client
// that dribbles one byte every few seconds (slowloris on the body).
//
// Having received n bytes, the client must send the next bytes before
//
//	min(start + grace + n/rate, lastRead + grace)
//
// so early speed buys credit but a stall longer than grace always ends the request.
type minRateReader struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	grace time.Duration
	rate  int64 // bytes per second
	n     int64
	eof   bool
	// tripped is set when a read missed its deadline. The server cancels the
	// request's context on that read error too, so the transport may report
	// context.Canceled rather than errSlowBody: the error handler asks here.
	tripped atomic.Bool
}

// limitBodyRate wraps r.Body when a rate is configured and the connection
// supports read deadlines; otherwise it returns the body unchanged.
func limitBodyRate(w http.ResponseWriter, r *http.Request, rate int64, grace time.Duration) (io.ReadCloser, *minRateReader) {
	if rate <= 0 || grace <= 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return r.Body, nil
	}
	rc := http.NewResponseController(w)
	now := time.Now()
	if rc.SetReadDeadline(now.Add(grace)) != nil {
		return r.Body, nil // e.g. a ResponseRecorder in tests: nothing to enforce with
	}
	m := &minRateReader{body: r.Body, rc: rc, start: now, grace: grace, rate: rate}
	return m, m
}

func (m *minRateReader) Read(p []byte) (int, error) {
	if m.eof {
		return 0, io.EOF
	}
	n, err := m.body.Read(p)
	m.n += int64(n)
	switch {
	case err == io.EOF:
		// Clear the deadline: once the body is read the server starts its
		// background read to notice a closed connection, and a deadline firing
		// there would cancel the request while MLflow is still answering.
		m.eof = true
		_ = m.rc.SetReadDeadline(time.Time{})
	case err != nil:
		if isTimeout(err) {
			m.tripped.Store(true)
			return n, errSlowBody
		}
	case n > 0:
		now := time.Now()
		deadline := m.start.Add(m.grace + time.Duration(float64(m.n)/float64(m.rate)*float64(time.Second)))
		if idle := now.Add(m.grace); idle.Before(deadline) {
			deadline = idle
		}
		_ = m.rc.SetReadDeadline(deadline)
	}
	return n, err
}

func (m *minRateReader) Close() error { return m.body.Close() }

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
