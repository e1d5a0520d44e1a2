-- The durable outbox (crates/civitas-kafka/src/outbox/, docs/operations.md "Delivery
-- guarantees"): every event is written here before the command that caused it is answered,
-- and a relay sends it to Kafka; a row leaves only after the broker acknowledged it.
--
-- `seq` orders the rows (microseconds since the epoch, strictly rising within an instance);
-- rows kept by the previous, shutdown-only outbox get their `kept_at` (milliseconds) scaled.
ALTER TABLE kafka_outbox ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE kafka_outbox SET seq = kept_at * 1000;
DROP INDEX kafka_outbox_kept_at;
CREATE INDEX kafka_outbox_order ON kafka_outbox (seq, id);

-- Which instance relays: one at a time per database, while its lease lasts (epoch ms).
CREATE TABLE kafka_outbox_relay (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- The embedded broker's journal (crates/civitas-kafka/src/journal.rs): `civitas up` copies
-- every record its in-memory broker takes, whoever produced it, and writes the last
-- --history-hours back into the new broker at its next start. Headers are a JSON array of
-- [name, value] pairs; times are epoch milliseconds.
CREATE TABLE broker_journal (
    id           TEXT PRIMARY KEY,
    seq          BIGINT NOT NULL,
    topic        TEXT NOT NULL,
    partition_no BIGINT NOT NULL,
    record_key   BYTEA,
    headers      TEXT NOT NULL,
    payload      BYTEA,
    record_time  BIGINT NOT NULL
);
CREATE INDEX broker_journal_order ON broker_journal (seq);
CREATE INDEX broker_journal_time ON broker_journal (record_time);
