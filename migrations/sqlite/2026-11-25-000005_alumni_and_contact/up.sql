-- Alumni keep an account, but reach only the relying parties an administrator opened
-- to them (etupass client add --open-to-alumni).
ALTER TABLE clients ADD COLUMN open_to_alumni BOOLEAN NOT NULL DEFAULT 0;

-- The address a person leaves for after their studies ("keep in touch"), set in the
-- personal space.
ALTER TABLE identities ADD COLUMN keep_in_touch_email TEXT;

-- What a link carries besides its purpose: the new personal address of an address change,
-- which takes effect only when the link mailed to that address is followed.
ALTER TABLE account_links ADD COLUMN payload TEXT;
