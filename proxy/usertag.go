package proxy

import (
	"errors"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// The mlflow.user rule. MLflow records who made a run in the run tag mlflow.user
// and in run_info.user_id, both taken from the request body the client wrote: the
// stock client puts its local OS username there. Behind the gate the user is known,
// so the gate writes both on run creation, whatever the client sent, and refuses
// every later change or deletion of the tag unless the caller is Admin.
const userTag = "mlflow.user"

// guardKind says what a route can do to run tags. classifyGuard finds the routes
// by their MLflow path under every prefix; TestEveryRunWriteIsClassified fails when
// MLflow grows a run-writing route this list does not account for.
type guardKind uint8

const (
	guardNone      guardKind = iota
	guardCreate              // runs/create: tags[] and user_id set by the gate
	guardPromptlab           // runs/create-promptlab-run: user_id set, mlflow.user tags dropped, the tag set after creation
	guardSetTag              // runs/set-tag: key
	guardDeleteTag           // runs/delete-tag: key
	guardLogBatch            // runs/log-batch: tags[].key
)

func classifyGuard(rt *authz.Route) guardKind {
	if rt.Type != authz.TypeRun || rt.Method != "POST" {
		return guardNone
	}
	for suffix, k := range map[string]guardKind{
		"/mlflow/runs/create":               guardCreate,
		"/mlflow/runs/create-promptlab-run": guardPromptlab,
		"/mlflow/runs/set-tag":              guardSetTag,
		"/mlflow/runs/delete-tag":           guardDeleteTag,
		"/mlflow/runs/log-batch":            guardLogBatch,
	} {
		if strings.HasSuffix(rt.Pattern, suffix) {
			return k
		}
	}
	return guardNone
}

var (
	errUserTag   = errors.New("only Admin may set or delete the " + userTag + " tag: the gate sets it when the run is created")
	errBodyShape = errors.New("the request body must be a JSON object whose tags field is a list")
)

// isUserTag compares a decoded tag key with mlflow.user the way the strictest
// backend store would: MySQL's default collations ignore case and trailing
// spaces, so "MLflow.User " is the same row there. MLflow itself refuses keys that
// normalize to another path (validation.path_not_unique), so "./mlflow.user"
// cannot name it.
func isUserTag(key string) bool {
	return strings.EqualFold(strings.TrimRight(key, " "), userTag)
}

// guardUserTag applies the rule to a buffered body that the policy has allowed.
// It returns the body to forward: unchanged, except on run creation.
func guardUserTag(kind guardKind, p *Principal, body []byte, proto bool, limit int) ([]byte, error) {
	admin := p.IsAdmin()
	if admin && kind != guardCreate && kind != guardPromptlab {
		return body, nil
	}
	v, err := authz.ParseStrictJSON(body, limit)
	if err != nil {
		return nil, err
	}
	if proto && v != nil && v.Kind == authz.JSONString {
		// MLflow decodes a body that is a JSON string a second time
		// (handlers._get_normalized_request_json); so must the gate.
		if v, err = authz.ParseStrictJSON([]byte(v.Text), limit); err != nil {
			return nil, err
		}
	}
	if v == nil || v.Kind == authz.JSONNull {
		v = &authz.JSONValue{Kind: authz.JSONObject} // MLflow reads no body as {}
	}
	switch kind {
	case guardSetTag, guardDeleteTag:
		// Field "key" has no other spelling (its protobuf json_name is "key").
		if v.Kind == authz.JSONObject {
			if k, ok := v.Field("key"); ok && k.Kind == authz.JSONString && isUserTag(k.Text) {
				return nil, errUserTag
			}
		}
		return body, nil
	case guardLogBatch:
		if v.Kind == authz.JSONObject {
			if tags, ok := v.Field("tags"); ok && tags.Kind == authz.JSONArray && hasUserTag(tags) {
				return nil, errUserTag
			}
		}
		return body, nil
	}
	return stampCreate(v, p.Username, kind == guardCreate)
}

func hasUserTag(tags *authz.JSONValue) bool {
	for i := range tags.Elems {
		if e := &tags.Elems[i]; e.Kind == authz.JSONObject {
			if k, ok := e.Field("key"); ok && k.Kind == authz.JSONString && isUserTag(k.Text) {
				return true
			}
		}
	}
	return false
}

// stampCreate rebuilds a run-creation body with user_id and the mlflow.user tag
// first. Order matters: protobuf's ParseDict fills fields in document order and
// MLflow's CreateRun ignores a parse error in fields outside its schema, creating
// the run from the fields parsed so far; fields the gate writes first are parsed
// whatever follows. Every client spelling of user_id (userId for proto routes) and
// every tag that isUserTag is dropped.
//
// The promptlab route passes tags to the store as plain dicts, which the stores
// cannot read (any tag there fails the request), so the gate adds no tag to its
// body, only drops the client's mlflow.user entries and sets user_id; once
// MLflow has created the run the gate sets the tag itself (tagCreatedRun).
func stampCreate(v *authz.JSONValue, user string, addTag bool) ([]byte, error) {
	if v.Kind != authz.JSONObject {
		return nil, errBodyShape
	}
	out := authz.JSONValue{Kind: authz.JSONObject, Members: make([]authz.JSONMember, 0, len(v.Members)+2)}
	out.Members = append(out.Members, authz.JSONMember{Key: "user_id", Value: authz.JSONValue{Kind: authz.JSONString, Text: user}})
	tags := authz.JSONValue{Kind: authz.JSONArray}
	if addTag {
		tags.Elems = append(tags.Elems, authz.JSONValue{Kind: authz.JSONObject, Members: []authz.JSONMember{
			{Key: "key", Value: authz.JSONValue{Kind: authz.JSONString, Text: userTag}},
			{Key: "value", Value: authz.JSONValue{Kind: authz.JSONString, Text: user}},
		}})
	}
	if t, ok := v.Field("tags"); ok && t.Kind != authz.JSONNull {
		if t.Kind != authz.JSONArray {
			return nil, errBodyShape
		}
		for _, e := range t.Elems {
			if e.Kind == authz.JSONObject {
				if k, ok := e.Field("key"); ok && k.Kind == authz.JSONString && isUserTag(k.Text) {
					continue
				}
			}
			tags.Elems = append(tags.Elems, e)
		}
	}
	if addTag || len(tags.Elems) > 0 {
		out.Members = append(out.Members, authz.JSONMember{Key: "tags", Value: tags})
	}
	for _, m := range v.Members {
		switch m.Key {
		case "user_id", "userId", "tags":
			continue
		}
		out.Members = append(out.Members, m)
	}
	return appendJSON(nil, &out), nil
}
