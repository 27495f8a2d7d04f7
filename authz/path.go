package authz

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on paths. S3 keys stop at 1,024 bytes and MLflow artifact paths are S3 keys
// under a few fixed segments, so these leave room while bounding the matcher's work.
const (
	MaxPathBytes    = 8192
	MaxPathSegments = 256
)

// NormalizePath reads a request's raw (still percent-escaped) path, such as
// r.URL.EscapedPath() or the part of r.RequestURI before '?', and returns the decoded
// path that MLflow will route on. Werkzeug matches on the percent-decoded PATH_INFO
// and uvicorn hands Starlette unquote(raw_path), so the gate decides on the decoded
// form too; the proxy must forward the raw path it was given, unchanged.
//
// It refuses instead of repairing anything two readers could read differently:
// dot segments ("." and "..", also as %2e), encoded slashes and backslashes (%2f, %5c,
// which decode to a separator after the gate's split), raw backslashes, empty segments
// ("//", which Werkzeug merges and Starlette keeps), NUL and other control characters
// (raw or escaped), invalid escapes (Python's unquote keeps "%zz" literally), encoded
// percent signs (%25, so nothing is decoded twice downstream) and invalid UTF-8
// (Python replaces it with U+FFFD, folding different paths into one). A trailing slash
// is kept: MLflow's routes differ by it (POST /ajax-api/3.0/jobs/ exists, /jobs does
// not), so the matcher treats it as part of the path.
//
// A path that NormalizePath accepts re-normalizes to itself. The common case, a path
// without escapes, returns raw itself and allocates nothing.
func NormalizePath(raw string) (string, error) {
	if raw == "" || raw[0] != '/' {
		return "", reqErr(ErrNotAbsolute, quote(raw))
	}
	if len(raw) > MaxPathBytes {
		return "", reqErr(ErrPathTooLong, strconv.Itoa(len(raw))+" bytes")
	}
	escaped := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '%':
			escaped = true
		case c == 0:
			return "", reqErr(ErrNUL, "")
		case c == '\\':
			return "", reqErr(ErrBackslash, quote(raw))
		case c < 0x20 || c == 0x7f:
			return "", reqErr(ErrControlChar, quote(raw))
		}
	}
	path := raw
	if escaped {
		var err error
		if path, err = unescapePath(raw); err != nil {
			return "", err
		}
	}
	if !utf8.ValidString(path) {
		return "", reqErr(ErrInvalidUTF8, quote(raw))
	}
	return path, checkSegments(path, raw)
}

// unescapePath decodes %XX escapes, refusing the ones that would change the path's
// structure or be decoded again by a later reader.
func unescapePath(raw string) (string, error) {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
			return "", reqErr(ErrBadEscape, quote(raw))
		}
		d := unhex(raw[i+1])<<4 | unhex(raw[i+2])
		switch {
		case d == '/' || d == '\\':
			return "", reqErr(ErrEncodedSlash, quote(raw))
		case d == 0:
			return "", reqErr(ErrNUL, "")
		case d == '%':
			return "", reqErr(ErrEncodedEscape, quote(raw))
		case d < 0x20 || d == 0x7f:
			return "", reqErr(ErrControlChar, quote(raw))
		}
		b.WriteByte(d)
		i += 2
	}
	return b.String(), nil
}

// checkSegments refuses dot segments and empty segments other than a trailing one.
func checkSegments(path, raw string) error {
	n := 0
	for rest := path[1:]; ; {
		seg, tail, more := strings.Cut(rest, "/")
		n++
		if n > MaxPathSegments {
			return reqErr(ErrPathTooDeep, strconv.Itoa(MaxPathSegments)+" segments at most")
		}
		if seg == "." || seg == ".." {
			return reqErr(ErrDotSegment, quote(raw))
		}
		if !more {
			return nil
		}
		if seg == "" {
			return reqErr(ErrDoubleSlash, quote(raw))
		}
		rest = tail
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// quote shortens what goes into error details: a refused path can be long.
func quote(s string) string {
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return strconv.Quote(s)
}
