package idp

import (
	"testing"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// TestLoopbackPorts: a loopback redirect names a real TCP port (1..65535) or
// none; anything else is refused at registration and at /oauth/authorize.
func TestLoopbackPorts(t *testing.T) {
	native := &storage.Client{Native: true, RedirectURIs: []string{"http://127.0.0.1/cb", "http://[::1]/cb"}}
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"http://127.0.0.1/cb", true},
		{"http://127.0.0.1:1/cb", true},
		{"http://127.0.0.1:8080/cb", true},
		{"http://127.0.0.1:65535/cb", true},
		{"http://[::1]:65535/cb", true},
		{"http://127.0.0.1:0/cb", false},
		{"http://127.0.0.1:00/cb", false},
		{"http://127.0.0.1:065535/cb", false},
		{"http://127.0.0.1:65536/cb", false},
		{"http://127.0.0.1:99999/cb", false},
		{"http://[::1]:70000/cb", false},
		{"http://127.0.0.1:-1/cb", false},
		{"http://127.0.0.1:/cb", true}, // an empty port is no port (RFC 3986 section 3.2.3)
	} {
		t.Run(tc.uri, func(t *testing.T) {
			if _, ok := loopbackURI(tc.uri); ok != tc.ok {
				t.Errorf("loopbackURI = %v, want %v", ok, tc.ok)
			}
			if got := checkAuthRedirect(native, tc.uri) == nil; got != tc.ok {
				t.Errorf("checkAuthRedirect accepts = %v, want %v", got, tc.ok)
			}
			if err := CheckRedirectURI(tc.uri, true); (err == nil) != tc.ok {
				t.Errorf("CheckRedirectURI: %v, want ok=%v", err, tc.ok)
			}
		})
	}
	for _, uri := range []string{"https://app.example:99999/cb", "https://app.example:0/cb", "http://localhost:65536/cb"} {
		if err := CheckRedirectURI(uri, false); err == nil {
			t.Errorf("CheckRedirectURI(%q) accepted an invalid port", uri)
		}
	}
	if err := CheckRedirectURI("https://app.example:8443/cb", false); err != nil {
		t.Errorf("a valid port refused: %v", err)
	}
}
