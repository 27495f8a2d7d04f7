package jsonw

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func TestAppendIsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	strs := []string{"", "a", `"\`, "<>&", "\b\f\n\r\t\x00\x1f", "\u2028\u2029", "\xff\xc3", "日本 🚀"}
	for range 5000 {
		b := make([]byte, rng.IntN(16))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		strs = append(strs, string(b))
	}
	for _, s := range strs {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	}
	for _, ss := range [][]string{nil, {}, {"x"}, strs[:8]} {
		want, _ := json.Marshal(ss)
		if got := AppendStrings(nil, ss); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", ss, got, want)
		}
	}
}
