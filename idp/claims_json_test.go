package idp

import (
	"encoding/json"
	"testing"
)

// Access tokens' payload is appended by hand; it must be what json.Marshal
// writes for the same claims, every optional field on and off.
func TestAccessClaimsJSONIsEncodingJSON(t *testing.T) {
	cases := []accessClaims{
		{},
		{Issuer: "https://gate.example", Subject: "u-1", Audience: audience{"mlflow"}, ClientID: "mlflow-gate-cli",
			Expiry: 1700000600, IssuedAt: 1700000000, JTI: "j", Scope: "openid mlflow", Roles: []string{}, Username: "alice"},
		{Issuer: "i", Subject: "s", Audience: audience{"a", "b"}, ClientID: "c", Expiry: -1, IssuedAt: 1, NotBefore: 2,
			JTI: "\"<&>\"", Scope: "x", Roles: []string{"Admin", "Default", "ü\u2028"}, Username: "bob\n", SessionID: "sid",
			AuthTime: 1700000000},
		{Audience: audience{}, Roles: nil},
	}
	for _, c := range cases {
		want, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.appendJSON(nil); string(got) != string(want) {
			t.Errorf("claims %+v:\n got %s\nwant %s", c, got, want)
		}
	}
}
