package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/idp"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// registerClients wires the admin pages for OpenID clients.
func (s *Server) registerClients() {
	s.handle("GET /gate/admin/clients", s.clientsPage)
	s.handle("GET /gate/admin/new-client", s.newClientPage)
	s.handle("POST /gate/admin/clients", s.clientCreate)
	s.handle("GET /gate/admin/clients/{id}", s.clientPage)
	s.handle("POST /gate/admin/clients/{id}/rotate", s.clientRotate)
	s.handle("POST /gate/admin/clients/{id}/roles", s.clientRoles)
	s.handle("POST /gate/admin/clients/{id}/disable", s.clientDisable)
	s.handle("POST /gate/admin/clients/{id}/enable", s.clientEnable)
	s.handle("POST /gate/admin/clients/{id}/delete", s.clientDelete)
}

// clientKind names what a client is, as the pages offer it.
func clientKind(c storage.Client) string {
	switch {
	case c.Native:
		return "native"
	case c.Public:
		return "public"
	case len(c.GrantTypes) == 1 && c.GrantTypes[0] == idp.GrantClientCredentials:
		return "service"
	}
	return "confidential"
}

type clientRow struct {
	storage.Client
	Kind string
}

func (s *Server) clientsPage(w http.ResponseWriter, r *http.Request, v *visit) {
	v.Section = "admin"
	clients, err := s.cfg.Admin.ListClients(r.Context(), v.actor())
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	rows := make([]clientRow, len(clients))
	for i, c := range clients {
		rows[i] = clientRow{c, clientKind(c)}
	}
	s.render(w, r, http.StatusOK, "admin_clients", page{V: v, Title: "Clients", Data: rows})
}

// grantChoices are the grants the create form offers, in order.
var grantChoices = []string{idp.GrantAuthorizationCode, idp.GrantRefreshToken, idp.GrantDeviceCode, idp.GrantClientCredentials}

// kindGrants are the grants a kind gets when the form names none.
var kindGrants = map[string][]string{
	"confidential": {idp.GrantAuthorizationCode, idp.GrantRefreshToken},
	"public":       {idp.GrantAuthorizationCode, idp.GrantRefreshToken},
	"native":       {idp.GrantAuthorizationCode, idp.GrantRefreshToken, idp.GrantDeviceCode},
	"service":      {idp.GrantClientCredentials},
}

type newClientView struct {
	Roles  []storage.Role
	Grants []string
}

func (s *Server) newClientPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderNewClient(w, r, v, http.StatusOK, "", url.Values{"kind": {"confidential"}})
}

func (s *Server) renderNewClient(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string, form url.Values) {
	v.Section = "admin"
	roles, err := s.cfg.Admin.ListRoles(r.Context(), v.actor())
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	s.render(w, r, status, "admin_client_new", page{V: v, Title: "New client", Error: msg, Form: form,
		Data: newClientView{Roles: roles, Grants: grantChoices}})
}

// lines splits a textarea into its non-empty trimmed lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (s *Server) clientCreate(w http.ResponseWriter, r *http.Request, v *visit) {
	f := r.PostForm
	kind := f.Get("kind")
	defaults, ok := kindGrants[kind]
	if !ok {
		s.renderNewClient(w, r, v, http.StatusBadRequest, "Choose what kind of client this is.", f)
		return
	}
	grants := f["grants"]
	if len(grants) == 0 {
		grants = defaults
	}
	spec := idp.ClientSpec{ID: strings.TrimSpace(f.Get("id")), Name: strings.TrimSpace(f.Get("name")),
		Public: kind == "public" || kind == "native", Native: kind == "native", GrantTypes: grants,
		RedirectURIs: lines(f.Get("redirect_uris")), PostLogoutRedirectURIs: lines(f.Get("post_logout_uris")),
		Roles: f["roles"], API: f.Get("api") == "on", IDTokenAlg: f.Get("id_token_alg"),
		BackchannelLogoutURI: strings.TrimSpace(f.Get("backchannel_logout_uri"))}
	secret, err := s.cfg.Admin.CreateClient(r.Context(), v.actor(), spec)
	if err != nil {
		st, m := s.failure(r, err)
		s.renderNewClient(w, r, v, st, m, f)
		return
	}
	fl := flash{Message: "Created the client " + spec.ID + "."}
	if secret != "" {
		fl.Message += " Give its secret to the application now."
		fl.Secret = secret
	}
	s.done(w, r, "/gate/admin/clients/"+url.PathEscape(spec.ID), fl)
}

