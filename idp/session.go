package idp

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// Verdicts on a browser's SSO session cookie.
var (
	// ErrNoSession: the request carries no SSO cookie (not a verdict: no credential).
	ErrNoSession     = errors.New("idp: no session cookie")
	ErrSessionCookie = credentialErr("session cookie is invalid")
	ErrSessionIdle   = credentialErr("session has been idle too long")
)

// sessionEntry is a sessions row as the verifier keeps it: revocation reaches
// it through the revocation set (ChangeSession, ChangeUser), the user's state
// through the user cache, so a request of a known session needs no database.
type sessionEntry struct {
	userID   string
	expires  time.Time // absolute end
	lastSeen time.Time // the latest use known to this replica
	recorded time.Time // when this replica last wrote last_seen_at
}

// VerifySession identifies a browser by the provider's SSO cookie: the
// sessions row it names must be unrevoked, within its absolute lifetime
// (SessionTTL) and used within SessionIdleTTL, and its user enabled. Use is
// recorded at most once a minute per replica, off the request path.
func (v *Verifier) VerifySession(r *http.Request) (Principal, error) {
	ck, err := r.Cookie(v.cookies.ssoName)
	if err != nil || ck.Value == "" {
		return Principal{}, ErrNoSession
	}
	now := v.cfg.Now()
	if err := v.rev.fresh(now); err != nil {
		return Principal{}, err
	}
	sid := v.cookieSession(r, ck.Value)
	if sid == "" {
		return Principal{}, ErrSessionCookie
	}
	ctx := r.Context()
	if v.rev.revoked("", sid, "", "", time.Time{}) {
		return Principal{}, ErrRevoked
	}
	v.sessMu.Lock()
	e := v.sessions[sid]
	var last time.Time
	if e != nil {
		last = e.lastSeen
	}
	v.sessMu.Unlock()
	if e == nil || now.Sub(last) >= v.cfg.SessionIdleTTL {
		// Not seen here, or idle as far as this replica knows: another
		// replica may have recorded a later use. Ask the database.
		if e, err = v.loadSession(ctx, sid); err != nil {
			return Principal{}, err
		}
	}
	if !now.Before(e.expires) {
		return Principal{}, ErrExpired
	}
	v.sessMu.Lock()
	idle := now.Sub(e.lastSeen) >= v.cfg.SessionIdleTTL
	var record bool
	if !idle {
		e.lastSeen = now
		if record = now.Sub(e.recorded) >= time.Minute; record {
			e.recorded = now
		}
	}
	v.sessMu.Unlock()
	if idle {
		return Principal{}, ErrSessionIdle
	}
	u, err := v.users.get(ctx, e.userID)
	if err != nil {
		return Principal{}, err
	}
	if !u.enabled {
		return Principal{}, ErrUserDisabled
	}
	if record {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := v.st.TouchSession(ctx, sid, now); err != nil {
				v.log.Warn("recording session use", "session_id", sid, "error", err)
			}
		}()
	}
	return Principal{Kind: KindSession, Subject: e.userID, Username: u.username, Roles: u.roles, TokenID: sid,
		SessionID: sid, ExpiresAt: e.expires}, nil
}

// cookieSession is the session id an SSO cookie value carries, or "" for a
// cookie that does not verify. Values already verified are known by their
// SHA-256, like tokens already seen: decoding (HMAC, decryption, gob) cost
// a session request more than verifying a PAT. The cookie's own age limit
// is the session's lifetime, which the row's expiry enforces on every call.
func (v *Verifier) cookieSession(r *http.Request, value string) string {
	h := sha256.Sum256([]byte(value))
	v.sessMu.Lock()
	sid, ok := v.cookieSIDs[h]
	v.sessMu.Unlock()
	if ok {
		return sid
	}
	s, err := v.cookies.sso.New(r, v.cookies.ssoName)
	if err != nil {
		return ""
	}
	if sid, _ = s.Values["sid"].(string); sid == "" {
		return ""
	}
	v.sessMu.Lock()
	if len(v.cookieSIDs) >= v.cfg.SeenCacheSize {
		clear(v.cookieSIDs)
	}
	v.cookieSIDs[h] = sid
	v.sessMu.Unlock()
	return sid
}

// loadSession reads the row and caches it.
func (v *Verifier) loadSession(ctx context.Context, sid string) (*sessionEntry, error) {
	row, err := v.st.SessionByID(ctx, sid)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrSessionCookie
	} else if err != nil {
		return nil, err
	}
	if row.RevokedAt != nil {
		return nil, ErrRevoked
	}
	e := &sessionEntry{userID: row.UserID, expires: row.ExpiresAt, lastSeen: row.LastSeenAt, recorded: row.LastSeenAt}
	v.sessMu.Lock()
	defer v.sessMu.Unlock()
	if old := v.sessions[sid]; old != nil && old.lastSeen.After(e.lastSeen) {
		e.lastSeen, e.recorded = old.lastSeen, old.recorded
	}
	if len(v.sessions) >= v.cfg.SeenCacheSize {
		clear(v.sessions)
	}
	v.sessions[sid] = e
	return e, nil
}

func (v *Verifier) forgetSession(sid string) {
	v.sessMu.Lock()
	delete(v.sessions, sid)
	v.sessMu.Unlock()
}

func (v *Verifier) forgetSessions() {
	v.sessMu.Lock()
	clear(v.sessions)
	clear(v.cookieSIDs)
	v.sessMu.Unlock()
}
