-- The OpenID provider's own state beyond the foundation: authorization requests with their
-- single-use codes, and what is needed to revoke the tokens a code or a refresh family produced.

-- One row per /oauth/authorize request. The row is bound to the browser that started it
-- (browser_hash = SHA-256 of a random value held in that browser's cookie), and carries the
-- authorization code as a SHA-256 hash once the user is authenticated. The code is consumed
-- with one conditional UPDATE (code_used_at IS NULL), never read-then-write.
CREATE TABLE auth_requests (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id             text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri          text NOT NULL,
    scopes                text[] NOT NULL DEFAULT '{}',
    state                 text NOT NULL DEFAULT '',
    nonce                 text NOT NULL DEFAULT '',
    code_challenge        text NOT NULL DEFAULT '',
    code_challenge_method text NOT NULL DEFAULT '',
    prompt                text[] NOT NULL DEFAULT '{}',
    max_age               integer,
    login_hint            text NOT NULL DEFAULT '',
    browser_hash          bytea NOT NULL,
    user_id               uuid REFERENCES users (id) ON DELETE CASCADE,
    session_id            uuid,
    auth_time             timestamptz,
    amr                   text[] NOT NULL DEFAULT '{}',
    code_hash             bytea UNIQUE,
    code_expires_at       timestamptz,
    code_used_at          timestamptz,
    -- What the code was exchanged for, so that a replay can revoke it (RFC 6749 section 4.1.2).
    refresh_family_id     uuid,
    access_token_id       text NOT NULL DEFAULT '',
    access_expires_at     timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    expires_at            timestamptz NOT NULL,
    CONSTRAINT auth_requests_challenge_method CHECK (code_challenge_method IN ('', 'S256'))
);
CREATE INDEX auth_requests_expires_idx ON auth_requests (expires_at);

-- The access token minted with each refresh token expires at a known time, so that revoking a
-- family can put its access tokens on the revocation list until they expire.
ALTER TABLE refresh_tokens ADD COLUMN access_expires_at timestamptz;

CREATE INDEX revoked_tokens_expires_idx ON revoked_tokens (expires_at);
CREATE INDEX pat_expires_idx ON personal_access_tokens (expires_at);
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX login_attempts_last_idx ON login_attempts (last_failure);
