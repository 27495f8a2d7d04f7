package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// usageError is a mistake on the command line; it exits with status 2.
type usageError string

func (e usageError) Error() string { return string(e) }

// command is one node of the command tree: a group with subcommands, or a
// leaf with flags and an action.
type command struct {
	name     string
	args     string // synopsis of positional arguments
	short    string
	long     string
	group    string // which settings the leaf takes: "db", "secret" or "serve"
	flags    func(fs *flag.FlagSet, o *opts)
	action   func(ctx context.Context, e *cli, o *opts, args []string) error
	nargs    int // exact number of positional arguments, -1 for any
	commands []*command
}

// opts holds per-command flags that are not settings.
type opts struct {
	passwordStdin bool
	roles         string
	description   string
}

// cli is what every action gets: parsed configuration and standard streams.
type cli struct {
	cfg    Config
	env    func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func root() *command {
	return &command{name: "mlflow-gate", short: "an OpenID provider and authorizing proxy for MLflow", commands: []*command{
		serveCommand(),
		migrateCommand(),
		userCommand(),
		roleCommand(),
		clientCommand(),
		tokenCommand(),
		sessionCommand(),
		keysCommand(),
		authzCommand(),
		permCommand(),
		auditCommand(),
		{name: "version", short: "print the version, commit and build date (also --version)", nargs: 0, group: "none",
			action: func(_ context.Context, e *cli, _ *opts, _ []string) error {
				fmt.Fprintln(e.stdout, versionLine())
				return nil
			}},
	}}
}

// version, commit and buildDate are set at build time with -ldflags
// "-X main.version=... -X main.commit=... -X main.buildDate=..." (the
// Dockerfile does); unset, the commit and its date come from what Go records
// of the git checkout it was built in.
var version, commit, buildDate = "dev", "", ""

// versionLine is the version, the commit, the build (or commit) date and
// the Go release the binary was built with.
func versionLine() string {
	rev, date, dirty := commit, buildDate, ""
	goVersion := runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok && rev == "" {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
				if len(rev) > 12 {
					rev = rev[:12]
				}
			case "vcs.time":
				date = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = " with local changes"
				}
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	if date == "" {
		date = "unknown date"
	}
	return fmt.Sprintf("mlflow-gate %s (commit %s%s, %s, %s)", version, rev, dirty, date, goVersion)
}

// run executes one command line. It is main without the process: tests call
// it with their own environment and streams.
func run(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &cli{env: env, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version") {
		args = []string{"version"}
	}
	return root().dispatch(ctx, e, "mlflow-gate", args)
}

func (c *command) dispatch(ctx context.Context, e *cli, path string, args []string) error {
	if c.commands != nil {
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			c.printGroupHelp(e.stdout, path)
			if len(args) == 0 {
				return usageError(fmt.Sprintf("%s needs a command", path))
			}
			return nil
		}
		for _, sub := range c.commands {
			if sub.name == args[0] {
				return sub.dispatch(ctx, e, path+" "+sub.name, args[1:])
			}
		}
		return usageError(fmt.Sprintf("unknown command %q; see `%s --help`", args[0], path))
	}
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o opts
	if c.group != "none" {
		e.cfg.bindFlags(fs, c.group, e.env)
	}
	if c.flags != nil {
		c.flags(fs, &o)
	}
	synopsis := path + " [flags]"
	if c.args != "" {
		synopsis += " " + c.args
	}
	desc := c.short
	if c.long != "" {
		desc = c.long
	}
	if err := fs.Parse(interleave(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(e.stdout, fs, synopsis, desc, secretFlags())
			return nil
		}
		return usageError(err.Error())
	}
	if c.nargs >= 0 && fs.NArg() != c.nargs {
		return usageError(fmt.Sprintf("usage: %s", synopsis))
	}
	if c.group != "none" {
		if err := e.cfg.Validate(c.group); err != nil {
			return err
		}
	}
	return c.action(ctx, e, &o, fs.Args())
}

// interleave lets flags follow positional arguments ("user add alice --password-stdin").
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" || looksLikeID(fs, a) {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	return append(append(flags, "--"), pos...)
}

// looksLikeID: an argument that starts with "-" but names no flag and is as long
// as the ids the gate prints (a signing key's kid is a base64url thumbprint, and
// one in 64 starts with "-") is a positional argument, so that an id copied from
// `keys list` works without "--". Short unknown flags still fail as typos.
func looksLikeID(fs *flag.FlagSet, a string) bool {
	name := strings.TrimLeft(a, "-")
	return len(name) >= 20 && !strings.ContainsAny(name, "=") && fs.Lookup(name) == nil && !strings.HasPrefix(a, "--")
}

func (c *command) printGroupHelp(w io.Writer, path string) {
	fmt.Fprintf(w, "Usage: %s COMMAND [flags]\n\n%s\n\nCommands:\n", path, c.short)
	for _, sub := range c.commands {
		fmt.Fprintf(w, "  %-14s %s\n", sub.name, sub.short)
	}
	fmt.Fprintf(w, "\nEvery setting is a flag whose default comes from an MLFLOW_GATE_* environment variable;\nrun `%s COMMAND --help` for a command's flags.\n", path)
}

// readPassword takes one line from stdin (non-interactive: scripts pipe it in).
func readPassword(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1024), 4096)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		return "", usageError("no password on stdin")
	}
	return strings.TrimRight(sc.Text(), "\r"), nil
}
