package reqid

import (
	"context"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	if got := From(context.Background()); got != "" {
		t.Fatalf("empty context carries %q", got)
	}
	id := New()
	if len(id) != 16 || id == New() {
		t.Fatalf("New() = %q: want 16 hex digits, different each time", id)
	}
	if got := From(With(context.Background(), id)); got != id {
		t.Fatalf("From(With(%q)) = %q", id, got)
	}
}
