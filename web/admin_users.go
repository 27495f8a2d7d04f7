package web

// registerUsers wires the admin pages for users.
func (s *Server) registerUsers() {}
