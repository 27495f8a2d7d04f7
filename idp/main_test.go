package idp

import (
	"log/slog"
	"os"
	"testing"
)

// TestMain silences zitadel/oidc, which logs through the global slog
// default; IDP_TEST_LOG=1 shows it.
func TestMain(m *testing.M) {
	if os.Getenv("IDP_TEST_LOG") == "" {
		slog.SetDefault(slog.New(slog.DiscardHandler))
	}
	os.Exit(m.Run())
}
