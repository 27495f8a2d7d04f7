package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// registerUsers wires the admin pages for users.
func (s *Server) registerUsers() {
	s.handle("GET /gate/admin/users", s.usersPage)
	s.handle("GET /gate/admin/new-user", s.newUserPage)
	s.handle("POST /gate/admin/users", s.userCreate)
	s.handle("GET /gate/admin/users/{name}", s.userPage)
	s.handle("POST /gate/admin/users/{name}/roles", s.userGrant)
	s.handle("POST /gate/admin/users/{name}/roles/{role}/revoke", s.userRevoke)
	s.handle("POST /gate/admin/users/{name}/disable", s.userDisable)
	s.handle("POST /gate/admin/users/{name}/enable", s.userEnable)
	s.handle("POST /gate/admin/users/{name}/password", s.userPassword)
}

const usersPerPage = 50

type usersView struct {
	Users []storage.UserListing
	Query string
	// Next is the link to the following page, "" on the last.
	Next string
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, v *visit) {
	v.Section = "admin"
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 128 {
		s.render(w, r, http.StatusBadRequest, "admin_users", page{V: v, Title: "Users", Error: "Search for at most 128 characters."})
		return
	}
	list, more, err := s.cfg.Admin.SearchUsers(r.Context(), v.actor(), q, r.URL.Query().Get("after"), usersPerPage)
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	view := usersView{Users: list, Query: q}
	if more {
		view.Next = "/gate/admin/users?" + url.Values{"q": {q}, "after": {list[len(list)-1].Username}}.Encode()
	}
	s.render(w, r, http.StatusOK, "admin_users", page{V: v, Title: "Users", Data: view})
}

type newUserView struct{ Roles []storage.Role }

func (s *Server) newUserPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderNewUser(w, r, v, http.StatusOK, "", url.Values{"roles": {storage.RoleDefault}, "password_mode": {"generate"}})
}

func (s *Server) renderNewUser(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string, form url.Values) {
	v.Section = "admin"
	roles, err := s.cfg.Admin.ListRoles(r.Context(), v.actor())
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	s.render(w, r, status, "admin_user_new", page{V: v, Title: "New user", Error: msg, Form: form, Data: newUserView{Roles: roles}})
}

// newPassword is an initial or reset password: 24 characters from 18 random bytes.
func newPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// passwordFrom reads a form's choice between a generated password and a typed one.
func passwordFrom(f url.Values) (pw string, generated bool, msg string) {
	if f.Get("password_mode") != "type" {
		return newPassword(), true, ""
	}
	pw = f.Get("password")
	if pw == "" {
		return "", false, "Type the password, or choose to generate one."
	}
	return pw, false, ""
}

func (s *Server) userCreate(w http.ResponseWriter, r *http.Request, v *visit) {
	f := r.PostForm
	f.Del("password") // never sent back to the browser
	name := strings.TrimSpace(r.PostForm.Get("username"))
	if name == "" {
		s.renderNewUser(w, r, v, http.StatusBadRequest, "Give the user a name.", f)
		return
	}
	roles := f["roles"]
	for _, role := range roles {
		if role == authz.RoleAdmin {
			if msg := s.confirm(r, v); msg != "" {
				s.renderNewUser(w, r, v, http.StatusUnauthorized, msg, f)
				return
			}
		}
	}
	pw, generated, msg := passwordFrom(r.PostForm)
	if msg != "" {
		s.renderNewUser(w, r, v, http.StatusBadRequest, msg, f)
		return
	}
	u, err := s.cfg.Admin.AddUser(r.Context(), v.actor(), name, pw, storage.Profile{}, roles)
	if err != nil {
		st, m := s.failure(r, err)
		s.renderNewUser(w, r, v, st, m, f)
		return
	}
	fl := flash{Message: "Created the user " + u.Username + "."}
	if generated {
		fl.Message += " Give them this initial password; they can change it on their own page."
		fl.Secret = pw
	}
	s.done(w, r, "/gate/admin/users/"+url.PathEscape(u.Username), fl)
}

