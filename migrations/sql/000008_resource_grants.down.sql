DROP TABLE IF EXISTS role_default_levels;
DROP TABLE IF EXISTS resource_grants;
