package authz

import "strings"

// A small GraphQL lexer and parser (spec sections 2.1-2.9): enough structure to find
// operations, selections, aliases and fragments. Arguments, variables, directives and
// types are parsed only to be skipped.

type gqlTok uint8

const (
	tEOF gqlTok = iota
	tPunct
	tName
	tNumber
	tString
)

type gqlLexer struct {
	s    string
	i    int
	tok  gqlTok
	text string
}

func (l *gqlLexer) next() error {
	// Ignored tokens: whitespace, commas, comments, byte order mark.
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			l.i++
		case c == '#':
			for l.i < len(l.s) && l.s[l.i] != '\n' && l.s[l.i] != '\r' {
				l.i++
			}
		case strings.HasPrefix(l.s[l.i:], "\ufeff"):
			l.i += len("\ufeff")
		default:
			goto token
		}
	}
	l.tok, l.text = tEOF, ""
	return nil
token:
	start := l.i
	c := l.s[l.i]
	switch {
	case strings.HasPrefix(l.s[l.i:], "..."):
		l.i += 3
		l.tok = tPunct
	case strings.IndexByte("!$&()[]{}:=@|", c) >= 0:
		l.i++
		l.tok = tPunct
	case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		for l.i < len(l.s) && isNameByte(l.s[l.i]) {
			l.i++
		}
		l.tok = tName
	case c == '-' || '0' <= c && c <= '9':
		l.i++
		for l.i < len(l.s) && (isNameByte(l.s[l.i]) || l.s[l.i] == '.' || l.s[l.i] == '+' || l.s[l.i] == '-') {
			l.i++
		}
		l.tok = tNumber
	case strings.HasPrefix(l.s[l.i:], `"""`):
		end := strings.Index(strings.ReplaceAll(l.s[l.i+3:], `\"""`, "xxxx"), `"""`)
		if end < 0 {
			return gqlErr("unterminated block string")
		}
		l.i += 3 + end + 3
		l.tok = tString
	case c == '"':
		l.i++
		for {
			if l.i >= len(l.s) || l.s[l.i] == '\n' || l.s[l.i] == '\r' {
				return gqlErr("unterminated string")
			}
			if l.s[l.i] == '\\' {
				l.i += 2
				continue
			}
			if l.s[l.i] == '"' {
				l.i++
				break
			}
			l.i++
		}
		l.tok = tString
	default:
		return gqlErr("unexpected character")
	}
	if l.i > len(l.s) {
		return gqlErr("unterminated string")
	}
	l.text = l.s[start:l.i]
	return nil
}

func isNameByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

type gqlParser struct {
	lex      gqlLexer
	depth    int
	defaults map[string][]*gqlValue // variable default values, by name, of every operation
}

func (p *gqlParser) is(tok gqlTok, text string) bool {
	return p.lex.tok == tok && (text == "" || p.lex.text == text)
}

func (p *gqlParser) expect(tok gqlTok, text string) (string, error) {
	if !p.is(tok, text) {
		want := text
		if want == "" {
			want = "a name"
		}
		return "", gqlErr("expected " + want + " near " + quote(p.lex.text))
	}
	t := p.lex.text
	return t, p.lex.next()
}

func (p *gqlParser) enter() error {
	if p.depth++; p.depth > maxGraphQLNesting {
		return gqlErr("nested too deeply")
	}
	return nil
}

func (p *gqlParser) document() (*gqlDoc, error) {
	d := &gqlDoc{frags: map[string][]gqlSel{}}
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	for !p.is(tEOF, "") {
		switch {
		case p.is(tPunct, "{"):
			sel, err := p.selectionSet()
			if err != nil {
				return nil, err
			}
			d.ops = append(d.ops, gqlOp{"query", sel})
		case p.is(tName, "query") || p.is(tName, "mutation") || p.is(tName, "subscription"):
			op := gqlOp{typ: p.lex.text}
			if err := p.lex.next(); err != nil {
				return nil, err
			}
			if p.is(tName, "") {
				if err := p.lex.next(); err != nil {
					return nil, err
				}
			}
			if err := p.skipHeader(); err != nil {
				return nil, err
			}
			sel, err := p.selectionSet()
			if err != nil {
				return nil, err
			}
			op.sel = sel
			d.ops = append(d.ops, op)
		case p.is(tName, "fragment"):
			if err := p.lex.next(); err != nil {
				return nil, err
			}
			name, err := p.expect(tName, "")
			if err != nil {
				return nil, err
			}
			if _, dup := d.frags[name]; dup || name == "on" {
				return nil, gqlErr("fragment " + quote(name) + " defined twice or misnamed")
			}
			if _, err := p.expect(tName, "on"); err != nil {
				return nil, err
			}
			if _, err := p.expect(tName, ""); err != nil {
				return nil, err
			}
			if err := p.directives(); err != nil {
				return nil, err
			}
			sel, err := p.selectionSet()
			if err != nil {
				return nil, err
			}
			d.frags[name] = sel
		default:
			return nil, gqlErr("expected an operation or fragment near " + quote(p.lex.text))
		}
	}
	if len(d.ops) == 0 {
		return nil, gqlErr("no operation")
	}
	return d, nil
}

