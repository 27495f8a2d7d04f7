package web

// registerTokens wires the admin pages for tokens.
func (s *Server) registerTokens() {}
