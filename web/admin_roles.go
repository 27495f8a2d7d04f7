package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// registerRoles wires the admin pages for roles.
func (s *Server) registerRoles() {
	s.handle("GET /gate/admin/roles", s.rolesPage)
	s.handle("POST /gate/admin/roles", s.roleCreate)
	s.handle("GET /gate/admin/roles/{name}", s.rolePage)
	s.handle("POST /gate/admin/roles/{name}/describe", s.roleDescribe)
	s.handle("POST /gate/admin/roles/{name}/delete", s.roleDelete)
}

func (s *Server) rolesPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderRoles(w, r, v, http.StatusOK, "", nil)
}

func (s *Server) renderRoles(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string, form url.Values) {
	v.Section = "admin"
	roles, err := s.cfg.Admin.ListRoles(r.Context(), v.actor())
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	s.render(w, r, status, "admin_roles", page{V: v, Title: "Roles", Error: msg, Form: form, Data: roles})
}

func (s *Server) roleCreate(w http.ResponseWriter, r *http.Request, v *visit) {
	f := r.PostForm
	name, desc := strings.TrimSpace(f.Get("name")), strings.TrimSpace(f.Get("description"))
	if name == "" {
		s.renderRoles(w, r, v, http.StatusBadRequest, "Give the role a name.", f)
		return
	}
	if len(desc) > 200 {
		s.renderRoles(w, r, v, http.StatusBadRequest, "A description may be at most 200 characters.", f)
		return
	}
	role, err := s.cfg.Admin.AddRole(r.Context(), v.actor(), name, desc)
	if err != nil {
		st, m := s.failure(r, err)
		s.renderRoles(w, r, v, st, m, f)
		return
	}
	s.done(w, r, "/gate/admin/roles/"+url.PathEscape(role.Name), flash{Message: "Created the role " + role.Name +
		". It can do nothing until the permission table grants it scopes."})
}

type roleView struct {
	Role    storage.Role
	Members []string
}

func (s *Server) rolePage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderRole(w, r, v, http.StatusOK, "")
}

func (s *Server) renderRole(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string) {
	v.Section = "admin"
	name := r.PathValue("name")
	roles, err := s.cfg.Admin.ListRoles(r.Context(), v.actor())
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	var view roleView
	for _, role := range roles {
		if role.Name == name {
			view.Role = role
		}
	}
	if view.Role.Name == "" {
		s.fail(w, r, v, http.StatusNotFound, "There is no such role.")
		return
	}
	if view.Members, err = s.cfg.Admin.RoleMembers(r.Context(), v.actor(), name); err != nil {
		s.failPage(w, r, v, err)
		return
	}
	s.render(w, r, status, "admin_role", page{V: v, Title: "Role " + name, Error: msg, Data: view})
}

func (s *Server) roleDescribe(w http.ResponseWriter, r *http.Request, v *visit) {
	name := r.PathValue("name")
	if err := s.cfg.Admin.DescribeRole(r.Context(), v.actor(), name, strings.TrimSpace(r.PostForm.Get("description"))); err != nil {
		st, m := s.failure(r, err)
		s.renderRole(w, r, v, st, m)
		return
	}
	s.done(w, r, "/gate/admin/roles/"+url.PathEscape(name), flash{Message: "Saved the description."})
}

func (s *Server) roleDelete(w http.ResponseWriter, r *http.Request, v *visit) {
	name := r.PathValue("name")
	if err := s.cfg.Admin.DeleteRole(r.Context(), v.actor(), name); err != nil {
		st, m := s.failure(r, err)
		s.renderRole(w, r, v, st, m)
		return
	}
	s.done(w, r, "/gate/admin/roles", flash{Message: "Deleted the role " + name + "."})
}
