package main

import (
	"flag"
	"slices"
	"testing"
)

// An id that starts with "-" (one signing-key kid in 64 does) is an argument, not an
// unknown flag; short unknown flags still reach the flag parser and fail there.
func TestInterleaveIDsStartingWithADash(t *testing.T) {
	fs := flag.NewFlagSet("revoke", flag.ContinueOnError)
	fs.Bool("force", false, "")
	kid := "-Xq3v0bVt8yPp4mYb2kqHc1nZ7oLr5sWdA9eFgJiKuM"
	got := interleave(fs, []string{kid, "--force"})
	if want := []string{"--force", "--", kid}; !slices.Equal(got, want) {
		t.Fatalf("interleave = %q, want %q", got, want)
	}
	if got := interleave(fs, []string{"-forse", "k"}); got[0] != "-forse" {
		t.Fatalf("a mistyped flag became an argument: %q", got)
	}
}