type userView struct {
	User      storage.User
	Roles     []storage.Role // every role, for the grant form
	Grantable []string
	Self      bool
}

func (s *Server) userPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderUser(w, r, v, r.PathValue("name"), http.StatusOK, "")
}

func (s *Server) renderUser(w http.ResponseWriter, r *http.Request, v *visit, name string, status int, msg string) {
	v.Section = "admin"
	u, err := s.cfg.Admin.User(r.Context(), v.actor(), name)
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	roles, err := s.cfg.Admin.ListRoles(r.Context(), v.actor())
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	view := userView{User: u, Roles: roles, Self: strings.EqualFold(u.Username, v.User.Username)}
	for _, role := range roles {
		held := false
		for _, h := range u.Roles {
			held = held || h == role.Name
		}
		if !held {
			view.Grantable = append(view.Grantable, role.Name)
		}
	}
	s.render(w, r, status, "admin_user", page{V: v, Title: "User " + u.Username, Error: msg, Data: view})
}

// userAction runs op for the user named in the path and returns to their page
// with done, or re-renders it with the refusal.
func (s *Server) userAction(w http.ResponseWriter, r *http.Request, v *visit, done string, op func(name string) error) {
	name := r.PathValue("name")
	if err := op(name); err != nil {
		st, m := s.failure(r, err)
		s.renderUser(w, r, v, name, st, m)
		return
	}
	s.done(w, r, "/gate/admin/users/"+url.PathEscape(name), flash{Message: done})
}

func (s *Server) userGrant(w http.ResponseWriter, r *http.Request, v *visit) {
	role := r.PostForm.Get("role")
	if role == "" {
		s.renderUser(w, r, v, r.PathValue("name"), http.StatusBadRequest, "Choose a role to grant.")
		return
	}
	if role == authz.RoleAdmin {
		if msg := s.confirm(r, v); msg != "" {
			s.renderUser(w, r, v, r.PathValue("name"), http.StatusUnauthorized, msg)
			return
		}
	}
	s.userAction(w, r, v, "Granted "+role+".", func(name string) error {
		return s.cfg.Admin.GrantRole(r.Context(), v.actor(), role, name)
	})
}

func (s *Server) userRevoke(w http.ResponseWriter, r *http.Request, v *visit) {
	role := r.PathValue("role")
	s.userAction(w, r, v, "Revoked "+role+".", func(name string) error {
		return s.cfg.Admin.RevokeRole(r.Context(), v.actor(), role, name)
	})
}

func (s *Server) userDisable(w http.ResponseWriter, r *http.Request, v *visit) {
	s.userAction(w, r, v, "Disabled the user: their sessions, refresh tokens and access tokens have ended.", func(name string) error {
		return s.cfg.Admin.SetDisabled(r.Context(), v.actor(), name, true)
	})
}

func (s *Server) userEnable(w http.ResponseWriter, r *http.Request, v *visit) {
	s.userAction(w, r, v, "Enabled the user: they can sign in again.", func(name string) error {
		return s.cfg.Admin.SetDisabled(r.Context(), v.actor(), name, false)
	})
}

func (s *Server) userPassword(w http.ResponseWriter, r *http.Request, v *visit) {
	name := r.PathValue("name")
	if !strings.EqualFold(name, v.User.Username) {
		if msg := s.confirm(r, v); msg != "" {
			s.renderUser(w, r, v, name, http.StatusUnauthorized, msg)
			return
		}
	}
	pw, generated, msg := passwordFrom(r.PostForm)
	if msg != "" {
		s.renderUser(w, r, v, name, http.StatusBadRequest, msg)
		return
	}
	if err := s.cfg.Admin.SetPassword(r.Context(), v.actor(), name, pw); err != nil {
		st, m := s.failure(r, err)
		s.renderUser(w, r, v, name, st, m)
		return
	}
	fl := flash{Message: "Reset the password of " + name + "; their sessions and refresh tokens have ended."}
	if generated {
		fl.Secret = pw
	}
	s.done(w, r, "/gate/admin/users/"+url.PathEscape(name), fl)
}
