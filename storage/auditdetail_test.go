package storage

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// The audit writer appends a request's detail by hand; it must be exactly
// what encoding/json would have written, for every string.
func TestDetailJSONIsEncodingJSON(t *testing.T) {
	odd := []string{"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\rcr\bbs\fff",
		"\x00\x01\x1f\x7f", "é ü 日本 🚀", "\u2028\u2029", "bad \xff utf-8 \xc3", "/api/2.0/mlflow/runs/get"}
	cases := []RequestDetail{
		{Path: "/api/2.0/mlflow/runs/get"},
		{Path: "/x", RequestID: "r1", Credential: "pat", Subject: "u1", TokenID: "t1",
			IDs: map[string][]string{"run": {"abc", "def"}, "experiment": {"0"}, "empty": {}, "nil": nil}},
	}
	for _, s := range odd {
		cases = append(cases, RequestDetail{Path: s, RequestID: s, Subject: s, IDs: map[string][]string{s: {s, s}}})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, RequestDetail{Path: string(b), TokenID: string(b[:len(b)/2])})
	}
	for _, d := range cases {
		e := Event{Request: &d}
		want, err := json.Marshal(e.detail())
		if err != nil {
			t.Fatal(err)
		}
		if got := e.detailJSON(); string(got) != string(want) {
			t.Fatalf("detail %+v:\n got %s\nwant %s", d, got, want)
		}
	}
	if got := (&Event{}).detailJSON(); string(got) != "{}" {
		t.Fatalf("no detail: %s", got)
	}
	if got := (&Event{Detail: map[string]any{"a": 1}}).detailJSON(); string(got) != `{"a":1}` {
		t.Fatalf("map detail: %s", got)
	}
}
