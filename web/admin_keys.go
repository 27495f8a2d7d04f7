package web

// registerKeys wires the admin pages for keys.
func (s *Server) registerKeys() {}
