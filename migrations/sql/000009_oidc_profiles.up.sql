-- What relying parties other than MLflow expect of an OpenID provider: user profiles for the
-- profile and email scopes, the algorithm each client wants its ID tokens signed with (RS256 unless
-- registered otherwise, as OpenID Connect Dynamic Client Registration says), and the URI a client
-- is told of logouts at (OpenID Connect Back-Channel Logout 1.0).
ALTER TABLE users
    ADD COLUMN email_verified boolean NOT NULL DEFAULT false,
    ADD COLUMN name           text NOT NULL DEFAULT '',
    ADD COLUMN given_name     text NOT NULL DEFAULT '',
    ADD COLUMN family_name    text NOT NULL DEFAULT '',
    ADD CONSTRAINT users_profile_lengths CHECK (length(email) <= 254 AND length(name) <= 200
        AND length(given_name) <= 100 AND length(family_name) <= 100);

ALTER TABLE clients
    ADD COLUMN id_token_alg           text NOT NULL DEFAULT 'RS256' CHECK (id_token_alg IN ('RS256', 'ES256')),
    ADD COLUMN backchannel_logout_uri text NOT NULL DEFAULT '',
    ADD COLUMN updated_at             timestamptz NOT NULL DEFAULT now();

-- The clients a login session gave tokens to: when the session ends, those with a back-channel
-- logout URI are told.
CREATE TABLE session_clients (
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    client_id  text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    PRIMARY KEY (session_id, client_id)
);
CREATE INDEX session_clients_client_idx ON session_clients (client_id);

-- Logout tokens to deliver, written in the transaction that ends a session, so none is lost
-- to a crash; any replica sends them, one replica each (the lease), retrying with backoff.
CREATE TABLE backchannel_logouts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id      uuid NOT NULL,
    user_id         uuid NOT NULL,
    client_id       text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT ''
);
CREATE INDEX backchannel_logouts_due_idx ON backchannel_logouts (next_attempt_at);
