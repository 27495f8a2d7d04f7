-- The provider's second part: the device authorization grant (RFC 8628).
-- Touches only the provider's own tables.

-- One row per /oauth/device_authorization request. The device code is stored
-- as SHA-256; the user code (normalized: upper case, no dash) is unique among
-- rows, and a collision on insert is retried with a new code. Tokens are
-- issued once: the poll that finds the row approved moves it to consumed in
-- one conditional UPDATE.
CREATE TABLE device_authorizations (
    device_code_hash bytea PRIMARY KEY,
    user_code        text NOT NULL UNIQUE,
    client_id        text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes           text[] NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
    user_id          uuid REFERENCES users (id) ON DELETE CASCADE,
    auth_time        timestamptz,
    amr              text[] NOT NULL DEFAULT '{}',
    -- Who asked (shown on the approval page, so a user can tell a phished code).
    remote_addr      text NOT NULL DEFAULT '',
    user_agent       text NOT NULL DEFAULT '',
    poll_interval    integer NOT NULL,
    last_polled_at   timestamptz,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    decided_at       timestamptz
);
CREATE INDEX device_authorizations_expires_idx ON device_authorizations (expires_at);

CREATE INDEX pat_client_idx ON personal_access_tokens (client_id) WHERE client_id IS NOT NULL;
