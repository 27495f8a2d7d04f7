package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// The conformance test drives the provider through three relying-party
// libraries written by others, as an application pointed at the gate would
// use them: the Go pair (golang.org/x/oauth2 with github.com/coreos/go-oidc),
// Python's authlib, and openid-client on Node. Each one runs discovery,
// authorization code + PKCE, refresh with rotation and reuse detection,
// introspection, revocation, the device flow and RP-initiated logout with
// back-channel logout, once for every pair of an ID-token algorithm (the
// client's registered id_token_signed_response_alg) and an access-token
// algorithm (MLFLOW_GATE_TOKEN_SIGNING_ALG). The libraries check what they
// check (ID tokens, issuer, iss on the authorization response, at_hash,
// nonce, state, PKCE): each is pinned to the one algorithm the token must
// carry, so a token signed otherwise is refused by the library, not by this
// test. Every library hands back one report with the same keys, compared
// here against one table (conformanceWant). The error responses themselves
// (status, error code, content type, Cache-Control, WWW-Authenticate, iss)
// are checked on the wire against their RFCs by conformance_wire_test.go.

const (
	confUser     = "alice"
	confPassword = "correct horse battery staple"
	// confRedirectBase: nothing listens here; the relying parties read the
	// redirect from the Location header (the way a native app on a loopback
	// port would receive it).
	confRedirectBase = "http://127.0.0.1:53682"
	deviceGrant      = "urn:ietf:params:oauth:grant-type:device_code"
)

// confProfile is alice's profile, set with the CLI and expected back in the
// ID token and from userinfo (scopes profile and email).
var confProfile = map[string]any{
	"email": "alice@example.com", "email_verified": true, "name": "Alice Liddell",
	"given_name": "Alice", "family_name": "Liddell", "preferred_username": confUser,
	"groups": []any{"Default"},
}

// confGate is one gate for one access-token algorithm, shared by every
// relying party run and wire check against it.
type confGate struct {
	URL     string
	atAlg   string
	env     map[string]string
	db      *pgxpool.Pool
	bcl     *bclReceiver
	wire    confClient // a confidential client for the wire checks
	svc     confClient // a client_credentials-only client
	public  string     // the built-in public client (device flow, loopback redirects)
	subject string     // alice's sub: her user id
}

// confClient is one registered confidential client.
type confClient struct {
	ID, Secret, IDTokenAlg string
}

func (c confClient) redirectURI() string   { return confRedirectBase + "/cb/" + c.ID }
func (c confClient) postLogoutURI() string { return confRedirectBase + "/out/" + c.ID }

// newConfGate starts a gate signing access tokens with atAlg, with alice and
// a back-channel logout receiver.
func newConfGate(t *testing.T, atAlg string) *confGate {
	t.Helper()
	dbURL := storagetest.EmptyDatabase(t)
	env := gateEnv(t, dbURL)
	env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = "bootstrap passphrase for e2e"
	env["MLFLOW_GATE_TOKEN_SIGNING_ALG"] = atAlg
	g := &confGate{atAlg: atAlg, env: env, bcl: newBCLReceiver(t), public: "mlflow-gate-cli"}
	g.URL = startGate(t, env).URL
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	g.db = pool
	if out, err := cli(t, env, confPassword+"\n", "user", "add", confUser, "--password-stdin",
		"--email", "alice@example.com", "--email-verified", "--name", "Alice Liddell",
		"--given-name", "Alice", "--family-name", "Liddell"); err != nil {
		t.Fatalf("user add with a profile: %v\n%s", err, out)
	}
	if err := pool.QueryRow(context.Background(), `SELECT id::text FROM users WHERE username = $1`, confUser).Scan(&g.subject); err != nil {
		t.Fatalf("reading alice's user id: %v", err)
	}
	g.wire = g.addClient(t, "wire", "RS256")
	out, err := cli(t, env, "", "client", "add", "svc", "--grants", "client_credentials", "--roles", "Default")
	if err != nil {
		t.Fatalf("client add svc: %v\n%s", err, out)
	}
	g.svc = confClient{ID: "svc", Secret: firstLine(out)}
	return g
}

