-- The account lifecycle: activation, recovery, charter, identity theft, mail outbox,
-- audit log and throttling.
ALTER TABLE identities ADD COLUMN phone TEXT;
ALTER TABLE identities ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE identities ADD COLUMN suspended_reason TEXT;
-- When the activation mail of a pending identity is due, and when it went out.
ALTER TABLE identities ADD COLUMN activation_due_at BIGINT;
ALTER TABLE identities ADD COLUMN activation_sent_at BIGINT;
CREATE INDEX identities_activation_due ON identities(activation_due_at);
CREATE INDEX identities_civil ON identities(family_name, birth_date);

-- Single-use links mailed to a person (activation, reset, theft confirmation); hashed.
CREATE TABLE account_links (
    token_hash TEXT PRIMARY KEY NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX account_links_identity ON account_links(identity_id, purpose);

CREATE TABLE charters (
    version BIGINT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL,
    published_at BIGINT NOT NULL
);

CREATE TABLE charter_acceptances (
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    accepted_at BIGINT NOT NULL,
    ip TEXT,
    PRIMARY KEY (identity_id, version)
);

-- Mails, written in the same transaction as the change that causes them.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    not_before BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    claim_id TEXT,
    claimed_until BIGINT,
    sent_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox(sent_at, not_before);

-- Append-only: security events, never updated or deleted by the application.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    identity_id TEXT,
    subject TEXT,
    ip TEXT,
    user_agent TEXT,
    detail TEXT
);
CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_identity ON audit_events(identity_id);

-- Progressive delays per IP and per sign-in name (shared by every instance).
CREATE TABLE throttles (
    key TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
