-- An SP that wants the whole Response signed, not only the assertion (some SAML libraries
-- check only that signature).
ALTER TABLE saml_service_providers ADD COLUMN sign_response BOOLEAN NOT NULL DEFAULT FALSE;
-- The certificate (base64 DER) its metadata must be signed with, given when it was added:
-- a refresh checks it again.
ALTER TABLE saml_service_providers ADD COLUMN metadata_certificate TEXT;
