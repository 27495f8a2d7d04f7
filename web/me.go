package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// The user's own pages: who am I, my tokens, my sessions, my password.
func (s *Server) registerMe() {
	s.handle("GET /gate/me", s.mePage)
	s.handle("GET /gate/me/tokens", s.myTokensPage)
	s.handle("POST /gate/me/tokens", s.myTokenCreate)
	s.handle("POST /gate/me/tokens/{id}/revoke", s.myTokenRevoke)
	s.handle("GET /gate/me/sessions", s.mySessionsPage)
	s.handle("POST /gate/me/sessions/{id}/revoke", s.mySessionRevoke)
	s.handle("GET /gate/me/password", s.myPasswordPage)
	s.handle("POST /gate/me/password", s.myPasswordChange)
}

// grantSummary is one line of "what the permission table lets me do".
type grantSummary struct {
	Resource    string
	Type        string
	Description string
	Scopes      []string
}

func (s *Server) mePage(w http.ResponseWriter, r *http.Request, v *visit) {
	v.Section = "me"
	s.render(w, r, http.StatusOK, "me", page{V: v, Title: "My account", Data: summarize(s.cfg.Policy.Load(), v.User.Roles)})
}

// summarize lists, per resource of the table, the scopes any of roles holds.
func summarize(p *authz.Policy, roles []string) []grantSummary {
	if p == nil {
		return nil
	}
	t := p.Table()
	by := map[string]*grantSummary{}
	var out []grantSummary
	for _, res := range t.Resources {
		by[res.Name] = &grantSummary{Resource: res.Name, Type: string(res.Type), Description: res.Describe()}
	}
	for _, g := range t.Permissions {
		gs := by[g.Resource]
		if gs == nil || !slices.Contains(roles, g.Role) {
			continue
		}
		for _, sc := range g.Scopes {
			if !slices.Contains(gs.Scopes, sc.String()) {
				gs.Scopes = append(gs.Scopes, sc.String())
			}
		}
	}
	for _, res := range t.Resources {
		if gs := by[res.Name]; len(gs.Scopes) > 0 {
			slices.SortFunc(gs.Scopes, func(a, b string) int { return scopeRank(a) - scopeRank(b) })
			out = append(out, *gs)
		}
	}
	return out
}

func scopeRank(name string) int {
	sc, err := authz.ParseScope(name)
	if err != nil {
		return 99
	}
	return int(sc)
}

type myTokens struct {
	Tokens  []storage.PAT
	Now     time.Time
	MaxDays int
}

func (s *Server) myTokensPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderMyTokens(w, r, v, http.StatusOK, "", nil)
}

func (s *Server) renderMyTokens(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string, form url.Values) {
	v.Section = "me"
	pats, err := s.cfg.Admin.ListOwnPATs(r.Context(), v.actor())
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	slices.SortFunc(pats, func(a, b storage.PAT) int { return b.CreatedAt.Compare(a.CreatedAt) })
	s.render(w, r, status, "me_tokens", page{V: v, Title: "My access tokens", Error: msg, Form: form,
		Data: myTokens{Tokens: pats, Now: s.cfg.Now(), MaxDays: int(admin.DefaultPATLimits.Max / (24 * time.Hour))}})
}

