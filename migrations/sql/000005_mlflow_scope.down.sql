-- Without the scope check every access token opens the API again; the scope
-- itself goes from every client.
UPDATE clients SET scopes = array_remove(scopes, 'mlflow') WHERE 'mlflow' = ANY (scopes);
