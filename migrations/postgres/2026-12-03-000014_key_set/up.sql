-- The key set every instance shares (issue 14), sealed under the key-encryption key that
-- stays on disk (`keys/key-encryption.key`): a database dump alone opens nothing.

-- Secrets instances must share: the token secret, the second factor's sealing key, the
-- SAML signing key and certificate. Named once each: the first instance to start
-- inserts them, the others read what it inserted.
CREATE TABLE sealed_secrets (
    name TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- JWT signing keys. A key is published from `published_at`, signs from `signs_from`
-- (never before relying parties' cached JWKS can hold it), stops signing when a newer
-- key of its algorithm starts, and is removed once every token it signed has expired.
-- (alg, generation) is unique: two instances making the first key of an algorithm at
-- the same moment, or two rotations at once, cannot both succeed.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    generation BIGINT NOT NULL,
    public_jwk TEXT NOT NULL,
    sealed_private TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    signs_from BIGINT NOT NULL,
    UNIQUE (alg, generation)
);

-- The key a JWT access token was signed with: retiring a compromised key revokes them.
ALTER TABLE access_tokens ADD COLUMN signing_kid TEXT;
