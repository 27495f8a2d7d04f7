package authz

import (
	"net/http"
	"net/url"
	"strings"
)

// ID is one id read from a request.
type ID struct {
	Kind  IDKind
	Value string
	In    Source
	Key   string // the parameter, query key, header or JSON path it came from
}

// Attributes are the ids a request names, read where MLflow reads them. The default
// policy decides by role alone; the proxy logs them and later policies can use them.
type Attributes struct {
	IDs           []ID
	GraphQLFields []string // "query.mlflowGetRun", ... for /graphql
}

// Values returns the values of one kind of id, in request order.
func (a *Attributes) Values(k IDKind) []string {
	var out []string
	for _, id := range a.IDs {
		if id.Kind == k {
			out = append(out, id.Value)
		}
	}
	return out
}

// Request is what Policy.Decide reads. Method and Path (a NormalizePath result) are
// enough; ReadRequest also matches the route once and fills Attrs.
type Request struct {
	Method string
	Path   string
	Attrs  Attributes
	// Escalations are the effects the request triggered (Route.Effects, or raised
	// by the proxy with Escalate): the decision asks for the strongest of their
	// scopes instead of the route's.
	Escalations []Escalation
	match       Match
	routed      bool // match is set (Route nil: no route)
}

// Route returns the matched route, or nil for an unknown route or when the request
// was not built by ReadRequest.
func (r *Request) Route() *Route { return r.match.Route }

// Escalate records an effect the caller learned by looking (an artifact upload over
// an existing file, for example): the decision then asks for scope. A weaker scope
// than the request's changes nothing.
func (r *Request) Escalate(scope Scope, why string) {
	r.Escalations = append(r.Escalations, Escalation{Scope: scope, Why: why})
}

// Target is a request's normalized path and the route it matches, found once: the
// proxy needs the route before it reads the body, and ReadRequest reuses it.
type Target struct {
	Path  string // NormalizePath's result
	Match Match  // Route nil: no MLflow route has this method and path
}

// Route returns the matched route, or nil.
func (t *Target) Route() *Route { return t.Match.Route }

// Locate normalizes rawPath and matches the route for method: what ReadRequest does
// first. Errors match ErrBadRequest; an unknown route is not an error.
func Locate(method, rawPath string) (Target, error) {
	path, err := NormalizePath(rawPath)
	if err != nil {
		return Target{}, err
	}
	m, _ := MatchRoute(method, path)
	return Target{Path: path, Match: m}, nil
}

// Input is the raw material of a request, as the proxy has it.
type Input struct {
	Method   string
	RawPath  string // escaped path: r.URL.EscapedPath() or RequestURI before '?'
	RawQuery string
	// Target, when set, is Locate(Method, RawPath) done by the caller; ReadRequest
	// then neither normalizes nor matches again.
	Target *Target
	Header http.Header
	// Body is the request body, needed only when the route reads ids from JSON
	// (Route.BodyIDs); nil otherwise. MaxBody limits it (0: DefaultMaxJSONBody).
	Body    []byte
	MaxBody int
}

// ReadRequest normalizes the path, matches the route and reads the route's ids from
// the path, the query, the x-mlflow-experiment-id header or the JSON body. Any error
// matches ErrBadRequest: the request is ambiguous or malformed and gets a 400. An
// unknown route is not an error here: Decide denies it.
func ReadRequest(in Input) (*Request, error) {
	var t Target
	if in.Target != nil {
		t = *in.Target
	} else {
		var err error
		if t, err = Locate(in.Method, in.RawPath); err != nil {
			return nil, err
		}
	}
	req := &Request{Method: in.Method, Path: t.Path, routed: true}
	m, ok := t.Match, t.Match.Route != nil
	var repeat []string
	if ok {
		req.match = m
		repeat = m.Route.Repeat
	}
	q, err := ParseQuery(in.RawQuery, repeat)
	if err != nil {
		return nil, err
	}
	if !ok {
		return req, nil
	}
	rt := m.Route
	var body *JSONValue
	bodyRead := false
	readOnce := func() error {
		if bodyRead {
			return nil
		}
		bodyRead = true
		body, err = readBody(in.Body, in.MaxBody, rt.Proto)
		return err
	}
	for _, spec := range rt.IDs {
		switch spec.In {
		case InPath:
			req.add(spec, m.Param(spec.Key))
		case InQuery:
			if err := req.fromQuery(q, spec); err != nil {
				return nil, err
			}
		case InHeader:
			vals := in.Header.Values(spec.Key)
			if len(vals) > 1 {
				return nil, reqErr(ErrBadHeader, spec.Key+" given more than once")
			}
			if len(vals) == 1 && vals[0] != "" {
				req.add(spec, vals[0])
			}
		case InBody:
			if err := readOnce(); err != nil {
				return nil, err
			}
			if err := req.fromJSON(body, spec, rt.Proto); err != nil {
				return nil, err
			}
		}
	}
	if len(rt.Effects) > 0 {
		if err := readOnce(); err != nil {
			return nil, err
		}
		if req.Escalations, err = evalEffects(rt, body); err != nil {
			return nil, err
		}
	}
	if rt.Kind == KindGraphQL {
		var ids []ID
		if req.Attrs.GraphQLFields, ids, err = ReadGraphQLRequest(in.Body, in.MaxBody); err != nil {
			return nil, err
		}
		req.Attrs.IDs = append(req.Attrs.IDs, ids...)
	}
	return req, nil
}

