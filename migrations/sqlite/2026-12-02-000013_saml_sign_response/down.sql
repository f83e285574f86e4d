ALTER TABLE saml_service_providers DROP COLUMN sign_response;
