package deploy

// Package deploy holds no code of its own: its tests check compose.yaml and the
// files it builds from, apart from the binary's tests so that the compose-spec
// parser is a dependency of these tests alone.
//
// compose.yaml cannot be started here (no Docker engine), so these tests load it
// with the compose-spec parser that Docker Compose itself uses and check what
// matters for security and for the gate: which ports are published, that no
// secret has a default, that the gate's environment is a valid Config, and that
// MLflow runs the way the gate and the test rig expect.

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeRepoRoot is the repository root, seen from this package's directory.
const composeRepoRoot = ".."

// composeDummyEnv gives every variable that compose.yaml requires a value that
// appears nowhere else, so a test can tell that a value came from it.
var composeDummyEnv = map[string]string{
	"MLFLOW_GATE_SECRET": "dummy-gate-secret-0123456789abcdefghijklmnop",
	"POSTGRES_PASSWORD":  "dummyPostgresSuperuserPw",
	"GATE_DB_PASSWORD":   "dummyGateDbPw",
	"MLFLOW_DB_PASSWORD": "dummyMlflowDbPw",
	"S3_ACCESS_KEY":      "dummyS3AccessKey",
	"S3_SECRET_KEY":      "dummyS3SecretKey",
}

func composeRead(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(composeRepoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func composeLoad(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	root, err := filepath.Abs(composeRepoRoot)
	if err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(filepath.Join(root, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "compose.yaml"), Content: content}},
		Environment: types.Mapping(composeCopyEnv(env)),
	})
}

func composeCopyEnv(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func composeProject(t *testing.T) *types.Project {
	t.Helper()
	p, err := composeLoad(t, composeDummyEnv)
	if err != nil {
		t.Fatalf("compose.yaml does not load with every required variable set: %v", err)
	}
	return p
}

func composeService(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("compose.yaml has no service %q", name)
	}
	return s
}

// composeEnv returns a service's environment; an entry without a value would
// be taken from the host's environment at `docker compose up`, which is
// invisible in the file, so it fails the test.
func composeEnv(t *testing.T, s types.ServiceConfig) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range s.Environment {
		if v == nil {
			t.Errorf("service %s: environment %s has no value in compose.yaml", s.Name, k)
			continue
		}
		env[k] = *v
	}
	return env
}

// composeFlags splits an argv into --flag values; "--a=b" and "--a b" both
// count, and a flag followed by another flag (or nothing) has the value "".
func composeFlags(args []string) map[string][]string {
	flags := map[string][]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		if name, val, ok := strings.Cut(a, "="); ok {
			flags[name] = append(flags[name], val)
			continue
		}
		val := ""
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			val = args[i+1]
			i++
		}
		flags[a] = append(flags[a], val)
	}
	return flags
}

// composeOneFlag returns the single value of a flag that must occur exactly once.
func composeOneFlag(t *testing.T, service string, flags map[string][]string, name string) string {
	t.Helper()
	v := flags[name]
	if len(v) != 1 {
		t.Fatalf("service %s: want %s exactly once in the command, got %q", service, name, v)
	}
	return v[0]
}

