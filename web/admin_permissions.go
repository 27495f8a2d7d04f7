package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// registerPermissions wires the admin pages for the permission table.
func (s *Server) registerPermissions() {
	s.handle("GET /gate/admin/permissions", s.permissionsPage)
	s.handle("POST /gate/admin/permissions/grants", s.permissionsGrants)
	s.handle("POST /gate/admin/permissions/import", s.permissionsImport)
	s.handle("POST /gate/admin/permissions/test", s.permissionsTest)
	s.handle("GET /gate/admin/permissions/export.yaml", s.permissionsExport)
}

// scopeCell is one offered scope of a resource in the role's grid.
type scopeCell struct {
	Scope string
	Held  bool
}

type resourceRow struct {
	authz.Resource
	// Holders is, per role, the scopes it holds ("Default: read, write").
	Holders []string
	// Cells are the scopes the resource offers, ticked when Role holds them.
	Cells []scopeCell
}

type permissionsView struct {
	Resources []resourceRow
	Roles     []storage.Role
	Role      string // the role whose grants the grid edits
	Preview   *admin.ImportPreview
	Test      *admin.Explanation
}

func (s *Server) permissionsPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderPermissions(w, r, v, http.StatusOK, "", nil, permissionsView{Role: r.URL.Query().Get("role")})
}

// renderPermissions shows the table with view's extras (a preview, a test).
func (s *Server) renderPermissions(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string, form map[string][]string, view permissionsView) {
	v.Section = "admin"
	t, err := s.cfg.Admin.Table(r.Context(), v.actor())
	if err == nil {
		view.Roles, err = s.cfg.Admin.ListRoles(r.Context(), v.actor())
	}
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	if view.Role == "" || !slices.ContainsFunc(view.Roles, func(ro storage.Role) bool { return ro.Name == view.Role }) {
		view.Role = storage.RoleDefault
	}
	for _, res := range t.Resources {
		row := resourceRow{Resource: res}
		held := map[authz.Scope]bool{}
		for _, g := range t.Permissions {
			if g.Resource != res.Name {
				continue
			}
			names := make([]string, len(g.Scopes))
			for i, sc := range g.Scopes {
				names[i] = sc.String()
				if g.Role == view.Role {
					held[sc] = true
				}
			}
			row.Holders = append(row.Holders, g.Role+": "+strings.Join(names, ", "))
		}
		for _, sc := range res.Scopes {
			row.Cells = append(row.Cells, scopeCell{Scope: sc.String(), Held: held[sc]})
		}
		view.Resources = append(view.Resources, row)
	}
	s.render(w, r, status, "admin_permissions", page{V: v, Title: "Permission table", Error: msg, Form: form, Data: view})
}

// permissionsGrants replaces one role's grants with the ticked scopes: the
// whole table is rebuilt and imported, so the edit is compiled, diffed,
// audited and swapped in exactly as `authz import` does.
func (s *Server) permissionsGrants(w http.ResponseWriter, r *http.Request, v *visit) {
	f := r.PostForm
	role := f.Get("role")
	view := permissionsView{Role: role}
	t, err := s.cfg.Admin.Table(r.Context(), v.actor())
	if err != nil {
		st, m := s.failure(r, err)
		s.renderPermissions(w, r, v, st, m, f, view)
		return
	}
	if role == authz.RoleAdmin {
		if msg := s.confirm(r, v); msg != "" {
			s.renderPermissions(w, r, v, http.StatusUnauthorized, msg, f, view)
			return
		}
	}
	want := map[string][]authz.Scope{}
	for _, g := range f["grant"] {
		res, name, ok := strings.Cut(g, "#")
		sc, err := authz.ParseScope(name)
		if !ok || err != nil {
			s.renderPermissions(w, r, v, http.StatusBadRequest, "The form named a scope that does not exist: "+g+".", f, view)
			return
		}
		want[res] = append(want[res], sc)
	}
	next := authz.Table{Resources: t.Resources}
	for _, g := range t.Permissions {
		if g.Role != role {
			next.Permissions = append(next.Permissions, g)
		}
	}
	for _, res := range t.Resources {
		if scopes := want[res.Name]; len(scopes) > 0 {
			next.Permissions = append(next.Permissions, authz.Permission{Role: role, Resource: res.Name, Scopes: scopes})
			delete(want, res.Name)
		}
	}
	for res := range want {
		s.renderPermissions(w, r, v, http.StatusBadRequest, "The form named a resource that does not exist: "+res+".", f, view)
		return
	}
	diff, err := s.cfg.Admin.ImportTable(r.Context(), v.actor(), next)
	if err != nil {
		st, m := s.failure(r, err)
		s.renderPermissions(w, r, v, st, "The table was not changed: "+m, f, view)
		return
	}
	msg := "Nothing changed."
	if len(diff) > 0 {
		msg = "Saved the grants of " + role + ", in force on every replica now: " + strings.Join(diff, "; ") + "."
	}
	s.done(w, r, "/gate/admin/permissions?role="+role, flash{Message: msg})
}

