-- The MLflow API has its own scope, "mlflow": only access tokens that carry
-- it open the API, and only clients whose scopes include it can get it. The
-- clients that already used the API keep it: the built-in command-line client
-- and confidential clients with the client_credentials grant (service
-- clients). Other clients (another application's logins) do not get it.
UPDATE clients SET scopes = array_append(scopes, 'mlflow')
WHERE NOT ('mlflow' = ANY (scopes))
  AND (id = 'mlflow-gate-cli' OR (NOT public AND 'client_credentials' = ANY (grant_types)));
