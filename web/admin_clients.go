package web

// registerClients wires the admin pages for clients.
func (s *Server) registerClients() {}
