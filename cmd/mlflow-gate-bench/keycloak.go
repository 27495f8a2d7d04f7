package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The Keycloak side of the keycloak benchmark: the distribution that
// `scripts/bench keycloak` fetched, built once for PostgreSQL and started in
// production mode (kc.sh start --optimized) on a database of the rig, on
// loopback only, as a process group of its own that is always stopped.

// kcDist is the Keycloak distribution and the Java it runs on.
type kcDist struct {
	home, version  string
	javaHome, java string // JAVA_HOME and the first line of its `java -version`
}

func keycloakDist(ctx context.Context) (kcDist, error) {
	d := kcDist{home: os.Getenv("MLFLOW_GATE_BENCH_KEYCLOAK_HOME"), javaHome: os.Getenv("JAVA_HOME")}
	if d.home == "" {
		return d, errors.New("MLFLOW_GATE_BENCH_KEYCLOAK_HOME is not set: run `scripts/bench keycloak`, which fetches Keycloak")
	}
	if _, err := os.Stat(filepath.Join(d.home, "bin", "kc.sh")); err != nil {
		return d, fmt.Errorf("MLFLOW_GATE_BENCH_KEYCLOAK_HOME=%s is not a Keycloak distribution: %w", d.home, err)
	}
	if b, err := os.ReadFile(filepath.Join(d.home, "version.txt")); err == nil {
		d.version = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(b)), "Keycloak - Version"))
	}
	if d.javaHome == "" {
		return d, errors.New("JAVA_HOME is not set: Keycloak needs Java 21+ (`scripts/bench keycloak` picks one)")
	}
	out, err := exec.CommandContext(ctx, filepath.Join(d.javaHome, "bin", "java"), "-version").CombinedOutput()
	if err != nil {
		return d, fmt.Errorf("JAVA_HOME=%s: java -version: %v", d.javaHome, err)
	}
	d.java, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	return d, nil
}

// env is the whole environment of kc.sh: nothing of the bench's own leaks in
// (JAVA_OPTS and the like), so Keycloak runs with its shipped defaults.
func (d kcDist) env(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "JAVA_HOME=" + d.javaHome, "LANG=C.UTF-8"}, extra...)
}

// kcBuildArgs are the build-time options of the bench's Keycloak: the
// PostgreSQL driver and the health endpoints (on the management port).
var kcBuildArgs = []string{"build", "--db=postgres", "--health-enabled=true"}

// build runs `kc.sh build` once per distribution (a marker file records
// the options it was built with); concurrent benches take turns.
func (d kcDist) build(ctx context.Context, logPath string) error {
	marker := filepath.Join(d.home, ".mlflow-gate-bench-build")
	want := strings.Join(kcBuildArgs, " ") + "\n"
	lock, err := os.OpenFile(marker+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if b, err := os.ReadFile(marker); err == nil && string(b) == want {
		return nil
	}
	fmt.Printf("building Keycloak for PostgreSQL (kc.sh %s; once per distribution)\n", strings.Join(kcBuildArgs, " "))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(d.home, "bin", "kc.sh"), kcBuildArgs...)
	cmd.Env = d.env()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kc.sh build: %v\n%s", err, tail(logPath, 30))
	}
	return os.WriteFile(marker, []byte(want), 0o644)
}

// kcDB is where Keycloak keeps its data: a database of the rig.
type kcDB struct{ jdbcURL, user, password string }

func jdbcFromURL(dbURL string) (kcDB, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return kcDB{}, err
	}
	pw, _ := u.User.Password()
	j := "jdbc:postgresql://" + u.Host + u.Path
	if m := u.Query().Get("sslmode"); m != "" {
		j += "?sslmode=" + url.QueryEscape(m)
	}
	return kcDB{jdbcURL: j, user: u.User.Username(), password: pw}, nil
}

// keycloak is one running `kc.sh start --optimized`.
type keycloak struct {
	url, mgmt string // http://127.0.0.1:P (the realms), http://127.0.0.1:Q (health)
	cmd       *exec.Cmd
	done      chan error
	log       string
	started   time.Time
}

// startKeycloak starts Keycloak on db with a temporary bootstrap admin.
// Every address it listens on is on loopback: HTTP, management and the
// cluster transport of its (default, clustered) Infinispan caches.
func (d kcDist) start(db kcDB, adminUser, adminPass, logPath string) (*keycloak, error) {
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	mgmtAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	clusterPort, err := freeClusterPort()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(httpAddr)
	_, mport, _ := net.SplitHostPort(mgmtAddr)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(d.home, "bin", "kc.sh"), "start", "--optimized",
		"--http-enabled=true", "--http-host=127.0.0.1", "--http-port="+port, "--hostname=http://127.0.0.1:"+port,
		"--http-management-port="+mport,
		"--cache-embedded-network-bind-address=127.0.0.1", "--cache-embedded-network-bind-port="+strconv.Itoa(clusterPort))
	// Secrets go in the environment, not on a command line that ps shows.
	cmd.Env = d.env("KC_DB_URL="+db.jdbcURL, "KC_DB_USERNAME="+db.user, "KC_DB_PASSWORD="+db.password,
		"KC_BOOTSTRAP_ADMIN_USERNAME="+adminUser, "KC_BOOTSTRAP_ADMIN_PASSWORD="+adminPass)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	k := &keycloak{url: "http://" + httpAddr, mgmt: "http://" + mgmtAddr, cmd: cmd, done: make(chan error, 1), log: logPath}
	fmt.Fprintf(logf, "\n==== %s kc.sh start (http %s, management %s, cluster 127.0.0.1:%d)\n", time.Now().Format(time.RFC3339), httpAddr, mgmtAddr, clusterPort)
	k.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { k.done <- cmd.Wait() }()
	return k, nil
}

// freeClusterPort finds a port for JGroups whose failure-detection port
// (the port + 50000) is free too.
func freeClusterPort() (int, error) {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if p+50000 > 65535 {
			p = 10000 + p%5000
		}
		a, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		b, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+50000))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p, nil
	}
	return 0, errors.New("no free port pair for Keycloak's cluster transport")
}

// waitReady polls the management interface's /health/ready until it
// answers 200 and returns the time since the process started.
func (k *keycloak) waitReady(ctx context.Context, limit time.Duration) (time.Duration, error) {
	client := &http.Client{Timeout: time.Second}
	deadline := k.started.Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-k.done:
			k.done <- err
			return 0, fmt.Errorf("keycloak exited before ready: %v\n%s", err, tail(k.log, 40))
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		resp, err := client.Get(k.mgmt + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(k.started), nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("keycloak not ready within %s\n%s", limit, tail(k.log, 40))
}

// stop ends the whole process group (kc.sh and its java): SIGTERM, then
// SIGKILL after 30 s.
func (k *keycloak) stop() error {
	pgid := k.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-k.done
		return errors.New("keycloak did not stop within 30 s of SIGTERM: killed")
	}
	// kc.sh has gone; its java may linger a moment.
	for range 100 {
		if k.javaPID() == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// javaPID is the java process kc.sh runs (in its process group); 0 if none.
func (k *keycloak) javaPID() int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(s[j+1:]) // state, ppid, pgrp, ...
		if s[i+1:j] == "java" && len(f) > 2 && f[2] == strconv.Itoa(k.cmd.Process.Pid) {
			return pid
		}
	}
	return 0
}

// tail is the last n lines of a log file, indented, for an error message.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "  last lines of %s:\n", path)
	for _, l := range lines {
		out.WriteString("  | " + l + "\n")
	}
	return strings.TrimRight(out.String(), "\n")
}
