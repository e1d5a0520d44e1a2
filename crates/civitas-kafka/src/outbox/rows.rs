//! The outbox's SQL: one statement per operation, in the dialect both SQLite and PostgreSQL
//! accept (numbered placeholders, `BIGINT` epoch times, headers as JSON text).

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{AnyPool, Row};

use super::Counters;
use crate::record::Record;

/// Rows per `INSERT`/`DELETE` statement: 7 values each stays far below SQLite's limit of
/// 32 766 placeholders.
pub(crate) const CHUNK: usize = 500;

/// Epoch milliseconds now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Epoch microseconds now.
pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The last `seq` given out in this process: rows rise strictly within an instance,
/// whichever path stored them (the writer, or a transaction of the caller's).
static LAST_SEQ: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// The next `seq`: the time in microseconds, or one more than the last.
pub(crate) fn next_seq() -> i64 {
    let now = now_us();
    let previous = LAST_SEQ
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(now);
    now.max(previous + 1)
}

/// Makes sure `next_seq` rises above what the table holds (a restart within the same
/// microsecond range, or rows of an instance whose clock is ahead).
pub(crate) fn seq_at_least(seq: i64) {
    LAST_SEQ.fetch_max(seq, Ordering::SeqCst);
}

/// One stored row.
pub(crate) struct Stored {
    pub id: String,
    pub seq: i64,
    pub record: Record,
    /// When it was stored (epoch ms): the record's timestamp, so that an event delayed by
    /// an outage still carries its own time.
    pub kept_at: i64,
}

/// A record to store, with its id and its place in the order.
pub(crate) struct ToStore {
    pub id: String,
    pub seq: i64,
    pub record: Record,
}

/// `$first, $first+1, …` for `count` values.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes `rows`, stored at `kept_at` (epoch ms), all or none: one statement when they fit
/// in one (a statement is atomic by itself: no BEGIN and COMMIT round trips), else one
/// transaction.
pub(crate) async fn insert(
    pool: &AnyPool,
    rows: &[ToStore],
    kept_at: i64,
) -> Result<(), sqlx::Error> {
    if rows.len() <= CHUNK {
        return insert_chunk(&mut *pool.acquire().await?, rows, kept_at).await;
    }
    let mut tx = pool.begin().await?;
    for chunk in rows.chunks(CHUNK) {
        insert_chunk(&mut tx, chunk, kept_at).await?;
    }
    tx.commit().await
}

pub(crate) async fn insert_chunk(
    conn: &mut sqlx::AnyConnection,
    chunk: &[ToStore],
    kept_at: i64,
) -> Result<(), sqlx::Error> {
    let values = (0..chunk.len())
        .map(|i| format!("({})", placeholders(i * 7 + 1, 7)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO kafka_outbox (id, seq, topic, record_key, headers, payload, kept_at) \
         VALUES {values}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in chunk {
        let headers = serde_json::to_string(&row.record.header_pairs())
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        query = query
            .bind(row.id.clone())
            .bind(row.seq)
            .bind(row.record.topic.clone())
            // PostgreSQL's TEXT takes no NUL; a key is ours but its object id is a caller's.
            .bind(
                row.record
                    .key
                    .as_deref()
                    .map(|k| k.replace('\0', "\u{FFFD}")),
            )
            .bind(headers)
            .bind(row.record.payload.clone())
            .bind(kept_at);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// The oldest undelivered rows, in order, at most `limit`.
pub(crate) async fn pending(pool: &AnyPool, limit: usize) -> Result<Vec<Stored>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, seq, topic, record_key, headers, payload, kept_at FROM kafka_outbox \
         ORDER BY seq, id LIMIT $1",
    )
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    let mut stored = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("id")?;
        let headers: String = row.try_get("headers")?;
        let headers: Vec<(String, String)> = match serde_json::from_str(&headers) {
            Ok(headers) => headers,
            Err(error) => {
                // Only a hand-edited row gets here: sent without headers rather than never.
                tracing::error!(%id, %error, "an outbox row's headers are not a JSON list of pairs; sent without them");
                Vec::new()
            }
        };
        let record = Record::new(
            row.try_get::<String, _>("topic")?,
            row.try_get::<Option<String>, _>("record_key")?,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            row.try_get::<Vec<u8>, _>("payload")?,
        );
        stored.push(Stored {
            id,
            seq: row.try_get("seq")?,
            record,
            kept_at: row.try_get("kept_at")?,
        });
    }
    Ok(stored)
}

/// Deletes delivered rows; returns how many.
pub(crate) async fn remove(pool: &AnyPool, ids: &[String]) -> Result<u64, sqlx::Error> {
    let mut removed = 0;
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "DELETE FROM kafka_outbox WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.clone());
        }
        removed += query.execute(pool).await?.rows_affected();
    }
    Ok(removed)
}

/// Counts the undelivered rows, their bytes and the oldest one's age into `counters`.
pub(crate) async fn recount(pool: &AnyPool, counters: &Counters) -> Result<(), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(payload)), 0) AS bytes, \
         COALESCE(MIN(kept_at), 0) AS oldest FROM kafka_outbox",
    )
    .fetch_one(pool)
    .await?;
    counters
        .stored_backlog
        .store(row.try_get::<i64, _>("n")?, Ordering::Relaxed);
    counters
        .stored_backlog_bytes
        .store(row.try_get::<i64, _>("bytes")?, Ordering::Relaxed);
    counters
        .oldest_ms
        .store(row.try_get::<i64, _>("oldest")?, Ordering::Relaxed);
    Ok(())
}

/// The highest `seq` stored, so that a restarted instance keeps rising.
pub(crate) async fn last_seq(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM kafka_outbox")
        .fetch_one(pool)
        .await
}

/// Takes or renews the relay lease for `owner` until `ttl` from now; `true` when held.
pub(crate) async fn lease(pool: &AnyPool, owner: &str, ttl: Duration) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    let changed = sqlx::query(
        "INSERT INTO kafka_outbox_relay (name, owner, expires_at) VALUES ('relay', $1, $2) \
         ON CONFLICT (name) DO UPDATE SET owner = $1, expires_at = $2 \
         WHERE kafka_outbox_relay.owner = $1 OR kafka_outbox_relay.expires_at < $3",
    )
    .bind(owner)
    .bind(until)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Gives the lease up at shutdown, so another instance takes over at once.
pub(crate) async fn release(pool: &AnyPool, owner: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM kafka_outbox_relay WHERE name = 'relay' AND owner = $1")
        .bind(owner)
        .execute(pool)
        .await?;
    Ok(())
}
