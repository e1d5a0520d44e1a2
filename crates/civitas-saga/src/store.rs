//! Where sagas live between messages: the `sagas` and `saga_processed_messages` tables
//! (`migrations/0003_saga.sql`), SQLite by default, PostgreSQL at scale, through
//! [`civitas_store`]'s `AnyPool`.
//!
//! Writes are optimistic: a saga is written only over the version it was read at
//! ([`SagaStore::apply`]), in one transaction with the id of the message that caused the
//! change, so a redelivered message is recognised and a concurrent change is retried.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use tokio::sync::Mutex;

use crate::error::SagaError;

use crate::machine::{Saga, SagaStatus};
/// The database URL without its password, for messages.
pub use civitas_store::redact as redact_url;

/// What [`SagaStore::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The new state is stored.
    Stored,
    /// The message's effect was stored before; nothing changed.
    DuplicateMessage,
    /// Someone else changed (or created) the saga first; reload and try again.
    Conflict,
}

/// The saga tables.
#[derive(Debug, Clone)]
pub struct SagaStore {
    pool: AnyPool,
    /// SQLite has one writer: writers of this process take turns here instead of colliding in
    /// SQLite's busy handler, which sleeps (milliseconds) between its retries.
    write_turn: Option<Arc<Mutex<()>>>,
}

fn store_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> SagaError {
    move |source| SagaError::Store { what, source }
}

/// Epoch milliseconds.
pub fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

