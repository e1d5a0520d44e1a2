//! The embedded broker's journal (docs/operations.md, "The embedded broker's limits and
//! history"): the history of `civitas up` survives a restart.
//!
//! The embedded broker keeps records in memory only. While `up` runs, the journal reads every
//! record of every topic the broker has (whoever produced it: the CRUD service, a separate
//! `serve crud`, the saga, `emit`, kcat) and copies it, raw, into the `broker_journal` table
//! of `up`'s database. At the next start, before anything else produces, [`replay`] writes
//! the records of the history window back into the new broker, each in its partition and
//! with its original timestamp, so `civitas tail`, `civitas trace` and `kcat -o beginning`
//! show what happened before the restart (with new offsets).
//!
//! Bounded: records older than the window, and beyond [`MAX_RECORDS`] (the oldest first), are
//! deleted every minute. A topic created after the start is not journaled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use sqlx::{AnyPool, Row};
use tokio::sync::mpsc;

use crate::error::KafkaError;
use crate::reader::utf8_pairs;
use crate::settings::KafkaSettings;

/// Rows kept at most; the embedded broker holds far fewer (100 000 per partition at most).
pub const MAX_RECORDS: i64 = 1_000_000;
/// Rows per INSERT statement (8 values each).
const CHUNK: usize = 500;
/// How often old rows are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn database(action: &'static str) -> impl FnOnce(sqlx::Error) -> KafkaError {
    move |source| KafkaError::Outbox { action, source }
}

/// One record as the broker took it.
struct Entry {
    topic: String,
    partition: i32,
    key: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
    payload: Option<Vec<u8>>,
    time: i64,
}

/// Deletes what is older than `window` or beyond [`MAX_RECORDS`].
async fn prune(pool: &AnyPool, window: Duration) -> Result<(), sqlx::Error> {
    let since = now_ms().saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
    sqlx::query("DELETE FROM broker_journal WHERE record_time < $1")
        .bind(since)
        .execute(pool)
        .await?;
    let cut: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM broker_journal ORDER BY seq DESC LIMIT 1 OFFSET $1")
            .bind(MAX_RECORDS)
            .fetch_optional(pool)
            .await?;
    if let Some(cut) = cut {
        sqlx::query("DELETE FROM broker_journal WHERE seq <= $1")
            .bind(cut)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Writes the journal's records of the last `window` into the (new, empty) broker, in the
/// order they were taken; returns how many the broker acknowledged.
pub async fn replay(
    pool: &AnyPool,
    settings: &KafkaSettings,
    window: Duration,
) -> Result<usize, KafkaError> {
    prune(pool, window)
        .await
        .map_err(database("forget the history older than its window"))?;
    let producer: ThreadedProducer<DefaultProducerContext> = settings
        .client_config_with(&[("acks", "all"), ("linger.ms", "5")])
        .create()
        .map_err(|source| KafkaError::CreateClient {
            bootstrap: settings.bootstrap_servers.clone(),
            source: Box::new(source),
        })?;
    // Only into partitions the new broker has: a record for a topic it lacks (one a catalog
    // extension made last time) would wait out the delivery timeout.
    let metadata = producer
        .client()
        .fetch_metadata(None, Duration::from_secs(10))
        .map_err(|source| KafkaError::Metadata {
            what: "the embedded broker's topics".to_owned(),
            bootstrap: settings.bootstrap_servers.clone(),
            source: Box::new(source),
        })?;
    let partitions: std::collections::HashMap<String, i32> = metadata
        .topics()
        .iter()
        .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
        .collect();
    let mut after = i64::MIN;
    let (mut sent, mut skipped) = (0usize, 0usize);
    loop {
        let rows = sqlx::query(
            "SELECT seq, topic, partition_no, record_key, headers, payload, record_time \
             FROM broker_journal WHERE seq > $1 ORDER BY seq LIMIT 5000",
        )
        .bind(after)
        .fetch_all(pool)
        .await
        .map_err(database("read the history"))?;
        let Some(last) = rows.last() else { break };
        after = last.try_get("seq").map_err(database("read the history"))?;
        for row in &rows {
            let entry = decode(row).map_err(database("read the history"))?;
            if partitions
                .get(&entry.topic)
                .is_none_or(|count| entry.partition >= *count)
            {
                skipped += 1;
                continue;
            }
            let headers = entry.headers.iter().fold(
                OwnedHeaders::new_with_capacity(entry.headers.len()),
                |h, (name, value)| {
                    h.insert(Header {
                        key: name,
                        value: Some(value.as_bytes()),
                    })
                },
            );
            let mut record = BaseRecord::<[u8], [u8]>::to(&entry.topic)
                .partition(entry.partition)
                .timestamp(entry.time)
                .headers(headers);
            if let Some(key) = &entry.key {
                record = record.key(key.as_slice());
            }
            if let Some(payload) = &entry.payload {
                record = record.payload(payload.as_slice());
            }
            let mut record = record;
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((error, back)) => {
                        if error.rdkafka_error_code()
                            != Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                        {
                            tracing::warn!(topic = %entry.topic, %error, "a journaled record could not be written back");
                            break;
                        }
                        record = back;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            sent += 1;
        }
    }
    let flushed = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(60)))
        .await
        .map_err(|_| KafkaError::FlushTimeout { pending: sent })?;
    if let Err(error) = flushed {
        tracing::warn!(%error, "not every journaled record was written back in time");
    }
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "journaled records of topics or partitions the embedded broker no longer has were not written back"
        );
    }
    Ok(sent)
}

