-- Refresh tokens, rotated on every use, grouped in families so that the reuse of a
-- rotated token revokes the whole family (RFC 9700 §4.14).
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    session_id TEXT,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    acr TEXT NOT NULL,
    amr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_identity ON refresh_tokens(identity_id);

-- Access tokens issued by a refresh, so a family's revocation reaches them.
ALTER TABLE access_tokens ADD COLUMN family_id TEXT;
CREATE INDEX access_tokens_family ON access_tokens(family_id);

-- Access tokens as opaque strings (default) or as signed JWTs (RFC 9068), per client.
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'opaque';

-- Back-channel logout (OpenID Connect Back-Channel Logout 1.0): where a relying party
-- wants its logout tokens.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;

-- Pairwise subject identifiers (OIDC Core §8.1): relying parties of different sectors
-- cannot correlate the same person.
ALTER TABLE clients ADD COLUMN subject_type TEXT NOT NULL DEFAULT 'public';
ALTER TABLE clients ADD COLUMN sector TEXT;
