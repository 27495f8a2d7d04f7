package authz

import "strings"

// UserTag is the run tag in which MLflow records who made a run. The gate writes it
// (and run_info.user_id) when a run is created, whatever the client sent; changing
// or deleting it later is an effect that asks for manage on runs (userTagEffect),
// which only Admin holds in the default table.
const UserTag = "mlflow.user"

// IsUserTag compares a decoded tag key with mlflow.user the way the strictest
// backend store would: MySQL's default collations ignore case and trailing spaces,
// so "MLflow.User " is the same row there. MLflow itself refuses keys that normalize
// to another path (validation.path_not_unique), so "./mlflow.user" cannot name it.
func IsUserTag(key string) bool {
	return strings.EqualFold(strings.TrimRight(key, " "), UserTag)
}

const userTagWhy = "changes or deletes the " + UserTag + " tag, which the gate sets when the run is created"

// userTagEffect: the tag key at field (a dotted body path as for ids; "tags[].key"
// reads every element of tags) is mlflow.user. Values that are not strings, and
// list elements that are not objects, name no tag here; MLflow refuses them itself.
func userTagEffect(field string) Effect {
	list, key, isList := strings.Cut(field, "[].")
	return Effect{Scope: ScopeManage, When: field + " is " + UserTag, Why: userTagWhy,
		test: func(body *JSONValue, proto bool) (bool, error) {
			// A top-level field whose name has no other spelling is looked up in
			// place: this runs on every set-tag and log-batch, and fieldValues
			// allocates.
			plain := body != nil && body.Kind == JSONObject && !strings.Contains(list, ".") && lowerCamel(list) == list
			if !isList {
				if plain {
					v, ok := body.Field(field)
					return ok && isUserTagValue(v), nil
				}
				vals, err := fieldValues(body, field, proto)
				return anyUserTag(vals), err
			}
			if plain {
				l, ok := body.Field(list)
				return ok && listHasUserTag(l, key), nil
			}
			lists, err := fieldValues(body, list, proto)
			if err != nil {
				return false, err
			}
			for _, l := range lists {
				if listHasUserTag(l, key) {
					return true, nil
				}
			}
			return false, nil
		}}
}

// listHasUserTag: l is an array with an object whose key field is mlflow.user.
func listHasUserTag(l *JSONValue, key string) bool {
	if l.Kind != JSONArray {
		return false
	}
	for i := range l.Elems {
		if e := &l.Elems[i]; e.Kind == JSONObject {
			if k, ok := e.Field(key); ok && isUserTagValue(k) {
				return true
			}
		}
	}
	return false
}

func anyUserTag(vals []*JSONValue) bool {
	for _, v := range vals {
		if isUserTagValue(v) {
			return true
		}
	}
	return false
}

func isUserTagValue(v *JSONValue) bool { return v.Kind == JSONString && IsUserTag(v.Text) }
