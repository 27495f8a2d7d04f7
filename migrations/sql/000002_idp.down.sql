DROP INDEX IF EXISTS login_attempts_last_idx;
DROP INDEX IF EXISTS sessions_revoked_idx;
DROP INDEX IF EXISTS pat_expires_idx;
DROP INDEX IF EXISTS revoked_tokens_expires_idx;
ALTER TABLE refresh_tokens DROP COLUMN IF EXISTS access_expires_at;
DROP TABLE IF EXISTS auth_requests;
