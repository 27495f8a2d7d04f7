-- Indexes for the admin pages' audit log: each filter walks its index newest first (keyset on id),
-- so a page costs the same on a table of millions of rows. Kept to three: each one slows the
-- gate's batched audit COPY a little.
CREATE INDEX audit_events_actor_idx ON audit_events (actor, id);
CREATE INDEX audit_events_client_idx ON audit_events (client_id, id) WHERE client_id <> '';
CREATE INDEX audit_events_route_idx ON audit_events (route, id) WHERE route <> '';
