package web

// registerSessions wires the admin pages for sessions.
func (s *Server) registerSessions() {}
