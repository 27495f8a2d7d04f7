package idp

import (
	"context"
	"crypto/rand"
	"fmt"
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

// PATOptions are the optional inputs of CreatePAT.
type PATOptions struct {
	Name  string        // a label for listings
	TTL   time.Duration // 0 means the default (90 days); capped at the maximum
	Actor string        // who creates it, for the audit log; default "cli"
	Now   time.Time     // default time.Now()
}

// PATLimits are the default and maximum lifetimes applied by CreatePAT.
type PATLimits struct{ Default, Max time.Duration }

// DefaultPATLimits: tokens expire after 90 days unless asked otherwise, and
// never live longer than a year and a day.
var DefaultPATLimits = PATLimits{Default: 90 * 24 * time.Hour, Max: 366 * 24 * time.Hour}

// CreatePAT issues a personal access token for the user named owner, with a
// label and a lifetime (0: 90 days; at most 366 days), audited as created by
// "cli". It returns the token, to be shown once, and its record. A PAT is a
// bearer credential for the MLflow API only: the verifier marks it KindPAT
// so that admin and account pages, and token endpoints, refuse it.
func CreatePAT(ctx context.Context, st *storage.Store, owner, name string, ttl time.Duration) (string, storage.PAT, error) {
	return CreatePATWithOptions(ctx, st, owner, PATOptions{Name: name, TTL: ttl}, DefaultPATLimits)
}

// CreatePATWithOptions is CreatePAT with an actor, a clock and limits.
func CreatePATWithOptions(ctx context.Context, st *storage.Store, username string, opts PATOptions, limits PATLimits) (string, storage.PAT, error) {
	if err := opts.check(limits); err != nil {
		return "", storage.PAT{}, err
	}
	u, err := st.UserByName(ctx, username)
	if err != nil {
		return "", storage.PAT{}, err
	}
	if !u.Enabled() {
		return "", storage.PAT{}, fmt.Errorf("%w: user %q is disabled", storage.ErrInvalid, u.Username)
	}
	return issuePAT(opts, func(rec storage.PAT) (storage.PAT, error) { return st.InsertPAT(ctx, opts.Actor, u.Username, rec) })
}

// check fills in the defaults of opts and applies limits.
func (opts *PATOptions) check(limits PATLimits) error {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Actor == "" {
		opts.Actor = "cli"
	}
	if opts.TTL <= 0 {
		opts.TTL = limits.Default
	}
	if opts.TTL > limits.Max {
		return fmt.Errorf("%w: a token may live at most %s", storage.ErrInvalid, limits.Max)
	}
	if len(opts.Name) > 100 {
		return fmt.Errorf("%w: token name longer than 100 characters", storage.ErrInvalid)
	}
	return nil
}

// issuePAT makes a new token and stores its record (never the token) with insert.
func issuePAT(opts PATOptions, insert func(storage.PAT) (storage.PAT, error)) (string, storage.PAT, error) {
	tok, err := newPAT()
	if err != nil {
		return "", storage.PAT{}, err
	}
	exp := opts.Now.Add(opts.TTL)
	rec, err := insert(storage.PAT{Name: opts.Name, Prefix: tok[:patShownLen], Hash: sha256Sum(tok), CreatedAt: opts.Now, ExpiresAt: &exp})
	if err != nil {
		return "", storage.PAT{}, err
	}
	return tok, rec, nil
}

// ListPATs lists the tokens of username (every user's when empty).
func ListPATs(ctx context.Context, st *storage.Store, username string) ([]storage.PAT, error) {
	return st.ListPATs(ctx, username)
}

// RevokePAT revokes a token by id; every replica stops accepting it within
// the notification delay.
func RevokePAT(ctx context.Context, st *storage.Store, actor, id string) error {
	if actor == "" {
		actor = "cli"
	}
	return st.RevokePAT(ctx, actor, id, time.Now())
}

// CreateClientPAT issues a personal access token owned by a confidential
// service client: it speaks for the client, with the client's own roles.
func CreateClientPAT(ctx context.Context, st *storage.Store, clientID string, opts PATOptions, limits PATLimits) (string, storage.PAT, error) {
	if err := opts.check(limits); err != nil {
		return "", storage.PAT{}, err
	}
	return issuePAT(opts, func(rec storage.PAT) (storage.PAT, error) { return st.InsertClientPAT(ctx, opts.Actor, clientID, rec) })
}
