package web

// registerRoles wires the admin pages for roles.
func (s *Server) registerRoles() {}
