-- Resource-level permissions: grants of a level on one experiment, registered model or gateway
-- endpoint (by id or name) or on a name pattern, to a user or a role; and each role's level on
-- resources nobody granted. The route/role table stays the ceiling.
CREATE TABLE resource_grants (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('experiment', 'registered-model', 'gateway-endpoint')),
    user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
    role_id     uuid REFERENCES roles (id) ON DELETE CASCADE,
    resource    text NOT NULL DEFAULT '',
    pattern     text NOT NULL DEFAULT '',
    level       text NOT NULL CHECK (level IN ('none', 'read', 'write', 'delete', 'manage')),
    -- owner: recorded by the gate from MLflow's answer to the create, not by an administrator.
    owner       boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT resource_grants_one_principal CHECK ((user_id IS NULL) <> (role_id IS NULL)),
    CONSTRAINT resource_grants_one_target CHECK ((resource = '') <> (pattern = '')),
    CONSTRAINT resource_grants_role_none CHECK (role_id IS NULL OR level <> 'none'),
    CONSTRAINT resource_grants_lengths CHECK (length(resource) <= 500 AND length(pattern) <= 200)
);
CREATE UNIQUE INDEX resource_grants_key ON resource_grants
    (kind, coalesce(user_id::text, ''), coalesce(role_id::text, ''), resource, pattern);

CREATE TABLE role_default_levels (
    role_id uuid PRIMARY KEY REFERENCES roles (id) ON DELETE CASCADE,
    level   text NOT NULL CHECK (level IN ('none', 'read', 'write', 'delete', 'manage'))
);
-- Upgrading changes nothing: every existing role gets, on every resource, the highest scope
-- the route table gives it anywhere (use counts as read), so the table alone still limits
-- it. Roles the table gives nothing get no default. Admin manages everything.
INSERT INTO role_default_levels (role_id, level)
    SELECT r.id, CASE
        WHEN r.name = 'Admin' OR bool_or('manage' = ANY (p.scopes)) THEN 'manage'
        WHEN bool_or('delete' = ANY (p.scopes)) THEN 'delete'
        WHEN bool_or('write' = ANY (p.scopes)) THEN 'write'
        ELSE 'read' END
    FROM roles r LEFT JOIN permissions p ON p.role_id = r.id
    GROUP BY r.id, r.name
    HAVING r.name = 'Admin' OR count(p.role_id) > 0;
