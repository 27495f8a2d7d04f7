package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// request is one kind of call the load generator repeats. body, when set,
// makes the i-th request's body (i counts from 0 across all workers).
type request struct {
	method, path string
	body         func(i uint64) []byte
}

// load is one bounded closed-loop load: conc workers, each sending its next
// request when the previous answer has been read, for dur or max requests,
// whichever comes first.
type load struct {
	base   string      // http://host:port
	header http.Header // sent with every request (Authorization)
	req    request
	conc   int
	dur    time.Duration
	max    uint64
	seq    *atomic.Uint64 // numbers bodies; shared across loads so bodies never repeat
	probes []probe        // processes whose CPU time per request is reported
}

// probe reads the CPU time used so far by a set of processes, by pid.
type probe func() map[int]time.Duration

func pidProbe(pid int) probe {
	return func() map[int]time.Duration { return map[int]time.Duration{pid: cpuTime(pid)} }
}

// commProbe covers every process of that name (PostgreSQL's backends and workers).
func commProbe(comm string) probe {
	return func() map[int]time.Duration {
		m := map[int]time.Duration{}
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if b, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.TrimSpace(string(b)) == comm {
				m[pid] = cpuTime(pid)
			}
		}
		return m
	}
}

// machineProbe reads the busy time of every core from /proc/stat, so that
// CPU used by processes outside the measurement (another job on the machine)
// shows as the difference from the probes of the measured processes.
func machineProbe() map[int]time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy uint64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait, guest (already in user)
			continue
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		busy += n
	}
	return map[int]time.Duration{-1: time.Duration(busy) * 10 * time.Millisecond}
}

// used is the CPU time spent between two readings of a probe by the processes
// alive at the second (one that started in between counts from zero).
func used(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range after {
		d += t - before[pid]
	}
	return d
}

type result struct {
	ok, failed int
	statuses   map[int]int // non-200 answers
	firstErr   error
	elapsed    time.Duration
	lat        []time.Duration // of answered requests (any status), sorted
	cpu        []time.Duration // CPU time used by each probe's processes during the load
}

// cpuPerReq is the CPU time of probe i per successful request.
func (r result) cpuPerReq(i int) time.Duration {
	if i >= len(r.cpu) || r.ok == 0 {
		return 0
	}
	return r.cpu[i] / time.Duration(r.ok)
}

// merge pools two loads of the same kind (rounds of one measurement).
func (r result) merge(o result) result {
	if r.lat == nil {
		return o
	}
	m := result{ok: r.ok + o.ok, failed: r.failed + o.failed, elapsed: r.elapsed + o.elapsed, firstErr: r.firstErr}
	m.lat = append(slices.Clone(r.lat), o.lat...)
	slices.Sort(m.lat)
	for i := range r.cpu {
		m.cpu = append(m.cpu, r.cpu[i]+o.cpu[i])
	}
	return m
}

func (r result) rps() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r result) pct(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[int(q*float64(len(r.lat)-1)+0.5)]
}

// newClient is a keep-alive client that holds one idle connection per worker.
func newClient(conc int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conc * 2,
			MaxIdleConnsPerHost: conc * 2,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// run drives the load with client (whose connections persist from a warm-up),
// as a flow whose step is the one request.
func (l load) run(ctx context.Context, client *http.Client) result {
	seq := l.seq
	if seq == nil {
		seq = new(atomic.Uint64)
	}
	h := l.header.Clone() // read, never written, by every worker's requests
	if h == nil {
		h = http.Header{}
	}
	if l.req.body != nil {
		h.Set("Content-Type", "application/json")
	}
	url := l.base + l.req.path
	do := func(ctx context.Context, client *http.Client) (int, error) {
		var body io.Reader
		if l.req.body != nil {
			body = bytes.NewReader(l.req.body(seq.Add(1) - 1))
		}
		req, err := http.NewRequestWithContext(ctx, l.req.method, url, body)
		if err != nil {
			return 0, err
		}
		req.Header = h
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, fmt.Errorf("%s %s: status %d", l.req.method, l.req.path, resp.StatusCode)
		}
		return 0, nil
	}
	return flow{conc: l.conc, dur: l.dur, max: l.max, do: do, probes: l.probes}.run(ctx, client)
}

func sumStatuses(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// check turns a load with failures into an error naming what came back.
func (r result) check(what string) error {
	if r.failed == 0 {
		return nil
	}
	var s []string
	for code, n := range r.statuses {
		s = append(s, fmt.Sprintf("%d×%d", n, code))
	}
	msg := fmt.Sprintf("%s: %d of %d requests failed (statuses %s)", what, r.failed, r.ok+r.failed, strings.Join(s, ", "))
	if r.firstErr != nil {
		msg += ": " + r.firstErr.Error()
	}
	return errors.New(msg)
}

// runner is one side of a comparison: a load of one request, or a flow of
// several (keycloakload.go).
type runner interface {
	run(ctx context.Context, client *http.Client) result
	concurrency() int
	warm(d time.Duration) runner // the same for d, without probes
}

func (l load) concurrency() int { return l.conc }
func (l load) warm(d time.Duration) runner {
	l.dur, l.probes = d, nil
	return l
}

// interleave measures runs side by side: each gets its own client, warmed
// up once, then every round runs each for its dur in turn, the order
// rotating from round to round, so that drift on the machine (a checkpoint, a
// table that grows) falls on every one alike. It returns each one's rounds
// pooled, and the rounds themselves; a failed request ends it with an error.
func interleave[R runner](ctx context.Context, runs []R, rounds int, warmup time.Duration) ([]result, [][]result, error) {
	clients := make([]*http.Client, len(runs))
	for i, l := range runs {
		clients[i] = newClient(l.concurrency())
		defer clients[i].CloseIdleConnections()
		if r := l.warm(warmup).run(ctx, clients[i]); r.failed > 0 {
			return nil, nil, fmt.Errorf("load %d: %w", i, r.check("warm-up"))
		}
	}
	pooled := make([]result, len(runs))
	byRound := make([][]result, rounds)
	for round := range rounds {
		byRound[round] = make([]result, len(runs))
		for k := range runs {
			i := (k + round) % len(runs)
			r := runs[i].run(ctx, clients[i])
			if err := r.check("load"); err != nil {
				return nil, nil, fmt.Errorf("load %d: %w", i, err)
			}
			byRound[round][i] = r
			pooled[i] = pooled[i].merge(r)
		}
	}
	return pooled, byRound, nil
}

// spread formats the median and range of per-round values.
func spread(v []float64) string {
	s := slices.Clone(v)
	slices.Sort(s)
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s[len(s)/2], s[0], s[len(s)-1])
}

// cpuTime is the user + system CPU time a process has used so far, from
// /proc/PID/stat (in clock ticks of 10 ms); 0 on error.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	// Fields after the command name start at field 3 (state): utime is field 14,
	// stime field 15 of proc(5).
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// ms formats a latency in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// us formats a duration in microseconds; 0 (not measured) as a dash.
func us(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond))
}
