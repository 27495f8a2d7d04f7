package authz

import (
	"net/url"
	"strings"
)

// Scope follows effect. A route's Scope is what its ordinary call does; an Effect is
// a body field that makes the same call do more: delete, unlink, archive or overwrite
// data, or aim MLflow's own reads and writes at a location the caller picks. When the
// request carries it, the decision asks for the effect's scope instead (a PATCH that
// sets status "deleted" is a delete). ReadRequest reads these fields with the same
// strict reader as ids; effects the gate can only know by looking (an artifact upload
// over an existing file) are raised by the proxy with Request.Escalate.
type Effect struct {
	Scope Scope
	When  string // the condition, for the golden file and explain: `status = "deleted"`
	Why   string // what MLflow then does: "deletes the version and its aliases"
	test  func(body *JSONValue, proto bool) (bool, error)
}

func (e Effect) String() string { return e.Scope.String() + " when " + e.When }

// Escalation is an effect a request triggered.
type Escalation struct {
	Scope Scope
	Why   string
}

// eff adds an effect to a table entry.
func (s spec) eff(e Effect) spec { s.effects = append(s.effects, e); return s }

// why records, in the golden file, why a write route is only a write.
func (s spec) why(text string) spec { s.whyText = text; return s }

// kind sets what the gate itself must know about the route (see RouteKind).
func (s spec) kind(k RouteKind) spec { s.routeKind = k; return s }

// artifact marks a route outside TypeArtifact that serves artifact files (Route.Artifact).
func (s spec) artifact() spec { s.files = true; return s }

// gate says the gate serves the route's bytes from the artifact bucket itself.
func (s spec) gate(op StoreOp) spec { s.store = op; return s }

// gateRoot says the gate serves a file or folder below the artifact root of
// the route's run or logged model, with the path in the query parameter.
func (s spec) gateRoot(op StoreOp, param string) spec { s.store, s.storeParam = op, param; return s }

