-- Client authentication with signed assertions (RFC 7523): the client's public keys,
-- inline or by URI (private_key_jwt), or the salt its shared secret is derived from with
-- the server key in keys/ (client_secret_jwt: the secret is never stored, even hashed).
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
ALTER TABLE clients ADD COLUMN secret_salt TEXT;
-- Pushed authorization requests (RFC 9126), required per client when set.
ALTER TABLE clients ADD COLUMN require_par BOOLEAN NOT NULL DEFAULT FALSE;
-- Refresh-token lifetimes per client, in seconds; NULL means the configured default.
ALTER TABLE clients ADD COLUMN refresh_idle_lifetime BIGINT;
ALTER TABLE clients ADD COLUMN refresh_absolute_lifetime BIGINT;
-- RFC 7592: the digest of the registration access token of a dynamically registered client.
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;

-- The address and groups claims.
ALTER TABLE identities ADD COLUMN postal_address TEXT;
ALTER TABLE identities ADD COLUMN group_names TEXT NOT NULL DEFAULT '[]';

-- The claims request parameter (OIDC Core §5.5), carried from the code to the tokens.
ALTER TABLE authorization_codes ADD COLUMN claims TEXT;
ALTER TABLE access_tokens ADD COLUMN claims TEXT;
ALTER TABLE refresh_tokens ADD COLUMN claims TEXT;

-- The jti of every client assertion accepted, until it expires: a replay is refused.
CREATE TABLE used_assertions (
    jti_hash TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

-- RFC 9126: the parameters behind a request_uri, usable until a code is issued from them.
CREATE TABLE pushed_requests (
    uri_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    parameters TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- RFC 8628: a device's pending authorization, found by the device code (polling) and by
-- the user code (typed at /device); both stored as digests.
CREATE TABLE device_grants (
    device_code_hash TEXT PRIMARY KEY NOT NULL,
    user_code_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    interval_secs BIGINT NOT NULL,
    last_polled_at BIGINT,
    status TEXT NOT NULL,
    identity_id TEXT REFERENCES identities(id) ON DELETE CASCADE,
    session_id TEXT,
    auth_time BIGINT,
    acr TEXT,
    amr TEXT
);

-- RFC 7591: what an administrator hands out to allow dynamic client registration.
CREATE TABLE initial_access_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    note TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
