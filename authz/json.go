package authz

import (
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits on JSON bodies the gate reads for ids. MLflow's largest ordinary bodies are
// log-batch (1,000 metrics, 100 params, 100 tags) and dataset records; the proxy may
// pass a different limit.
const (
	DefaultMaxJSONBody = 8 << 20
	MaxJSONDepth       = 256
)

// JSONKind is the type of a JSON value.
type JSONKind uint8

// JSON kinds.
const (
	JSONNull JSONKind = iota
	JSONBool
	JSONNumber
	JSONString
	JSONArray
	JSONObject
)

// JSONValue is a parsed JSON value. Text holds a string's decoded value, a number's
// literal text, or "true"/"false".
type JSONValue struct {
	Kind    JSONKind
	Text    string
	Elems   []JSONValue
	Members []JSONMember
}

// JSONMember is one key and value of an object, in document order.
type JSONMember struct {
	Key   string
	Value JSONValue
}

// Field returns the member named exactly key (keys are unique after ParseStrictJSON).
func (v *JSONValue) Field(key string) (*JSONValue, bool) {
	for i := range v.Members {
		if v.Members[i].Key == key {
			return &v.Members[i].Value, true
		}
	}
	return nil, false
}

// ParseStrictJSON parses a whole body as MLflow's Python reads it (json.loads:
// RFC 8259 plus NaN, Infinity and -Infinity; exact, case-sensitive keys) and refuses
// what would let two readers disagree about a field: a key repeated in one object
// (Python keeps the last, many readers the first), keys that differ only in case
// (Go's encoding/json matches fields case-insensitively), invalid UTF-8 or lone
// surrogates, trailing data, bodies over limit bytes (0 means DefaultMaxJSONBody) and
// nesting deeper than MaxJSONDepth. An empty body is no value (nil, nil): MLflow reads
// it as {}.
func ParseStrictJSON(body []byte, limit int) (*JSONValue, error) {
	if limit <= 0 {
		limit = DefaultMaxJSONBody
	}
	if len(body) > limit {
		return nil, reqErr(ErrBodyTooLarge, strconv.Itoa(limit)+" bytes at most")
	}
	if len(body) == 0 {
		return nil, nil
	}
	if !utf8.Valid(body) {
		return nil, reqErr(ErrInvalidUTF8, "body")
	}
	p := scratch.Get().(*jsonParser)
	defer p.release()
	p.s, p.i = string(body), 0
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if p.space(); p.i != len(p.s) {
		return nil, p.fail("data after the value")
	}
	return &v, nil
}

// jsonParser builds values bottom-up on two scratch stacks, so that each
// object or array costs one allocation of exactly its size (appending to a
// value's own slice would regrow it log2(n) times): a log-batch body is
// dozens of small objects, read on every call.
type jsonParser struct {
	s       string
	i       int
	members []JSONMember // scratch: members of the objects being read, innermost last
	elems   []JSONValue  // scratch: elements of the arrays being read
	used    [2]int       // the most of members and elems this body used, to clear on release
}

// scratch keeps parsers, with their stacks, between bodies.
var scratch = sync.Pool{New: func() any { return new(jsonParser) }}

func (p *jsonParser) release() {
	if cap(p.members) > 4096 || cap(p.elems) > 4096 {
		return // a huge body's stacks are not worth keeping
	}
	clear(p.members[:p.used[0]]) // drop references into the body
	clear(p.elems[:p.used[1]])
	p.s, p.members, p.elems, p.used = "", p.members[:0], p.elems[:0], [2]int{}
	scratch.Put(p)
}

func (p *jsonParser) fail(msg string) error {
	return reqErr(ErrInvalidJSON, msg+" at byte "+strconv.Itoa(p.i))
}

func (p *jsonParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (JSONValue, error) {
	if depth > MaxJSONDepth {
		return JSONValue{}, p.fail("nested too deeply")
	}
	if p.i >= len(p.s) {
		return JSONValue{}, p.fail("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		return JSONValue{Kind: JSONString, Text: s}, err
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	}
	for _, lit := range []struct {
		text string
		kind JSONKind
	}{{"true", JSONBool}, {"false", JSONBool}, {"null", JSONNull}, {"NaN", JSONNumber}, {"Infinity", JSONNumber}} {
		if strings.HasPrefix(p.s[p.i:], lit.text) {
			p.i += len(lit.text)
			return JSONValue{Kind: lit.kind, Text: lit.text}, nil
		}
	}
	return JSONValue{}, p.fail("unexpected character")
}

func (p *jsonParser) object(depth int) (JSONValue, error) {
	v := JSONValue{Kind: JSONObject}
	p.i++
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return v, nil
	}
	var folded map[string]struct{}
	base := len(p.members)
	defer func() { p.members = p.members[:base] }()
	for {
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return v, p.fail("expected a key")
		}
		key, err := p.str()
		if err != nil {
			return v, err
		}
		if folded == nil && len(p.members)-base < 16 {
			for _, m := range p.members[base:] {
				if strings.EqualFold(m.Key, key) {
					return v, reqErr(ErrDuplicateKey, quote(m.Key)+" and "+quote(key))
				}
			}
		} else {
			if folded == nil {
				folded = make(map[string]struct{}, 32)
				for _, m := range p.members[base:] {
					folded[foldKey(m.Key)] = struct{}{}
				}
			}
			fk := foldKey(key)
			if _, dup := folded[fk]; dup {
				return v, reqErr(ErrDuplicateKey, quote(key))
			}
			folded[fk] = struct{}{}
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return v, p.fail("expected ':'")
		}
		p.i++
		p.space()
		val, err := p.value(depth + 1)
		if err != nil {
			return v, err
		}
		p.members = append(p.members, JSONMember{key, val})
		p.used[0] = max(p.used[0], len(p.members))
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			p.space()
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			v.Members = append([]JSONMember(nil), p.members[base:]...)
			return v, nil
		}
		return v, p.fail("expected ',' or '}'")
	}
}

