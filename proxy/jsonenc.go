package proxy

import "github.com/mlflow-gate/mlflow-gate/authz"

// appendJSON serializes a value authz.ParseStrictJSON produced. Numbers keep
// their literal text (so 1e400, -0 and Python's NaN/Infinity read back exactly as
// MLflow's json.loads would have read the client's bytes) and members keep their
// order; strings are re-escaped minimally. Re-parsing the output gives the same
// tree, which TestAppendJSONRoundTrip checks.
func appendJSON(b []byte, v *authz.JSONValue) []byte {
	switch v.Kind {
	case authz.JSONNull:
		return append(b, "null"...)
	case authz.JSONBool, authz.JSONNumber:
		return append(b, v.Text...)
	case authz.JSONString:
		return appendString(b, v.Text)
	case authz.JSONArray:
		b = append(b, '[')
		for i := range v.Elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, &v.Elems[i])
		}
		return append(b, ']')
	case authz.JSONObject:
		b = append(b, '{')
		for i := range v.Members {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, v.Members[i].Key)
			b = append(b, ':')
			b = appendJSON(b, &v.Members[i].Value)
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. The parser has already refused invalid
// UTF-8 and lone surrogates, so only quotes, backslashes and control characters
// need escaping.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