// fieldValues walks a dotted body path with the id reader's rules (lowerCamel
// spellings on proto routes, "[]" over arrays) and returns the leaves themselves.
func fieldValues(body *JSONValue, path string, proto bool) ([]*JSONValue, error) {
	if body == nil || body.Kind == JSONNull {
		return nil, nil
	}
	if body.Kind != JSONObject {
		return nil, reqErr(ErrInvalidJSON, "the body is not a JSON object")
	}
	name, rest, more := strings.Cut(path, ".")
	name, list := strings.CutSuffix(name, "[]")
	child, ok := body.Field(name)
	if proto {
		if camel := lowerCamel(name); camel != name {
			if alt, altOK := body.Field(camel); altOK {
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
		if !more {
			return []*JSONValue{child}, nil
		}
		return fieldValues(child, rest, proto)
	}
	if child.Kind != JSONArray {
		return nil, reqErr(ErrInvalidJSON, quote(name)+" is not an array")
	}
	var out []*JSONValue
	for i := range child.Elems {
		if !more {
			out = append(out, &child.Elems[i])
			continue
		}
		vals, err := fieldValues(&child.Elems[i], rest, proto)
		if err != nil {
			return nil, err
		}
		out = append(out, vals...)
	}
	return out, nil
}

// isSet is how MLflow's readers see an optional field: protobuf and pydantic treat
// null, "" and [] as absent, and a non-empty value of any other kind as present.
func isSet(v *JSONValue) bool {
	switch v.Kind {
	case JSONNull:
		return false
	case JSONString:
		return v.Text != ""
	case JSONArray:
		return len(v.Elems) > 0
	case JSONObject:
		return len(v.Members) > 0
	case JSONBool:
		return v.Text == "true"
	}
	return true
}

// whenSet: the field is present and not empty.
func whenSet(field string, scope Scope, why string) Effect {
	return Effect{Scope: scope, When: field + " is set", Why: why, test: func(body *JSONValue, proto bool) (bool, error) {
		vals, err := fieldValues(body, field, proto)
		for _, v := range vals {
			if isSet(v) {
				return true, err
			}
		}
		return false, err
	}}
}

// whenTrue: the field is the JSON boolean true, or a string MLflow's readers take as
// true ("true", "True"; protobuf's ParseDict accepts only the boolean, pydantic also
// the strings, so the gate takes the wider reading).
func whenTrue(field string, scope Scope, why string) Effect {
	return Effect{Scope: scope, When: field + " is true", Why: why, test: func(body *JSONValue, proto bool) (bool, error) {
		vals, err := fieldValues(body, field, proto)
		for _, v := range vals {
			if v.Kind == JSONBool && v.Text == "true" || v.Kind == JSONString && truthy(v.Text) ||
				v.Kind == JSONNumber && v.Text != "0" {
				return true, err
			}
		}
		return false, err
	}}
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "on", "t", "y":
		return true
	}
	return false
}

// whenEquals: the field equals value, compared the way the most lenient MLflow reader
// would (case and surrounding space ignored: enums parse case-insensitively in places).
func whenEquals(field, value string, scope Scope, why string) Effect {
	return Effect{Scope: scope, When: field + ` = "` + value + `"`, Why: why, test: func(body *JSONValue, proto bool) (bool, error) {
		vals, err := fieldValues(body, field, proto)
		for _, v := range vals {
			if v.Kind == JSONString && strings.EqualFold(strings.TrimSpace(v.Text), value) {
				return true, err
			}
		}
		return false, err
	}}
}

// whenOutsideLayout: the field names a storage location other than MLflow's own
// references into its tracking data (runs:/, models:/, mlflow-artifacts:/, which
// MLflow 3.18 resolves and checks against the run or model given with them) or one of
// the fixed placeholders in allowed. Anything else (s3://, file:, a local path, http)
// would make MLflow read from there with its own credentials on the caller's behalf.
func whenOutsideLayout(field string, scope Scope, why string, allowed ...string) Effect {
	return Effect{Scope: scope, When: field + " is outside runs:/, models:/, mlflow-artifacts:/", Why: why,
		test: func(body *JSONValue, proto bool) (bool, error) {
			vals, err := fieldValues(body, field, proto)
			for _, v := range vals {
				if v.Kind == JSONNull {
					continue
				}
				if v.Kind != JSONString || !insideLayout(v.Text, allowed) {
					return true, err
				}
			}
			return false, err
		}}
}

func insideLayout(s string, allowed []string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	if s == "" || strings.TrimSpace(s) != s || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.Host != "" {
		// A host in runs://h/... or models://h/... selects another registry or
		// tracking server; MLflow refuses some of them, the gate refuses all.
		return false
	}
	switch u.Scheme {
	case "runs", "models", "mlflow-artifacts":
		return true
	}
	return false
}

// promptSources are the placeholders MLflow stores as the "source" of prompt versions
// (mlflow/prompt/constants.py): prompts are registered models without files.
var promptSources = []string{"dummy-source", "prompt-template"}

// evalEffects returns the effects of rt that body triggers.
func evalEffects(rt *Route, body *JSONValue) ([]Escalation, error) {
	var out []Escalation
	for i := range rt.Effects {
		e := &rt.Effects[i]
		hit, err := e.test(body, rt.Proto)
		if err != nil {
			return nil, err
		}
		if hit {
			out = append(out, Escalation{Scope: e.Scope, Why: e.Why})
		}
	}
	return out, nil
}

// stronger reports whether scope a asks for more than b. read < write < delete <
// manage; use (invoking) is apart from that ladder, so only an explicit effect to use
// turns a call into one.
func stronger(a, b Scope) bool {
	rank := func(s Scope) int {
		switch s {
		case ScopeRead:
			return 1
		case ScopeWrite:
			return 2
		case ScopeDelete:
			return 3
		case ScopeManage:
			return 4
		case ScopeUse:
			return 5
		}
		return 0
	}
	return rank(a) > rank(b)
}
