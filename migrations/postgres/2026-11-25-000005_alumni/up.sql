-- Alumni keep an account, but reach only the relying parties an administrator opened
-- to them (etupass client add --open-to-alumni).
ALTER TABLE clients ADD COLUMN open_to_alumni BOOLEAN NOT NULL DEFAULT FALSE;
