package proxy

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A 50 MB artifact upload streams through: MLflow receives the first bytes while
// the client is still blocked on sending the rest, which a gate that buffered the
// body could never let happen; and every byte arrives in order.
func TestArtifactUploadStreams(t *testing.T) {
	const total = 50 << 20
	started := make(chan struct{})
	sums := make(chan [32]byte, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet { // the gate's overwrite check: the folder is empty
			_, _ = io.WriteString(w, `{"files":[]}`)
			return
		}
		h := sha256.New()
		buf := make([]byte, 1<<20)
		n, _ := io.ReadFull(r.Body, buf[:1<<20])
		h.Write(buf[:n])
		close(started)
		io.CopyBuffer(h, r.Body, buf)
		var s [32]byte
		copy(s[:], h.Sum(nil))
		sums <- s
		w.WriteHeader(http.StatusOK)
	}))
	defer up.Close()
	f := newFixture(t, up.URL, nil)

	pr, pw := io.Pipe()
	want := sha256.New()
	writeErr := make(chan error, 1)
	go func() {
		chunk := make([]byte, 1<<20)
		for i := 0; i < total/len(chunk); i++ {
			for j := range chunk {
				chunk[j] = byte(i*7 + j)
			}
			want.Write(chunk)
			if _, err := pw.Write(chunk); err != nil {
				writeErr <- err
				return
			}
			if i == 1 { // 2 MB sent: MLflow must have started before we go on
				select {
				case <-started:
				case <-time.After(10 * time.Second):
					writeErr <- fmt.Errorf("MLflow received nothing after 2 MB: the gate buffers uploads")
					pw.CloseWithError(io.ErrUnexpectedEOF)
					return
				}
			}
		}
		writeErr <- pw.Close()
	}()
	req, _ := http.NewRequest("PUT", f.srv.URL+"/api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/model.bin", pr)
	req.Header.Set("Authorization", "Bearer alice-token")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var w [32]byte
	copy(w[:], want.Sum(nil))
	if got := <-sums; got != w {
		t.Fatal("MLflow received different bytes")
	}
}

func TestUpstreamUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	f := newFixture(t, "http://"+addr, nil)
	msg := mlflowError(t, f.do(t, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=1", "alice-token", nil), http.StatusBadGateway, codeBadGateway)
	if strings.Contains(msg, addr) || strings.Contains(msg, "refused") {
		t.Fatalf("internals in %q", msg)
	}
	if f.metrics.upstreamErr(UpstreamUnreachable) != 1 {
		t.Fatal("unreachable upstream not counted")
	}
}

func TestUpstreamTimeout(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer up.Close()
	defer close(release)
	f := newFixture(t, up.URL, func(c *Config) { c.UpstreamTimeout = 200 * time.Millisecond })
	start := time.Now()
	mlflowError(t, f.do(t, "POST", "/api/2.0/mlflow/runs/log-metric", "alice-token", []byte(`{"run_id":"r"}`)), http.StatusGatewayTimeout, codeGatewayTimeout)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("504 took %v", d)
	}
	if f.metrics.upstreamErr(UpstreamTimeout) != 1 {
		t.Fatal("timeout not counted")
	}
	f.sink.wait(t, 1)
	recs := f.sink.all()
	if len(recs) != 1 || recs[0].Status != http.StatusGatewayTimeout {
		t.Fatalf("audit %+v", recs)
	}
}

// slowClient sends headers and a little of a declared body, then stalls.
func slowClient(t *testing.T, addr, method, path string) (string, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer alice-token\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"run_id\":", method, path, addr)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "error: " + err.Error(), time.Since(start)
	}
	defer resp.Body.Close()
	return resp.Status, time.Since(start)
}

func TestSlowBodiesAreCutOff(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, func(c *Config) { c.MinBodyRate = 10 << 10; c.BodyGrace = 300 * time.Millisecond })
	addr := f.srv.Listener.Addr().String()
	// A buffered body: the gate answers 408 itself.
	status, took := slowClient(t, addr, "POST", "/api/2.0/mlflow/runs/log-batch")
	if !strings.HasPrefix(status, "408") || took > 5*time.Second {
		t.Fatalf("buffered slow body: %s after %v", status, took)
	}
	// A streamed body: the transport's read of it fails and the gate answers 408
	// (or the connection is gone); either way it ends well before the client would.
	status, took = slowClient(t, addr, "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/x")
	if took > 5*time.Second || !(strings.HasPrefix(status, "408") || strings.HasPrefix(status, "error")) {
		t.Fatalf("streamed slow body: %s after %v", status, took)
	}
	if f.metrics.upstreamErr(UpstreamSlowClient) < 2 {
		t.Fatalf("slow clients counted %d, want 2", f.metrics.upstreamErr(UpstreamSlowClient))
	}
	// A body at a good pace still goes through with the limit on.
	if resp := f.do(t, "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/y", "alice-token", make([]byte, 1<<20)); resp.StatusCode != 200 {
		t.Fatalf("fast body: status %d", resp.StatusCode)
	}
}

