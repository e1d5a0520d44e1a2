-- The saga orchestrator's state (crates/civitas-saga, docs/saga.md).
-- One row per saga instance; `state` is the whole instance as JSON (steps, results,
-- timeline), the other columns are what queries select on. Times are epoch milliseconds.
CREATE TABLE sagas (
    saga_id       TEXT PRIMARY KEY,
    definition    TEXT NOT NULL,
    dataset_id    TEXT NOT NULL,
    status        TEXT NOT NULL,
    state         TEXT NOT NULL,
    -- earliest deadline of a step or compensation in flight; NULL when none
    next_deadline BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    version       BIGINT NOT NULL,
    -- one saga per dataset and definition: a duplicate request never starts a second one
    CONSTRAINT sagas_dataset_unique UNIQUE (definition, dataset_id)
);
CREATE INDEX sagas_next_deadline ON sagas (next_deadline);
CREATE INDEX sagas_updated_at ON sagas (updated_at);

-- Ids of the messages whose effect is stored, so a redelivered one changes nothing.
CREATE TABLE saga_processed_messages (
    message_id   TEXT PRIMARY KEY,
    saga_id      TEXT NOT NULL,
    processed_at BIGINT NOT NULL
);
CREATE INDEX saga_processed_messages_processed_at ON saga_processed_messages (processed_at);
