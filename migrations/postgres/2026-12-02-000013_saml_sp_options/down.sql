ALTER TABLE saml_service_providers DROP COLUMN metadata_certificate;
ALTER TABLE saml_service_providers DROP COLUMN sign_response;
