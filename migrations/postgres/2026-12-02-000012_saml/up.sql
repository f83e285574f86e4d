-- SAML 2.0: the service providers (their metadata as loaded, and what Etupass read of it).
CREATE TABLE saml_service_providers (
    id TEXT PRIMARY KEY NOT NULL,
    entity_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    -- JSON: the HTTP-POST assertion consumer services.
    consumers TEXT NOT NULL,
    -- JSON list of base64 DER certificates.
    signing_certificates TEXT NOT NULL,
    encryption_certificate TEXT,
    authn_requests_signed BOOLEAN NOT NULL,
    want_assertions_signed BOOLEAN NOT NULL,
    valid_until BIGINT,
    -- JSON list of the attribute names released.
    attributes TEXT NOT NULL,
    open_to_alumni BOOLEAN NOT NULL DEFAULT FALSE,
    open_to_parents BOOLEAN NOT NULL DEFAULT FALSE,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    refreshed_at BIGINT NOT NULL
);

