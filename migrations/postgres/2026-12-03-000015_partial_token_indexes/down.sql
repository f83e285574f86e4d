DROP INDEX access_tokens_code;
DROP INDEX access_tokens_identity;
DROP INDEX access_tokens_family;
CREATE INDEX access_tokens_code ON access_tokens(code_hash);
CREATE INDEX access_tokens_identity ON access_tokens(identity_id);
CREATE INDEX access_tokens_family ON access_tokens(family_id);
