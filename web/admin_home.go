package web

import "net/http"

func (s *Server) registerAdminHome() {
	s.handle("GET /gate/admin/{$}", func(w http.ResponseWriter, r *http.Request, v *visit) {
		v.Section = "admin"
		s.render(w, r, http.StatusOK, "admin_home", page{V: v, Title: "Administration"})
	})
}
