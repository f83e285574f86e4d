ALTER TABLE clients DROP COLUMN open_to_alumni;
