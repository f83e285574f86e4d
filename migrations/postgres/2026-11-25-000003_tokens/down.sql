ALTER TABLE clients DROP COLUMN sector;
ALTER TABLE clients DROP COLUMN subject_type;
ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
ALTER TABLE clients DROP COLUMN access_token_format;
DROP INDEX access_tokens_family;
ALTER TABLE access_tokens DROP COLUMN family_id;
DROP TABLE refresh_tokens;
