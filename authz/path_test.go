package authz

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	ok := []struct{ name, raw, want string }{
		{"plain", "/api/2.0/mlflow/runs/get", "/api/2.0/mlflow/runs/get"},
		{"root", "/", "/"},
		{"trailing slash kept", "/ajax-api/3.0/jobs/", "/ajax-api/3.0/jobs/"},
		{"escaped letter", "/api/2.0/mlflow/runs/%67et", "/api/2.0/mlflow/runs/get"},
		{"escaped space", "/api/2.0/mlflow-artifacts/artifacts/1/a%20b.txt", "/api/2.0/mlflow-artifacts/artifacts/1/a b.txt"},
		{"utf8 escape", "/static-files/%C3%A9.js", "/static-files/é.js"},
		{"raw utf8", "/static-files/é.js", "/static-files/é.js"},
		{"three dots is a name", "/api/2.0/mlflow-artifacts/artifacts/1/...", "/api/2.0/mlflow-artifacts/artifacts/1/..."},
		{"dot inside name", "/static-files/main.a1b2.js", "/static-files/main.a1b2.js"},
		{"plus is literal", "/gateway/a+b/mlflow/invocations", "/gateway/a+b/mlflow/invocations"},
		{"colon", "/gateway/gemini/v1beta/models/x:generateContent", "/gateway/gemini/v1beta/models/x:generateContent"},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			got, err := NormalizePath(c.raw)
			if err != nil || got != c.want {
				t.Fatalf("NormalizePath(%q) = %q, %v; want %q", c.raw, got, err, c.want)
			}
			again, err := NormalizePath(got)
			if err != nil || again != got {
				t.Fatalf("re-normalizing %q: %q, %v", got, again, err)
			}
		})
	}
	bad := []struct {
		name, raw string
		want      error
	}{
		{"empty", "", ErrNotAbsolute},
		{"relative", "api/2.0/mlflow/runs/get", ErrNotAbsolute},
		{"dotdot", "/api/2.0/mlflow-artifacts/artifacts/1/../2", ErrDotSegment},
		{"dot", "/api/2.0/./mlflow/runs/get", ErrDotSegment},
		{"trailing dotdot", "/api/2.0/mlflow-artifacts/artifacts/..", ErrDotSegment},
		{"encoded dotdot", "/api/2.0/mlflow-artifacts/artifacts/1/%2e%2e/2", ErrDotSegment},
		{"half encoded dotdot", "/api/2.0/mlflow-artifacts/artifacts/1/.%2E/2", ErrDotSegment},
		{"encoded dot", "/api/2.0/%2e/mlflow", ErrDotSegment},
		{"encoded slash", "/api/2.0/mlflow-artifacts/artifacts/1%2f..%2f2", ErrEncodedSlash},
		{"encoded slash upper", "/api/2.0/mlflow%2Fruns/get", ErrEncodedSlash},
		{"encoded backslash", "/api/2.0/mlflow-artifacts/artifacts/1%5c2", ErrEncodedSlash},
		{"double slash", "/api/2.0//mlflow/runs/get", ErrDoubleSlash},
		{"leading double slash", "//api/2.0/mlflow/runs/get", ErrDoubleSlash},
		{"trailing double slash", "/api/2.0/mlflow/runs/get//", ErrDoubleSlash},
		{"backslash", "/api/2.0/mlflow-artifacts/artifacts/1\\..\\2", ErrBackslash},
		{"raw NUL", "/api/2.0/mlflow/runs/get\x00", ErrNUL},
		{"encoded NUL", "/api/2.0/mlflow-artifacts/artifacts/1%00.txt", ErrNUL},
		{"raw control", "/api/2.0/mlflow/runs/get\n", ErrControlChar},
		{"encoded control", "/static-files/a%0d%0aSet-Cookie:x", ErrControlChar},
		{"encoded DEL", "/static-files/a%7f", ErrControlChar},
		{"bad escape", "/api/2.0/mlflow/runs/%zzget", ErrBadEscape},
		{"short escape", "/api/2.0/mlflow/runs/get%2", ErrBadEscape},
		{"lone percent", "/static-files/100%", ErrBadEscape},
		{"double encoding", "/api/2.0/mlflow-artifacts/artifacts/1/%252e%252e/2", ErrEncodedEscape},
		{"invalid utf8 escape", "/static-files/%ff.js", ErrInvalidUTF8},
		{"invalid raw utf8", "/static-files/\xff.js", ErrInvalidUTF8},
		{"too long", "/" + strings.Repeat("a", MaxPathBytes), ErrPathTooLong},
		{"too deep", strings.Repeat("/a", MaxPathSegments+1), ErrPathTooDeep},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			got, err := NormalizePath(c.raw)
			if err == nil {
				t.Fatalf("NormalizePath(%q) = %q, want error %v", c.raw, got, c.want)
			}
			if !errors.Is(err, c.want) || !errors.Is(err, ErrBadRequest) {
				t.Fatalf("NormalizePath(%q) error %v, want %v (and ErrBadRequest)", c.raw, err, c.want)
			}
		})
	}
}

func TestNormalizePathNoAllocWithoutEscapes(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		if _, err := NormalizePath("/api/2.0/mlflow/runs/get"); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("NormalizePath allocates %v times on a plain path", n)
	}
}
