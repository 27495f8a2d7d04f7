package idp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// Provider is the OpenID provider: its HTTP routes, its keys, and the
// Verifier the rest of the gate trusts.
type Provider struct {
	cfg     Config
	st      *storage.Store
	log     *slog.Logger
	keys    *keyring
	ver     *Verifier
	cookies *cookies
	handler http.Handler
	srv     *server
	bc      *backchannel

	mu     sync.Mutex // guards what Start started
	cancel context.CancelFunc
	feed   *storage.Feed
	wg     sync.WaitGroup
}

// New validates cfg, creates the signing key on first start (stored sealed
// in signing_keys) and loads the key set. Before serving, subscribe the
// verifier to a change feed and run it (or call Start): until the revocation
// set is loaded the verifier refuses every token.
func New(ctx context.Context, cfg Config, st *storage.Store, logger *slog.Logger) (*Provider, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("identity provider: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Provider{cfg: cfg, st: st, log: logger, cookies: newCookies(&cfg)}
	p.keys = newKeyring(st, &p.cfg)
	if err := p.keys.ensure(ctx); err != nil {
		return nil, fmt.Errorf("identity provider: %w", err)
	}
	p.ver = newVerifier(&p.cfg, st, p.keys, logger)
	p.ver.cookies = p.cookies
	p.bc = newBackchannel(p)
	p.ver.onLogout = p.bc.wake
	endpoints := op.Endpoints{
		Authorization:       op.NewEndpoint(PathAuthorize),
		Token:               op.NewEndpoint(PathToken),
		Userinfo:            op.NewEndpoint(PathUserinfo),
		JwksURI:             op.NewEndpoint(PathKeys),
		Introspection:       op.NewEndpoint(PathIntrospect),
		Revocation:          op.NewEndpoint(PathRevoke),
		DeviceAuthorization: op.NewEndpoint(PathDeviceAuthorization),
		EndSession:          op.NewEndpoint(PathEndSession),
	}
	// Token, userinfo, keys and discovery may be called from any origin,
	// but never with the browser's credentials: the library's default
	// reflects any origin with credentials allowed.
	corsOpts := &cors.Options{
		AllowedOrigins: []string{"*"},
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "Content-Type"},
	}
	p.srv = &server{p: p}
	p.handler = op.RegisterServer(p.srv, endpoints, op.WithServerCORSOptions(corsOpts))
	return p, nil
}

// Verifier returns the strict token verifier for the proxy and web packages.
func (p *Provider) Verifier() *Verifier { return p.ver }

// Audience is the aud of the provider's access tokens: <issuer>/api.
func (p *Provider) Audience() string { return p.cfg.audience() }

// Mount registers every provider route on mux: discovery at
// /.well-known/openid-configuration, the rest under /oauth/.
func (p *Provider) Mount(mux *http.ServeMux) {
	mux.Handle("GET "+PathDiscovery, p.handler)
	mux.Handle("GET "+PathKeys, p.handler)
	mux.Handle("GET "+PathAuthorize, withIss(p.cfg.Issuer, p.handler))
	mux.Handle("POST "+PathAuthorize, withIss(p.cfg.Issuer, p.handler))
	mux.Handle("POST "+PathToken, basicChallenge(tokenEndpoint(p.handler)))
	mux.Handle("POST "+PathIntrospect, basicChallenge(tokenEndpoint(confidentialOnly(p.handler))))
	mux.Handle("POST "+PathRevoke, basicChallenge(tokenEndpoint(p.handler)))
	mux.Handle("POST "+PathDeviceAuthorization, basicChallenge(tokenEndpoint(p.withClientAddr(p.handler))))
	mux.HandleFunc("GET "+PathDevice, p.devicePage)
	mux.Handle("GET "+PathEndSession, p.handler)
	mux.Handle("POST "+PathEndSession, p.handler)
	mux.HandleFunc("GET "+PathLoggedOut, p.loggedOutPage)
	mux.HandleFunc("GET "+PathLogoutConfirm, p.logoutConfirmPage)
	mux.Handle("POST "+PathLogoutConfirm, http.NewCrossOriginProtection().Handler(http.HandlerFunc(p.logoutConfirmSubmit)))
	mux.Handle("POST "+PathDevice, http.NewCrossOriginProtection().Handler(http.HandlerFunc(p.deviceDecide)))
	mux.Handle("GET "+PathUserinfo, noStore(bearerChallenge(p.handler)))
	mux.Handle("POST "+PathUserinfo, noStore(bearerChallenge(p.handler)))
	mux.HandleFunc("GET "+PathLogin, p.loginPage)
	// Go's cross-origin protection (Sec-Fetch-Site / Origin) in front of the
	// CSRF token: a login form posted from another site is refused.
	mux.Handle("POST "+PathLogin, http.NewCrossOriginProtection().Handler(http.HandlerFunc(p.loginSubmit)))
	// Any other method on a provider path is 405 with Allow, here: without
	// these, the mux would hand it to the next match ("/", the MLflow proxy).
	for _, route := range []struct{ path, allow string }{
		{PathDiscovery, "GET"}, {PathKeys, "GET"}, {PathAuthorize, "GET, POST"}, {PathToken, "POST"},
		{PathIntrospect, "POST"}, {PathRevoke, "POST"}, {PathDeviceAuthorization, "POST"}, {PathDevice, "GET, POST"},
		{PathEndSession, "GET, POST"}, {PathLoggedOut, "GET"}, {PathLogoutConfirm, "GET, POST"},
		{PathUserinfo, "GET, POST"}, {PathLogin, "GET, POST"},
	} {
		allow := route.allow
		if strings.Contains(allow, "GET") {
			allow += ", HEAD" // the mux serves HEAD with GET's handler
		}
		mux.HandleFunc(route.path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", r.Method+" is not allowed here; use "+allow)
		})
	}
}

