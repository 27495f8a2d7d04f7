package web

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// registerTokens wires the admin page for every personal access token.
func (s *Server) registerTokens() {
	s.handle("GET /gate/admin/tokens", s.tokensPage)
	s.handle("POST /gate/admin/tokens/{id}/revoke", s.tokenRevoke)
}

type tokensView struct {
	Tokens       []storage.PAT
	User, Client string
	Now          time.Time
}

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderTokens(w, r, v, http.StatusOK, "")
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string) {
	v.Section = "admin"
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.PostForm
	}
	f := admin.PATFilter{User: q.Get("user"), Client: q.Get("client")}
	if f.User != "" && f.Client != "" {
		status, msg, f = http.StatusBadRequest, "Filter by a user or by a client, not both.", admin.PATFilter{}
	}
	pats, err := s.cfg.Admin.ListPATs(r.Context(), v.actor(), f)
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	slices.SortStableFunc(pats, func(a, b storage.PAT) int { return b.CreatedAt.Compare(a.CreatedAt) })
	s.render(w, r, status, "admin_tokens", page{V: v, Title: "Personal access tokens", Error: msg,
		Data: tokensView{Tokens: pats, User: f.User, Client: f.Client, Now: s.cfg.Now()}})
}

func (s *Server) tokenRevoke(w http.ResponseWriter, r *http.Request, v *visit) {
	if err := s.cfg.Admin.RevokePAT(r.Context(), v.actor(), r.PathValue("id")); err != nil {
		st, m := s.failure(r, err)
		s.renderTokens(w, r, v, st, m)
		return
	}
	back := "/gate/admin/tokens"
	if u := r.PostForm.Get("user"); u != "" {
		back += "?" + url.Values{"user": {u}}.Encode()
	} else if c := r.PostForm.Get("client"); c != "" {
		back += "?" + url.Values{"client": {c}}.Encode()
	}
	s.done(w, r, back, flash{Message: "Revoked the token: every replica refuses it from now on."})
}
