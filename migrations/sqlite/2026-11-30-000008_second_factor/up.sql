-- Two-factor sign-in. The authenticator's TOTP key must be read back to check codes, so
-- it is sealed (AES-256-GCM, key in keys/second-factor.key), never stored in clear. A row
-- without confirmed_at is an enrolment not yet proven by a code. last_used_step refuses a
-- code used once already (RFC 6238 §5.2).
CREATE TABLE second_factors (
    identity_id TEXT PRIMARY KEY NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_used_step BIGINT
);
-- Ten single-use recovery codes, shown once. About 72 random bits each (16 letters of
-- 23): a SHA-256 digest suffices.
CREATE TABLE recovery_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX recovery_codes_identity ON recovery_codes(identity_id);