// composeYAMLWithoutComments is compose.yaml less its comment lines, for
// scanning it for variable references.
func composeYAMLWithoutComments(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(composeRead(t, "compose.yaml"), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// composeRequiredVars lists the variables compose.yaml marks `${VAR:?...}`.
func composeRequiredVars(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*):\?`).FindAllStringSubmatch(composeYAMLWithoutComments(t), -1) {
		seen[m[1]] = true
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestComposeRequiresEverySecret(t *testing.T) {
	required := composeRequiredVars(t)
	var dummies []string
	for k := range composeDummyEnv {
		dummies = append(dummies, k)
	}
	sort.Strings(dummies)
	if !slices.Equal(required, dummies) {
		t.Fatalf("variables compose.yaml requires with ${VAR:?...} = %v, the test supplies %v: keep them in step", required, dummies)
	}
	for _, want := range []string{"MLFLOW_GATE_SECRET", "POSTGRES_PASSWORD", "GATE_DB_PASSWORD", "MLFLOW_DB_PASSWORD", "S3_SECRET_KEY"} {
		if !slices.Contains(required, want) {
			t.Errorf("compose.yaml must require %s (no default secret)", want)
		}
	}

	if _, err := composeLoad(t, nil); err == nil {
		t.Fatal("compose.yaml loads with no variables set: some secret has a default")
	}
	for _, name := range required {
		for _, empty := range []bool{false, true} {
			env := composeCopyEnv(composeDummyEnv)
			delete(env, name)
			if empty {
				env[name] = ""
			}
			_, err := composeLoad(t, env)
			if err == nil {
				t.Errorf("compose.yaml loads with %s unset (empty=%v): it must be required", name, empty)
			} else if !strings.Contains(err.Error(), name) {
				t.Errorf("error for missing %s does not name it: %v", name, err)
			}
		}
	}
}

func TestComposeServicesAndPorts(t *testing.T) {
	p := composeProject(t)
	var names []string
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	if want := []string{"gate", "mlflow", "postgres", "s3", "s3-init"}; !slices.Equal(names, want) {
		t.Fatalf("services = %v, want %v", names, want)
	}

	for _, s := range p.Services {
		if s.Name != "gate" && len(s.Ports) > 0 {
			t.Errorf("service %s publishes ports %+v; only the gate may", s.Name, s.Ports)
		}
		if s.NetworkMode == "host" {
			t.Errorf("service %s uses the host network", s.Name)
		}
	}

	gate := composeService(t, p, "gate")
	if len(gate.Ports) != 1 {
		t.Fatalf("gate publishes %d ports, want exactly 1 (8080; metrics stay unpublished): %+v", len(gate.Ports), gate.Ports)
	}
	port := gate.Ports[0]
	if port.Target != 8080 || port.Published != "8080" || port.HostIP != "127.0.0.1" {
		t.Errorf("gate port = %+v, want 127.0.0.1:8080 -> 8080", port)
	}
	env := composeEnv(t, gate)
	if _, lport, err := net.SplitHostPort(env["MLFLOW_GATE_LISTEN"]); err != nil || lport != "8080" {
		t.Errorf("MLFLOW_GATE_LISTEN = %q, want port 8080 (the published target)", env["MLFLOW_GATE_LISTEN"])
	}
	if got := env["MLFLOW_GATE_METRICS_LISTEN"]; got != ":9464" {
		t.Errorf("MLFLOW_GATE_METRICS_LISTEN = %q, want :9464 (reachable on the compose network, not published)", got)
	}

	// PostgreSQL, S3 and MLflow sit on an internal network only.
	backend, ok := p.Networks["backend"]
	if !ok || !backend.Internal {
		t.Fatalf("network backend missing or not internal: %+v", backend)
	}
	for _, n := range []string{"postgres", "s3", "s3-init", "mlflow"} {
		s := composeService(t, p, n)
		if got := composeKeys(s.Networks); !slices.Equal(got, []string{"backend"}) {
			t.Errorf("service %s networks = %v, want only backend", n, got)
		}
	}
	if got := composeKeys(gate.Networks); !slices.Contains(got, "backend") {
		t.Errorf("gate is not on the backend network: %v", got)
	}
}

func composeKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestComposeGateEnvironmentIsAValidConfig(t *testing.T) {
	p := composeProject(t)
	gate := composeService(t, p, "gate")
	env := composeEnv(t, gate)

	known := readmeSettings(t)
	for k, v := range env {
		if !strings.HasPrefix(k, "MLFLOW_GATE_") {
			continue
		}
		s, ok := known[k]
		if !ok {
			t.Errorf("gate environment sets %s, which is not a setting of mlflow-gate", k)
			continue
		}
		// A secret must come from the environment of `docker compose`, never from the file.
		if s.secret && v != "" && !composeContainsDummy(v) {
			t.Errorf("%s has a value written into compose.yaml; it must come from a required variable", k)
		}
	}
	for _, k := range []string{"MLFLOW_GATE_DATABASE_URL", "MLFLOW_GATE_MLFLOW_URL", "MLFLOW_GATE_ISSUER", "MLFLOW_GATE_SECRET"} {
		if env[k] == "" {
			t.Errorf("gate environment lacks required %s", k)
		}
	}
	if got, want := env["MLFLOW_GATE_SECRET"], composeDummyEnv["MLFLOW_GATE_SECRET"]; got != want {
		t.Errorf("MLFLOW_GATE_SECRET = %q, want it taken from the variable MLFLOW_GATE_SECRET", got)
	}
	if got := env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"]; got != "" {
		t.Errorf("MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD defaults to %q; it must be empty unless the user sets it", got)
	}

	// The gate accepts exactly this environment: `mlflow-gate serve` with it gets past
	// its configuration (a bad one exits 2 naming every problem) to the database,
	// which is not there, and gives up at once (exit 1).
	composeServeAccepts(t, env)
	c := struct{ DatabaseURL, MLflowURL, S3Endpoint, S3Bucket, S3Prefix, S3Region, S3AccessKey, S3SecretKey string }{
		env["MLFLOW_GATE_DATABASE_URL"], env["MLFLOW_GATE_MLFLOW_URL"], env["MLFLOW_GATE_S3_ENDPOINT"], env["MLFLOW_GATE_S3_BUCKET"],
		env["MLFLOW_GATE_S3_PREFIX"], env["MLFLOW_GATE_S3_REGION"], env["MLFLOW_GATE_S3_ACCESS_KEY"], env["MLFLOW_GATE_S3_SECRET_KEY"]}

	db, err := url.Parse(c.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := db.User.Password()
	if db.User.Username() != "gate" || pw != composeDummyEnv["GATE_DB_PASSWORD"] || db.Host != "postgres:5432" || db.Path != "/gate" {
		t.Errorf("MLFLOW_GATE_DATABASE_URL = %s, want role gate (password from GATE_DB_PASSWORD) on postgres:5432/gate", db.Redacted())
	}
	mu, err := url.Parse(c.MLflowURL)
	if err != nil {
		t.Fatal(err)
	}
	if mu.Hostname() != "mlflow" {
		t.Errorf("MLFLOW_GATE_MLFLOW_URL host = %q, want the mlflow service", mu.Hostname())
	}
	if c.S3Endpoint == "" || c.S3Bucket != "mlflow" || c.S3Prefix != "artifacts" || c.S3Region != "us-east-1" {
		t.Errorf("gate S3 = endpoint %q bucket %q prefix %q region %q, want the s3 service, mlflow, artifacts, us-east-1",
			c.S3Endpoint, c.S3Bucket, c.S3Prefix, c.S3Region)
	}
	if c.S3AccessKey != composeDummyEnv["S3_ACCESS_KEY"] || c.S3SecretKey != composeDummyEnv["S3_SECRET_KEY"] {
		t.Error("gate S3 credentials are not taken from S3_ACCESS_KEY / S3_SECRET_KEY")
	}

	// The gate starts after what it needs is healthy (it has no healthcheck of
	// its own: the image is distroless; /healthz and /readyz are for probes).
	composeDependsOn(t, gate, map[string]string{
		"postgres": types.ServiceConditionHealthy,
		"mlflow":   types.ServiceConditionHealthy,
		"s3-init":  types.ServiceConditionCompletedSuccessfully,
	})
	if gate.Build == nil || filepath.Clean(gate.Build.Context) != composeAbs(t, composeRepoRoot) || gate.Build.Dockerfile != "Dockerfile" {
		t.Errorf("gate must be built from ./Dockerfile, got %+v", gate.Build)
	}
}

func composeAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func composeContainsDummy(v string) bool {
	for _, d := range composeDummyEnv {
		if strings.Contains(v, d) {
			return true
		}
	}
	return false
}

func composeDependsOn(t *testing.T, s types.ServiceConfig, want map[string]string) {
	t.Helper()
	for dep, cond := range want {
		d, ok := s.DependsOn[dep]
		if !ok {
			t.Errorf("service %s does not depend on %s", s.Name, dep)
			continue
		}
		if d.Condition != cond {
			t.Errorf("service %s depends on %s with condition %q, want %q", s.Name, dep, d.Condition, cond)
		}
	}
}

func TestComposeMLflowMatchesTheGate(t *testing.T) {
	p := composeProject(t)
	ml := composeService(t, p, "mlflow")
	gateEnv := composeEnv(t, composeService(t, p, "gate"))
	mlEnv := composeEnv(t, ml)

	cmd := []string(ml.Command)
	if len(cmd) < 2 || cmd[0] != "mlflow" || cmd[1] != "server" {
		t.Fatalf("mlflow command = %q, want `mlflow server ...`", cmd)
	}
	flags := composeFlags(cmd[2:])

	if w := composeOneFlag(t, "mlflow", flags, "--workers"); w != "1" {
		t.Errorf("--workers %s, want 1 (as in the test rig)", w)
	}
	if v := composeOneFlag(t, "mlflow", flags, "--serve-artifacts"); v != "" {
		t.Errorf("--serve-artifacts takes no value, got %q", v)
	}
	for _, bad := range []string{"--no-serve-artifacts", "--default-artifact-root", "--artifacts-only", "--disable-security-middleware", "--gunicorn-opts", "--waitress-opts"} {
		if _, ok := flags[bad]; ok {
			t.Errorf("mlflow command has %s", bad)
		}
	}
	// The same settings through the environment would be just as bad.
	for _, bad := range []string{"MLFLOW_DEFAULT_ARTIFACT_ROOT", "MLFLOW_SERVE_ARTIFACTS", "MLFLOW_ARTIFACTS_DESTINATION",
		"MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE", "MLFLOW_SERVER_ALLOWED_HOSTS", "MLFLOW_WORKERS", "MLFLOW_ARTIFACTS_ONLY"} {
		if _, ok := mlEnv[bad]; ok {
			t.Errorf("mlflow environment sets %s", bad)
		}
	}

	dest := composeOneFlag(t, "mlflow", flags, "--artifacts-destination")
	want := "s3://" + gateEnv["MLFLOW_GATE_S3_BUCKET"] + "/" + gateEnv["MLFLOW_GATE_S3_PREFIX"]
	if dest != want || dest != "s3://mlflow/artifacts" {
		t.Errorf("--artifacts-destination %s, want %s (the gate's bucket and prefix, s3://mlflow/artifacts)", dest, want)
	}

	// MLflow's Host check must accept the Host the gate sends: the host:port of MLFLOW_GATE_MLFLOW_URL.
	mu, err := url.Parse(gateEnv["MLFLOW_GATE_MLFLOW_URL"])
	if err != nil {
		t.Fatal(err)
	}
	mlPort := composeOneFlag(t, "mlflow", flags, "--port")
	if mu.Port() != mlPort {
		t.Errorf("gate reaches MLflow on port %q, MLflow listens on %q", mu.Port(), mlPort)
	}
	if h := composeOneFlag(t, "mlflow", flags, "--host"); h != "0.0.0.0" {
		t.Errorf("--host %s, want 0.0.0.0 (reachable from the gate's container)", h)
	}
	hosts := strings.Split(composeOneFlag(t, "mlflow", flags, "--allowed-hosts"), ",")
	if !slices.Contains(hosts, mu.Host) {
		t.Errorf("--allowed-hosts %q lacks %q, the Host the gate sends", hosts, mu.Host)
	}
	for _, h := range hosts {
		if strings.Contains(h, "*") {
			t.Errorf("--allowed-hosts has a wildcard %q", h)
		}
	}

	// Backend store: MLflow's own database and role, never the gate's.
	store := mlEnv["MLFLOW_BACKEND_STORE_URI"]
	if v, ok := flags["--backend-store-uri"]; ok {
		store = v[0]
	}
	su, err := url.Parse(store)
	if err != nil || store == "" {
		t.Fatalf("mlflow backend store %q: %v", store, err)
	}
	pw, _ := su.User.Password()
	if su.Scheme != "postgresql+psycopg2" || su.User.Username() != "mlflow" || pw != composeDummyEnv["MLFLOW_DB_PASSWORD"] ||
		su.Host != "postgres:5432" || su.Path != "/mlflow" {
		t.Errorf("mlflow backend store = %s, want postgresql+psycopg2://mlflow:<MLFLOW_DB_PASSWORD>@postgres:5432/mlflow", su.Redacted())
	}

	// MLflow and the gate use the same S3 server and credentials, the s3 service's.
	if mlEnv["MLFLOW_S3_ENDPOINT_URL"] != gateEnv["MLFLOW_GATE_S3_ENDPOINT"] {
		t.Errorf("MLFLOW_S3_ENDPOINT_URL %q != MLFLOW_GATE_S3_ENDPOINT %q", mlEnv["MLFLOW_S3_ENDPOINT_URL"], gateEnv["MLFLOW_GATE_S3_ENDPOINT"])
	}
	s3 := composeService(t, p, "s3")
	s3Env := composeEnv(t, s3)
	for _, c := range [][3]string{
		{mlEnv["AWS_ACCESS_KEY_ID"], gateEnv["MLFLOW_GATE_S3_ACCESS_KEY"], s3Env["ROOT_ACCESS_KEY"]},
		{mlEnv["AWS_SECRET_ACCESS_KEY"], gateEnv["MLFLOW_GATE_S3_SECRET_KEY"], s3Env["ROOT_SECRET_KEY"]},
	} {
		if c[0] == "" || c[0] != c[1] || c[1] != c[2] {
			t.Errorf("S3 credentials of mlflow, gate and s3 differ or are empty")
		}
	}
	ep, err := url.Parse(gateEnv["MLFLOW_GATE_S3_ENDPOINT"])
	if err != nil {
		t.Fatal(err)
	}
	s3Flags := composeFlags(s3.Command)
	_, s3Port, _ := net.SplitHostPort(composeOneFlag(t, "s3", s3Flags, "--port"))
	if ep.Hostname() != "s3" || ep.Port() != s3Port {
		t.Errorf("S3 endpoint %s is not the s3 service on its port %s", ep, s3Port)
	}
	initEnv := composeEnv(t, composeService(t, p, "s3-init"))
	if initEnv["S3_BUCKET"] != gateEnv["MLFLOW_GATE_S3_BUCKET"] || initEnv["S3_ENDPOINT"] != gateEnv["MLFLOW_GATE_S3_ENDPOINT"] {
		t.Errorf("s3-init creates bucket %q at %q; the gate uses %q at %q",
			initEnv["S3_BUCKET"], initEnv["S3_ENDPOINT"], gateEnv["MLFLOW_GATE_S3_BUCKET"], gateEnv["MLFLOW_GATE_S3_ENDPOINT"])
	}

	composeDependsOn(t, ml, map[string]string{
		"postgres": types.ServiceConditionHealthy,
		"s3-init":  types.ServiceConditionCompletedSuccessfully,
	})
	composeDependsOn(t, composeService(t, p, "s3-init"), map[string]string{"s3": types.ServiceConditionHealthy})

	// Healthchecks that test the right thing.
	for _, c := range []struct{ service, want string }{
		{"postgres", "pg_isready"},
		{"s3", ":" + s3Port + "/health"},
		{"mlflow", "http://localhost:" + mlPort + "/health"},
	} {
		s := composeService(t, p, c.service)
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || (hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL") {
			t.Errorf("service %s has no usable healthcheck: %+v", c.service, hc)
			continue
		}
		if !strings.Contains(strings.Join(hc.Test, " "), c.want) {
			t.Errorf("service %s healthcheck %q does not check %q", c.service, hc.Test, c.want)
		}
	}
}

// TestComposeMatchesTheRig keeps the images on the versions the tests run against
// (scripts/versions.env is the one place they are pinned).
func TestComposeMatchesTheRig(t *testing.T) {
	pins := map[string]string{}
	for _, line := range strings.Split(composeRead(t, "scripts/versions.env"), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
			pins[k] = v
		}
	}
	if pins["MLFLOW_VERSION"] == "" || pins["VERSITYGW_VERSION"] == "" {
		t.Fatalf("scripts/versions.env lacks MLFLOW_VERSION or VERSITYGW_VERSION: %v", pins)
	}

	p := composeProject(t)
	if got, want := composeService(t, p, "s3").Image, "versity/versitygw:"+pins["VERSITYGW_VERSION"]; got != want {
		t.Errorf("s3 image %s, want %s", got, want)
	}

	ml := composeService(t, p, "mlflow")
	if ml.Build == nil || filepath.Base(ml.Build.Context) != "deploy" || ml.Build.Dockerfile != "mlflow.Dockerfile" {
		t.Fatalf("mlflow must be built from deploy/mlflow.Dockerfile, got %+v", ml.Build)
	}
	if _, ok := ml.Build.Args["MLFLOW_VERSION"]; ok {
		t.Error("set the MLflow version in deploy/mlflow.Dockerfile, not as a build arg in compose.yaml")
	}
	df := composeRead(t, "deploy/mlflow.Dockerfile")
	if !strings.Contains(df, "\nARG MLFLOW_VERSION="+pins["MLFLOW_VERSION"]+"\n") ||
		!strings.Contains(df, "\nFROM ghcr.io/mlflow/mlflow:v${MLFLOW_VERSION}\n") {
		t.Errorf("deploy/mlflow.Dockerfile must build FROM ghcr.io/mlflow/mlflow:v%s", pins["MLFLOW_VERSION"])
	}
	for _, pkg := range []string{"psycopg2-binary==", "boto3=="} {
		if !strings.Contains(df, pkg) {
			t.Errorf("deploy/mlflow.Dockerfile does not install a pinned %s", strings.TrimSuffix(pkg, "=="))
		}
	}
}

func TestComposeDeployFiles(t *testing.T) {
	p := composeProject(t)

	// PostgreSQL: two roles, two databases, and the gate's role locked out of MLflow's.
	pg := composeService(t, p, "postgres")
	mounted := false
	for _, v := range pg.Volumes {
		if v.Type == types.VolumeTypeBind && strings.HasSuffix(v.Source, filepath.Join("deploy", "postgres-init.sh")) &&
			strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d/") && v.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Error("postgres does not mount deploy/postgres-init.sh read-only into /docker-entrypoint-initdb.d")
	}
	_, initSQL, _ := strings.Cut(composeRead(t, "deploy/postgres-init.sh"), "<<'SQL'\n")
	initSQL, _, ok := strings.Cut(initSQL, "\nSQL\n")
	if !ok {
		t.Fatal("deploy/postgres-init.sh has no <<'SQL' ... SQL here-document")
	}
	for _, want := range []string{
		"CREATE ROLE gate LOGIN PASSWORD :'gate_password';",
		"CREATE DATABASE gate OWNER gate;",
		"CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';",
		"CREATE DATABASE mlflow OWNER mlflow;",
		"REVOKE CONNECT ON DATABASE mlflow FROM PUBLIC;",
		"REVOKE CONNECT ON DATABASE gate FROM PUBLIC;",
	} {
		if !strings.Contains(initSQL, want) {
			t.Errorf("deploy/postgres-init.sh lacks %q", want)
		}
	}
	if strings.Contains(strings.ToUpper(initSQL), "SUPERUSER") {
		t.Error("deploy/postgres-init.sh must not create superusers")
	}
	pgEnv := composeEnv(t, pg)
	for _, k := range []string{"POSTGRES_PASSWORD", "GATE_DB_PASSWORD", "MLFLOW_DB_PASSWORD"} {
		if pgEnv[k] != composeDummyEnv[k] {
			t.Errorf("postgres %s is not taken from the variable %s", k, k)
		}
	}

	// The gate's image: static, distroless, non-root.
	df := composeRead(t, "Dockerfile")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "./cmd/mlflow-gate",
		"FROM gcr.io/distroless/static", "USER nonroot", "EXPOSE 8080", `ENTRYPOINT ["/mlflow-gate"]`, `CMD ["serve"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if di := composeRead(t, ".dockerignore"); !strings.Contains(di, "\n.env\n") {
		t.Error(".dockerignore must keep .env (real secrets) out of the build context")
	}

	// .env.example names every variable compose.yaml reads, and gives no required one a value.
	example := composeRead(t, ".env.example")
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(composeYAMLWithoutComments(t), -1) {
		if !regexp.MustCompile(`(?m)^(# )?` + m[1] + `=`).MatchString(example) {
			t.Errorf(".env.example does not document %s", m[1])
		}
	}
	for _, name := range composeRequiredVars(t) {
		if !regexp.MustCompile(`(?m)^` + name + `=$`).MatchString(example) {
			t.Errorf(".env.example must list %s with an empty value (a placeholder would be a usable secret)", name)
		}
	}
}

// readmeSetting is one row of README.md's configuration table, which a test of
// cmd/mlflow-gate keeps equal to the binary's settings list.
type readmeSetting struct {
	env    string
	secret bool
}

// readmeSettings reads that table: | `VAR` | `--flag` | default | yes or blank | meaning |.
func readmeSettings(t *testing.T) map[string]readmeSetting {
	t.Helper()
	out := map[string]readmeSetting{}
	for _, line := range strings.Split(composeRead(t, "README.md"), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`MLFLOW_GATE_") {
			continue
		}
		env := strings.Trim(strings.TrimSpace(cells[1]), "`")
		out[env] = readmeSetting{env: env, secret: strings.TrimSpace(cells[4]) == "yes"}
	}
	if len(out) < 20 {
		t.Fatalf("README.md's configuration table has only %d settings", len(out))
	}
	return out
}

// composeServeAccepts builds mlflow-gate and runs `serve` with env (and no time
// to wait for a database): exit 2 is a refused configuration, exit 1 with the
// database unreachable means every setting was accepted.
func composeServeAccepts(t *testing.T, env map[string]string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mlflow-gate")
	build := exec.Command("go", "build", "-o", bin, "../cmd/mlflow-gate")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building mlflow-gate: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "MLFLOW_GATE_DATABASE_WAIT=1ms",
		"MLFLOW_GATE_LISTEN=127.0.0.1:0", "MLFLOW_GATE_METRICS_LISTEN=off"}
	for k, v := range env {
		switch k {
		case "MLFLOW_GATE_LISTEN", "MLFLOW_GATE_METRICS_LISTEN":
			continue
		case "MLFLOW_GATE_DATABASE_URL":
			// The same URL on a loopback port nothing listens on: no name lookup
			// leaves this machine.
			v = strings.Replace(v, "@postgres:5432/", "@127.0.0.1:9/", 1)
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "database") {
		t.Fatalf("mlflow-gate serve with the compose environment: %v (want exit 1 at the database)\n%s", err, out)
	}
}

// TestComposeOneAddress: the gate's issuer is the address its port is
// published on, and compose.yaml, .env.example and the README say that same
// address wherever they name the gate's: a browser opening another name
// for it (localhost for 127.0.0.1) gets a 421.
func TestComposeOneAddress(t *testing.T) {
	p := composeProject(t)
	gate := composeService(t, p, "gate")
	issuer, err := url.Parse(composeEnv(t, gate)["MLFLOW_GATE_ISSUER"])
	if err != nil {
		t.Fatal(err)
	}
	port := gate.Ports[0]
	if want := net.JoinHostPort(port.HostIP, port.Published); issuer.Host != want || issuer.Scheme != "http" {
		t.Errorf("MLFLOW_GATE_ISSUER defaults to %s; the port is published on %s", issuer, want)
	}
	mention := regexp.MustCompile(`https?://(localhost|127\.0\.0\.1|\[::1\]):` + port.Published + `\b`)
	for _, f := range []string{"compose.yaml", ".env.example", "README.md"} {
		for _, m := range mention.FindAllString(composeRead(t, f), -1) {
			if m != issuer.String() {
				t.Errorf("%s names the gate as %s; its issuer is %s", f, m, issuer)
			}
		}
	}
	if !strings.Contains(composeRead(t, "README.md"), issuer.String()) {
		t.Errorf("README.md does not say to open %s", issuer)
	}
}

// TestComposeREADMENamesWhatIsBuilt: the README names the Dockerfile of every
// service compose builds, and the images it runs; the build files' comments
// name test files that exist.
func TestComposeREADMENamesWhatIsBuilt(t *testing.T) {
	p := composeProject(t)
	root := composeAbs(t, composeRepoRoot)
	readme := composeRead(t, "README.md")
	for _, name := range composeKeys(p.Services) {
		s := p.Services[name]
		if s.Build != nil {
			rel, err := filepath.Rel(root, filepath.Join(s.Build.Context, s.Build.Dockerfile))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
				t.Errorf("service %s is built from %s, which does not exist", name, rel)
			}
			if !strings.Contains(readme, "`"+filepath.ToSlash(rel)+"`") {
				t.Errorf("README.md does not say that %s is built from `%s`", name, rel)
			}
			continue
		}
		if image, _, _ := strings.Cut(s.Image, ":"); name != "s3-init" && !strings.Contains(readme, "`"+image+"`") {
			t.Errorf("README.md does not name the image %s that compose runs as %s", image, name)
		}
	}
	testFile := regexp.MustCompile(`[A-Za-z0-9_./-]+_test\.go`)
	for _, f := range []string{"compose.yaml", "Dockerfile", "deploy/mlflow.Dockerfile", ".env.example"} {
		for _, ref := range testFile.FindAllString(composeRead(t, f), -1) {
			if _, err := os.Stat(filepath.Join(root, ref)); err != nil {
				t.Errorf("%s refers to %s, which does not exist", f, ref)
			}
		}
	}
}
