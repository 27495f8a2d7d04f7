package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Junk credentials are counted, not audited one row each: a burst from one
// address is one summary record per window, every 401 is still counted by the
// metric, and the credential appears nowhere in the record.
func TestBadCredentialsAreSummarizedPerAddress(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", f.srv.URL+"/api/2.0/mlflow/runs/get?run_id=1", nil)
			req.Header.Set("Authorization", fmt.Sprintf("Bearer junk-secret-%d", i))
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if got := len(f.sink.all()); got != 0 {
		t.Fatalf("%d audit records before the window closed, want 0", got)
	}
	if got := f.metrics.get(OutcomeUnauthenticated); got != n {
		t.Fatalf("metric counted %d 401s, want %d", got, n)
	}
	f.gate.flushFailures()
	recs := f.sink.all()
	if len(recs) != 1 {
		t.Fatalf("%d records, want one summary: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.Failures == nil || r.Failures.Count != n || r.RemoteAddr != "127.0.0.1" || r.Decision != OutcomeUnauthenticated ||
		r.Status != 401 || r.Rule != "bad_credentials" || r.Failures.First.After(r.Failures.Last) || r.At != r.Failures.First {
		t.Fatalf("summary %+v (%+v)", r, r.Failures)
	}
	if s := fmt.Sprintf("%+v %+v", r, *r.Failures); strings.Contains(s, "junk-secret") {
		t.Fatalf("the credential is in the record: %s", s)
	}
	f.gate.flushFailures()
	if got := len(f.sink.all()); got != 1 {
		t.Fatalf("an empty window wrote %d more records", got-1)
	}
}

func TestFailureMapIsBounded(t *testing.T) {
	a := newAuthFailures()
	now := time.Now()
	for i := range maxFailureAddrs + 500 {
		a.add(fmt.Sprintf("10.%d.%d.%d:4242", i>>16&255, i>>8&255, i&255), "token_has_expired", now)
	}
	a.add("10.0.0.0:1", "x", now) // a known address keeps its own row
	if len(a.addrs) != maxFailureAddrs {
		t.Fatalf("%d addresses held, want the bound %d", len(a.addrs), maxFailureAddrs)
	}
	recs := a.take()
	if len(recs) != maxFailureAddrs+1 {
		t.Fatalf("%d records, want %d and one for the rest", len(recs), maxFailureAddrs+1)
	}
	var other *AuditRecord
	for i := range recs {
		switch recs[i].RemoteAddr {
		case otherAddr:
			other = &recs[i]
		case "10.0.0.0":
			if recs[i].Failures.Count != 2 {
				t.Errorf("10.0.0.0 counted %d, want 2", recs[i].Failures.Count)
			}
		}
	}
	if other == nil || other.Failures.Count != 500 || other.Rule != "token_has_expired" {
		t.Fatalf("other row %+v", other)
	}
	if len(a.take()) != 0 {
		t.Fatal("take did not empty the window")
	}
}

// Close writes what the window holds, and the reason code an Authenticator
// gives travels to the record.
func TestCloseFlushesFailures(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	f.gate.failures.add("192.0.2.7:555", reasonOf(BadCredentials("token_has_expired", nil)), time.Now())
	if err := f.gate.Close(); err != nil {
		t.Fatal(err)
	}
	_ = f.gate.Close() // idempotent
	recs := f.sink.all()
	if len(recs) != 1 || recs[0].RemoteAddr != "192.0.2.7" || recs[0].Rule != "token_has_expired" {
		t.Fatalf("after Close: %+v", recs)
	}
}