// addClient registers a confidential client that may use the code flow,
// refresh tokens and the device flow, with its own redirect, post-logout
// and back-channel logout URIs, and ID tokens signed with idAlg.
func (g *confGate) addClient(t *testing.T, id, idAlg string) confClient {
	t.Helper()
	c := confClient{ID: id, IDTokenAlg: idAlg}
	out, err := cli(t, g.env, "", "client", "add", id,
		"--grants", "authorization_code,refresh_token,"+deviceGrant,
		"--redirect-uris", c.redirectURI(), "--post-logout-uris", c.postLogoutURI(),
		"--backchannel-logout-uri", g.bcl.uri(id), "--id-token-alg", idAlg, "--name", "Conformance "+id)
	if err != nil {
		t.Fatalf("client add %s --id-token-alg %s --backchannel-logout-uri: %v\n%s", id, idAlg, err, out)
	}
	c.Secret = firstLine(out)
	if c.Secret == "" || strings.Contains(c.Secret, " ") {
		t.Fatalf("client add %s printed no secret: %q", id, out)
	}
	return c
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}

// expireDevice and expireCode move a device code's or an authorization
// code's expiry into the past in the gate's database: waiting out the real
// lifetimes (10 minutes, 1 minute) would make the test slow, and the gate's
// own expiry check still decides what the client is told.
func (g *confGate) expireDevice(ctx context.Context, deviceCode string) error {
	return g.expire(ctx, `UPDATE device_authorizations SET expires_at = now() - interval '1 second'
		WHERE device_code_hash = sha256(convert_to($1, 'UTF8'))`, deviceCode)
}

func (g *confGate) expireCode(ctx context.Context, code string) error {
	return g.expire(ctx, `UPDATE auth_requests SET code_expires_at = now() - interval '1 second'
		WHERE code_hash = sha256(convert_to($1, 'UTF8'))`, code)
}

func (g *confGate) expire(ctx context.Context, sql, secret string) error {
	tag, err := g.db.Exec(ctx, sql, secret)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("no row holds that code (%d rows)", tag.RowsAffected())
	}
	return nil
}

// TestConformance: see the top of this file. One gate per access-token
// algorithm; against each, the discovery and wire checks and the relying
// parties (three libraries, two ID-token algorithms) run at once: they
// spend most of their time waiting (device polling intervals), so they are
// started together with t.Run from goroutines rather than queued by
// t.Parallel, whose limit is the number of CPUs.
func TestConformance(t *testing.T) {
	for _, atAlg := range []string{"ES256", "RS256"} {
		t.Run("access_token_"+atAlg, func(t *testing.T) {
			t.Parallel()
			g := newConfGate(t, atAlg)
			runs := map[string]func(t *testing.T){
				"discovery": func(t *testing.T) { checkDiscovery(t, g) },
				"wire":      func(t *testing.T) { checkWire(t, g) },
			}
			for _, idAlg := range []string{"RS256", "ES256"} {
				for _, lib := range rpLibraries {
					c := g.addClient(t, lib.name+"-"+strings.ToLower(idAlg), idAlg)
					runs[lib.name+"/id_token_"+idAlg] = func(t *testing.T) {
						ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
						defer cancel()
						run := &rpRun{g: g, client: c, browser: newRPBrowser(g.URL, confUser, confPassword)}
						report, err := lib.run(ctx, t, run)
						if err != nil {
							t.Fatalf("%s relying party failed: %v", lib.name, err)
						}
						checkReport(t, run, lib, report)
					}
				}
			}
			together(t, runs)
		})
	}
}

// together runs each function as a subtest, all at once.
func together(t *testing.T, runs map[string]func(t *testing.T)) {
	var wg sync.WaitGroup
	for name, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, run)
		}()
	}
	wg.Wait()
}
