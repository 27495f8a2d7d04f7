package idp

import (
	"context"
	"runtime"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mlflow-gate/mlflow-gate/idp/password"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

func (e *env) adminGrant(tb testing.TB) grant {
	u, err := e.st.UserByName(e.ctx, "admin")
	if err != nil {
		tb.Fatal(err)
	}
	c, err := e.st.ClientByID(e.ctx, storage.CLIClientID)
	if err != nil {
		tb.Fatal(err)
	}
	return grant{client: &opClient{Client: c}, user: u, scopes: []string{"openid", "profile"}, authTime: e.clock.Now()}
}

// BenchmarkVerifySeen: a token verified before (budget 5 µs).
func BenchmarkVerifySeen(b *testing.B) {
	e := newEnv(b)
	m, err := e.p.mint(e.adminGrant(b), e.clock.Now())
	if err != nil {
		b.Fatal(err)
	}
	v := e.p.Verifier()
	if _, err := v.Verify(e.ctx, m.access); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(e.ctx, m.access); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyNewES256: first sight of a token (budget 150 µs).
func BenchmarkVerifyNewES256(b *testing.B) {
	e := newEnv(b)
	g := e.adminGrant(b)
	v := e.p.Verifier()
	const n = 4096
	toks := make([]string, n)
	for i := range toks {
		m, err := e.p.mint(g, e.clock.Now())
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = m.access
	}
	if _, err := v.Verify(e.ctx, toks[0]); err != nil { // warm the user cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i%n == 0 {
			b.StopTimer()
			v.forgetSeen()
			b.StartTimer()
		}
		if _, err := v.Verify(e.ctx, toks[i%n]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkSignAccessToken: minting one ES256 access token.
func BenchmarkSignAccessToken(b *testing.B) {
	e := newEnv(b)
	g := e.adminGrant(b)
	g.scopes = []string{"profile"} // no ID token
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.p.mint(g, e.clock.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPasswordLogin: argon2id checks at the production cost
// (m=19 MiB, t=2, p=1) on all cores, within the hasher's concurrency cap.
func BenchmarkPasswordLogin(b *testing.B) {
	hash, err := password.Hash("a long enough passphrase", password.DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	h := password.NewHasher(password.DefaultParams, runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ok, err := h.Verify(context.Background(), hash, "a long enough passphrase")
			if err != nil || !ok {
				b.Error("verify failed", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkAuthCodeRoundTrip: an SSO authorization (no form: the session
// exists) and the code exchange, over HTTP against PostgreSQL.
func BenchmarkAuthCodeRoundTrip(b *testing.B) {
	e := newEnv(b)
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	br := e.browser()
	br.authorize(cfg, oauth2.GenerateVerifier(), "admin", adminPassword)
	b.ResetTimer()
	for b.Loop() {
		verifier := oauth2.GenerateVerifier()
		code := br.authorize(cfg, verifier, "", "")
		if _, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier)); err != nil {
			b.Fatal(err)
		}
	}
}
