ALTER TABLE initial_access_tokens DROP COLUMN used_at;
ALTER TABLE initial_access_tokens DROP COLUMN reusable;
ALTER TABLE clients DROP COLUMN may_introspect;
