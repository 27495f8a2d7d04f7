package web

import (
	"net/http"
	"net/url"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// registerSessions wires the admin page for browser sessions and refresh-token families.
func (s *Server) registerSessions() {
	s.handle("GET /gate/admin/sessions", s.sessionsPage)
	s.handle("POST /gate/admin/sessions/{id}/revoke", s.sessionRevoke)
}

type sessionsView struct {
	Sessions []storage.SessionListing
	User     string
	Current  string
	Now      time.Time
}

func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderSessions(w, r, v, http.StatusOK, "")
}

func (s *Server) renderSessions(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string) {
	v.Section = "admin"
	user := r.URL.Query().Get("user")
	if r.Method == http.MethodPost {
		user = r.PostForm.Get("user")
	}
	list, err := s.cfg.Admin.ListSessions(r.Context(), v.actor(), user)
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	s.render(w, r, status, "admin_sessions", page{V: v, Title: "Sessions", Error: msg,
		Data: sessionsView{Sessions: list, User: user, Current: v.Session.ID, Now: s.cfg.Now()}})
}

func (s *Server) sessionRevoke(w http.ResponseWriter, r *http.Request, v *visit) {
	id := r.PathValue("id")
	kind, families, err := s.cfg.Admin.RevokeSession(r.Context(), v.actor(), id)
	if err != nil {
		st, m := s.failure(r, err)
		s.renderSessions(w, r, v, st, m)
		return
	}
	if id == v.Session.ID {
		http.Redirect(w, r, "/oauth/login?return_to=%2Fgate%2Fadmin%2Fsessions", http.StatusSeeOther)
		return
	}
	msg := "Ended the refresh-token family: the device must sign in again."
	if kind == "session" {
		msg = "Ended the browser session"
		if families > 0 {
			msg += " and the refresh tokens issued from it"
		}
		msg += "."
	}
	back := "/gate/admin/sessions"
	if u := r.PostForm.Get("user"); u != "" {
		back += "?" + url.Values{"user": {u}}.Encode()
	}
	s.done(w, r, back, flash{Message: msg})
}
