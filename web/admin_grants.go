package web

import (
	"net/http"
	"net/url"

	"github.com/mlflow-gate/mlflow-gate/admin"
)

// registerGrants wires the resource permissions page: which experiments,
// registered models and gateway endpoints users and roles may act on, per
// resource (with who can, and why) and per user or role.
func (s *Server) registerGrants() {
	s.handle("GET /gate/admin/grants", s.grantsPage)
	s.handle("POST /gate/admin/grants", s.grantPut)
	s.handle("POST /gate/admin/grants/revoke", s.grantRevoke)
	s.handle("POST /gate/admin/grants/default", s.grantDefault)
}

type grantsView struct {
	Filter  admin.GrantFilter
	Name    string // the resource's name, for pattern grants, when Resource is an id
	List    admin.GrantListing
	WhoCan  []admin.Access
	Asked   bool // a resource was named: WhoCan answers for it
	Kinds   []string
	Levels  []string
	Roles   []string
	Current string // the filter as a query, to come back to
}

func grantFilterOf(q url.Values) admin.GrantFilter {
	return admin.GrantFilter{User: q.Get("user"), Role: q.Get("role"), Kind: q.Get("kind"), Resource: q.Get("resource")}
}

func (f grantsView) query() string {
	q := url.Values{}
	for k, v := range map[string]string{"user": f.Filter.User, "role": f.Filter.Role, "kind": f.Filter.Kind, "resource": f.Filter.Resource, "name": f.Name} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

func (s *Server) grantsPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderGrants(w, r, v, r.URL.Query(), http.StatusOK, "", nil)
}

func (s *Server) renderGrants(w http.ResponseWriter, r *http.Request, v *visit, q url.Values, status int, msg string, form url.Values) {
	v.Section = "admin"
	d := grantsView{Filter: grantFilterOf(q), Name: q.Get("name"),
		Kinds:  []string{"experiment", "registered-model", "gateway-endpoint"},
		Levels: []string{"none", "read", "write", "delete", "manage"}}
	var err error
	if d.List, err = s.cfg.Admin.ListGrants(r.Context(), v.actor(), d.Filter); err != nil {
		s.failPage(w, r, v, err)
		return
	}
	roles, err := s.cfg.Admin.ListRoles(r.Context(), v.actor())
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	for _, role := range roles {
		d.Roles = append(d.Roles, role.Name)
	}
	if d.Filter.Kind != "" && d.Filter.Resource != "" {
		d.Asked = true
		if d.WhoCan, err = s.cfg.Admin.WhoCan(r.Context(), v.actor(), d.Filter.Kind, d.Filter.Resource, d.Name); err != nil {
			st, m := s.failure(r, err)
			status, msg, d.Asked = st, m, false
		}
	}
	d.Current = d.query()
	s.render(w, r, status, "admin_grants", page{V: v, Title: "Resource permissions", Error: msg, Form: form, Data: d})
}

// back is the page to return to after a change: the filter it came from.
func grantsBack(r *http.Request) string {
	if q := r.PostForm.Get("back"); q != "" {
		if _, err := url.ParseQuery(q); err == nil {
			return "/gate/admin/grants?" + q
		}
	}
	return "/gate/admin/grants"
}

func grantInput(f url.Values) admin.GrantInput {
	in := admin.GrantInput{Kind: f.Get("kind"), Resource: f.Get("resource"), Pattern: f.Get("pattern") == "on", Level: f.Get("level")}
	if f.Get("to") == "role" {
		in.Role = f.Get("principal")
	} else {
		in.User = f.Get("principal")
	}
	return in
}

func (s *Server) grantPut(w http.ResponseWriter, r *http.Request, v *visit) {
	in := grantInput(r.PostForm)
	if err := s.cfg.Admin.PutGrant(r.Context(), v.actor(), in); err != nil {
		st, m := s.failure(r, err)
		back, _ := url.ParseQuery(r.PostForm.Get("back"))
		s.renderGrants(w, r, v, back, st, m, r.PostForm)
		return
	}
	who := "user " + in.User
	if in.Role != "" {
		who = "role " + in.Role
	}
	on := in.Kind + " " + in.Resource
	if in.Pattern {
		on = in.Kind + "s matching " + in.Resource
	}
	s.done(w, r, grantsBack(r), flash{Message: sentence(who + " now has " + in.Level + " on " + on + ".")})
}

func (s *Server) grantRevoke(w http.ResponseWriter, r *http.Request, v *visit) {
	in := grantInput(r.PostForm)
	if err := s.cfg.Admin.RevokeGrant(r.Context(), v.actor(), in); err != nil {
		st, m := s.failure(r, err)
		back, _ := url.ParseQuery(r.PostForm.Get("back"))
		s.renderGrants(w, r, v, back, st, m, nil)
		return
	}
	s.done(w, r, grantsBack(r), flash{Message: "Grant removed; running gates follow at once."})
}

func (s *Server) grantDefault(w http.ResponseWriter, r *http.Request, v *visit) {
	role, level := r.PostForm.Get("role"), r.PostForm.Get("level")
	if err := s.cfg.Admin.SetDefaultLevel(r.Context(), v.actor(), role, level); err != nil {
		st, m := s.failure(r, err)
		back, _ := url.ParseQuery(r.PostForm.Get("back"))
		s.renderGrants(w, r, v, back, st, m, r.PostForm)
		return
	}
	s.done(w, r, grantsBack(r), flash{Message: sentence("role " + role + " now has " + level + " on every resource nobody granted it.")})
}