func (s *Server) myTokenCreate(w http.ResponseWriter, r *http.Request, v *visit) {
	f := r.PostForm
	name := strings.TrimSpace(f.Get("name"))
	if name == "" {
		s.renderMyTokens(w, r, v, http.StatusBadRequest, "Give the token a name, so you can recognize it in the list.", f)
		return
	}
	days, err := strconv.Atoi(strings.TrimSpace(f.Get("days")))
	if err != nil || days < 1 {
		s.renderMyTokens(w, r, v, http.StatusBadRequest, "The expiry must be a whole number of days, at least 1.", f)
		return
	}
	if days > 100000 {
		days = 100000 // the service refuses anything past the maximum; keep the product in range
	}
	tok, pat, err := s.cfg.Admin.CreateOwnPAT(r.Context(), v.actor(), admin.PATOptions{Name: name, TTL: time.Duration(days) * 24 * time.Hour})
	if err != nil {
		st, m := s.failure(r, err)
		s.renderMyTokens(w, r, v, st, m, f)
		return
	}
	s.done(w, r, "/gate/me/tokens", flash{
		Message: "Created the token " + strconv.Quote(pat.Name) + ", valid until " + pat.ExpiresAt.UTC().Format("2006-01-02") + ".",
		Secret:  tok,
		Lines:   "export MLFLOW_TRACKING_URI=" + s.cfg.Issuer + "\nexport MLFLOW_TRACKING_TOKEN=" + tok,
	})
}

func (s *Server) myTokenRevoke(w http.ResponseWriter, r *http.Request, v *visit) {
	if err := s.cfg.Admin.RevokeOwnPAT(r.Context(), v.actor(), r.PathValue("id")); err != nil {
		st, m := s.failure(r, err)
		s.renderMyTokens(w, r, v, st, m, nil)
		return
	}
	s.done(w, r, "/gate/me/tokens", flash{Message: "Revoked the token: the next call made with it is refused."})
}

type mySessions struct {
	Sessions []storage.SessionListing
	Current  string
	Now      time.Time
}

func (s *Server) mySessionsPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderMySessions(w, r, v, http.StatusOK, "")
}

func (s *Server) renderMySessions(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string) {
	v.Section = "me"
	list, err := s.cfg.Admin.ListOwnSessions(r.Context(), v.actor())
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	s.render(w, r, status, "me_sessions", page{V: v, Title: "My sessions and devices", Error: msg,
		Data: mySessions{Sessions: list, Current: v.Session.ID, Now: s.cfg.Now()}})
}

func (s *Server) mySessionRevoke(w http.ResponseWriter, r *http.Request, v *visit) {
	id := r.PathValue("id")
	if err := s.cfg.Admin.RevokeOwnSession(r.Context(), v.actor(), id); err != nil {
		st, m := s.failure(r, err)
		s.renderMySessions(w, r, v, st, m)
		return
	}
	if id == v.Session.ID {
		http.Redirect(w, r, "/oauth/login?return_to=%2Fgate%2Fme", http.StatusSeeOther)
		return
	}
	s.done(w, r, "/gate/me/sessions", flash{Message: "Ended the session: it can no longer be used."})
}

func (s *Server) myPasswordPage(w http.ResponseWriter, r *http.Request, v *visit) {
	v.Section = "me"
	s.render(w, r, http.StatusOK, "me_password", page{V: v, Title: "Change my password"})
}

func (s *Server) myPasswordChange(w http.ResponseWriter, r *http.Request, v *visit) {
	v.Section = "me"
	f := r.PostForm
	again := func(status int, msg string) {
		s.render(w, r, status, "me_password", page{V: v, Title: "Change my password", Error: msg})
	}
	cur, next, repeat := f.Get("current_password"), f.Get("new_password"), f.Get("repeat_password")
	switch {
	case cur == "":
		again(http.StatusBadRequest, "Enter your current password.")
		return
	case next == "":
		again(http.StatusBadRequest, "Enter a new password.")
		return
	case next != repeat:
		again(http.StatusBadRequest, "The new password and its repetition differ.")
		return
	}
	if msg := s.cfg.Sessions.Reauthenticate(r, v.Visit, cur); msg != "" {
		again(http.StatusUnauthorized, msg)
		return
	}
	if err := s.cfg.Admin.ChangeOwnPassword(r.Context(), v.actor(), next, v.Session.ID); err != nil {
		st, m := s.failure(r, err)
		again(st, m)
		return
	}
	s.done(w, r, "/gate/me", flash{Message: "Changed your password. Your other sessions and devices have been signed out."})
}
