DROP TABLE saml_sessions;
DROP TABLE saml_service_providers;
