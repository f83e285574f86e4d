ALTER TABLE account_links DROP COLUMN payload;
ALTER TABLE identities DROP COLUMN keep_in_touch_email;
ALTER TABLE clients DROP COLUMN open_to_alumni;
