-- Every write to a client's row gives it a new revision. An instance that keeps a client
-- in memory (the client_credentials grant) stores a token only if the row still has the
-- revision it read, checked in the commit that stores the token: a secret changed or a
-- client removed by another instance or by the command line is refused at once.
-- SQLite has no sequences: a random 64-bit value, new at every write, serves (a client
-- removed and registered again under its id never gets its old revision back).
ALTER TABLE clients ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
UPDATE clients SET revision = random();
CREATE TRIGGER clients_revision_on_insert AFTER INSERT ON clients FOR EACH ROW
BEGIN
    UPDATE clients SET revision = random() WHERE id = NEW.id;
END;
-- The trigger's own UPDATE changes the revision, so it does not fire again.
CREATE TRIGGER clients_revision_on_update AFTER UPDATE ON clients FOR EACH ROW
WHEN NEW.revision = OLD.revision
BEGIN
    UPDATE clients SET revision = random() WHERE id = NEW.id;
END;
