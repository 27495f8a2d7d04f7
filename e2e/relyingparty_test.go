package e2e

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/internal/testlog"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// The relying-party tests point stock applications at the gate with their
// default settings (see docs/RELYING-PARTIES.md) and log people in through
// them as a browser would: the application sends the browser to the gate,
// the person signs in on the gate's form, and the application decides from
// the claims it got.

const rpPassword = "correct horse battery staple"

// rpGate starts a gate for the relying-party tests. They never go through the
// MLflow proxy, so when the rig runs without MLflow (RIG_NO_MLFLOW=1) a closed
// loopback port stands in for it.
func rpGate(t *testing.T) (map[string]string, *gateProc) {
	t.Helper()
	if os.Getenv("MLFLOW_GATE_TEST_MLFLOW_URL") == "" {
		t.Setenv("MLFLOW_GATE_TEST_MLFLOW_URL", "http://"+freePort(t))
	}
	env := gateEnv(t, storagetest.EmptyDatabase(t))
	env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = "bootstrap passphrase for e2e"
	return env, startGate(t, env)
}

// mustCLI runs a one-shot command that must succeed and returns its output.
func mustCLI(t *testing.T, env map[string]string, stdin string, args ...string) string {
	t.Helper()
	out, err := cli(t, env, stdin, args...)
	if err != nil {
		t.Fatalf("mlflow-gate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// rpUser creates a user with rpPassword and the given flags of user add.
func rpUser(t *testing.T, env map[string]string, name string, flags ...string) {
	t.Helper()
	mustCLI(t, env, rpPassword+"\n", append([]string{"user", "add", name, "--password-stdin"}, flags...)...)
}

// rpClientSecret registers a confidential client and returns its secret,
// the first line the command prints.
func rpClientSecret(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out := mustCLI(t, env, "", append([]string{"client", "add"}, args...)...)
	secret, _, _ := strings.Cut(out, "\n")
	if secret = strings.TrimSpace(secret); len(secret) < 20 || strings.Contains(secret, " ") {
		t.Fatalf("client add printed no secret first:\n%s", out)
	}
	return secret
}

// rpJar is a person's browser: a cookie jar that follows redirects.
func rpJar(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

var (
	rpFormAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	rpHidden     = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// rpSignIn opens start (where an application begins its login), follows the
// redirects to the gate's sign-in form, submits it as user and follows the
// redirects back. It returns the status, address and body of the last page.
func rpSignIn(t *testing.T, c *http.Client, gateURL, start, user string) (int, *url.URL, string) {
	t.Helper()
	code, at, page := rpGet(t, c, start)
	if code != http.StatusOK || !strings.HasPrefix(at.String(), gateURL+"/oauth/login") {
		t.Fatalf("%s led to %d %s, not the gate's sign-in form:\n%.600s", start, code, at, page)
	}
	m := rpFormAction.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form on the gate's sign-in page:\n%.600s", page)
	}
	action, err := at.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"username": {user}, "password": {rpPassword}}
	for _, f := range rpHidden.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(f[1]), html.UnescapeString(f[2]))
	}
	req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", gateURL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return rpDo(t, c, req)
}

func rpGet(t *testing.T, c *http.Client, target string) (int, *url.URL, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rpDo(t, c, req)
}

func rpDo(t *testing.T, c *http.Client, req *http.Request) (int, *url.URL, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL, string(b)
}

// logs reports whether the process's output says s within 3 s: a process
// writes its log line about a request after it answered it, so the line may
// arrive after the answer.
func (p *rpProcess) logs(s string) bool {
	for deadline := time.Now().Add(3 * time.Second); !strings.Contains(p.out.String(), s); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// rpProcess is an application the test runs, with its output kept.
type rpProcess struct {
	cmd    *exec.Cmd
	out    *testlog.Buffer
	exited chan error
}

func startRP(t *testing.T, name string, env []string, bin string, args ...string) *rpProcess {
	t.Helper()
	p := &rpProcess{cmd: exec.Command(bin, args...), out: &testlog.Buffer{}, exited: make(chan error, 1)}
	p.cmd.Env = env
	p.cmd.Dir = t.TempDir() // nothing of the repository's (a .env file, say) is read
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own workers stop with it
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
			t.Errorf("%s did not stop within 15s of SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out)
		}
	})
	return p
}

// waitReady polls url until it answers 200, failing if the process exits.
func (p *rpProcess) waitReady(t *testing.T, name, url string, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("%s exited before it was ready: %v\n%s", name, err, p.out)
		case <-ctx.Done():
			t.Fatalf("%s did not answer %s within %s:\n%s", name, url, limit, p.out)
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
}

