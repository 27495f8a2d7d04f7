// Package artifacts reaches MLflow's artifact destination in S3 directly, so
// that artifact bytes need not pass through MLflow's Python process. It knows
// MLflow's layout of that destination and turns a path of MLflow's artifact
// proxy API into an object key, refusing any path that could reach outside
// the experiment it names.
//
// MLflow (with --serve-artifacts and the default mlflow-artifacts:/ root)
// keeps an experiment's files below <experiment id>/, in three kinds of
// folders:
//
//	<experiment id>/<run id>/artifacts/...
//	<experiment id>/models/<logged model id>/artifacts/...
//	<experiment id>/traces/<trace id>/artifacts/...
//
// Those "artifacts" folders are the roots: listings start at one, and files
// are written, read and deleted only below one.
package artifacts

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKey is S3's limit on an object key, in bytes.
const MaxKey = 1024

// ErrBadPath: a path that is not a place in MLflow's layout (400).
var ErrBadPath = errors.New("artifacts: bad artifact path")

// Path is an artifact path checked against the layout.
type Path struct {
	Experiment string // the experiment id, its first segment
	Root       string // the artifacts folder it lies in: "1/<run>/artifacts"
	Rel        string // the part below Root ("" for Root itself)
}

// String is the path as MLflow writes it.
func (p Path) String() string {
	if p.Rel == "" {
		return p.Root
	}
	return p.Root + "/" + p.Rel
}

// Name is the last segment.
func (p Path) Name() string {
	s := p.String()
	return s[strings.LastIndexByte(s, '/')+1:]
}

// Parse checks an artifact path (already percent-decoded, as the route table
// reads it) against MLflow's layout. file says whether it must name something
// below a root (a file to read, write or delete) rather than a root itself
// (which a listing may start at).
func Parse(path string, file bool) (Path, error) {
	bad := func(why string) (Path, error) {
		return Path{}, fmt.Errorf("%w %q: %s", ErrBadPath, path, why)
	}
	if path == "" {
		return bad("empty")
	}
	if len(path) > MaxKey/2 {
		return bad("too long")
	}
	if !utf8.ValidString(path) {
		return bad("not UTF-8")
	}
	segs := strings.Split(path, "/")
	for _, s := range segs {
		switch {
		case s == "":
			return bad("an empty segment (a leading, trailing or double slash)")
		case s == "." || s == "..":
			return bad("a dot segment")
		case strings.ContainsAny(s, "\\\x00"):
			return bad("a backslash or NUL")
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7f {
				return bad("a control character")
			}
		}
	}
	if strings.Trim(segs[0], "0123456789") != "" {
		return bad("the first segment is not an experiment id")
	}
	n := 3 // <exp>/<run>/artifacts
	if len(segs) > 1 && (segs[1] == "models" || segs[1] == "traces") {
		n = 4 // <exp>/models/<id>/artifacts
	}
	if len(segs) < n || segs[n-1] != "artifacts" {
		return bad("not inside a run's, logged model's or trace's artifacts folder")
	}
	p := Path{Experiment: segs[0], Root: strings.Join(segs[:n], "/"), Rel: strings.Join(segs[n:], "/")}
	if file && p.Rel == "" {
		return bad("names an artifacts folder, not a file in it")
	}
	return p, nil
}

// Key is the object key of p below prefix (MLflow's --artifacts-destination
// path inside the bucket, without slashes at either end; "" for the bucket's
// root).
func Key(prefix string, p Path) string {
	if prefix == "" {
		return p.String()
	}
	return prefix + "/" + p.String()
}
