package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/internal/testlog"
)

// rpLibrary is one relying-party library under test. run drives every flow
// and returns the report (flat keys, see conformanceWant).
type rpLibrary struct {
	name string
	run  func(ctx context.Context, t *testing.T, r *rpRun) (map[string]any, error)
	// notChecked names report keys this library has no way to produce, with
	// the reason; they are checked for the other libraries only.
	notChecked map[string]string
}

var rpLibraries = []rpLibrary{
	{name: "go", run: goRP},
	{name: "authlib", run: authlibRP},
	{name: "openid-client", run: openidClientRP, notChecked: map[string]string{
		// oauth4webapi (under openid-client) validates c_hash and s_hash of
		// hybrid responses but not at_hash, which OpenID Connect Core 3.1.3.8
		// leaves optional in the code flow; the other two libraries check it.
		"id_token.at_hash_checked": "openid-client does not check at_hash in the code flow",
	}},
}

// rpRun is one library's run against one client: the person's browser, and
// what the gate's side of the test saw.
type rpRun struct {
	g       *confGate
	client  confClient
	browser *rpBrowser

	mu       sync.Mutex
	delivery *bclDelivery // the back-channel logout request, once fetched
}

// handle answers one request of a relying-party script: the parts of a
// flow that a person (browser), a clock (expiry) or the application's
// back-channel endpoint play.
func (r *rpRun) handle(ctx context.Context, req map[string]any) (map[string]any, error) {
	str := func(k string) string { s, _ := req[k].(string); return s }
	switch str("op") {
	case "browse":
		b := r.browser
		if req["fresh"] == true {
			b = newRPBrowser(r.g.URL, confUser, confPassword)
		}
		u, err := b.browse(ctx, str("url"), str("stop"))
		return map[string]any{"url": u}, err
	case "device":
		return map[string]any{"ok": true}, r.browser.device(ctx, str("url"), str("action"))
	case "expire_device":
		return map[string]any{"ok": true}, r.g.expireDevice(ctx, str("device_code"))
	case "expire_code":
		return map[string]any{"ok": true}, r.g.expireCode(ctx, str("code"))
	case "logout_token":
		tok, err := r.logoutToken(ctx)
		return map[string]any{"logout_token": tok}, err
	}
	return nil, fmt.Errorf("unknown request %v", req)
}

// logoutToken waits for the gate's back-channel logout request to this
// run's client and returns the logout token it carried.
func (r *rpRun) logoutToken(ctx context.Context) (string, error) {
	d, err := r.g.bcl.wait(ctx, r.client.ID)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	r.delivery = &d
	r.mu.Unlock()
	return d.Form.Get("logout_token"), nil
}

// runScript runs a relying-party script, answering its requests (one JSON
// line each on its stdout, the answer one line on its stdin) until it
// prints {"op": "result", "report": {...}} and exits.
func runScript(ctx context.Context, r *rpRun, argv []string, env map[string]string) (map[string]any, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = environ(env)
	stderr := &testlog.Buffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var report map[string]any
	var protoErr error
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var req map[string]any
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			protoErr = fmt.Errorf("the script printed %q, not a JSON request", sc.Text())
			cancel()
			break
		}
		if req["op"] == "result" {
			report, _ = req["report"].(map[string]any)
			continue
		}
		reply, err := r.handle(ctx, req)
		if err != nil {
			reply = map[string]any{"error": err.Error()}
		}
		b, _ := json.Marshal(reply)
		if _, err := stdin.Write(append(b, '\n')); err != nil {
			protoErr = fmt.Errorf("answering %v: %w", req["op"], err)
			break
		}
	}
	_ = stdin.Close()
	_, _ = io.Copy(io.Discard, stdout)
	werr := cmd.Wait()
	switch {
	case protoErr != nil:
		return nil, fmt.Errorf("%w\nstderr:\n%s", protoErr, stderr)
	case werr != nil:
		return nil, fmt.Errorf("%s: %w\nstderr:\n%s", filepath.Base(argv[len(argv)-1]), werr, stderr)
	case report == nil:
		return nil, fmt.Errorf("the script exited without a report\nstderr:\n%s", stderr)
	}
	return report, nil
}

