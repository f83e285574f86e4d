ALTER TABLE clients DROP COLUMN open_to_parents;
DROP TABLE parent_links;
