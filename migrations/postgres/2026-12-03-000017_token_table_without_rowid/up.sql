-- SQLite only: its access tokens table is rebuilt WITHOUT ROWID (one B-tree per row
-- instead of two). PostgreSQL always keeps a heap and the primary key's index; nothing to
-- do here, the migration exists so both trees keep the same names.
SELECT 1;
