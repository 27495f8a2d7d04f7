package idp

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// Verifier is the one place that decides whether a bearer token opens the
// MLflow API (VerifyMLflow) or the provider's own endpoints (Verify). It
// accepts the provider's access tokens (typ at+jwt, the gate's API
// audience; for MLflow also the mlflow scope) and personal access tokens,
// nothing else: ID tokens,
// refresh tokens, tokens for another audience or issuer, tokens signed by
// keys not in the set or carrying their own keys are refused.
//
// A token already verified is recognized by SHA-256 of the whole token
// (never by jti alone, which an attacker can copy into a forged token), so
// the signature is checked once; revocation and the subject's current state
// are checked on every call, from memory.
type Verifier struct {
	cfg   *Config
	st    *storage.Store
	keys  *keyring
	rev   *revocations
	users *stateCache[userState]
	svcs  *stateCache[userState]
	// clients are whole clients for the provider's token endpoint; the feed
	// keeps them current with svcs.
	clients *stateCache[storage.Client]
	log     *slog.Logger

	mu   sync.RWMutex
	seen map[[32]byte]*seenEntry

	touchMu sync.Mutex
	touched map[string]time.Time // PAT id -> last recorded use

	cookies    *cookies // the provider's, to read the SSO cookie
	onLogout   func()   // the provider's: logout tokens were queued
	sessMu     sync.Mutex
	sessions   map[string]*sessionEntry // session id -> cached row (session.go)
	cookieSIDs map[[32]byte]string      // SHA-256 of a verified SSO cookie value -> its session id
}

type seenEntry struct {
	p   Principal // without Username and Roles, which are looked up live
	exp time.Time
	kid string // the signing key, for access tokens: revoking it refuses the token
}

func newVerifier(cfg *Config, st *storage.Store, keys *keyring, log *slog.Logger) *Verifier {
	return &Verifier{cfg: cfg, st: st, keys: keys, rev: newRevocations(cfg.RevocationMaxStale), users: newUserCache(st),
		svcs: newServiceCache(st), clients: newClientCache(st), log: log, seen: map[[32]byte]*seenEntry{}, touched: map[string]time.Time{},
		sessions: map[string]*sessionEntry{}, cookieSIDs: map[[32]byte]string{}}
}

// VerifyMLflow is Verify for the MLflow API: an access token opens it only
// when its scope includes ScopeMLflow, which the provider grants only to
// clients with API access (the command-line client, service clients and
// clients registered with --api). Another application's login through this
// provider is ErrNotForAPI. PATs are API credentials by construction.
func (v *Verifier) VerifyMLflow(ctx context.Context, raw string) (Principal, error) {
	p, err := v.Verify(ctx, raw)
	if err != nil {
		return p, err
	}
	if p.Kind == KindAccessToken && !slices.Contains(p.Scopes, ScopeMLflow) {
		return Principal{}, ErrNotForAPI
	}
	return p, nil
}

// Verify checks a bearer token of either kind, for any purpose of the
// provider (userinfo, introspection); the MLflow API uses VerifyMLflow.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	if strings.HasPrefix(raw, PATPrefix) {
		return v.VerifyPAT(ctx, raw)
	}
	return v.VerifyAccessToken(ctx, raw)
}

// VerifyAccessToken accepts only the provider's RFC 9068 access tokens.
func (v *Verifier) VerifyAccessToken(ctx context.Context, raw string) (Principal, error) {
	now := v.cfg.Now()
	if err := v.rev.fresh(now); err != nil {
		return Principal{}, err
	}
	h := sha256.Sum256([]byte(raw))
	v.mu.RLock()
	e := v.seen[h]
	v.mu.RUnlock()
	if e == nil || e.p.Kind != KindAccessToken {
		p, kid, err := v.parseToken(ctx, raw, now)
		if err != nil {
			return Principal{}, err
		}
		e = &seenEntry{p: p, exp: p.ExpiresAt, kid: kid}
		v.remember(h, e)
	}
	if !now.Before(e.exp) {
		return Principal{}, ErrExpired
	}
	if !v.keys.has(e.kid) {
		return Principal{}, ErrUnknownKey
	}
	return v.finish(ctx, e, "")
}

// parseAccessToken does the full check of a token not seen before.
func (v *Verifier) parseAccessToken(ctx context.Context, raw string, now time.Time) (Principal, error) {
	p, _, err := v.parseToken(ctx, raw, now)
	return p, err
}

// parseToken is parseAccessToken that also reports the signing key's kid.
func (v *Verifier) parseToken(ctx context.Context, raw string, now time.Time) (Principal, string, error) {
	h, input, payload, sig, err := splitJWS(raw)
	if err != nil {
		return Principal{}, "", err
	}
	if !isAccessTokenType(h.Typ) {
		return Principal{}, "", ErrTokenType
	}
	k, err := v.keys.lookup(ctx, h.Kid)
	if err != nil {
		return Principal{}, "", err
	}
	if err := verifySignature(k, h.Alg, input, sig); err != nil {
		return Principal{}, "", err
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Principal{}, "", ErrMalformed
	}
	switch {
	case c.Issuer != v.cfg.Issuer:
		return Principal{}, "", ErrIssuer
	case !c.Audience.contains(v.cfg.audience()):
		return Principal{}, "", ErrAudience
	case c.Subject == "" || c.JTI == "" || c.ClientID == "" || c.Expiry == 0:
		return Principal{}, "", ErrClaims
	case !now.Before(time.Unix(c.Expiry, 0)):
		return Principal{}, "", ErrExpired
	case c.NotBefore != 0 && now.Before(time.Unix(c.NotBefore, 0).Add(-time.Minute)),
		c.IssuedAt != 0 && now.Before(time.Unix(c.IssuedAt, 0).Add(-time.Minute)):
		return Principal{}, "", ErrNotYetValid
	}
	// RFC 9068 section 2.2: with no resource owner (client credentials),
	// sub is the client's id. Client ids never look like user ids (UUIDs),
	// and such a token carries no session.
	service := c.Subject == c.ClientID && c.SessionID == ""
	return Principal{Kind: KindAccessToken, Subject: c.Subject, ClientID: c.ClientID, Scopes: splitScope(c.Scope),
		TokenID: c.JTI, SessionID: c.SessionID, IssuedAt: time.Unix(c.IssuedAt, 0), ExpiresAt: time.Unix(c.Expiry, 0), Service: service}, h.Kid, nil
}

