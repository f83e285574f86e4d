-- A client_credentials token has no person, no code and no family: its row need not
-- enter those three indexes. Only rows that hold a value are indexed; every lookup is an
-- equality on the column, which the database knows implies IS NOT NULL, so it still uses
-- them. Three fewer B-tree inserts for each service token.
DROP INDEX access_tokens_code;
DROP INDEX access_tokens_identity;
DROP INDEX access_tokens_family;
CREATE INDEX access_tokens_code ON access_tokens(code_hash) WHERE code_hash IS NOT NULL;
CREATE INDEX access_tokens_identity ON access_tokens(identity_id) WHERE identity_id IS NOT NULL;
CREATE INDEX access_tokens_family ON access_tokens(family_id) WHERE family_id IS NOT NULL;
