package web

import (
	"io/fs"
	"net/http"
)

// register wires every page. Each area of the pages registers its own
// routes in its own file.
func (s *Server) register() {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/gate/static/", http.FileServerFS(static))
	s.mux.Handle("GET /gate/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	s.mux.HandleFunc("GET /gate/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, MePath, http.StatusSeeOther)
	})
	s.mux.HandleFunc("/gate/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		v := (*visit)(nil)
		if iv, ok := s.cfg.Sessions.BrowserVisit(r); ok {
			v = s.newVisit(r, iv)
		}
		s.fail(w, r, v, http.StatusNotFound, "There is no such page.")
	})
	s.registerMe()
	s.registerAdminHome()
	s.registerUsers()
	s.registerRoles()
	s.registerPermissions()
	s.registerGrants()
	s.registerClients()
	s.registerTokens()
	s.registerSessions()
	s.registerKeys()
	s.registerAudit()
}
