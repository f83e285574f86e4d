DROP TRIGGER clients_revision_on_update;
DROP TRIGGER clients_revision_on_insert;
ALTER TABLE clients DROP COLUMN revision;
