ALTER TABLE access_tokens DROP COLUMN signing_kid;
DROP TABLE signing_keys;
DROP TABLE sealed_secrets;
