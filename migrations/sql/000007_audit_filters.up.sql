-- Indexes for the admin pages' audit log: each filter walks its index newest first (keyset on id),
-- so a page costs the same on a table of millions of rows. Kept to a few: each one slows the
-- gate's batched audit COPY a little. Refusals are rare, so their partial index costs the COPY almost nothing
-- and keeps "show me what was denied" from walking every allowed row.
CREATE INDEX audit_events_actor_idx ON audit_events (actor, id);
CREATE INDEX audit_events_client_idx ON audit_events (client_id, id) WHERE client_id <> '';
CREATE INDEX audit_events_route_idx ON audit_events (route, id) WHERE route <> '';
CREATE INDEX audit_events_denied_idx ON audit_events (id) WHERE decision = 'deny';