// skipHeader reads past variable definitions (keeping their default
// values) and directives of an operation.
func (p *gqlParser) skipHeader() error {
	if p.is(tPunct, "(") {
		if err := p.lex.next(); err != nil {
			return err
		}
		for !p.is(tPunct, ")") {
			if _, err := p.expect(tPunct, "$"); err != nil {
				return err
			}
			name, err := p.expect(tName, "")
			if err != nil {
				return err
			}
			if _, err := p.expect(tPunct, ":"); err != nil {
				return err
			}
			if err := p.typeRef(); err != nil {
				return err
			}
			if p.is(tPunct, "=") {
				if err := p.lex.next(); err != nil {
					return err
				}
				v, err := p.value()
				if err != nil {
					return err
				}
				if p.defaults == nil {
					p.defaults = map[string][]*gqlValue{}
				}
				p.defaults[name] = append(p.defaults[name], v)
			}
			if err := p.directives(); err != nil {
				return err
			}
		}
		if err := p.lex.next(); err != nil {
			return err
		}
	}
	return p.directives()
}

func (p *gqlParser) typeRef() error {
	if err := p.enter(); err != nil {
		return err
	}
	defer func() { p.depth-- }()
	if p.is(tPunct, "[") {
		if err := p.lex.next(); err != nil {
			return err
		}
		if err := p.typeRef(); err != nil {
			return err
		}
		if _, err := p.expect(tPunct, "]"); err != nil {
			return err
		}
	} else if _, err := p.expect(tName, ""); err != nil {
		return err
	}
	if p.is(tPunct, "!") {
		return p.lex.next()
	}
	return nil
}

func (p *gqlParser) directives() error {
	for p.is(tPunct, "@") {
		if err := p.lex.next(); err != nil {
			return err
		}
		if _, err := p.expect(tName, ""); err != nil {
			return err
		}
		if _, err := p.arguments(); err != nil {
			return err
		}
	}
	return nil
}

// gqlValue is an argument value: a scalar (text), a variable reference
// (name), a list or an input object.
type gqlValue struct {
	kind   byte // 's' scalar, '$' variable, '[' list, '{' object
	text   string
	elems  []*gqlValue
	fields map[string]*gqlValue
}

func (p *gqlParser) arguments() (map[string]*gqlValue, error) {
	if !p.is(tPunct, "(") {
		return nil, nil
	}
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	args := map[string]*gqlValue{}
	for !p.is(tPunct, ")") {
		name, err := p.expect(tName, "")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tPunct, ":"); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if _, dup := args[name]; dup {
			return nil, gqlErr("argument " + quote(name) + " given twice")
		}
		args[name] = v
	}
	return args, p.lex.next()
}

func (p *gqlParser) value() (*gqlValue, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	switch {
	case p.is(tPunct, "$"):
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		name, err := p.expect(tName, "")
		return &gqlValue{kind: '$', text: name}, err
	case p.is(tName, "") || p.is(tNumber, "") || p.is(tString, ""):
		v := &gqlValue{kind: 's', text: p.lex.text}
		return v, p.lex.next()
	case p.is(tPunct, "["):
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		v := &gqlValue{kind: '['}
		for !p.is(tPunct, "]") {
			e, err := p.value()
			if err != nil {
				return nil, err
			}
			v.elems = append(v.elems, e)
		}
		return v, p.lex.next()
	case p.is(tPunct, "{"):
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		v := &gqlValue{kind: '{', fields: map[string]*gqlValue{}}
		for !p.is(tPunct, "}") {
			name, err := p.expect(tName, "")
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(tPunct, ":"); err != nil {
				return nil, err
			}
			f, err := p.value()
			if err != nil {
				return nil, err
			}
			if _, dup := v.fields[name]; dup {
				return nil, gqlErr("input field " + quote(name) + " given twice")
			}
			v.fields[name] = f
		}
		return v, p.lex.next()
	}
	return nil, gqlErr("expected a value near " + quote(p.lex.text))
}

func (p *gqlParser) selectionSet() ([]gqlSel, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if _, err := p.expect(tPunct, "{"); err != nil {
		return nil, err
	}
	var out []gqlSel
	for !p.is(tPunct, "}") {
		s, err := p.selection()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, gqlErr("empty selection set")
	}
	return out, p.lex.next()
}

func (p *gqlParser) selection() (gqlSel, error) {
	if p.is(tPunct, "...") {
		if err := p.lex.next(); err != nil {
			return gqlSel{}, err
		}
		if p.is(tName, "") && p.lex.text != "on" {
			name := p.lex.text
			if err := p.lex.next(); err != nil {
				return gqlSel{}, err
			}
			return gqlSel{kind: gqlSpread, name: name}, p.directives()
		}
		if p.is(tName, "on") {
			if err := p.lex.next(); err != nil {
				return gqlSel{}, err
			}
			if _, err := p.expect(tName, ""); err != nil {
				return gqlSel{}, err
			}
		}
		if err := p.directives(); err != nil {
			return gqlSel{}, err
		}
		sub, err := p.selectionSet()
		return gqlSel{kind: gqlInline, sub: sub}, err
	}
	name, err := p.expect(tName, "")
	if err != nil {
		return gqlSel{}, err
	}
	s := gqlSel{kind: gqlField, name: name}
	if p.is(tPunct, ":") {
		if err := p.lex.next(); err != nil {
			return gqlSel{}, err
		}
		if s.name, err = p.expect(tName, ""); err != nil {
			return gqlSel{}, err
		}
		s.alias = name
	}
	if s.args, err = p.arguments(); err != nil {
		return gqlSel{}, err
	}
	if err := p.directives(); err != nil {
		return gqlSel{}, err
	}
	if p.is(tPunct, "{") {
		s.sub, err = p.selectionSet()
	}
	return s, err
}
