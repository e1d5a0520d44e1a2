-- The publisher's outbox (crates/civitas-kafka/src/outbox.rs, DESIGN.md §7 and §8): records
-- not delivered when a service stopped (broker unreachable until the shutdown timeout), sent
-- again at the next start. Headers are a JSON array of [name, value] pairs; times are epoch
-- milliseconds; `id` is a UUIDv7, so (kept_at, id) is the order the records were kept in.
CREATE TABLE kafka_outbox (
    id         TEXT PRIMARY KEY,
    topic      TEXT NOT NULL,
    record_key TEXT,
    headers    TEXT NOT NULL,
    payload    BYTEA NOT NULL,
    kept_at    BIGINT NOT NULL
);
CREATE INDEX kafka_outbox_kept_at ON kafka_outbox (kept_at, id);
