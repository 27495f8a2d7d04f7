package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Profiles are served only when asked for, and only beside /metrics.
func TestPprofOnlyWhenAsked(t *testing.T) {
	m := newMetrics()
	for _, tc := range []struct {
		on   bool
		want int
	}{{false, http.StatusNotFound}, {true, http.StatusOK}} {
		rec := httptest.NewRecorder()
		m.handler(tc.on).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
		if rec.Code != tc.want {
			t.Errorf("pprof %v: /debug/pprof/ answered %d, want %d", tc.on, rec.Code, tc.want)
		}
		rec = httptest.NewRecorder()
		m.handler(tc.on).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("pprof %v: /metrics answered %d", tc.on, rec.Code)
		}
	}
}
