package idp

import (
	"crypto/rand"
	"hash/crc32"
	"math/big"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// Personal access tokens look like
//
//	mgp_<43 base62 characters: 256 random bits><6 base62 characters: CRC32>
//
// The prefix makes a leaked token easy to find (secret scanners key on it);
// the CRC32 of prefix and body catches a mistyped or truncated token without
// a database trip. The database holds only SHA-256 of the whole token.
const (
	PATPrefix    = "mgp_"
	patBodyLen   = 43 // ceil(256 / log2(62))
	patCheckLen  = 6  // ceil(32 / log2(62))
	patLen       = len(PATPrefix) + patBodyLen + patCheckLen
	patShownLen  = len(PATPrefix) + 6 // shown in listings
	base62Digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

var (
	// ErrPATMalformed: not shaped like a personal access token.
	ErrPATMalformed = credentialErr("personal access token is malformed")
	// ErrPATChecksum: shaped right but its checksum is wrong (a typo or a truncation).
	ErrPATChecksum = credentialErr("personal access token checksum does not match")
	// ErrPATUnknown: well-formed but not issued by this gate (or deleted).
	ErrPATUnknown = credentialErr("personal access token is unknown")
	// ErrPATOwner: the username given with the token is not its owner's.
	ErrPATOwner = credentialErr("personal access token belongs to another user")
)

// base62 renders n (big-endian bytes) in exactly width digits of big.Int's
// base-62 alphabet, which is base62Digits.
func base62(b []byte, width int) string {
	s := new(big.Int).SetBytes(b).Text(62)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

func patChecksum(prefixAndBody string) string {
	var c [4]byte
	v := crc32.ChecksumIEEE([]byte(prefixAndBody))
	c[0], c[1], c[2], c[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return base62(c[:], patCheckLen)
}

// newPAT returns a fresh token value.
func newPAT() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	head := PATPrefix + base62(b, patBodyLen)
	return head + patChecksum(head), nil
}

// CheckPATFormat validates prefix, length, alphabet and checksum offline.
func CheckPATFormat(tok string) error {
	if len(tok) != patLen || !strings.HasPrefix(tok, PATPrefix) {
		return ErrPATMalformed
	}
	for i := len(PATPrefix); i < len(tok); i++ {
		if strings.IndexByte(base62Digits, tok[i]) < 0 {
			return ErrPATMalformed
		}
	}
	head := tok[:len(tok)-patCheckLen]
	if patChecksum(head) != tok[len(tok)-patCheckLen:] {
		return ErrPATChecksum
	}
	return nil
}

// NewPAT makes a fresh token, to be shown once, and the record to store for
// it (never the token: its SHA-256 and the prefix listings show), created at
// now and expiring after ttl. A PAT is a bearer credential for the MLflow API
// only: the verifier marks it KindPAT so that admin and account pages, and
// token endpoints, refuse it.
func NewPAT(name string, now time.Time, ttl time.Duration) (string, storage.PAT, error) {
	tok, err := newPAT()
	if err != nil {
		return "", storage.PAT{}, err
	}
	exp := now.Add(ttl)
	return tok, storage.PAT{Name: name, Prefix: tok[:patShownLen], Hash: sha256Sum(tok), CreatedAt: now, ExpiresAt: &exp}, nil
}
