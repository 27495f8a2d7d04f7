-- Scope follows effect: some writes now ask for the scope of what their body does (an
-- artifact_location or a model-version source outside the gate's layout is manage, archiving
-- other versions or deleting an issue's metadata is delete, a review queue's new owner is
-- manage, presigned uploads are manage). The seed's resources must offer those scopes and
-- Admin must hold them, or Admin would be refused too. Touches only resources and Admin
-- permissions that still carry the seed's names; a hand-made table is left as it is.
WITH add(resource, type, scope) AS (VALUES
    ('artifacts', 'artifact', 'manage'),
    ('model_versions', 'model_version', 'manage'),
    ('review_queues', 'review_queue', 'manage'),
    ('issues', 'issue', 'delete'))
UPDATE resources r SET scopes = ARRAY(
        SELECT s FROM unnest(r.scopes || add.scope) s
        GROUP BY s ORDER BY array_position('{read,write,delete,manage,use}'::text[], s))
FROM add
WHERE r.name = add.resource AND r.type = add.type AND NOT (add.scope = ANY (r.scopes));

WITH add(resource, type, scope) AS (VALUES
    ('artifacts', 'artifact', 'manage'),
    ('model_versions', 'model_version', 'manage'),
    ('review_queues', 'review_queue', 'manage'),
    ('issues', 'issue', 'delete'))
UPDATE permissions p SET scopes = ARRAY(
        SELECT s FROM unnest(p.scopes || add.scope) s
        GROUP BY s ORDER BY array_position('{read,write,delete,manage,use}'::text[], s))
FROM add, roles ro, resources r
WHERE ro.id = p.role_id AND ro.name = 'Admin' AND p.resource = add.resource
  AND r.name = add.resource AND r.type = add.type AND NOT (add.scope = ANY (p.scopes));

-- Every replica recompiles its policy on this notification.
SELECT pg_notify('mlflow_gate_changes', 'policy:');
