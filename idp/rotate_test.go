package idp

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// replica starts a second provider on e's database, as another gate process.
func (e *env) replica(t *testing.T) *Provider {
	t.Helper()
	p2, err := New(e.ctx, e.p.cfg, e.st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p2.Close() })
	return p2
}

func hasKID(p *Provider, kid string) bool {
	for _, k := range p.keys.jwks().Keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}

func TestKeyRotationAcrossReplicas(t *testing.T) {
	e := newEnv(t)
	p2 := e.replica(t)
	g := e.adminGrant(t)
	old := e.p.keys.signingKey(AlgES256).kid
	var fails atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // a steady stream: mint on one replica, verify on both
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, p := range []*Provider{e.p, p2} {
				m, err := p.mint(g, e.clock.Now())
				if err == nil {
					_, err = e.p.Verifier().Verify(e.ctx, m.access)
				}
				if err == nil {
					_, err = p2.Verifier().Verify(e.ctx, m.access)
				}
				if err != nil {
					fails.Add(1)
					lastErr.Store(err)
				}
			}
		}
	})
	k, err := rotateKey(e.ctx, e.st, e.p.cfg.KeyEncryptionKey, AlgES256, 2*time.Second, KeyLifetime(time.Minute, time.Minute), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "both replicas publish both keys", func() bool {
		return hasKID(e.p, old) && hasKID(e.p, k.KID) && hasKID(p2, old) && hasKID(p2, k.KID)
	})
	if time.Now().Before(k.NotBefore) {
		if e.p.keys.signingKey(AlgES256).kid != old || p2.keys.signingKey(AlgES256).kid != old {
			t.Fatal("the new key signs before its not_before")
		}
	}
	time.Sleep(time.Until(k.NotBefore) + 50*time.Millisecond)
	if e.p.keys.signingKey(AlgES256).kid != k.KID || p2.keys.signingKey(AlgES256).kid != k.KID {
		t.Fatal("replicas did not switch to the new key at its not_before")
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := fails.Load(); n != 0 {
		t.Fatalf("%d verifications failed during the rotation, last: %v", n, lastErr.Load())
	}
	keys, err := e.st.ListSigningKeys(e.ctx)
	keys = slices.DeleteFunc(keys, func(k storage.SigningKey) bool { return k.Alg != AlgES256 }) // the RS256 key was not rotated
	if err != nil || len(keys) != 2 || keys[0].State(time.Now()) != "active" || keys[1].State(time.Now()) != "retired" ||
		keys[1].ExpiresAt == nil || !keys[1].ExpiresAt.Equal(k.NotBefore.Add(KeyLifetime(time.Minute, time.Minute))) {
		t.Fatalf("keys after rotation: %+v %v", keys, err)
	}
}

func TestKeyRevocationAcrossReplicas(t *testing.T) {
	e := newEnv(t)
	p2 := e.replica(t)
	old := e.p.keys.signingKey(AlgES256).kid
	m, err := e.p.mint(e.adminGrant(t), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Verifier().Verify(e.ctx, m.access); err != nil { // now in the seen-token cache
		t.Fatal(err)
	}
	lifetime := KeyLifetime(time.Minute, time.Minute)
	if _, err := revokeKey(e.ctx, e.st, old, nil, false, lifetime, time.Now()); !errors.Is(err, storage.ErrOnlySigningKey) {
		t.Fatalf("revoking the only signing key: %v", err)
	}
	k, err := rotateKey(e.ctx, e.st, e.p.cfg.KeyEncryptionKey, AlgES256, 0, lifetime, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := revokeKey(e.ctx, e.st, old, nil, false, lifetime, time.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	eventually(t, "the revoked key's token refused on the second replica", func() bool {
		_, err := p2.Verifier().Verify(e.ctx, m.access)
		return errors.Is(err, ErrUnknownKey)
	})
	if time.Now().After(deadline) {
		t.Fatal("revocation took longer than a second to reach the second replica")
	}
	// Each replica's key set follows the same notification on its own
	// connection: the first one may learn it a moment after the second.
	eventually(t, "the revoked key unpublished and the new one signing on both replicas", func() bool {
		return !hasKID(e.p, old) && !hasKID(p2, old) && p2.keys.signingKey(AlgES256).kid == k.KID
	})
	if time.Now().After(deadline) {
		t.Fatal("the key set took longer than a second to change on both replicas")
	}
	// --force revokes even the only signing key, with a replacement signing at once.
	repl, err := revokeKey(e.ctx, e.st, k.KID, e.p.cfg.KeyEncryptionKey, true, lifetime, time.Now())
	if err != nil || repl == "" {
		t.Fatalf("forced revocation: %q %v", repl, err)
	}
	eventually(t, "replicas sign with the replacement", func() bool {
		return e.p.keys.signingKey(AlgES256).kid == repl && p2.keys.signingKey(AlgES256).kid == repl && !hasKID(p2, k.KID)
	})
}

// TestSessionRevocationReachesVerifier: what `session revoke` calls ends the
// session and its refresh family; tokens descending from it are refused.
func TestSessionRevocationReachesVerifier(t *testing.T) {
	e := newEnv(t)
	p2 := e.replica(t)
	tok := e.userTokens(t)
	pr, err := p2.Verifier().Verify(e.ctx, tok.AccessToken)
	if err != nil || pr.SessionID == "" {
		t.Fatalf("before revocation: %+v %v", pr, err)
	}
	list, err := e.st.ListSessions(e.ctx, "admin")
	if err != nil || len(list) != 2 || list[0].Kind != "session" || list[1].Kind != "family" || list[1].SessionID != pr.SessionID {
		t.Fatalf("ListSessions: %+v %v", list, err)
	}
	kind, fams, err := e.st.RevokeSessionOrFamily(e.ctx, testActor, pr.SessionID, time.Now())
	if err != nil || kind != "session" || fams != 1 {
		t.Fatalf("revoke: %s %d %v", kind, fams, err)
	}
	eventually(t, "the session's token refused on the second replica", func() bool {
		_, err := p2.Verifier().Verify(e.ctx, tok.AccessToken)
		return errors.Is(err, ErrRevoked)
	})
	if _, err := e.oauth(storage.CLIClientID, cliRedirect).TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthError(err) != "invalid_grant" {
		t.Fatalf("refresh after revocation: %v", err)
	}
	if _, _, err := e.st.RevokeSessionOrFamily(e.ctx, testActor, pr.SessionID, time.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("revoking again: %v", err)
	}
}
