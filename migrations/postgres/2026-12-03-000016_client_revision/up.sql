-- Every write to a client's row gives it a new revision. An instance that keeps a client
-- in memory (the client_credentials grant) stores a token only if the row still has the
-- revision it read, checked in the commit that stores the token: a secret changed or a
-- client removed by another instance or by the command line is refused at once.
-- Revisions come from one sequence, so a client removed and registered again under its id
-- never gets its old revision back.
CREATE SEQUENCE client_revisions;
ALTER TABLE clients ADD COLUMN revision BIGINT NOT NULL DEFAULT nextval('client_revisions');
ALTER SEQUENCE client_revisions OWNED BY clients.revision;
CREATE FUNCTION clients_new_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := nextval('client_revisions');
    RETURN NEW;
END
$$;
CREATE TRIGGER clients_revision BEFORE UPDATE ON clients FOR EACH ROW
EXECUTE FUNCTION clients_new_revision();