impl SagaStore {
    /// Opens (and migrates) the database at `url`: `sqlite://…` or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self, SagaError> {
        let pool = civitas_store::connect(url)
            .await
            .map_err(SagaError::OpenStore)?;
        Ok(Self::from_pool(pool))
    }

    /// A store on an already migrated pool; on SQLite this process's writes take turns.
    pub fn from_pool(pool: AnyPool) -> Self {
        Self {
            write_turn: civitas_store::is_sqlite(&pool).then(|| Arc::new(Mutex::new(()))),
            pool,
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    fn decode(row: &AnyRow) -> Result<Saga, SagaError> {
        let saga_id: String = row
            .try_get("saga_id")
            .map_err(store_error("read a saga row"))?;
        let state: String = row
            .try_get("state")
            .map_err(store_error("read a saga row"))?;
        serde_json::from_str(&state).map_err(|source| SagaError::CorruptState { saga_id, source })
    }

    fn decode_all(rows: &[AnyRow]) -> Result<Vec<Saga>, SagaError> {
        rows.iter().map(Self::decode).collect()
    }

    /// The saga with this id.
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "saga_store.load", saga_id = %saga_id))]
    pub async fn load(&self, saga_id: &str) -> Result<Option<Saga>, SagaError> {
        let row = sqlx::query("SELECT saga_id, state FROM sagas WHERE saga_id = $1")
            .bind(saga_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error("load a saga"))?;
        row.as_ref().map(Self::decode).transpose()
    }

    /// The saga of `definition` for this dataset (there is at most one).
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "saga_store.find_by_dataset"))]
    pub async fn find_by_dataset(
        &self,
        definition: &str,
        dataset_id: &str,
    ) -> Result<Option<Saga>, SagaError> {
        let row = sqlx::query(
            "SELECT saga_id, state FROM sagas WHERE definition = $1 AND dataset_id = $2",
        )
        .bind(definition)
        .bind(dataset_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error("find a saga by dataset"))?;
        row.as_ref().map(Self::decode).transpose()
    }

    /// Finds a saga by its id, or by a unique prefix of it, or by dataset id.
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "saga_store.find"))]
    pub async fn find(&self, id: &str) -> Result<Option<Saga>, SagaError> {
        if let Some(saga) = self.load(id).await? {
            return Ok(Some(saga));
        }
        let rows = sqlx::query(
            "SELECT saga_id, state FROM sagas WHERE saga_id LIKE $1 OR dataset_id = $2 \
             ORDER BY created_at DESC LIMIT 2",
        )
        .bind(format!("{id}%"))
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error("find a saga"))?;
        match rows.as_slice() {
            [one] => Self::decode(one).map(Some),
            _ => Ok(None),
        }
    }

    /// Writes `saga` over `previous_version` (`None`: a new saga) and records `message_id`
    /// as processed, in one transaction.
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "saga_store.apply"))]
    pub async fn apply(
        &self,
        previous_version: Option<i64>,
        saga: &Saga,
        message_id: Option<&str>,
    ) -> Result<Applied, SagaError> {
        let state = serde_json::to_string(saga).map_err(|source| SagaError::EncodeState {
            saga_id: saga.saga_id.clone(),
            source,
        })?;
        let _turn = match &self.write_turn {
            Some(turn) => Some(turn.lock().await),
            None => None,
        };
        let mut tx = civitas_store::begin_write(&self.pool)
            .await
            .map_err(store_error("begin a transaction"))?;
        if let Some(message_id) = message_id {
            let inserted = sqlx::query(
                "INSERT INTO saga_processed_messages (message_id, saga_id, processed_at) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(message_id)
            .bind(&saga.saga_id)
            .bind(millis(saga.updated_at))
            .execute(&mut *tx)
            .await
            .map_err(store_error("record a processed message"))?;
            if inserted.rows_affected() == 0 {
                tx.rollback().await.map_err(store_error("roll back"))?;
                return Ok(Applied::DuplicateMessage);
            }
        }
        let written = write(&mut tx, previous_version, saga, &state).await?;
        if !written {
            tx.rollback().await.map_err(store_error("roll back"))?;
            return Ok(Applied::Conflict);
        }
        tx.commit().await.map_err(store_error("commit"))?;
        Ok(Applied::Stored)
    }

    /// Writes several sagas (each over its previous version, `None` for new ones) and records
    /// `message_ids` as processed, all in one transaction: one commit for a whole batch of
    /// messages. Any duplicate message or version conflict rolls everything back.
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "saga_store.apply_batch"))]
    pub async fn apply_batch(
        &self,
        writes: &[(Option<i64>, &Saga)],
        message_ids: &[(&str, &str)],
    ) -> Result<Applied, SagaError> {
        let mut states = Vec::with_capacity(writes.len());
        for (_, saga) in writes {
            states.push(
                serde_json::to_string(saga).map_err(|source| SagaError::EncodeState {
                    saga_id: saga.saga_id.clone(),
                    source,
                })?,
            );
        }
        let _turn = match &self.write_turn {
            Some(turn) => Some(turn.lock().await),
            None => None,
        };
        let mut tx = civitas_store::begin_write(&self.pool)
            .await
            .map_err(store_error("begin a transaction"))?;
        let now = writes
            .first()
            .map(|(_, s)| millis(s.updated_at))
            .unwrap_or_default();
        for (message_id, saga_id) in message_ids {
            let inserted = sqlx::query(
                "INSERT INTO saga_processed_messages (message_id, saga_id, processed_at) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(*message_id)
            .bind(*saga_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error("record a processed message"))?;
            if inserted.rows_affected() == 0 {
                tx.rollback().await.map_err(store_error("roll back"))?;
                return Ok(Applied::DuplicateMessage);
            }
        }
        for ((previous, saga), state) in writes.iter().zip(&states) {
            if !write(&mut tx, *previous, saga, state).await? {
                tx.rollback().await.map_err(store_error("roll back"))?;
                return Ok(Applied::Conflict);
            }
        }
        tx.commit().await.map_err(store_error("commit"))?;
        Ok(Applied::Stored)
    }

    /// Whether a message's effect is already stored.
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "saga_store.is_processed"))]
    pub async fn is_processed(&self, message_id: &str) -> Result<bool, SagaError> {
        let row = sqlx::query("SELECT 1 FROM saga_processed_messages WHERE message_id = $1")
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error("look up a processed message"))?;
        Ok(row.is_some())
    }

    /// Sagas with a deadline at or before `now`, earliest first.
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "saga_store.expired"))]
    pub async fn expired(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Saga>, SagaError> {
        let rows = sqlx::query(
            "SELECT saga_id, state FROM sagas WHERE next_deadline IS NOT NULL AND next_deadline <= $1 \
             ORDER BY next_deadline LIMIT $2",
        )
        .bind(millis(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error("find expired steps"))?;
        Self::decode_all(&rows)
    }

    /// Sagas still running (to resume on start).
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "saga_store.unfinished"))]
    pub async fn unfinished(&self) -> Result<Vec<Saga>, SagaError> {
        let rows = sqlx::query(
            "SELECT saga_id, state FROM sagas \
             WHERE status IN ('PENDING', 'EXECUTING', 'COMPENSATING') ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_error("find unfinished sagas"))?;
        Self::decode_all(&rows)
    }

    /// Finished sagas last changed at or after `since` (their outcome may not have left the
    /// process before a crash).
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "saga_store.finished_since"))]
    pub async fn finished_since(&self, since: DateTime<Utc>) -> Result<Vec<Saga>, SagaError> {
        let rows = sqlx::query(
            "SELECT saga_id, state FROM sagas \
             WHERE status NOT IN ('PENDING', 'EXECUTING', 'COMPENSATING') AND updated_at >= $1 \
             ORDER BY updated_at",
        )
        .bind(millis(since))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error("find recently finished sagas"))?;
        Self::decode_all(&rows)
    }

    /// The newest `limit` sagas, newest first, optionally of one status.
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "saga_store.list"))]
    pub async fn list(
        &self,
        status: Option<SagaStatus>,
        limit: i64,
    ) -> Result<Vec<Saga>, SagaError> {
        let rows = match status {
            Some(status) => sqlx::query(
                "SELECT saga_id, state FROM sagas WHERE status = $1 ORDER BY created_at DESC LIMIT $2",
            )
            .bind(status.as_str())
            .bind(limit),
            None => sqlx::query("SELECT saga_id, state FROM sagas ORDER BY created_at DESC LIMIT $1")
                .bind(limit),
        }
        .fetch_all(&self.pool)
        .await
        .map_err(store_error("list sagas"))?;
        Self::decode_all(&rows)
    }

    /// How many sagas are in each status.
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "saga_store.count_by_status"))]
    pub async fn count_by_status(&self) -> Result<Vec<(String, i64)>, SagaError> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM sagas GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await
                .map_err(store_error("count sagas"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("status")
                        .map_err(store_error("count sagas"))?,
                    r.try_get::<i64, _>("n")
                        .map_err(store_error("count sagas"))?,
                ))
            })
            .collect()
    }

    /// Forgets processed-message ids older than `before`; returns how many.
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "saga_store.prune_processed"))]
    pub async fn prune_processed(&self, before: DateTime<Utc>) -> Result<u64, SagaError> {
        let done = sqlx::query("DELETE FROM saga_processed_messages WHERE processed_at < $1")
            .bind(millis(before))
            .execute(&self.pool)
            .await
            .map_err(store_error("prune processed messages"))?;
        Ok(done.rows_affected())
    }
}

