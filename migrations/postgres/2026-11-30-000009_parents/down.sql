ALTER TABLE clients DROP COLUMN app_password_purposes;
ALTER TABLE clients DROP COLUMN open_to_parents;
DROP TABLE parent_links;
