package idp

import (
	"net/http"
	"net/url"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// race sends the same token request n times at once and counts successes.
func (e *env) race(t *testing.T, n int, form url.Values) (ok int, errs map[string]int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs = map[string]int{}
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			status, body, _ := e.tokenCall(t, form)
			mu.Lock()
			defer mu.Unlock()
			if status == http.StatusOK && body["access_token"] != nil {
				ok++
			} else {
				errs[body["error"].(string)]++
			}
		}()
	}
	close(start)
	wg.Wait()
	return ok, errs
}

func TestParallelCodeRedemption(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	verifier := oauth2.GenerateVerifier()
	code := e.browser().authorize(cfg, verifier, "admin", adminPassword)
	ok, errs := e.race(t, 20, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"client_id": {storage.CLIClientID}, "redirect_uri": {cliRedirect}, "code_verifier": {verifier}})
	if ok != 1 || errs["invalid_grant"] != 19 {
		t.Fatalf("20 parallel redemptions: %d successes, errors %v; want exactly 1 and 19 invalid_grant", ok, errs)
	}
}

func TestParallelRefresh(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth(storage.CLIClientID, cliRedirect)
	verifier := oauth2.GenerateVerifier()
	code := e.browser().authorize(cfg, verifier, "admin", adminPassword)
	tok, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	ok, errs := e.race(t, 20, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"client_id": {storage.CLIClientID}})
	if ok != 1 || errs["invalid_grant"] != 19 {
		t.Fatalf("20 parallel refreshes: %d successes, errors %v; want exactly 1 and 19 invalid_grant", ok, errs)
	}
}