// permissionsImport previews or applies a whole table pasted as YAML.
func (s *Server) permissionsImport(w http.ResponseWriter, r *http.Request, v *visit) {
	f := r.PostForm
	view := permissionsView{Role: f.Get("role")}
	t, err := authz.UnmarshalTableYAML([]byte(f.Get("yaml")))
	if err == nil {
		_, err = authz.Compile(t)
	}
	if err != nil {
		s.renderPermissions(w, r, v, http.StatusBadRequest, "The table was not imported: "+admin.OneLine(err), f, view)
		return
	}
	if f.Get("action") != "import" {
		p, err := s.cfg.Admin.PreviewImport(r.Context(), v.actor(), t)
		if err != nil {
			st, m := s.failure(r, err)
			s.renderPermissions(w, r, v, st, m, f, view)
			return
		}
		view.Preview = &p
		s.renderPermissions(w, r, v, http.StatusOK, "", f, view)
		return
	}
	if msg := s.confirm(r, v); msg != "" {
		s.renderPermissions(w, r, v, http.StatusUnauthorized, msg, f, view)
		return
	}
	diff, err := s.cfg.Admin.ImportTable(r.Context(), v.actor(), t)
	if err != nil {
		st, m := s.failure(r, err)
		s.renderPermissions(w, r, v, st, "The table was not imported: "+m, f, view)
		return
	}
	msg := "Imported the table: nothing changed."
	if len(diff) > 0 {
		msg = "Imported the table, in force on every replica now: " + strings.Join(diff, "; ") + "."
	}
	s.done(w, r, "/gate/admin/permissions", flash{Message: msg})
}

// permissionsTest decides one request as the gate would and shows why. It
// changes nothing; it is a POST only because a body may come with it.
func (s *Server) permissionsTest(w http.ResponseWriter, r *http.Request, v *visit) {
	f := r.PostForm
	view := permissionsView{Role: f.Get("role")}
	user, method := strings.TrimSpace(f.Get("user")), strings.ToUpper(strings.TrimSpace(f.Get("method")))
	target := strings.TrimSpace(f.Get("path"))
	switch {
	case user == "":
		s.renderPermissions(w, r, v, http.StatusBadRequest, "Name the user making the request.", f, view)
		return
	case !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}, method):
		s.renderPermissions(w, r, v, http.StatusBadRequest, "The method is one of GET, HEAD, POST, PUT, PATCH and DELETE.", f, view)
		return
	case !strings.HasPrefix(target, "/"):
		s.renderPermissions(w, r, v, http.StatusBadRequest, "The path starts with /, for example /api/2.0/mlflow/experiments/delete.", f, view)
		return
	}
	in := authz.Input{Method: method, RawPath: target, Header: http.Header{}}
	if p, q, ok := strings.Cut(target, "?"); ok {
		in.RawPath, in.RawQuery = p, q
	}
	if body := f.Get("body"); strings.TrimSpace(body) != "" {
		in.Body = []byte(body)
	}
	x, err := s.cfg.Admin.Explain(r.Context(), v.actor(), user, in)
	if err != nil {
		st, m := s.failure(r, err)
		s.renderPermissions(w, r, v, st, m, f, view)
		return
	}
	view.Test = &x
	s.renderPermissions(w, r, v, http.StatusOK, "", f, view)
}

// permissionsExport downloads the table as the YAML file `authz import` reads
// (the same bytes `authz export` writes).
func (s *Server) permissionsExport(w http.ResponseWriter, r *http.Request, v *visit) {
	t, err := s.cfg.Admin.Table(r.Context(), v.actor())
	var b []byte
	if err == nil {
		b, err = authz.MarshalTableYAML(t)
	}
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/yaml; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="mlflow-gate-permissions.yaml"`)
	_, _ = w.Write(b)
}
