package authz

import (
	"strings"
	"unicode/utf8"
)

// Query is a query string read strictly: its pairs in order, decoded.
type Query struct {
	pairs []queryPair
}

type queryPair struct{ key, val string }

// ParseQuery reads a raw query string the way Werkzeug does ('&'-separated pairs,
// '+' is a space, %XX escapes, empty pairs skipped, a key without '=' has the value
// "") but refuses what two readers could read differently:
//
//   - ';' anywhere: Go's url.ParseQuery refuses it, older Python split on it, and
//     current Werkzeug keeps it inside values;
//   - a key given twice unless it is in repeatable: for a scalar field Werkzeug's
//     request.args.get takes the first value and Starlette's the last;
//   - invalid escapes, invalid UTF-8 (Python would substitute U+FFFD) and NUL.
func ParseQuery(raw string, repeatable []string) (Query, error) {
	var q Query
	if raw == "" {
		return q, nil
	}
	if strings.IndexByte(raw, ';') >= 0 {
		return Query{}, reqErr(ErrSemicolon, "")
	}
	for rest := raw; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := unescapeQuery(k)
		if err != nil {
			return Query{}, err
		}
		val, err := unescapeQuery(v)
		if err != nil {
			return Query{}, err
		}
		if _, dup := q.Get(key); dup && !contains(repeatable, key) {
			return Query{}, reqErr(ErrRepeatedKey, quote(key))
		}
		q.pairs = append(q.pairs, queryPair{key, val})
	}
	return q, nil
}

// Get returns the first value of key.
func (q Query) Get(key string) (string, bool) {
	for _, p := range q.pairs {
		if p.key == key {
			return p.val, true
		}
	}
	return "", false
}

// All returns every value of key, in order.
func (q Query) All(key string) []string {
	var out []string
	for _, p := range q.pairs {
		if p.key == key {
			out = append(out, p.val)
		}
	}
	return out
}

// Len is the number of pairs read.
func (q Query) Len() int { return len(q.pairs) }

func unescapeQuery(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		if strings.IndexByte(s, 0) >= 0 {
			return "", reqErr(ErrNUL, "query")
		}
		if !utf8.ValidString(s) {
			return "", reqErr(ErrInvalidUTF8, "query")
		}
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b.WriteByte(' ')
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", reqErr(ErrBadEscape, "query "+quote(s))
			}
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	if strings.IndexByte(out, 0) >= 0 {
		return "", reqErr(ErrNUL, "query")
	}
	if !utf8.ValidString(out) {
		return "", reqErr(ErrInvalidUTF8, "query")
	}
	return out, nil
}