type clientView struct {
	Client clientRow
	Roles  []storage.Role
}

func (s *Server) clientPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderClient(w, r, v, http.StatusOK, "")
}

func (s *Server) renderClient(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string) {
	v.Section = "admin"
	id := r.PathValue("id")
	clients, err := s.cfg.Admin.ListClients(r.Context(), v.actor())
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	var view clientView
	for _, c := range clients {
		if c.ID == id {
			view.Client = clientRow{c, clientKind(c)}
		}
	}
	if view.Client.ID == "" {
		s.fail(w, r, v, http.StatusNotFound, "There is no such client.")
		return
	}
	if view.Roles, err = s.cfg.Admin.ListRoles(r.Context(), v.actor()); err != nil {
		s.failPage(w, r, v, err)
		return
	}
	s.render(w, r, status, "admin_client", page{V: v, Title: "Client " + id, Error: msg, Data: view})
}

// clientAction runs op on the client named in the path, then returns to its
// page (or to target) with f, or re-renders the page with the refusal.
func (s *Server) clientAction(w http.ResponseWriter, r *http.Request, v *visit, target string, f flash, op func(id string) (string, error)) {
	id := r.PathValue("id")
	secret, err := op(id)
	if err != nil {
		st, m := s.failure(r, err)
		s.renderClient(w, r, v, st, m)
		return
	}
	if target == "" {
		target = "/gate/admin/clients/" + url.PathEscape(id)
	}
	f.Secret = secret
	s.done(w, r, target, f)
}

func (s *Server) clientRotate(w http.ResponseWriter, r *http.Request, v *visit) {
	s.clientAction(w, r, v, "", flash{Message: "Rotated the secret: the old one no longer works."}, func(id string) (string, error) {
		return s.cfg.Admin.RotateClientSecret(r.Context(), v.actor(), id)
	})
}

func (s *Server) clientRoles(w http.ResponseWriter, r *http.Request, v *visit) {
	roles := r.PostForm["roles"]
	for _, role := range roles {
		if role == "Admin" {
			if msg := s.confirm(r, v); msg != "" {
				s.renderClient(w, r, v, http.StatusUnauthorized, msg)
				return
			}
		}
	}
	s.clientAction(w, r, v, "", flash{Message: "Saved the client's roles."}, func(id string) (string, error) {
		return "", s.cfg.Admin.SetClientRoles(r.Context(), v.actor(), id, roles)
	})
}

func (s *Server) clientDisable(w http.ResponseWriter, r *http.Request, v *visit) {
	s.clientAction(w, r, v, "", flash{Message: "Disabled the client: its tokens are refused and it can get no new ones."}, func(id string) (string, error) {
		return "", s.cfg.Admin.SetClientDisabled(r.Context(), v.actor(), id, true)
	})
}

func (s *Server) clientEnable(w http.ResponseWriter, r *http.Request, v *visit) {
	s.clientAction(w, r, v, "", flash{Message: "Enabled the client."}, func(id string) (string, error) {
		return "", s.cfg.Admin.SetClientDisabled(r.Context(), v.actor(), id, false)
	})
}

func (s *Server) clientDelete(w http.ResponseWriter, r *http.Request, v *visit) {
	if msg := s.confirm(r, v); msg != "" {
		s.renderClient(w, r, v, http.StatusUnauthorized, msg)
		return
	}
	s.clientAction(w, r, v, "/gate/admin/clients", flash{Message: "Deleted the client: its tokens stopped working."}, func(id string) (string, error) {
		return "", s.cfg.Admin.RemoveClient(r.Context(), v.actor(), id)
	})
}