func (r *Request) add(spec IDSpec, v string) {
	r.Attrs.IDs = append(r.Attrs.IDs, ID{Kind: spec.Kind, Value: v, In: spec.In, Key: spec.Key})
}

// fromQuery reads a query id. MLflow reads `run_id or run_uuid`; a request giving
// both with different values is refused rather than read one way.
func (r *Request) fromQuery(q Query, spec IDSpec) error {
	vals := q.All(spec.Key)
	if spec.Alt != "" {
		alt := q.All(spec.Alt)
		if len(vals) > 0 && len(alt) > 0 && vals[0] != alt[0] {
			return reqErr(ErrAmbiguousField, spec.Key+" and "+spec.Alt+" differ")
		}
		if len(vals) == 0 {
			vals = alt
		}
	}
	for _, v := range vals {
		if v != "" {
			r.add(spec, v)
		}
	}
	return nil
}

// readBody parses a JSON body. For proto routes a body that is a JSON string is
// parsed again, as _get_normalized_request_json does for old clients.
func readBody(b []byte, limit int, proto bool) (*JSONValue, error) {
	v, err := ParseStrictJSON(b, limit)
	if err != nil || v == nil {
		return v, err
	}
	if proto && v.Kind == JSONString {
		if v, err = ParseStrictJSON([]byte(v.Text), limit); err != nil || v == nil {
			return v, err
		}
	}
	return v, nil
}

// fromJSON walks spec.Key through the body and records the ids it reaches.
func (r *Request) fromJSON(body *JSONValue, spec IDSpec, proto bool) error {
	if body == nil {
		return nil
	}
	vals, err := jsonPath(body, spec.Key, proto)
	if err != nil {
		return err
	}
	if spec.Alt != "" {
		alt, err := jsonPath(body, spec.Alt, proto)
		if err != nil {
			return err
		}
		if len(vals) > 0 && len(alt) > 0 && vals[0] != alt[0] {
			return reqErr(ErrAmbiguousField, spec.Key+" and "+spec.Alt+" differ")
		}
		if len(vals) == 0 {
			vals = alt
		}
	}
	for _, v := range vals {
		if spec.URI {
			if kind, id, ok := SourceTarget(v); ok {
				r.Attrs.IDs = append(r.Attrs.IDs, ID{Kind: kind, Value: id, In: spec.In, Key: spec.Key})
			}
			continue
		}
		r.add(spec, v)
	}
	return nil
}

// SourceTarget is what an artifact URI inside MLflow's layout names:
// runs:/<run>/... the run, models:/m-<id> the logged model,
// models:/<name>/<version or alias> the registered model, and
// mlflow-artifacts:/<path> the artifact path. Other URIs name nothing here
// (the effects decide them).
func SourceTarget(uri string) (IDKind, string, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Host != "" || u.User != nil {
		return 0, "", false
	}
	p := strings.TrimLeft(u.Path, "/")
	if u.Opaque != "" { // scheme:path without a slash
		p = u.Opaque
	}
	first, _, _ := strings.Cut(p, "/")
	if first == "" {
		return 0, "", false
	}
	switch u.Scheme {
	case "runs":
		return IDRun, first, true
	case "models":
		if strings.HasPrefix(first, "m-") && !strings.Contains(p, "/") {
			return IDLoggedModel, first, true
		}
		return IDRegisteredModel, first, true
	case "mlflow-artifacts":
		return IDArtifactPath, p, true
	}
	return 0, "", false
}

// jsonPath returns the scalar values at a dotted path; "name[]" walks an array.
// Proto routes also accept each field's lowerCamelCase JSON name (protobuf's
// ParseDict does), and refuse an object that spells a field both ways (so does
// MLflow's _reject_conflicting_field_aliases). null is absent, as in ParseDict.
func jsonPath(v *JSONValue, path string, proto bool) ([]string, error) {
	if v.Kind == JSONNull {
		return nil, nil
	}
	if path == "" {
		switch v.Kind {
		case JSONString, JSONNumber:
			return []string{v.Text}, nil
		}
		return nil, reqErr(ErrInvalidJSON, "id field is not a string or number")
	}
	if v.Kind != JSONObject {
		return nil, reqErr(ErrInvalidJSON, "expected an object at "+quote(path))
	}
	name, rest, _ := strings.Cut(path, ".")
	name, list := strings.CutSuffix(name, "[]")
	child, ok := v.Field(name)
	if proto {
		if camel := lowerCamel(name); camel != name {
			if alt, altOK := v.Field(camel); altOK {
				if ok {
					return nil, reqErr(ErrAmbiguousField, name+" and "+camel)
				}
				child, ok = alt, true
			}
		}
	}
	if !ok || child.Kind == JSONNull {
		return nil, nil
	}
	if !list {
		return jsonPath(child, rest, proto)
	}
	if child.Kind != JSONArray {
		return nil, reqErr(ErrInvalidJSON, quote(name)+" is not an array")
	}
	var out []string
	for i := range child.Elems {
		vals, err := jsonPath(&child.Elems[i], rest, proto)
		if err != nil {
			return nil, err
		}
		out = append(out, vals...)
	}
	return out, nil
}

// lowerCamel is protobuf's default json_name: "experiment_id" -> "experimentId".
func lowerCamel(s string) string {
	if strings.IndexByte(s, '_') < 0 {
		return s
	}
	var b strings.Builder
	up := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			up = true
			continue
		}
		if up && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b.WriteByte(c)
	}
	return b.String()
}
