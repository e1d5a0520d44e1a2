//! The outbox (DESIGN.md §7, §8): where the records a service could not deliver before it
//! stopped are kept, in its database, until the next start sends them.
//!
//! While a service runs, an undeliverable record waits in the publisher's in-memory retry
//! queue. When it stops and the broker is still unreachable at the end of the shutdown
//! timeout, the service takes those records back ([`Publisher::take_undelivered`]) and
//! [`keep`]s them here; the next start [`resend`]s them before it serves anything. A record
//! is claimed by deleting its row (`DELETE … RETURNING`), so two instances sharing one
//! PostgreSQL database never both send it. What a crash (not a shutdown) leaves in memory
//! is still lost.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AnyPool, Row};

use crate::publisher::Publisher;
use crate::record::Record;

/// How many rows one round trip claims when re-sending.
const BATCH: i64 = 1000;

/// Why the outbox could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("the outbox table could not be {action}")]
    Database {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("a kept record's headers are not a JSON list of [name, value] pairs")]
    Headers(#[source] serde_json::Error),
}

/// Writes `records` to the outbox, in order, in one transaction.
pub async fn keep(pool: &AnyPool, records: &[Record]) -> Result<(), OutboxError> {
    let written = |source| OutboxError::Database {
        action: "written",
        source,
    };
    let kept_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut tx = pool.begin().await.map_err(written)?;
    for record in records {
        let headers =
            serde_json::to_string(&record.header_pairs()).map_err(OutboxError::Headers)?;
        sqlx::query(
            "INSERT INTO kafka_outbox (id, topic, record_key, headers, payload, kept_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&record.topic)
        .bind(record.key.as_deref())
        .bind(headers)
        .bind(record.payload.as_slice())
        .bind(kept_at)
        .execute(&mut *tx)
        .await
        .map_err(written)?;
    }
    tx.commit().await.map_err(written)
}

/// Hands every kept record to `publisher`, oldest first, and removes it from the outbox;
/// returns how many. From then on the records are the publisher's, like any other.
pub async fn resend(pool: &AnyPool, publisher: &Publisher) -> Result<usize, OutboxError> {
    let mut sent = 0;
    loop {
        let rows = sqlx::query(
            "DELETE FROM kafka_outbox WHERE id IN \
             (SELECT id FROM kafka_outbox ORDER BY kept_at, id LIMIT $1) \
             RETURNING id, topic, record_key, headers, payload, kept_at",
        )
        .bind(BATCH)
        .fetch_all(pool)
        .await
        .map_err(|source| OutboxError::Database {
            action: "read",
            source,
        })?;
        if rows.is_empty() {
            return Ok(sent);
        }
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let column = |source| OutboxError::Database {
                action: "read",
                source,
            };
            let headers: String = row.try_get("headers").map_err(column)?;
            let headers: Vec<(String, String)> =
                serde_json::from_str(&headers).map_err(OutboxError::Headers)?;
            let record = Record::new(
                row.try_get::<String, _>("topic").map_err(column)?,
                row.try_get::<Option<String>, _>("record_key")
                    .map_err(column)?,
                headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                row.try_get::<Vec<u8>, _>("payload").map_err(column)?,
            );
            let order = (
                row.try_get::<i64, _>("kept_at").map_err(column)?,
                row.try_get::<String, _>("id").map_err(column)?,
            );
            claimed.push((order, record));
        }
        // RETURNING gives no order.
        claimed.sort_by(|a, b| a.0.cmp(&b.0));
        sent += claimed.len();
        for (_, record) in claimed {
            publisher.send(record);
        }
    }
}

/// How long shutdown waits for librdkafka to give back the records it still holds.
const TAKE_BACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What [`flush_or_keep`] did with the records the publisher still held.
#[derive(Debug, Default)]
pub struct Shutdown {
    /// Why the flush did not finish in time; `None`: every record was delivered.
    pub flush_error: Option<crate::KafkaError>,
    /// Records taken back from the producer and kept in the outbox for the next start.
    pub kept: usize,
    /// Records lost: not taken back from the producer, or not written to the outbox.
    pub lost: usize,
    /// Why the outbox could not keep the undelivered records.
    pub keep_error: Option<OutboxError>,
}

impl Shutdown {
    /// Nothing was lost (kept records are not lost: the next start sends them).
    pub fn nothing_lost(&self) -> bool {
        self.lost == 0
    }
}

/// The end of a service's publisher: flushes within `timeout`; what the broker has not taken
/// by then is taken back from the producer and kept in the outbox for the next start. `Err`
/// only when the blocking flush panicked.
pub async fn flush_or_keep(
    publisher: Publisher,
    pool: &AnyPool,
    timeout: std::time::Duration,
) -> Result<Shutdown, tokio::task::JoinError> {
    let (flush_error, undelivered, unreturned) =
        tokio::task::spawn_blocking(move || match publisher.flush(timeout) {
            Ok(()) => (None, Vec::new(), 0),
            Err(err) => {
                let undelivered = publisher.take_undelivered(TAKE_BACK_TIMEOUT);
                let left = publisher.stats();
                (Some(err), undelivered, left.in_flight + left.deferred)
            }
        })
        .await?;
    let mut shutdown = Shutdown {
        flush_error,
        lost: unreturned as usize,
        ..Shutdown::default()
    };
    if undelivered.is_empty() {
        return Ok(shutdown);
    }
    match keep(pool, &undelivered).await {
        Ok(()) => shutdown.kept = undelivered.len(),
        Err(err) => {
            shutdown.lost += undelivered.len();
            shutdown.keep_error = Some(err);
        }
    }
    Ok(shutdown)
}