// echoUpstream is the application behind oauth2-proxy: it answers with the
// identity headers it was given, as JSON.
func echoUpstream(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := map[string][]string{}
		for _, h := range []string{"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username"} {
			got[h] = r.Header.Values(h)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(got)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestRelyingPartyOAuth2Proxy: oauth2-proxy with provider oidc, the gate as
// its issuer and its default scopes and claims (email, groups), allowing one
// gate role. A user with that role and a verified email reaches the
// application behind it, named by the headers oauth2-proxy sets; a user
// without the role is refused with 403 (the roles arrive as groups); a user
// whose email is not verified gets 403, one without an email 500, as
// oauth2-proxy does by default with any provider.
func TestRelyingPartyOAuth2Proxy(t *testing.T) {
	bin := need(t, "MLFLOW_GATE_TEST_OAUTH2_PROXY")
	env, g := rpGate(t)
	mustCLI(t, env, "", "role", "add", "analysts")

	addr := freePort(t)
	base := "http://" + addr
	secret := rpClientSecret(t, env, "oauth2-proxy", "--grants", "authorization_code,refresh_token",
		"--redirect-uris", base+"/oauth2/callback")
	upstream := echoUpstream(t)
	cookieSecret := randomSecret()[:32]
	proxy := startRP(t, "oauth2-proxy", []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"OAUTH2_PROXY_CLIENT_SECRET=" + secret, "OAUTH2_PROXY_COOKIE_SECRET=" + cookieSecret,
	}, bin,
		"--provider=oidc", "--oidc-issuer-url="+g.URL, "--client-id=oauth2-proxy",
		"--redirect-url="+base+"/oauth2/callback", "--http-address="+addr, "--upstream="+upstream.URL+"/",
		"--email-domain=*", "--allowed-group=analysts",
		"--cookie-secure=false", // plain http on loopback; a browser drops Secure cookies there
	)
	proxy.waitReady(t, "oauth2-proxy", base+"/ping", 30*time.Second)

	t.Run("the sign-in goes to the gate with oauth2-proxy's default scopes", func(t *testing.T) {
		c := rpJar(t)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Get(base + "/oauth2/start?rd=%2F")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), g.URL+"/oauth/authorize?") {
			t.Fatalf("/oauth2/start: %d to %q, want 302 to the gate's authorization endpoint", resp.StatusCode, resp.Header.Get("Location"))
		}
		// With --allowed-group set, oauth2-proxy asks for a groups scope too; the
		// gate sends the claim without it and ignores a scope it does not know.
		if q := loc.Query(); q.Get("scope") != "openid email profile groups" || q.Get("client_id") != "oauth2-proxy" || q.Get("response_type") != "code" {
			t.Errorf("authorization request %v", q)
		}
	})

	t.Run("a user with the role reaches the application", func(t *testing.T) {
		rpUser(t, env, "alice", "--roles", "Default,analysts", "--email", "alice@example.com", "--email-verified")
		code, at, body := rpSignIn(t, rpJar(t), g.URL, base+"/oauth2/start?rd=%2F", "alice")
		if code != http.StatusOK || at.Host != addr || at.Path != "/" {
			t.Fatalf("alice ended at %d %s:\n%.600s", code, at, body)
		}
		var got map[string][]string
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("the application's answer %q: %v", body, err)
		}
		if e := got["X-Forwarded-Email"]; len(e) != 1 || e[0] != "alice@example.com" {
			t.Errorf("X-Forwarded-Email %q, want alice@example.com", e)
		}
		if u := got["X-Forwarded-Preferred-Username"]; len(u) != 1 || u[0] != "alice" {
			t.Errorf("X-Forwarded-Preferred-Username %q, want alice", u)
		}
		if u := got["X-Forwarded-User"]; len(u) != 1 || u[0] == "" {
			t.Errorf("X-Forwarded-User %q, want the gate's subject", u)
		}
		groups := strings.Split(strings.Join(got["X-Forwarded-Groups"], ","), ",")
		if !slices.Contains(groups, "analysts") || !slices.Contains(groups, "Default") {
			t.Errorf("X-Forwarded-Groups %q, want alice's roles Default and analysts", got["X-Forwarded-Groups"])
		}
	})

	for _, tc := range []struct {
		user, why, log string
		flags          []string
	}{
		{"bob", "without the role", "Invalid authentication via OAuth2: unauthorized",
			[]string{"--email", "bob@example.com", "--email-verified"}},
		{"dave", "whose email is not verified", "isn't verified",
			[]string{"--roles", "Default,analysts", "--email", "dave@example.com"}},
	} {
		t.Run("a user "+tc.why+" is refused", func(t *testing.T) {
			rpUser(t, env, tc.user, tc.flags...)
			code, at, body := rpSignIn(t, rpJar(t), g.URL, base+"/oauth2/start?rd=%2F", tc.user)
			if code != http.StatusForbidden || at.Host != addr || strings.Contains(body, "X-Forwarded") {
				t.Fatalf("%s ended at %d %s, want oauth2-proxy's 403:\n%.600s", tc.user, code, at, body)
			}
			if !proxy.logs(tc.log) {
				t.Errorf("oauth2-proxy did not log %q", tc.log)
			}
		})
	}

	t.Run("a user without an email is refused", func(t *testing.T) {
		rpUser(t, env, "carol", "--roles", "Default,analysts")
		code, at, body := rpSignIn(t, rpJar(t), g.URL, base+"/oauth2/start?rd=%2F", "carol")
		if code != http.StatusInternalServerError || at.Host != addr || strings.Contains(body, "X-Forwarded") {
			t.Fatalf("carol ended at %d %s, want oauth2-proxy's 500:\n%.600s", code, at, body)
		}
		if want := "neither the id_token nor the profileURL set an email"; !proxy.logs(want) {
			t.Errorf("oauth2-proxy did not log %q", want)
		}
	})
}