// VerifyPAT accepts a personal access token. Its checksum is checked before
// anything else, without a database trip.
func (v *Verifier) VerifyPAT(ctx context.Context, raw string) (Principal, error) {
	if err := CheckPATFormat(raw); err != nil {
		return Principal{}, err
	}
	now := v.cfg.Now()
	if err := v.rev.fresh(now); err != nil {
		return Principal{}, err
	}
	h := sha256.Sum256([]byte(raw))
	v.mu.RLock()
	e := v.seen[h]
	v.mu.RUnlock()
	if e == nil || e.p.Kind != KindPAT {
		rec, err := v.st.PATByHash(ctx, h[:])
		if errors.Is(err, storage.ErrNotFound) {
			return Principal{}, ErrPATUnknown
		} else if err != nil {
			return Principal{}, err
		}
		if rec.RevokedAt != nil || (rec.UserID == "" && rec.ClientID == "") {
			return Principal{}, ErrRevoked
		}
		exp := now.Add(100 * 365 * 24 * time.Hour)
		if rec.ExpiresAt != nil {
			exp = *rec.ExpiresAt
		}
		p := Principal{Kind: KindPAT, Subject: rec.UserID, TokenID: rec.ID, ExpiresAt: exp}
		if rec.UserID == "" { // a service client's token
			p.Subject, p.Service = rec.ClientID, true
		}
		e = &seenEntry{p: p, exp: exp}
		if now.Before(exp) {
			v.remember(h, e)
		}
	}
	if !now.Before(e.exp) {
		return Principal{}, ErrExpired
	}
	p, err := v.finish(ctx, e, e.p.TokenID)
	if err == nil {
		v.touch(e.p.TokenID, now)
	}
	return p, err
}

// VerifyBasic accepts HTTP Basic credentials of a username and that user's
// PAT (the stock MLflow client's MLFLOW_TRACKING_USERNAME/PASSWORD). An
// account password is never accepted here.
func (v *Verifier) VerifyBasic(ctx context.Context, username, pat string) (Principal, error) {
	p, err := v.VerifyPAT(ctx, pat)
	if err != nil {
		return Principal{}, err
	}
	if !strings.EqualFold(p.Username, username) {
		return Principal{}, ErrPATOwner
	}
	return p, nil
}

// finish checks revocation and the subject's current state.
func (v *Verifier) finish(ctx context.Context, e *seenEntry, patID string) (Principal, error) {
	client := e.p.ClientID
	if e.p.Service {
		client = e.p.Subject
	}
	issued := e.p.IssuedAt
	if e.p.Kind == KindPAT {
		issued = v.cfg.Now() // PATs go with their client: one that exists is the current client's
	}
	if v.rev.revoked(e.p.TokenID, e.p.SessionID, client, patID, issued) {
		return Principal{}, ErrRevoked
	}
	var u *userState
	var err error
	if e.p.Service {
		u, err = v.svcs.get(ctx, e.p.Subject)
	} else {
		u, err = v.users.get(ctx, e.p.Subject)
	}
	if err != nil {
		return Principal{}, err
	}
	if !u.enabled {
		return Principal{}, ErrUserDisabled
	}
	p := e.p
	p.Username, p.Roles = u.username, u.roles
	return p, nil
}

// remember caches a verified token, bounded: expired entries go first, then
// an arbitrary half.
func (v *Verifier) remember(h [32]byte, e *seenEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.seen) >= v.cfg.SeenCacheSize {
		now := v.cfg.Now()
		for k, old := range v.seen {
			if !now.Before(old.exp) {
				delete(v.seen, k)
			}
		}
		for k := range v.seen {
			if len(v.seen) < v.cfg.SeenCacheSize/2 {
				break
			}
			delete(v.seen, k)
		}
	}
	v.seen[h] = e
}

func (v *Verifier) forgetSeen() {
	v.mu.Lock()
	clear(v.seen)
	v.mu.Unlock()
}

// touch records a PAT's use at most once a minute per replica, off the
// request path.
func (v *Verifier) touch(id string, now time.Time) {
	v.touchMu.Lock()
	last, ok := v.touched[id]
	if ok && now.Sub(last) < time.Minute {
		v.touchMu.Unlock()
		return
	}
	if len(v.touched) > 10000 {
		clear(v.touched)
	}
	v.touched[id] = now
	v.touchMu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := v.st.TouchPAT(ctx, id, now); err != nil {
			v.log.Warn("recording personal access token use", "token_id", id, "error", err)
		}
	}()
}
