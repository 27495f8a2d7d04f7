package proxy

import (
	"errors"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// The mlflow.user rule. MLflow records who made a run in the run tag mlflow.user
// and in run_info.user_id, both taken from the request body the client wrote: the
// stock client puts its local OS username there. Behind the gate the user is known,
// so the gate writes both on run creation (authz.KindRunCreate,
// authz.KindPromptlabRunCreate), whatever the client sent. Changing or deleting the
// tag later is the policy's business: the route table gives set-tag, delete-tag and
// log-batch an effect that asks for manage on runs when they name the tag.
const userTag = authz.UserTag

var errBodyShape = errors.New("the request body must be a JSON object whose tags field is a list")

// stampRun rewrites the buffered body of an allowed run creation: user_id and, for
// runs/create, the mlflow.user tag are the gate user's (stampCreate).
func stampRun(kind authz.RouteKind, user string, body []byte, proto bool, limit int) ([]byte, error) {
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
	return stampCreate(v, user, kind == authz.KindRunCreate)
}

// stampCreate rebuilds a run-creation body with user_id and the mlflow.user tag
// first. Order matters: protobuf's ParseDict fills fields in document order and
// MLflow's CreateRun ignores a parse error in fields outside its schema, creating
// the run from the fields parsed so far; fields the gate writes first are parsed
// whatever follows. Every client spelling of user_id (userId for proto routes) and
// every tag that authz.IsUserTag is dropped.
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
				if k, ok := e.Field("key"); ok && k.Kind == authz.JSONString && authz.IsUserTag(k.Text) {
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