// scriptEnv is what every script is told about the gate and its client.
func scriptEnv(r *rpRun) map[string]string {
	return map[string]string{
		"GATE_ISSUER": r.g.URL, "GATE_CLIENT_ID": r.client.ID, "GATE_CLIENT_SECRET": r.client.Secret,
		"GATE_REDIRECT_URI": r.client.redirectURI(), "GATE_POST_LOGOUT_URI": r.client.postLogoutURI(),
		"GATE_ID_TOKEN_ALG": r.client.IDTokenAlg, "GATE_ACCESS_TOKEN_ALG": r.g.atAlg,
	}
}

func authlibRP(ctx context.Context, t *testing.T, r *rpRun) (map[string]any, error) {
	env := scriptEnv(r)
	// authlib refuses http URLs unless told otherwise; the gate listens on
	// plain http on the loopback interface here.
	env["AUTHLIB_INSECURE_TRANSPORT"] = "1"
	return runScript(ctx, r, []string{need(t, "MLFLOW_GATE_TEST_PYTHON"), "testdata/conformance_authlib.py"}, env)
}

func openidClientRP(ctx context.Context, t *testing.T, r *rpRun) (map[string]any, error) {
	modules := need(t, "MLFLOW_GATE_TEST_OPENID_CLIENT")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: the conformance test runs openid-client on Node.js 20 (Debian: apt-get install nodejs npm)")
	}
	// Node resolves an ESM import from the script's own directory: a copy
	// of the script beside a link to the rig's node_modules finds it.
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/conformance_openid_client.mjs")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "conformance_openid_client.mjs")
	if err := os.WriteFile(script, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	return runScript(ctx, r, []string{node, script}, scriptEnv(r))
}

// conformanceWant is what every library must report. The session's sid,
// which only the run knows, comes from the report's own ID token, and the
// logout token must agree with it.
func conformanceWant(r *rpRun, report map[string]any) map[string]any {
	g, c := r.g, r.client
	sub, sid := g.subject, report["id_token.sid"]
	invalidGrant := map[string]any{"status": 400, "error": "invalid_grant"}
	want := map[string]any{
		"discovery.issuer":            g.URL,
		"authorize.prompt_none.error": "login_required",
		"authorize.prompt_none.iss":   g.URL,
		"authorize.prompt_none.state": true,
		"id_token.sub":                sub,
		"id_token.alg":                c.IDTokenAlg,
		"id_token.aud":                []any{c.ID},
		"id_token.at_hash_checked":    true,
		"access_token.alg":            g.atAlg,
		"access_token.typ":            "at+jwt",
		"access_token.aud":            []any{g.URL + "/api"},
		"access_token.client_id":      c.ID,
		"access_token.sub":            sub,
		"userinfo.sub":                sub,
		"code.replay":                 invalidGrant,
		"code.expired":                invalidGrant,
		"refresh.rotated":             true,
		"refresh.id_token_alg":        c.IDTokenAlg,
		"refresh.sub":                 sub,
		"refresh.reuse":               invalidGrant,
		"refresh.family":              invalidGrant,
		"introspect.active":           true,
		"introspect.sub":              sub,
		"introspect.client_id":        c.ID,
		"introspect.revoked.active":   false,
		"revoke.unknown":              "ok",
		"revoke.refresh":              invalidGrant,
		"device.first_poll":           "authorization_pending",
		"device.fast_poll":            "slow_down",
		"device.id_token_alg":         c.IDTokenAlg,
		"device.sub":                  sub,
		"device.denied":               map[string]any{"status": 400, "error": "access_denied"},
		"device.expired":              map[string]any{"status": 400, "error": "expired_token"},
		"device.replay":               invalidGrant,
		"logout.state":                true,
		"logout.token.alg":            c.IDTokenAlg,
		"logout.token.typ":            "logout+jwt",
		"logout.token.iss":            g.URL,
		"logout.token.aud":            []any{c.ID},
		"logout.token.sub":            sub,
		"logout.token.sid":            sid,
		"logout.token.event":          true,
		"logout.token.jti":            true,
		"logout.token.nonce":          false,
	}
	for k, v := range confProfile {
		want["id_token."+k] = v
		want["userinfo."+k] = v
	}
	// One JSON form for both sides (numbers as float64, lists as []any).
	b, _ := json.Marshal(want)
	var norm map[string]any
	_ = json.Unmarshal(b, &norm)
	return norm
}