// tokenEndpoint: parameters only in the body (RFC 6749 section 3.2), and
// every answer, errors included, marked no-store (section 5.1).
func tokenEndpoint(h http.Handler) http.Handler {
	return noStore(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "parameters must be sent in the request body")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		h.ServeHTTP(w, r)
	}))
}

// confidentialOnly answers 401 invalid_client (RFC 6749 section 5.2) to a
// request without client credentials; the library would say 400.
func confidentialOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); !ok {
			if err := r.ParseForm(); err != nil || r.PostForm.Get("client_secret") == "" {
				writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "only confidential clients may introspect tokens")
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// basicChallenge adds the WWW-Authenticate challenge to a 401 answered to a
// client that authenticated with HTTP Basic (RFC 6749 section 5.2).
func basicChallenge(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok {
			w = &challengeWriter{ResponseWriter: w}
		}
		h.ServeHTTP(w, r)
	})
}

// withIss adds iss (RFC 9207) to every authorization response the handler
// sends to a client's redirect URI, the library's error redirects
// (login_required, invalid_scope, ...) included: discovery says every
// response has it, and clients such as openid-client refuse one without.
// The gate's own responses (authResponseURL) already carry it.
func withIss(issuer string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&issWriter{ResponseWriter: w, iss: issuer}, r)
	})
}

type issWriter struct {
	http.ResponseWriter
	iss string
}

func (w *issWriter) WriteHeader(status int) {
	if status == http.StatusFound || status == http.StatusSeeOther || status == http.StatusTemporaryRedirect {
		if u, err := url.Parse(w.Header().Get("Location")); err == nil && !strings.HasPrefix(u.String(), w.iss+"/") && u.String() != "" {
			if q := u.Query(); (q.Has("error") || q.Has("code")) && !q.Has("iss") {
				q.Set("iss", w.iss)
				u.RawQuery = q.Encode()
				w.Header().Set("Location", u.String())
			}
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *issWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bearerChallenge adds RFC 6750's challenge to a 401 of a resource that
// takes bearer tokens (userinfo): error="invalid_token" when one was
// presented, a bare challenge when none was (section 3.1).
func bearerChallenge(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		challenge := `Bearer realm="mlflow-gate"`
		if r.Header.Get("Authorization") != "" || r.URL.Query().Has("access_token") || r.Method == http.MethodPost {
			challenge += `, error="invalid_token", error_description="the access token is invalid, expired or revoked"`
		}
		h.ServeHTTP(&challengeWriter{ResponseWriter: w, challenge: challenge}, r)
	})
}

type challengeWriter struct {
	http.ResponseWriter
	challenge string // "": Basic
}

func (w *challengeWriter) WriteHeader(status int) {
	if status == http.StatusUnauthorized {
		c := w.challenge
		if c == "" {
			c = `Basic realm="mlflow-gate", charset="UTF-8"`
		}
		w.Header().Set("WWW-Authenticate", c)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *challengeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// Start runs the provider on a change feed of its own, for a provider used
// alone (serve shares one feed: it calls Verifier().Subscribe and Run
// instead). It returns once the revocation set is loaded, or with the first
// error; Close stops it.
func (p *Provider) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return errors.New("identity provider already started")
	}
	feed := storage.NewFeed(p.st, p.log)
	p.ver.Subscribe(feed)
	if err := feed.Connect(ctx); err != nil {
		return fmt.Errorf("identity provider: revocation set: %w", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.wg.Add(2)
	go func() { defer p.wg.Done(); _ = feed.Run(ctx) }()
	go func() { defer p.wg.Done(); _ = p.Run(ctx) }()
	p.cancel, p.feed = cancel, feed
	return nil
}

// Close stops what Start started.
func (p *Provider) Close() error {
	p.mu.Lock()
	cancel := p.cancel
	p.cancel = nil
	p.mu.Unlock()
	if cancel != nil {
		cancel()
		p.wg.Wait()
	}
	return nil
}

// Run deletes expired rows and prunes the in-memory revocation set every
// minute, and sends queued back-channel logout tokens, until ctx ends; it
// returns nil then.
func (p *Provider) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { p.bc.run(ctx) })
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		p.sweep(ctx)
	}
}

// sweep deletes expired rows and prunes the in-memory set once.
func (p *Provider) sweep(ctx context.Context) {
	now := p.cfg.Now()
	p.ver.rev.prune(now)
	if n, err := p.st.SweepExpired(ctx, now); err != nil && ctx.Err() == nil {
		p.log.Warn("sweeping expired provider rows", "error", err)
	} else if n > 0 {
		p.log.Debug("swept expired provider rows", "rows", n)
	}
}

// audit writes one event; a failure is logged, never shown.
func (p *Provider) audit(ctx context.Context, e storage.Event) {
	if e.At.IsZero() {
		e.At = p.cfg.Now()
	}
	if err := storage.InsertEvent(ctx, p.st.Pool, e); err != nil {
		p.log.ErrorContext(ctx, "writing audit event", "action", e.Action, "error", err)
	}
}