/// Inserts (no previous version) or updates (over `previous`) one saga row; false when the
/// row was not written (someone else was first).
async fn write(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    previous_version: Option<i64>,
    saga: &Saga,
    state: &str,
) -> Result<bool, SagaError> {
    let next_deadline = saga.next_deadline().map(millis);
    let written = match previous_version {
        None => sqlx::query(
            "INSERT INTO sagas (saga_id, definition, dataset_id, status, state, next_deadline, \
                 created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT DO NOTHING",
        )
        .bind(&saga.saga_id)
        .bind(&saga.definition)
        .bind(&saga.dataset_id)
        .bind(saga.status.as_str())
        .bind(state)
        .bind(next_deadline)
        .bind(millis(saga.created_at))
        .bind(millis(saga.updated_at))
        .bind(saga.version)
        .execute(&mut **tx)
        .await
        .map_err(store_error("insert a saga"))?,
        Some(previous) => sqlx::query(
            "UPDATE sagas SET status = $1, state = $2, next_deadline = $3, updated_at = $4, \
                 version = $5 WHERE saga_id = $6 AND version = $7",
        )
        .bind(saga.status.as_str())
        .bind(state)
        .bind(next_deadline)
        .bind(millis(saga.updated_at))
        .bind(saga.version)
        .bind(&saga.saga_id)
        .bind(previous)
        .execute(&mut **tx)
        .await
        .map_err(store_error("update a saga"))?,
    };
    Ok(written.rows_affected() > 0)
}
