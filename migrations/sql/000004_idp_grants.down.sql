DROP INDEX IF EXISTS pat_client_idx;
DROP TABLE IF EXISTS device_authorizations;