// foldKey maps every rune to the smallest rune of its case-folding orbit, so two
// keys have the same foldKey exactly when strings.EqualFold says they are equal.
func foldKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < m {
				m = f
			}
		}
		b.WriteRune(m)
	}
	return b.String()
}

func (p *jsonParser) array(depth int) (JSONValue, error) {
	v := JSONValue{Kind: JSONArray}
	p.i++
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return v, nil
	}
	base := len(p.elems)
	defer func() { p.elems = p.elems[:base] }()
	for {
		e, err := p.value(depth + 1)
		if err != nil {
			return v, err
		}
		p.elems = append(p.elems, e)
		p.used[1] = max(p.used[1], len(p.elems))
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			p.space()
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			v.Elems = append([]JSONValue(nil), p.elems[base:]...)
			return v, nil
		}
		return v, p.fail("expected ',' or ']'")
	}
}

func (p *jsonParser) number() (JSONValue, error) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
		if strings.HasPrefix(p.s[p.i:], "Infinity") {
			p.i += len("Infinity")
			return JSONValue{Kind: JSONNumber, Text: p.s[start:p.i]}, nil
		}
	}
	digits := func() int {
		n := 0
		for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.s) && p.s[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return JSONValue{}, p.fail("bad number")
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return JSONValue{}, p.fail("bad number")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return JSONValue{}, p.fail("bad number")
		}
	}
	return JSONValue{Kind: JSONNumber, Text: p.s[start:p.i]}, nil
}

// str reads a string starting at '"'. Python's strict json refuses raw control
// characters; lone surrogates (which Python would keep) are refused too.
func (p *jsonParser) str() (string, error) {
	p.i++
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '"' {
			s := p.s[start:p.i]
			p.i++
			return s, nil
		}
		if c == '\\' {
			return p.strSlow(start)
		}
		if c < 0x20 {
			return "", p.fail("control character in string")
		}
		p.i++
	}
	return "", p.fail("unterminated string")
}

func (p *jsonParser) strSlow(start int) (string, error) {
	var b strings.Builder
	b.WriteString(p.s[start:p.i])
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c != '\\':
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			break
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.fail("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				if !strings.HasPrefix(p.s[p.i:], "\\u") {
					return "", p.fail("lone surrogate")
				}
				p.i += 2
				r2, ok := p.hex4()
				if d := utf16.DecodeRune(r, r2); !ok || d == unicode.ReplacementChar {
					return "", p.fail("lone surrogate")
				} else {
					r = d
				}
			}
			b.WriteRune(r)
		default:
			return "", p.fail("bad escape")
		}
	}
	return "", p.fail("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(p.s[p.i : p.i+4]) {
		if !isHex(c) {
			return 0, false
		}
		r = r<<4 | rune(unhex(c))
	}
	p.i += 4
	return r, true
}
