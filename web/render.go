package web

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/admin"
)

// page is what every template receives.
type page struct {
	V     *visit // nil on the error page of a browser without a session
	Title string
	// Error is the message of a form that failed, re-rendered with Form.
	Error string
	Form  url.Values
	// Data is the page's own content.
	Data any
}

// Field returns the posted value of a re-rendered form (templates: .Field "name").
func (p page) Field(name string) string {
	if p.Form == nil {
		return ""
	}
	return p.Form.Get(name)
}

// confirmField is the data of the "confirm" template: whether to ask for the
// password, and an id unique on the page.
type confirmField struct {
	Needed bool
	ID     string
}

// Confirm is the password field of one sensitive form (templates:
// {{template "confirm" (.Confirm "revoke-key")}}).
func (p page) Confirm(id string) confirmField { return confirmField{Needed: p.NeedsPassword(), ID: id} }

// NeedsPassword reports whether a sensitive action's form must ask for the
// password (the login is older than the re-authentication window).
func (p page) NeedsPassword() bool { return p.V != nil && p.V.needsPassword }

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch t := t.(type) {
		case time.Time:
			if t.IsZero() {
				return "never"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if t == nil || t.IsZero() {
				return "never"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		}
		return ""
	},
	"join":  strings.Join,
	"split": strings.Fields,
	"has": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
}

// render writes a page with status. A template error is logged and becomes
// the plain error page: the response never carries a half-written page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t := s.pages[name]
	if t == nil {
		s.cfg.Logger.ErrorContext(r.Context(), "web: no such page template", "page", name)
		s.fail(w, r, p.V, http.StatusInternalServerError, "")
		return
	}
	if p.V != nil {
		p.V.needsPassword = !s.recent(p.V)
		if p.V.Flash == (flash{}) {
			p.V.Flash = s.takeFlash(w, r)
		}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "web: rendering page", "page", name, "error", err)
		if name != "error" {
			s.fail(w, r, p.V, http.StatusInternalServerError, "")
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders the error page with a message for people; "" says only that
// something went wrong, with the request id to quote.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string) {
	if msg == "" {
		msg = "Something went wrong on our side. Nothing was changed."
	}
	s.render(w, r, status, "error", page{V: v, Title: http.StatusText(status), Error: msg})
}

// failure maps an error of the admin service onto a status and a message: an
// application error is the form's message, anything else is logged and shown
// as "something went wrong" without internals.
func (s *Server) failure(r *http.Request, err error) (int, string) {
	switch admin.ErrorCode(err) {
	case admin.EInvalid:
		return http.StatusBadRequest, sentence(admin.ErrorMessage(err))
	case admin.EConflict:
		return http.StatusConflict, sentence(admin.ErrorMessage(err))
	case admin.ENotFound:
		return http.StatusNotFound, sentence(admin.ErrorMessage(err))
	case admin.EForbidden:
		return http.StatusForbidden, sentence(admin.ErrorMessage(err))
	}
	if errors.Is(err, r.Context().Err()) && r.Context().Err() != nil {
		return http.StatusServiceUnavailable, "The request was cancelled. Nothing was changed."
	}
	s.cfg.Logger.ErrorContext(r.Context(), "web: admin operation failed", "path", r.URL.Path, "error", err)
	return http.StatusInternalServerError, "Something went wrong on our side. Nothing was changed."
}

// sentence drops storage's category prefix ("conflict: ", "invalid value: ")
// from a message, which the status already says, and capitalizes it.
func sentence(msg string) string {
	for _, p := range []string{"not found: ", "conflict: ", "invalid value: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	if msg != "" && msg[0] >= 'a' && msg[0] <= 'z' {
		msg = string(msg[0]-'a'+'A') + msg[1:]
	}
	return msg
}

// failPage renders the error page for an admin operation's failure.
func (s *Server) failPage(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	st, m := s.failure(r, err)
	s.fail(w, r, v, st, m)
}

// done ends a successful POST: the message (and a secret to show once) rides
// in a sealed one-shot cookie to the page at target, which the browser GETs
// (POST, then 303).
func (s *Server) done(w http.ResponseWriter, r *http.Request, target string, f flash) {
	if enc, err := s.flash.Encode(s.flashName, f); err == nil {
		http.SetCookie(w, &http.Cookie{Name: s.flashName, Value: enc, Path: "/", MaxAge: 120, HttpOnly: true,
			Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode})
	} else {
		s.cfg.Logger.ErrorContext(r.Context(), "web: sealing flash", "error", err)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// flash is what a POST leaves for the page after its redirect.
type flash struct {
	Message string
	// Secret is shown once (a new password, client secret or token), with
	// Lines to paste (for a token: the environment for the mlflow client).
	Secret string
	Lines  string
}

// takeFlash reads and clears the flash cookie.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) flash {
	ck, err := r.Cookie(s.flashName)
	if err != nil {
		return flash{}
	}
	http.SetCookie(w, &http.Cookie{Name: s.flashName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode})
	var f flash
	if s.flash.Decode(s.flashName, ck.Value, &f) != nil {
		return flash{}
	}
	return f
}
