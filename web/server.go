package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/idp"
	"github.com/mlflow-gate/mlflow-gate/internal/reqid"
)

// Prefix is where the gate's own pages live: a path no MLflow route uses.
const (
	Prefix      = "/gate/"
	AdminPrefix = "/gate/admin/"
	MePath      = "/gate/me"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Sessions is what the pages need of the identity provider: the signed-in
// browser (the SSO cookie only; never a bearer token or a personal access
// token) and a password check before sensitive actions.
type Sessions interface {
	BrowserVisit(r *http.Request) (idp.Visit, bool)
	Reauthenticate(r *http.Request, v idp.Visit, password string) string
}

// Config is what the pages are built from.
type Config struct {
	Admin    *admin.Service
	Sessions Sessions
	// Policy is the compiled permission table in force (the policy loader's
	// holder): the user's page summarizes it.
	Policy *authz.Holder
	// Issuer is the gate's public URL; Origin its scheme://host[:port], the
	// only origin a cookie-authenticated write may come from.
	Issuer, Origin string
	// Key signs the pages' CSRF tokens and seals the one-shot flash cookie
	// (32 bytes or more, derived from the master secret for its own purpose).
	Key []byte
	// Secure marks cookies Secure and __Host- (an https issuer).
	Secure bool
	// ReauthAfter is how old a login may be before a sensitive action asks
	// for the password again; default 5 minutes.
	ReauthAfter time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Server serves every page under Prefix.
type Server struct {
	cfg   Config
	mux   *http.ServeMux
	pages map[string]*template.Template
	flash *securecookie.SecureCookie
	// flashName is the flash cookie's name (__Host- under https).
	flashName string
	// routes lists every pattern registered, for tests that walk them all.
	routes []string
}

// New parses every template once and registers the pages.
func New(cfg Config) (*Server, error) {
	if cfg.Admin == nil || cfg.Sessions == nil || cfg.Policy == nil {
		return nil, errors.New("web: Admin, Sessions and Policy are required")
	}
	if len(cfg.Key) < 32 {
		return nil, errors.New("web: Key must be at least 32 bytes")
	}
	if cfg.ReauthAfter <= 0 {
		cfg.ReauthAfter = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), flashName: "mlflow-gate-flash"}
	if cfg.Secure {
		s.flashName = "__Host-" + s.flashName
	}
	hashKey := derive(cfg.Key, "flash-mac")
	blockKey := derive(cfg.Key, "flash-enc")
	s.flash = securecookie.New(hashKey, blockKey).MaxAge(120)
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	s.register()
	return s, nil
}

// derive is a key for one purpose from the pages' key.
func derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("mlflow-gate web\x00" + purpose))
	return m.Sum(nil)
}

// parsePages parses layout.html with each page template into its own set.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", base, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// Routes lists every pattern the pages register ("GET /gate/me", ...).
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// ServeHTTP serves the pages. Every answer carries the pages' headers: no
// framing, no caching, no referrer, no script at all, forms only to this site.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

// handle registers a page. Every page but the stylesheet needs a signed-in
// browser; admin pages need Admin; every write passes the cross-site check.
func (s *Server) handle(pattern string, h func(w http.ResponseWriter, r *http.Request, v *visit)) {
	s.routes = append(s.routes, pattern)
	method, path, _ := strings.Cut(pattern, " ")
	adminOnly := strings.HasPrefix(path, AdminPrefix)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		iv, ok := s.cfg.Sessions.BrowserVisit(r)
		if !ok {
			if method == http.MethodGet {
				target := r.URL.EscapedPath()
				if r.URL.RawQuery != "" {
					target += "?" + r.URL.RawQuery
				}
				http.Redirect(w, r, idp.SignInPath(target), http.StatusSeeOther)
				return
			}
			s.fail(w, r, nil, http.StatusUnauthorized, "Your session has ended. Sign in again and repeat the change.")
			return
		}
		v := s.newVisit(r, iv)
		if adminOnly && !v.Admin {
			s.fail(w, r, v, http.StatusForbidden, "Only an Admin may open the admin pages.")
			return
		}
		if method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if !s.sameOrigin(r) || r.ParseForm() != nil || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(v.CSRF)) {
				if r.Form == nil {
					_ = r.ParseForm()
				}
				s.fail(w, r, v, http.StatusForbidden, "This form did not come from this site's own page, or the page is too old. Open the page again and repeat the change.")
				return
			}
		}
		h(w, r, v)
	})
}

// maxForm bounds every form body (a permission table import is the largest).
const maxForm = 1 << 20

// sameOrigin is the UI's cross-site rule for cookie-authenticated writes:
// Origin exactly the issuer's origin, or, without Origin, Sec-Fetch-Site
// same-origin. A browser sends one or the other on every POST.
func (s *Server) sameOrigin(r *http.Request) bool {
	// A browser that sends fetch metadata says where the request came from;
	// anything but same-origin is refused whatever Origin says.
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Values("Origin")
	switch len(origin) {
	case 0:
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	case 1:
		return s.cfg.Origin != "" && origin[0] == s.cfg.Origin
	}
	return false
}

// visit is one signed-in request as the pages see it.
type visit struct {
	idp.Visit
	Admin bool
	// CSRF is the token every form of this session carries.
	CSRF string
	// Flash is the message (and, once, a secret) the previous POST left.
	Flash flash
	// Section names the navigation entry to highlight.
	Section string
	// RequestID identifies the request in the log, for error pages.
	RequestID string
	// needsPassword: the login is older than the re-authentication window.
	needsPassword bool
}

func (s *Server) newVisit(r *http.Request, iv idp.Visit) *visit {
	v := &visit{Visit: iv, RequestID: reqid.From(r.Context())}
	for _, role := range iv.User.Roles {
		if role == authz.RoleAdmin {
			v.Admin = true
		}
	}
	m := hmac.New(sha256.New, derive(s.cfg.Key, "csrf"))
	m.Write([]byte(iv.Session.ID))
	v.CSRF = base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	return v
}

// actor is the visit as the admin service names it.
func (v *visit) actor() admin.Actor {
	return admin.Actor{Kind: admin.ActorWeb, User: v.User.Username, Address: v.Address}
}

// recent reports whether the login is fresh enough for a sensitive action.
func (s *Server) recent(v *visit) bool {
	return s.cfg.Now().Sub(v.Session.AuthTime) < s.cfg.ReauthAfter
}

// confirm checks a sensitive action's password when the login is not recent.
// It returns "" when the action may go ahead, otherwise the message for the
// re-rendered form.
func (s *Server) confirm(r *http.Request, v *visit) string {
	if s.recent(v) {
		return ""
	}
	pw := r.PostForm.Get("confirm_password")
	if pw == "" {
		return "This change needs your password: your sign-in is more than " + s.cfg.ReauthAfter.String() + " old."
	}
	if msg := s.cfg.Sessions.Reauthenticate(r, v.Visit, pw); msg != "" {
		return msg
	}
	v.Session.AuthTime = s.cfg.Now()
	return ""
}
