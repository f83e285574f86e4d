CREATE TABLE access_tokens_with_rowid (
    token_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    identity_id TEXT REFERENCES identities(id) ON DELETE CASCADE,
    session_id TEXT,
    code_hash TEXT,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    family_id TEXT,
    claims TEXT,
    signing_kid TEXT
);
INSERT INTO access_tokens_with_rowid
SELECT token_hash, client_id, identity_id, session_id, code_hash, scope, created_at,
       expires_at, revoked_at, family_id, claims, signing_kid
FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_with_rowid RENAME TO access_tokens;
CREATE INDEX access_tokens_code ON access_tokens(code_hash) WHERE code_hash IS NOT NULL;
CREATE INDEX access_tokens_identity ON access_tokens(identity_id) WHERE identity_id IS NOT NULL;
CREATE INDEX access_tokens_family ON access_tokens(family_id) WHERE family_id IS NOT NULL;
