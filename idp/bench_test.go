package idp

import (
	"context"
	"runtime"
	"strings"
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
// exists) and the code exchange, over HTTP against PostgreSQL, for a client
// whose ID tokens are RS256 (the default) and one whose are ES256. The
// exchange signs an ES256 access token, the ID token, and stores a refresh
// token.
func BenchmarkAuthCodeRoundTrip(b *testing.B) {
	e := newEnv(b)
	for _, alg := range []string{AlgRS256, AlgES256} {
		b.Run("id_token "+alg, func(b *testing.B) {
			id := "bench-" + strings.ToLower(alg)
			if _, err := createClient(e.ctx, e.st, ClientSpec{ID: id, Public: true, Native: true, IDTokenAlg: alg,
				GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, RedirectURIs: []string{cliRedirect}}); err != nil {
				b.Fatal(err)
			}
			cfg := e.oauth(id, cliRedirect)
			br := e.browser()
			br.authorize(cfg, oauth2.GenerateVerifier(), "admin", adminPassword)
			b.ResetTimer()
			for b.Loop() {
				verifier := oauth2.GenerateVerifier()
				code := br.authorize(cfg, verifier, "", "")
				tok, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier))
				if err != nil {
					b.Fatal(err)
				}
				if h, _, _, _, _ := splitJWS(tok.Extra("id_token").(string)); h.Alg != alg {
					b.Fatalf("ID token signed %s", h.Alg)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
		})
	}
}

// BenchmarkSignIDToken: signing one ID token, per algorithm.
func BenchmarkSignIDToken(b *testing.B) {
	e := newEnv(b)
	for _, alg := range []string{AlgRS256, AlgES256} {
		b.Run(alg, func(b *testing.B) {
			k := e.p.keys.signingKey(alg)
			c := idClaims{Issuer: e.issuer, Subject: "0b5c3f3e-8d7e-4a59-9c1e-2f1f0d9b7a11", Audience: audience{"app"}, Expiry: 1, IssuedAt: 1,
				Roles: []string{"Default"}, groupsName: DefaultGroupsClaim}
			for b.Loop() {
				if _, err := sign(k, typIDToken, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
