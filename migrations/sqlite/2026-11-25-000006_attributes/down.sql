DROP TABLE identity_attributes;
ALTER TABLE clients DROP COLUMN released_attributes;
ALTER TABLE clients DROP COLUMN attribute_writer;