fn decode(row: &sqlx::any::AnyRow) -> Result<Entry, sqlx::Error> {
    let headers: String = row.try_get("headers")?;
    Ok(Entry {
        topic: row.try_get("topic")?,
        partition: i32::try_from(row.try_get::<i64, _>("partition_no")?).unwrap_or(0),
        key: row.try_get("record_key")?,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        payload: row.try_get("payload")?,
        time: row.try_get("record_time")?,
    })
}

/// The running journal: a consumer thread and a writer task.
pub struct Journal {
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
    writer: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").finish_non_exhaustive()
    }
}

impl Journal {
    /// Starts copying every record the broker takes from now on (from each partition's
    /// current end, so what [`replay`] wrote back is not copied twice), keeping `window`.
    pub fn start(
        pool: AnyPool,
        settings: &KafkaSettings,
        window: Duration,
    ) -> Result<Self, KafkaError> {
        let consumer: BaseConsumer = settings
            .client_config_with(&[
                ("group.id", "civitas-embedded-journal"),
                ("enable.auto.commit", "false"),
            ])
            .create()
            .map_err(|source| KafkaError::CreateClient {
                bootstrap: settings.bootstrap_servers.clone(),
                source: Box::new(source),
            })?;
        let metadata_error = |source: rdkafka::error::KafkaError| KafkaError::Metadata {
            what: "the embedded broker's topics".to_owned(),
            bootstrap: settings.bootstrap_servers.clone(),
            source: Box::new(source),
        };
        let metadata = consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .map_err(metadata_error)?;
        let mut assignment = TopicPartitionList::new();
        for topic in metadata.topics() {
            if topic.name().starts_with("__") {
                continue;
            }
            for partition in topic.partitions() {
                let (_, high) = consumer
                    .fetch_watermarks(topic.name(), partition.id(), Duration::from_secs(10))
                    .map_err(metadata_error)?;
                assignment
                    .add_partition_offset(topic.name(), partition.id(), Offset::Offset(high))
                    .map_err(metadata_error)?;
            }
        }
        consumer.assign(&assignment).map_err(metadata_error)?;
        let (sender, receiver) = mpsc::channel::<Entry>(10_000);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let reader = std::thread::Builder::new()
            .name("civitas-journal".into())
            .spawn(move || read(&consumer, &sender, &stopping))
            .map_err(|e| KafkaError::Listen {
                addr: "the journal's thread".to_owned(),
                source: e,
            })?;
        let writer = tokio::spawn(write(pool, receiver, window));
        Ok(Self {
            stop,
            reader: Some(reader),
            writer,
        })
    }

    /// Copies what the broker took until now (reading until it is quiet for 300 ms, at most
    /// `timeout`), then stops.
    pub async fn stop(mut self, timeout: Duration) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = tokio::task::spawn_blocking(move || reader.join()).await;
        }
        let _ = tokio::time::timeout(timeout, &mut self.writer).await;
    }
}

/// The consumer thread: every record to the writer; after `stop`, until the broker is quiet.
fn read(consumer: &BaseConsumer, sender: &mpsc::Sender<Entry>, stop: &AtomicBool) {
    let mut quiet_since: Option<Instant> = None;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if stopping && quiet_since.is_some_and(|t| t.elapsed() >= Duration::from_millis(300)) {
            return;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                quiet_since = None;
                let entry = Entry {
                    topic: message.topic().to_owned(),
                    partition: message.partition(),
                    key: message.key().map(<[u8]>::to_vec),
                    headers: message.headers().map(utf8_pairs).unwrap_or_default(),
                    payload: message.payload().map(<[u8]>::to_vec),
                    time: message.timestamp().to_millis().unwrap_or_else(now_ms),
                };
                if sender.blocking_send(entry).is_err() {
                    return;
                }
            }
            Some(Err(error)) => {
                tracing::debug!(%error, "the journal's consumer reported an error");
            }
            None => {
                quiet_since.get_or_insert_with(Instant::now);
            }
        }
    }
}

/// The writer task: batches of records into the table; old rows out every minute.
async fn write(pool: AnyPool, mut receiver: mpsc::Receiver<Entry>, window: Duration) {
    let mut batch = Vec::with_capacity(CHUNK);
    let mut next_prune = Instant::now() + PRUNE_EVERY;
    let mut seq = sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(seq), 0) FROM broker_journal")
        .fetch_one(&pool)
        .await
        .unwrap_or(0);
    while receiver.recv_many(&mut batch, CHUNK).await > 0 {
        if let Err(error) = insert(&pool, &batch, &mut seq).await {
            tracing::warn!(%error, records = batch.len(), "the embedded broker's journal could not keep records; they will be missing after a restart");
        }
        batch.clear();
        if Instant::now() >= next_prune {
            if let Err(error) = prune(&pool, window).await {
                tracing::warn!(%error, "the journal could not forget old records");
            }
            next_prune = Instant::now() + PRUNE_EVERY;
        }
    }
}

async fn insert(pool: &AnyPool, batch: &[Entry], seq: &mut i64) -> Result<(), sqlx::Error> {
    let values = (0..batch.len())
        .map(|i| format!("({})", crate::outbox::placeholders(i * 8 + 1, 8)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO broker_journal (id, seq, topic, partition_no, record_key, headers, payload, record_time) VALUES {values}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for entry in batch {
        *seq += 1;
        let headers = serde_json::to_string(&entry.headers).unwrap_or_else(|_| "[]".to_owned());
        query = query
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(*seq)
            .bind(entry.topic.clone())
            .bind(i64::from(entry.partition))
            .bind(entry.key.clone())
            .bind(headers)
            .bind(entry.payload.clone())
            .bind(entry.time);
    }
    query.execute(pool).await?;
    Ok(())
}
