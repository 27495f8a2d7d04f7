-- The permission table keeps what its YAML form carries: a description per resource, and the
-- order of resources and of permissions. Order matters: the first resource covering a route
-- names it in decisions, and the first permission that allows a route is the rule reported.
-- Touches only the foundation's resources and permissions tables.
ALTER TABLE resources ADD COLUMN description text NOT NULL DEFAULT '';
ALTER TABLE resources ADD COLUMN position integer NOT NULL DEFAULT 0;
ALTER TABLE permissions ADD COLUMN position integer NOT NULL DEFAULT 0;
-- A permission without scopes grants nothing: it is deleted, never stored empty.
ALTER TABLE permissions ADD CONSTRAINT permissions_scopes_nonempty CHECK (cardinality(scopes) > 0);
ALTER TABLE resources ADD CONSTRAINT resources_scopes_nonempty CHECK (cardinality(scopes) > 0);
CREATE INDEX permissions_resource_idx ON permissions (resource);
