-- Other university systems (printing, the results service) push per-person attributes
-- through an API, with a client_credentials token of the etupass:attributes scope that
-- only clients an administrator marks may obtain.
ALTER TABLE clients ADD COLUMN attribute_writer BOOLEAN NOT NULL DEFAULT 0;
-- Which attributes a relying party receives as claims (a JSON list of names).
ALTER TABLE clients ADD COLUMN released_attributes TEXT NOT NULL DEFAULT '[]';

CREATE TABLE identity_attributes (
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    value TEXT NOT NULL,
    link TEXT,
    client_id TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (identity_id, name)
);
