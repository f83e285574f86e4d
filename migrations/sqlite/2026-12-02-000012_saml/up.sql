-- SAML 2.0: the service providers (their metadata as loaded, and what Etupass read of it),
-- and the sessions they received assertions in.
CREATE TABLE saml_service_providers (
    id TEXT PRIMARY KEY NOT NULL,
    entity_id TEXT NOT NULL UNIQUE,
    metadata TEXT NOT NULL,
    -- JSON: the HTTP-POST assertion consumer services.
    consumers TEXT NOT NULL,
    -- JSON list of base64 DER certificates.
    signing_certificates TEXT NOT NULL,
    encryption_certificate TEXT,
    -- JSON: the single logout services (binding, location, response location).
    logout_services TEXT NOT NULL,
    authn_requests_signed BOOLEAN NOT NULL,
    want_assertions_signed BOOLEAN NOT NULL,
    valid_until BIGINT,
    -- JSON list of the attribute names released.
    attributes TEXT NOT NULL,
    open_to_alumni BOOLEAN NOT NULL DEFAULT 0,
    open_to_parents BOOLEAN NOT NULL DEFAULT 0,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    refreshed_at BIGINT NOT NULL
);


-- Who received an assertion in which session, under which NameID and SessionIndex: for
-- single logout, and the personal space's connected applications.
CREATE TABLE saml_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    sp_id TEXT NOT NULL REFERENCES saml_service_providers(id) ON DELETE CASCADE,
    name_id TEXT NOT NULL,
    name_id_format TEXT NOT NULL,
    session_index TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX saml_sessions_session ON saml_sessions (session_id);
CREATE INDEX saml_sessions_identity ON saml_sessions (identity_id, sp_id);
