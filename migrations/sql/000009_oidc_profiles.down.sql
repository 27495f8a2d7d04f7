DROP TABLE IF EXISTS backchannel_logouts;
DROP TABLE IF EXISTS session_clients;

ALTER TABLE clients
    DROP COLUMN IF EXISTS updated_at,
    DROP COLUMN IF EXISTS backchannel_logout_uri,
    DROP COLUMN IF EXISTS id_token_alg;

ALTER TABLE users
    DROP CONSTRAINT IF EXISTS users_profile_lengths,
    DROP COLUMN IF EXISTS family_name,
    DROP COLUMN IF EXISTS given_name,
    DROP COLUMN IF EXISTS name,
    DROP COLUMN IF EXISTS email_verified;
