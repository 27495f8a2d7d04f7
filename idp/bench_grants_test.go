package idp

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// BenchmarkClientCredentials: client-credentials grants over HTTP against
// PostgreSQL, from parallel clients (budget 2,000/s on 2 cores with ES256;
// RS256 reported). Run with -cpu 2 to match the budget's machine.
func BenchmarkClientCredentials(b *testing.B) {
	for _, alg := range []string{AlgES256, AlgRS256} {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b, func(c *Config) { c.SigningAlg = alg })
			secret := e.addService("bench-svc", storage.RoleDefault)
			form := url.Values{"grant_type": {"client_credentials"}}.Encode()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, e.issuer+PathToken, strings.NewReader(form))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth("bench-svc", secret)
					resp, err := hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "grants/s")
		})
	}
}

// BenchmarkIntrospection: RFC 7662 introspection of access tokens by a
// confidential client, over HTTP, from parallel clients.
func BenchmarkIntrospection(b *testing.B) {
	e := newEnv(b)
	secret := e.addService("bench-rs", storage.RoleDefault)
	tok, err := e.clientCreds("bench-rs", secret, oauth2.AuthStyleInHeader).Token(e.ctx)
	if err != nil {
		b.Fatal(err)
	}
	form := url.Values{"token": {tok.AccessToken}}.Encode()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, e.issuer+PathIntrospect, strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("bench-rs", secret)
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "introspections/s")
}
