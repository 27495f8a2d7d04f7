package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// envMap turns a map into the env lookup run takes.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// gate runs one command line and returns stdout, stderr and the exit code.
func gate(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, envMap(env), strings.NewReader(stdin), &out, &errb)
	code := exitCode(err, &errb)
	return out.String(), errb.String(), code
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	_, stderr, code := gate(t, map[string]string{"MLFLOW_GATE_LOG_LEVEL": "loud", "MLFLOW_GATE_LOG_FORMAT": "pretty", "MLFLOW_GATE_TRUSTED_PROXIES": "10.0.0.0/8, nonsense", "MLFLOW_GATE_AUDIT_READS": "maybe",
		"MLFLOW_GATE_SECRET": "short", "MLFLOW_GATE_ISSUER": "https://gate.example.com/"}, "", "serve")
	if code != 2 {
		t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"MLFLOW_GATE_DATABASE_URL is required", "MLFLOW_GATE_MLFLOW_URL is required", "MLFLOW_GATE_ISSUER must be",
		"MLFLOW_GATE_SECRET is too short", "MLFLOW_GATE_LOG_LEVEL", `"nonsense" is not a CIDR`,
		`MLFLOW_GATE_AUDIT_READS must be true or false, not "maybe"`, `MLFLOW_GATE_LOG_FORMAT must be auto, text or json, not "pretty"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "short\n") || strings.Count(stderr, "mlflow-gate:") != 1 {
		t.Errorf("want one message that does not echo the secret:\n%s", stderr)
	}
}

func TestHelpNeverShowsSecrets(t *testing.T) {
	env := map[string]string{}
	var secrets []string
	for _, s := range settings {
		v := "value-of-" + strings.ToLower(s.env)
		if s.secret {
			v = "s3cr3t-" + strings.ToLower(s.env) + "-0123456789abcdef0123456789"
			secrets = append(secrets, v)
		}
		env[s.env] = v
	}
	env["MLFLOW_GATE_DATABASE_URL"] = "postgres://gate:" + secrets[0] + "@db/gate"
	for _, args := range [][]string{{"serve", "--help"}, {"user", "add", "--help"}, {"migrate", "up", "-h"}, {"--help"}} {
		out, stderr, code := gate(t, env, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		for _, s := range secrets {
			if strings.Contains(out+stderr, s) {
				t.Fatalf("%v shows a secret:\n%s", args, out)
			}
		}
		if args[0] == "serve" && (!strings.Contains(out, "(set)") || !strings.Contains(out, "MLFLOW_GATE_SECRET")) {
			t.Fatalf("serve --help should name MLFLOW_GATE_SECRET and say (set):\n%s", out)
		}
	}
}

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "secret")
	if err := os.WriteFile(f, []byte("0123456789abcdef0123456789abcdef-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var c Config
	env := envMap(map[string]string{"MLFLOW_GATE_SECRET_FILE": f})
	fs := newFlagSet()
	c.bindFlags(fs, "serve", env)
	if c.Secret != "0123456789abcdef0123456789abcdef-from-file" {
		t.Fatalf("secret from file: %q", c.Secret)
	}
	var both Config
	both.bindFlags(newFlagSet(), "serve", envMap(map[string]string{"MLFLOW_GATE_SECRET_FILE": f, "MLFLOW_GATE_SECRET": "x"}))
	if len(both.problems) != 1 || !strings.Contains(both.problems[0], "both set") {
		t.Fatalf("both env and file: %v", both.problems)
	}
	var missing Config
	missing.bindFlags(newFlagSet(), "serve", envMap(map[string]string{"MLFLOW_GATE_SECRET_FILE": filepath.Join(dir, "nope")}))
	if len(missing.problems) != 1 || !strings.Contains(missing.problems[0], "cannot read") {
		t.Fatalf("missing file: %v", missing.problems)
	}
}

func TestDerivedKeysDifferPerPurpose(t *testing.T) {
	c := Config{Secret: "0123456789abcdef0123456789abcdef"}
	a, b := c.DeriveKey("cookie"), c.DeriveKey("signing-key-encryption")
	if len(a) != 32 || bytes.Equal(a, b) || bytes.Contains([]byte(c.Secret), a[:8]) {
		t.Fatal("derived keys must be 32 bytes, distinct per purpose, and not the secret")
	}
	if !bytes.Equal(a, c.DeriveKey("cookie")) {
		t.Fatal("derivation is not deterministic: replicas would disagree")
	}
}

func TestUnknownCommandAndArguments(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"user", "add"}, {"user", "add", "a", "b"}, {"role", "grant", "Admin"}} {
		_, stderr, code := gate(t, map[string]string{"MLFLOW_GATE_DATABASE_URL": "postgres://x@127.0.0.1:1/x"}, "", args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
}

// TestCLIAgainstDatabase drives the administrative commands against real PostgreSQL.
func TestCLIAgainstDatabase(t *testing.T) {
	env := map[string]string{"MLFLOW_GATE_DATABASE_URL": storagetest.EmptyDatabase(t)}
	mustRun := func(stdin string, args ...string) string {
		t.Helper()
		out, stderr, code := gate(t, env, stdin, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return out
	}
	_, stderr, code := gate(t, env, "", "user", "list")
	if code != 1 || !strings.Contains(stderr, "migrate up") {
		t.Fatalf("user list on an empty database: %d %s", code, stderr)
	}
	mustRun("", "migrate", "up")
	if out := mustRun("", "migrate", "version"); !strings.HasPrefix(out, "database ") {
		t.Fatalf("migrate version: %q", out)
	}
	mustRun("", "role", "add", "Admin")
	mustRun("", "role", "add", "Default", "--description", "everyone")
	mustRun("correct horse battery staple\n", "user", "add", "alice", "--password-stdin", "--roles", "")
	mustRun("", "role", "grant", "Default", "alice")
	if out := mustRun("", "user", "list"); !strings.Contains(out, "alice") || !strings.Contains(out, "Default") {
		t.Fatalf("user list: %s", out)
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"another good passphrase\n", []string{"user", "add", "alice", "--password-stdin"}, `user "alice" already exists`},
		{"", []string{"role", "grant", "Nope", "alice"}, `no role "Nope"`},
		{"", []string{"role", "grant", "Default", "nobody"}, `no user "nobody"`},
		{"tooshort\n", []string{"user", "add", "bob", "--password-stdin"}, "at least 12 characters"},
		{"password123456\n", []string{"user", "add", "bob", "--password-stdin"}, "common password"},
		{"", []string{"user", "add", "bob"}, "--password-stdin"},
		{"", []string{"user", "add", "bob", "--password-stdin"}, "no password on stdin"},
	} {
		_, stderr, code := gate(t, env, tc.stdin, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want one line containing %q", tc.args, code, stderr, tc.want)
		}
	}
	// The last Admin can be neither demoted nor disabled.
	mustRun("", "role", "grant", "Admin", "alice")
	for _, args := range [][]string{{"role", "revoke", "Admin", "alice"}, {"user", "disable", "alice"}} {
		if _, stderr, code := gate(t, env, "", args...); code != 1 || !strings.Contains(stderr, "last enabled Admin") {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
	}
	mustRun("yet another good passphrase\n", "user", "set-password", "alice", "--password-stdin")
	mustRun("", "migrate", "down", "--all", "--yes")
	if out := mustRun("", "migrate", "version"); !strings.HasPrefix(out, "database 0") {
		t.Fatalf("after migrate down: %q", out)
	}
}

func TestExitCodes(t *testing.T) {
	var b bytes.Buffer
	if exitCode(nil, &b) != 0 || exitCode(usageError("x"), &b) != 2 || exitCode(&ConfigError{}, &b) != 2 || exitCode(errors.New("boom"), &b) != 1 {
		t.Fatal("exit codes: 0 ok, 2 usage or configuration, 1 otherwise")
	}
}

// `version` and `--version` print the version, the commit, the date and Go.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, stderr, code := gate(t, nil, "", args...)
		if code != 0 || stderr != "" || !strings.HasPrefix(out, "mlflow-gate dev (commit ") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("%v: exit %d %q %q", args, code, out, stderr)
		}
	}
}
