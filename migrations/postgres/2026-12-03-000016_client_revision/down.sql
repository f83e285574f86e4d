DROP TRIGGER clients_revision ON clients;
DROP FUNCTION clients_new_revision();
ALTER TABLE clients DROP COLUMN revision;
