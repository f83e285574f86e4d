-- An SP that wants the whole Response signed, not only the assertion (some SAML libraries check only that signature).
ALTER TABLE saml_service_providers ADD COLUMN sign_response BOOLEAN NOT NULL DEFAULT FALSE;
