package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

func seed(t *testing.T) (*storage.Store, storage.User) {
	t.Helper()
	st := storagetest.Store(t)
	ctx := context.Background()
	if _, err := st.Bootstrap(ctx, storage.BootstrapAdmin{Username: "admin", PasswordHash: "x"}, storage.Client{
		ID: storage.CLIClientID, Public: true, Native: true, GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{"http://127.0.0.1/callback"}}); err != nil {
		t.Fatal(err)
	}
	u, err := st.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	return st, u
}

func TestLoginThrottleGrowsAndDecays(t *testing.T) {
	st, _ := seed(t)
	ctx := context.Background()
	pol := storage.LoginThrottle{Free: 2, Base: time.Second, Max: 8 * time.Second, Window: time.Hour}
	now := time.Now().Truncate(time.Second)
	var locks []time.Duration
	for range 7 {
		_, until, err := st.RecordLoginFailure(ctx, "acct:x", pol, now)
		if err != nil {
			t.Fatal(err)
		}
		if until.IsZero() {
			locks = append(locks, 0)
		} else {
			locks = append(locks, until.Sub(now))
		}
	}
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i := range want {
		if locks[i] != want[i] {
			t.Fatalf("locks = %v, want %v", locks, want)
		}
	}
	if until, _ := st.LoginLockedUntil(ctx, []string{"acct:x", "addr:y"}, now); !until.Equal(now.Add(8 * time.Second)) {
		t.Errorf("locked until %v", until)
	}
	if until, _ := st.LoginLockedUntil(ctx, []string{"acct:x"}, now.Add(9*time.Second)); !until.IsZero() {
		t.Errorf("lock outlived itself: %v", until)
	}
	// After the window the count starts over.
	n, until, err := st.RecordLoginFailure(ctx, "acct:x", pol, now.Add(2*time.Hour))
	if err != nil || n != 1 || !until.IsZero() {
		t.Errorf("after the window: %d failures, lock %v, %v", n, until, err)
	}
	if err := st.ResetLoginFailures(ctx, "acct:x"); err != nil {
		t.Fatal(err)
	}
}

func TestConsumeCodeOnce(t *testing.T) {
	st, u := seed(t)
	ctx := context.Background()
	now := time.Now()
	a, err := st.CreateAuthRequest(ctx, storage.AuthRequest{ClientID: storage.CLIClientID, RedirectURI: "http://127.0.0.1/callback",
		BrowserHash: []byte{1}, CreatedAt: now, ExpiresAt: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	hash := []byte("code-hash-0123456789012345678901")
	if err := st.CompleteAuthRequest(ctx, a.ID, u.ID, "", now, nil, hash, now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := st.CompleteAuthRequest(ctx, a.ID, u.ID, "", now, nil, []byte("other"), now.Add(time.Minute), now); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second completion: %v", err)
	}
	consume := func(client string, at time.Time) error {
		return st.InTx(ctx, func(tx pgx.Tx) error {
			_, err := storage.ConsumeCode(ctx, tx, hash, client, at)
			return err
		})
	}
	if err := consume("someone-else", now); !errors.Is(err, storage.ErrCodeClient) {
		t.Errorf("other client: %v", err)
	}
	if err := consume(storage.CLIClientID, now.Add(2*time.Minute)); !errors.Is(err, storage.ErrCodeExpired) {
		t.Errorf("expired: %v", err)
	}
	if err := consume(storage.CLIClientID, now); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := consume(storage.CLIClientID, now); !errors.Is(err, storage.ErrCodeReplay) {
		t.Errorf("second use: %v", err)
	}
}

func TestRefreshRotationAndFamilyRevocation(t *testing.T) {
	st, u := seed(t)
	ctx := context.Background()
	now := time.Now()
	exp := now.Add(time.Minute)
	var first storage.RefreshToken
	err := st.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		first, err = storage.InsertRefreshToken(ctx, tx, storage.RefreshToken{TokenHash: []byte("h1"), ClientID: storage.CLIClientID,
			UserID: u.ID, AuthTime: now, AccessTokenID: "jti-1", AccessExpiresAt: &exp, IssuedAt: now,
			ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(2 * time.Hour)})
		return err
	})
	if err != nil || first.FamilyID == "" {
		t.Fatalf("insert: %+v %v", first, err)
	}
	rotate := func(h string) (storage.RefreshToken, error) {
		var rt storage.RefreshToken
		err := st.InTx(ctx, func(tx pgx.Tx) error {
			var err error
			rt, err = storage.RotateRefreshToken(ctx, tx, []byte(h), storage.CLIClientID, now)
			return err
		})
		return rt, err
	}
	if _, err := rotate("h1"); err != nil {
		t.Fatal(err)
	}
	rt, err := rotate("h1")
	if !errors.Is(err, storage.ErrRefreshReuse) || rt.FamilyID != first.FamilyID {
		t.Fatalf("reuse: %v", err)
	}
	if err := st.RevokeFamily(ctx, first.FamilyID, now); err != nil {
		t.Fatal(err)
	}
	revoked, err := st.RevokedTokens(ctx, now)
	if err != nil || revoked["jti-1"].IsZero() {
		t.Fatalf("family's access token not on the revocation list: %v %v", revoked, err)
	}
	if n, err := st.SweepExpired(ctx, now.Add(3*time.Hour)); err != nil || n == 0 {
		t.Errorf("sweep: %d %v", n, err)
	}
}