func TestAuditRecords(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	// Records are written after the response: wait for each before the next
	// request so that their order is the requests'.
	f.do(t, "GET", "/api/2.0/mlflow/runs/get?run_id=r-read", "alice-token", nil) // read: not audited
	f.do(t, "POST", "/api/2.0/mlflow/runs/log-metric", "alice-token", []byte(`{"run_id":"r-w","key":"m"}`))
	f.sink.wait(t, 1)
	f.do(t, "POST", "/api/2.0/mlflow/experiments/delete", "alice-token", []byte(`{"experiment_id":"9"}`))
	f.sink.wait(t, 2)
	f.do(t, "GET", "/api/2.0/mlflow/runs/get?run_id=1", "garbage", nil)
	f.gate.flushFailures() // bad credentials are summarized per window
	f.sink.wait(t, 3)
	f.do(t, "GET", "/api/2.0/mlflow/runs/get?run_id=1", "", nil) // anonymous: not audited
	f.do(t, "POST", "/api/2.0/mlflow/runs/set-tag", "alice-token", []byte(`{"run_id":"r2","key":"mlflow.user"}`))
	f.sink.wait(t, 4)
	f.do(t, "POST", "/api/2.0/mlflow/runs/update", "alice-token", []byte(`{"run_id":"a","run_id":"b"}`))
	f.sink.wait(t, 5)
	time.Sleep(50 * time.Millisecond)
	recs := f.sink.all()
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5: %+v", len(recs), recs)
	}
	w := recs[0]
	if w.User != "alice" || w.Subject != "u-alice" || w.ClientID != "mlflow-cli" || w.Credential != KindAccessToken ||
		w.TokenID != "jti-alice" || w.Method != "POST" || w.Route != "POST /api/2.0/mlflow/runs/log-metric" ||
		w.Resource != "runs" || w.Scope != "write" || w.Decision != OutcomeAllow || w.Rule != "Default#read,write on runs" ||
		w.Status != 200 || w.Path != "/api/2.0/mlflow/runs/log-metric" || w.IDs["run"][0] != "r-w" || w.Latency <= 0 ||
		w.RemoteAddr == "" || w.At.IsZero() {
		t.Errorf("write record %+v", w)
	}
	d := recs[1]
	if d.Decision != OutcomeDeny || d.Rule != "no_permission" || d.Status != 403 || d.IDs["experiment"][0] != "9" || d.Resource != "experiments" {
		t.Errorf("denial record %+v", d)
	}
	if b := recs[2]; b.Decision != OutcomeUnauthenticated || b.Status != 401 || b.User != "" || b.Failures == nil || b.Failures.Count != 1 {
		t.Errorf("bad credential record %+v", b)
	}
	if u := recs[3]; u.Decision != OutcomeDeny || u.Rule != "no_permission" || u.Scope != "manage" || u.Status != 403 || u.IDs["run"][0] != "r2" {
		t.Errorf("mlflow.user record %+v", u)
	}
	if b := recs[4]; b.Decision != OutcomeBadRequest || b.Status != 400 || b.Route != "POST /api/2.0/mlflow/runs/update" || b.Scope != "write" {
		t.Errorf("bad request record %+v", b)
	}

	g := newFixture(t, up.URL, func(c *Config) { c.AuditReads = true })
	g.do(t, "GET", "/api/2.0/mlflow/runs/get?run_id=r-read", "alice-token", nil, "X-Request-Id", "client-chosen")
	g.sink.wait(t, 1)
	if recs := g.sink.all(); len(recs) != 1 || recs[0].Scope != "read" || recs[0].RequestID != "" {
		t.Fatalf("with AuditReads: %+v", recs)
	}
}

// Bytes a Go client would escape (but another client may send raw) are
// forwarded as they came: the gate decided on this exact string.
func TestRawRequestLineIsForwardedVerbatim(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	addr := f.srv.Listener.Addr().String()
	const target = "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a{b}|c^d%7e.txt"
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer alice-token\r\nConnection: close\r\n\r\n", target, addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := up.got(t).RequestURI; got != target {
		t.Fatalf("upstream got %q, want %q", got, target)
	}
}
