package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// cheap keeps unit tests fast; the default cost is exercised by the benchmark.
var cheap = Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse battery staple", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("not a PHC argon2id string with OWASP parameters: %s", h)
	}
	if ok, err := Verify(h, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, err := Verify(h, "correct horse battery stapler"); ok || err != nil {
		t.Fatalf("wrong password: %v %v", ok, err)
	}
	h2, _ := Hash("correct horse battery staple", DefaultParams)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
}

func TestVerifyRefusesMalformed(t *testing.T) {
	for _, enc := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$a2V5a2V5a2V5a2V5a2V5",
	} {
		if ok, err := Verify(enc, "x"); ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify(%q) = %v, %v; want ErrMalformedHash", enc, ok, err)
		}
	}
}

func TestPolicy(t *testing.T) {
	for _, tc := range []struct {
		pw, user string
		ok       bool
	}{
		{"short", "", false},
		{"elevenchars", "", false},
		{"password1234", "", false},     // common + digits
		{"Password2024!", "", false},    // common + digits + symbol, any case
		{"qwertyuiop", "", false},       // too short anyway
		{"iloveyou12345", "", false},    // common base
		{"aaaaaaaaaaaaaaa", "", false},  // one character
		{"123456789012", "", false},     // sequence
		{"abcdefghijklmnop", "", false}, // sequence
		{"alice-and-her-cat", "alice", false},
		{"bobbobbobbob", "bob", false},  // the username repeated, however short
		{"BobBobBobBobB", "bob", false}, // in any case, a partial last time
		{"abcabcabcabc", "", false},     // a short pattern repeated
		{"xyzwxyzwxyzw", "", false},
		{"bob likes long walks", "bob", true}, // a short username inside is fine
		{"correct horse battery staple", "", true},
		{"Tr0ub4dor&3-plus-more", "bob", true},
		{strings.Repeat("ab", 129), "", false}, // too long
	} {
		err := Check(tc.pw, tc.user)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q, %q) = %v, want ok=%v", tc.pw, tc.user, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrWeak) {
			t.Errorf("Check(%q) error %v does not wrap ErrWeak", tc.pw, err)
		}
	}
}

func TestHasherCapsConcurrency(t *testing.T) {
	h := NewHasher(cheap, 1)
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	// Hold the only slot, then a caller with a short deadline must get ErrBusy.
	h.slots <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Verify(ctx, enc, "correct horse battery staple"); !errors.Is(err, ErrBusy) {
		t.Fatalf("verify with no free slot: %v, want ErrBusy", err)
	}
	h.release()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := h.Verify(context.Background(), enc, "correct horse battery staple"); !ok || err != nil {
				t.Errorf("queued verify: %v %v", ok, err)
			}
		}()
	}
	wg.Wait()
}

func TestUnknownUserCostsAHash(t *testing.T) {
	h := NewHasher(DefaultParams, 2)
	start := time.Now()
	ok, err := h.Verify(context.Background(), "", "whatever password")
	if ok || err != nil {
		t.Fatalf("empty hash verified: %v %v", ok, err)
	}
	// Not a timing assertion on speed, only that real work happened: an
	// argon2id hash at 19 MiB cannot finish in under a millisecond.
	if time.Since(start) < time.Millisecond {
		t.Fatal("unknown user returned without hashing")
	}
}

func BenchmarkHashDefault(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery staple", DefaultParams); err != nil {
			b.Fatal(err)
		}
	}
}
