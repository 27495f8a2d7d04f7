package idp

import (
	"errors"
	"fmt"
	"testing"
)

// Every verdict on the credential is an ErrInvalidCredential (401 at the gate)
// with a stable one-word code; the verifier not knowing is not.
func TestCredentialErrorsShareTheUmbrella(t *testing.T) {
	for _, e := range []error{ErrMalformed, ErrHeader, ErrTokenType, ErrUnknownKey, ErrAlgorithm, ErrSignature,
		ErrIssuer, ErrAudience, ErrExpired, ErrNotYetValid, ErrClaims, ErrRevoked, ErrUserDisabled, ErrNotForAPI,
		ErrPATMalformed, ErrPATChecksum, ErrPATUnknown, ErrPATOwner} {
		wrapped := fmt.Errorf("verifying: %w", e)
		if !errors.Is(wrapped, ErrInvalidCredential) || !errors.Is(wrapped, e) || CredentialCode(wrapped) == "" {
			t.Errorf("%v: umbrella %v, code %q", e, errors.Is(wrapped, ErrInvalidCredential), CredentialCode(wrapped))
		}
	}
	if got := CredentialCode(ErrExpired); got != "token_has_expired" {
		t.Errorf("ErrExpired code %q", got)
	}
	if errors.Is(ErrStale, ErrInvalidCredential) || errors.Is(errors.New("db down"), ErrInvalidCredential) || CredentialCode(ErrStale) != "" {
		t.Error("a verifier that cannot tell reads as a bad credential")
	}
	if errors.Is(ErrExpired, ErrRevoked) {
		t.Error("distinct verdicts match each other")
	}
}
