DROP INDEX IF EXISTS permissions_resource_idx;
ALTER TABLE resources DROP CONSTRAINT IF EXISTS resources_scopes_nonempty;
ALTER TABLE permissions DROP CONSTRAINT IF EXISTS permissions_scopes_nonempty;
ALTER TABLE permissions DROP COLUMN IF EXISTS position;
ALTER TABLE resources DROP COLUMN IF EXISTS position;
ALTER TABLE resources DROP COLUMN IF EXISTS description;
