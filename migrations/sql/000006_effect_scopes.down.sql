-- Takes back the scopes 000006 added to the seed's resources and Admin's permissions.
WITH add(resource, type, scope) AS (VALUES
    ('artifacts', 'artifact', 'manage'),
    ('model_versions', 'model_version', 'manage'),
    ('review_queues', 'review_queue', 'manage'),
    ('issues', 'issue', 'delete'))
UPDATE permissions p SET scopes = array_remove(p.scopes, add.scope)
FROM add, roles ro
WHERE ro.id = p.role_id AND ro.name = 'Admin' AND p.resource = add.resource
  AND add.scope = ANY (p.scopes) AND cardinality(p.scopes) > 1;

WITH add(resource, type, scope) AS (VALUES
    ('artifacts', 'artifact', 'manage'),
    ('model_versions', 'model_version', 'manage'),
    ('review_queues', 'review_queue', 'manage'),
    ('issues', 'issue', 'delete'))
UPDATE resources r SET scopes = array_remove(r.scopes, add.scope)
FROM add
WHERE r.name = add.resource AND r.type = add.type AND add.scope = ANY (r.scopes)
  AND NOT EXISTS (SELECT 1 FROM permissions p WHERE p.resource = r.name AND add.scope = ANY (p.scopes));

SELECT pg_notify('mlflow_gate_changes', 'policy:');
