package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// cli runs `mlflow-gate ARGS...` on dbURL, the way an operator would, and
// returns its standard output.
func (e *benchEnv) cli(ctx context.Context, dbURL, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MLFLOW_GATE_DATABASE_URL=" + dbURL, "MLFLOW_GATE_LOG_LEVEL=warn"}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("mlflow-gate %s: %v: %s", args[0], err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// benchUser creates a user with the Default role through the CLI and a
// personal access token for it; it returns the password and the token.
func (e *benchEnv) benchUser(ctx context.Context, dbURL, username string) (pw, pat string, err error) {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	pw = base64.RawURLEncoding.EncodeToString(b)
	if _, err := e.cli(ctx, dbURL, pw+"\n", "user", "add", username, "--password-stdin"); err != nil {
		return "", "", err
	}
	out, err := e.cli(ctx, dbURL, "", "token", "create", "--user", username, "--name", "bench")
	if err != nil {
		return "", "", err
	}
	pat = strings.TrimSpace(out)
	if pat == "" || strings.ContainsAny(pat, " \n") {
		return "", "", fmt.Errorf("token create printed %q, not one token", out)
	}
	return pw, pat, nil
}

// loginAccessToken gets an access token from the gate's provider the way the
// command-line client does: authorization code + PKCE (S256) for the public
// client mlflow-gate-cli, with the login form submitted as a browser would.
func loginAccessToken(ctx context.Context, issuer, username, pw string) (string, error) {
	tok, _, err := login(ctx, issuer, username, pw)
	return tok, err
}

// sessionHeader logs in as loginAccessToken does and returns what a browser
// signed in to the gate sends with an MLflow UI call: the session cookie,
// and the gate's own Origin (which cookie writes must carry).
func sessionHeader(ctx context.Context, issuer, username, pw string) (http.Header, error) {
	_, cookie, err := login(ctx, issuer, username, pw)
	if err != nil {
		return nil, err
	}
	return http.Header{"Cookie": {cookie}, "Origin": {issuer}}, nil
}

// login returns an access token and the browser's cookies for the issuer.
func login(ctx context.Context, issuer, username, pw string) (token, cookie string, err error) {
	const clientID, redirect = "mlflow-gate-cli", "http://127.0.0.1:53682/callback"
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			return http.ErrUseLastResponse // nothing listens there: read the code from Location
		}
		return nil
	}}
	verifier := randToken(48)
	sum := sha256.Sum256([]byte(verifier))
	state := randToken(16)
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid profile"}, "state": {state}, "nonce": {randToken(16)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	resp, err := client.Get(issuer + "/oauth/authorize?" + q.Encode())
	if err != nil {
		return "", "", err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("authorize: status %d", resp.StatusCode)
	}
	form := url.Values{"username": {username}, "password": {pw}}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`).FindAllSubmatch(page, -1) {
		form.Set(string(m[1]), html.UnescapeString(string(m[2])))
	}
	if form.Get("csrf") == "" || form.Get("auth") == "" {
		return "", "", fmt.Errorf("no login form in the authorize answer")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/oauth/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", issuer)
	resp, err = client.Do(req)
	if err != nil {
		return "", "", err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), redirect) {
		return "", "", fmt.Errorf("login: status %d, no redirect to the client", resp.StatusCode)
	}
	if loc.Query().Get("state") != state || loc.Query().Get("code") == "" {
		return "", "", fmt.Errorf("login: the redirect has no code or the wrong state")
	}
	resp, err = client.PostForm(issuer+"/oauth/token", url.Values{"grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "redirect_uri": {redirect}, "client_id": {clientID}, "code_verifier": {verifier}})
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		return "", "", fmt.Errorf("token: status %d", resp.StatusCode)
	}
	u, _ := url.Parse(issuer)
	var cookies []string
	for _, c := range jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	return tok.AccessToken, strings.Join(cookies, "; "), nil
}

func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
