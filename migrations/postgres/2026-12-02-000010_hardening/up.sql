-- Introspection (RFC 7662) tells a token's holder, and the student number: only services
-- an administrator marks may ask. Resource servers registered before this change (the
-- confidential clients of the client_credentials grant) keep asking.
ALTER TABLE clients ADD COLUMN may_introspect BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE clients SET may_introspect = TRUE
    WHERE is_public = FALSE AND grant_types LIKE '%client_credentials%' AND registration_token_hash IS NULL;
-- Initial access tokens serve once unless made reusable (`etupass client token --reusable`).
ALTER TABLE initial_access_tokens ADD COLUMN reusable BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE initial_access_tokens ADD COLUMN used_at BIGINT;
