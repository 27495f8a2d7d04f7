package idp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// OpenID Connect Back-Channel Logout 1.0: when a login session ends (the
// person signs out, an administrator ends the session, the user is disabled
// or changes their password), every client the session gave tokens to and
// that registered a backchannel_logout_uri receives a logout token, POSTed
// server to server. The tokens are queued in the transaction that ends the
// session, so a crash loses none; any replica sends them, each once at a
// time (a lease), and retries with backoff.
const (
	typLogoutToken   = "logout+jwt" // section 2.4
	backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

	logoutTokenTTL       = 2 * time.Minute
	logoutTimeout        = 5 * time.Second // per delivery; the relying party should answer at once
	logoutLease          = time.Minute     // longer than a batch can take
	logoutBatch          = 50
	logoutParallel       = 8
	logoutPoll           = 15 * time.Second // for retries, and logouts announced while the feed was down
	logoutMaxAttempts    = 6
	logoutResponseLimit  = 4 << 10
	backchannelUserAgent = "mlflow-gate back-channel logout"
)

// logoutRetryAfter is the wait before attempt n+1 after n failed ones.
var logoutRetryAfter = []time.Duration{10 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour}

// logoutClaims is a logout token's payload (section 2.4): no nonce, and an
// events claim naming the back-channel logout event.
type logoutClaims struct {
	Issuer   string              `json:"iss"`
	Subject  string              `json:"sub"`
	Audience audience            `json:"aud"`
	IssuedAt int64               `json:"iat"`
	Expiry   int64               `json:"exp"`
	JTI      string              `json:"jti"`
	SID      string              `json:"sid"`
	Events   map[string]struct{} `json:"events"`
}

// backchannel sends queued logout tokens.
type backchannel struct {
	p      *Provider
	client *http.Client
	kick   chan struct{}
}

func newBackchannel(p *Provider) *backchannel {
	return &backchannel{p: p, kick: make(chan struct{}, 1), client: &http.Client{
		Timeout: logoutTimeout,
		// A logout token goes to the registered URI and nowhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// wake makes the sender look for due logout tokens now.
func (b *backchannel) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// run sends due logout tokens whenever woken, and every logoutPoll, until
// ctx ends.
func (b *backchannel) run(ctx context.Context) {
	t := time.NewTicker(logoutPoll)
	defer t.Stop()
	for {
		b.sendDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-b.kick:
		case <-t.C:
		}
	}
}

// sendDue delivers every due logout token, a batch at a time.
func (b *backchannel) sendDue(ctx context.Context) {
	for ctx.Err() == nil {
		due, err := b.p.st.ClaimLogouts(ctx, b.p.cfg.Now(), logoutLease, logoutBatch)
		if err != nil {
			if ctx.Err() == nil {
				b.p.log.Warn("back-channel logout: reading the queue", "error", err)
			}
			return
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, logoutParallel)
		for _, l := range due {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				b.deliver(ctx, l)
			})
		}
		wg.Wait()
		if len(due) < logoutBatch {
			return
		}
	}
}

// deliver sends one logout token and records the outcome.
func (b *backchannel) deliver(ctx context.Context, l storage.PendingLogout) {
	p := b.p
	err := b.post(ctx, l)
	if err == nil {
		if derr := p.st.LogoutDelivered(ctx, l.ID); derr != nil {
			p.log.Warn("back-channel logout: removing a delivered token", "error", derr)
		}
		p.audit(ctx, storage.Event{Action: "logout.backchannel", ClientID: l.ClientID, Actor: l.UserID,
			Detail: map[string]any{"session": l.SessionID, "attempts": l.Attempts}})
		return
	}
	if ctx.Err() != nil {
		return // the lease runs out and another attempt follows
	}
	p.log.Warn("back-channel logout not delivered", "client_id", l.ClientID, "attempt", l.Attempts, "error", err.Error())
	if l.Attempts >= logoutMaxAttempts {
		if derr := p.st.LogoutDelivered(ctx, l.ID); derr != nil {
			p.log.Warn("back-channel logout: removing a token given up on", "error", derr)
		}
		p.audit(ctx, storage.Event{Action: "logout.backchannel_failed", ClientID: l.ClientID, Actor: l.UserID,
			Detail: map[string]any{"session": l.SessionID, "attempts": l.Attempts, "error": err.Error()}})
		return
	}
	wait := logoutRetryAfter[min(l.Attempts, len(logoutRetryAfter))-1]
	if ferr := p.st.LogoutFailed(ctx, l.ID, p.cfg.Now().Add(wait), err.Error()); ferr != nil {
		p.log.Warn("back-channel logout: scheduling a retry", "error", ferr)
	}
}

// post signs the logout token with the client's ID-token algorithm and
// POSTs it as a form (section 2.5); 200 or 204 is success (section 2.8).
func (b *backchannel) post(ctx context.Context, l storage.PendingLogout) error {
	p := b.p
	now := p.cfg.Now()
	alg := AlgRS256
	if l.IDAlg == AlgES256 {
		alg = AlgES256
	}
	tok, err := sign(p.keys.signingKey(alg), typLogoutToken, logoutClaims{
		Issuer: p.cfg.Issuer, Subject: l.UserID, Audience: audience{l.ClientID}, IssuedAt: now.Unix(),
		Expiry: now.Add(logoutTokenTTL).Unix(), JTI: uuid.NewString(), SID: l.SessionID,
		Events: map[string]struct{}{backchannelEvent: {}},
	})
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, logoutTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URI, strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return fmt.Errorf("the registered URI is unusable: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", backchannelUserAgent)
	resp, err := b.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which the log line names through the client
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, logoutResponseLimit))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("the client answered %d", resp.StatusCode)
	}
	return nil
}
