-- A student's parents. The student invites by e-mail (parent_email); following the
-- mailed link creates (or names) the parent's identity, of affiliation `parent`, who
-- signs in with that address. The student may revoke at any time (revoked_at) and
-- decides whether relying parties learn of the link (shared_with_apps).
CREATE TABLE parent_links (
    id TEXT PRIMARY KEY NOT NULL,
    student_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    parent_email TEXT NOT NULL,
    parent_id TEXT REFERENCES identities(id) ON DELETE CASCADE,
    shared_with_apps BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    accepted_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX parent_links_student ON parent_links(student_id);
CREATE INDEX parent_links_parent ON parent_links(parent_id);
-- Parent accounts reach only the relying parties an administrator opens to them (the
-- e-learning platform, say): not the webmail, not the wifi.
ALTER TABLE clients ADD COLUMN open_to_parents BOOLEAN NOT NULL DEFAULT FALSE;
-- The app-password purposes (mail, wifi) a service may check: the mail server checks
-- mail passwords and the RADIUS server wifi ones, no other client any (JSON list).
ALTER TABLE clients ADD COLUMN app_password_purposes TEXT NOT NULL DEFAULT '[]';
