-- The shared schema's first migration: a marker so every backend has a history.
-- Components add their tables in later migrations (0002_directory.sql, 0003_saga.sql, …).
CREATE TABLE civitas_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
