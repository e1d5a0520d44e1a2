-- The durable outbox (crates/civitas-kafka/src/outbox/, docs/operations.md "Delivery"): every
-- event is written here before the command that caused it is answered, and a relay sends it
-- to Kafka; a row leaves (or, with a history window, is marked delivered) only after the
-- broker acknowledged it.
--
-- `seq` orders the rows (microseconds since the epoch, strictly rising within an instance);
-- rows kept by the previous, shutdown-only outbox get their `kept_at` (milliseconds) scaled.
-- `delivered_at` is NULL until the broker acknowledged the row.
ALTER TABLE kafka_outbox ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE kafka_outbox ADD COLUMN delivered_at BIGINT;
UPDATE kafka_outbox SET seq = kept_at * 1000;
DROP INDEX kafka_outbox_kept_at;
CREATE INDEX kafka_outbox_pending ON kafka_outbox (seq, id) WHERE delivered_at IS NULL;
CREATE INDEX kafka_outbox_delivered ON kafka_outbox (delivered_at) WHERE delivered_at IS NOT NULL;

-- Which instance relays: one at a time per database, while its lease lasts (epoch ms).
CREATE TABLE kafka_outbox_relay (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
