-- Foundation schema: identities, roles, OIDC clients, keys, tokens, permissions, audit.
-- Secrets are never stored in the clear: passwords as argon2id PHC strings, high-entropy tokens
-- (refresh tokens, PATs, client secrets) as SHA-256, private keys encrypted with a derived key.

CREATE TABLE users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username        text NOT NULL,
    email           text NOT NULL DEFAULT '',
    password_hash   text NOT NULL DEFAULT '',
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_username_shape CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$')
);
-- Usernames are unique regardless of case so "Alice" cannot shadow "alice".
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE roles (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT roles_name_shape CHECK (name ~ '^[A-Za-z][A-Za-z0-9_-]{0,63}$')
);

CREATE TABLE user_roles (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id    uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role_idx ON user_roles (role_id);

CREATE TABLE clients (
    id            text PRIMARY KEY,
    name          text NOT NULL DEFAULT '',
    -- SHA-256 of a high-entropy secret; NULL for public clients.
    secret_hash   bytea,
    public        boolean NOT NULL,
    native        boolean NOT NULL DEFAULT false,
    grant_types   text[] NOT NULL,
    scopes        text[] NOT NULL DEFAULT '{openid,profile,email,offline_access}',
    builtin       boolean NOT NULL DEFAULT false,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clients_secret_matches_kind CHECK (public = (secret_hash IS NULL))
);

CREATE TABLE client_redirect_uris (
    client_id text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    kind      text NOT NULL CHECK (kind IN ('login', 'post_logout')),
    uri       text NOT NULL,
    PRIMARY KEY (client_id, kind, uri)
);

-- Roles held by a confidential client itself (client-credentials grant).
CREATE TABLE client_roles (
    client_id text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    role_id   uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, role_id)
);

CREATE TABLE signing_keys (
    kid             text PRIMARY KEY,
    alg             text NOT NULL CHECK (alg IN ('ES256', 'RS256')),
    private_key_enc bytea NOT NULL,
    public_jwk      jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    not_before      timestamptz NOT NULL,
    retire_at       timestamptz,
    expires_at      timestamptz,
    revoked_at      timestamptz
);

-- SSO sessions: the browser cookie carries only the id.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    timestamptz NOT NULL,
    amr          text[] NOT NULL DEFAULT '{}',
    user_agent   text NOT NULL DEFAULT '',
    remote_addr  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash        bytea NOT NULL UNIQUE,
    family_id         uuid NOT NULL,
    parent_id         uuid,
    client_id         text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id        uuid,
    scopes            text[] NOT NULL DEFAULT '{}',
    amr               text[] NOT NULL DEFAULT '{}',
    auth_time         timestamptz NOT NULL,
    access_token_id   text NOT NULL DEFAULT '',
    issued_at         timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    family_expires_at timestamptz NOT NULL,
    rotated_at        timestamptz,
    revoked_at        timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (family_expires_at);

CREATE TABLE personal_access_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Exactly one owner: a user, or a confidential service client.
    user_id      uuid REFERENCES users (id) ON DELETE CASCADE,
    client_id    text REFERENCES clients (id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '',
    token_prefix text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT pat_one_owner CHECK ((user_id IS NULL) <> (client_id IS NULL))
);
CREATE INDEX pat_user_idx ON personal_access_tokens (user_id);

-- Revoked access-token ids (jti) that are not yet expired; swept after expiry.
CREATE TABLE revoked_tokens (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);

-- The permission table (UMA-style): resources with URI patterns and scopes, and role -> resource # scopes.
CREATE TABLE resources (
    name       text PRIMARY KEY,
    type       text NOT NULL,
    uris       text[] NOT NULL DEFAULT '{}',
    scopes     text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE permissions (
    role_id  uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    resource text NOT NULL REFERENCES resources (name) ON DELETE CASCADE ON UPDATE CASCADE,
    scopes   text[] NOT NULL,
    PRIMARY KEY (role_id, resource)
);

-- Password-guessing counters shared by every replica (per account and per client address).
CREATE TABLE login_attempts (
    key          text PRIMARY KEY,
    failures     integer NOT NULL DEFAULT 0,
    last_failure timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz
);

CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL DEFAULT '',
    client_id   text NOT NULL DEFAULT '',
    action      text NOT NULL,
    method      text NOT NULL DEFAULT '',
    route       text NOT NULL DEFAULT '',
    resource    text NOT NULL DEFAULT '',
    decision    text NOT NULL DEFAULT '',
    rule        text NOT NULL DEFAULT '',
    status      integer NOT NULL DEFAULT 0,
    latency_us  bigint NOT NULL DEFAULT 0,
    remote_addr text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
