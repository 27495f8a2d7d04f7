DROP INDEX IF EXISTS audit_events_denied_idx;
DROP INDEX IF EXISTS audit_events_route_idx;
DROP INDEX IF EXISTS audit_events_client_idx;
DROP INDEX IF EXISTS audit_events_actor_idx;