// checkReport compares a library's report with conformanceWant, and the
// back-channel request the gate sent with OpenID Back-Channel Logout 1.0
// section 2.5.
func checkReport(t *testing.T, r *rpRun, lib rpLibrary, report map[string]any) {
	t.Helper()
	if s, _ := report["id_token.sid"].(string); s == "" && report["code.failed"] == nil {
		t.Errorf("the ID token has no sid (OpenID Back-Channel Logout 1.0 section 2.1): %v", report["id_token.sid"])
	}
	for k, v := range report {
		if strings.HasSuffix(k, ".failed") {
			t.Errorf("%s: %s failed: %v", lib.name, strings.TrimSuffix(k, ".failed"), v)
		}
	}
	want := conformanceWant(r, report)
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var missing []string
	for _, k := range keys {
		if _, skip := lib.notChecked[k]; skip {
			continue
		}
		got, ok := report[k]
		if !ok {
			missing = append(missing, k)
			continue
		}
		if !reflect.DeepEqual(got, want[k]) {
			t.Errorf("%s: %s = %v, want %v", lib.name, k, got, want[k])
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: the report lacks %s (a section above failed before it got there)", lib.name, strings.Join(missing, ", "))
	}
	r.mu.Lock()
	d := r.delivery
	r.mu.Unlock()
	if d == nil {
		if report["logout.failed"] == nil {
			t.Errorf("%s: no back-channel logout request was fetched", lib.name)
		}
		return
	}
	if d.Method != http.MethodPost || d.ContentType != "application/x-www-form-urlencoded" || len(d.Form) != 1 || d.Form.Get("logout_token") == "" {
		t.Errorf("back-channel logout request: %s, Content-Type %q, form %v; want a POST of application/x-www-form-urlencoded with logout_token only",
			d.Method, d.ContentType, d.Form)
	}
}

// bclReceiver is the relying parties' back-channel logout endpoint
// (OpenID Back-Channel Logout 1.0 section 2.5), one path per client.
type bclReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]bclDelivery
}

type bclDelivery struct {
	Method, ContentType string
	Form                url.Values
}

func newBCLReceiver(t *testing.T) *bclReceiver {
	r := &bclReceiver{got: map[string][]bclDelivery{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		client, ok := strings.CutPrefix(req.URL.Path, "/bcl/")
		if !ok {
			http.NotFound(w, req)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(req.Body, 64<<10))
		form, _ := url.ParseQuery(string(body))
		r.mu.Lock()
		r.got[client] = append(r.got[client], bclDelivery{Method: req.Method, ContentType: req.Header.Get("Content-Type"), Form: form})
		r.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *bclReceiver) uri(client string) string { return r.srv.URL + "/bcl/" + client }

// wait returns the first request for client, waiting up to 15 seconds.
func (r *bclReceiver) wait(ctx context.Context, client string) (bclDelivery, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		r.mu.Lock()
		got := r.got[client]
		r.mu.Unlock()
		if len(got) > 0 {
			return got[0], nil
		}
		select {
		case <-ctx.Done():
			return bclDelivery{}, errors.New("the gate sent no back-channel logout request to " + r.uri(client) + " within 15s of the logout")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
