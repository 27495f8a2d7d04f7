package web

// registerPermissions wires the admin pages for permissions.
func (s *Server) registerPermissions() {}
