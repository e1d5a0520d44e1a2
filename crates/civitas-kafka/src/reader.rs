//! Reading records back: the engine behind `civitas tail` and `civitas trace`.
//!
//! Kafka keeps order per partition only, and kcat's `-o -N` counts per partition. The reader
//! seeks every partition to `high watermark - window`, reads up to the end, merges all
//! partitions by record timestamp and keeps the last N. With a filter it widens the window
//! backwards (×4 each round) until N records match or the partitions' start is reached, so a
//! tail on a large topic reads only its end.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};

use crate::error::KafkaError;
use crate::settings::KafkaSettings;

/// How long a read may wait for data it knows is there (watermarks say so) before giving up.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// One record as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<DateTime<Utc>>,
    pub key: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The value parsed as JSON, or a JSON string holding the raw (lossy UTF-8) bytes.
    pub value: Value,
}

/// A message's headers as UTF-8 pairs (lossy: DESIGN.md §4 says header values are UTF-8).
pub fn headers_of<M: Message>(message: &M) -> Vec<(String, String)> {
    message.headers().map(utf8_pairs).unwrap_or_default()
}

/// Headers as UTF-8 pairs, in order (lossy).
pub(crate) fn utf8_pairs<H: Headers>(headers: &H) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            let value = h.value.unwrap_or_default();
            (
                h.key.to_owned(),
                String::from_utf8_lossy(value).into_owned(),
            )
        })
        .collect()
}

impl ConsumedRecord {
    /// Copies a message out of the consumer.
    pub fn from_message(message: &BorrowedMessage<'_>) -> Self {
        let headers = headers_of(message);
        let payload = message.payload().unwrap_or_default();
        let value = serde_json::from_slice(payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp: message
                .timestamp()
                .to_millis()
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            headers,
            value,
        }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The correlation id: the CloudEvents extension header (`ce_`/`ce-`), else the
    /// envelope's `correlation_id`, else a saga message's `correlationId`/`sagaId`.
    pub fn correlation_id(&self) -> Option<&str> {
        self.header("ce_correlationid")
            .or_else(|| self.header("ce-correlationid"))
            .or_else(|| self.value.get("correlation_id").and_then(Value::as_str))
            .or_else(|| self.value.get("correlationId").and_then(Value::as_str))
    }

    /// A failure by the seed's troubleshooting rule: `data.success == false`, or an `error`
    /// present (in `data` or at the top level).
    pub fn is_failure(&self) -> bool {
        let data = self.value.get("data");
        let success_false = data.and_then(|d| d.get("success")) == Some(&Value::Bool(false))
            || self.value.get("success") == Some(&Value::Bool(false));
        let has_error =
            |v: Option<&Value>| v.and_then(|d| d.get("error")).is_some_and(|e| !e.is_null());
        success_false || has_error(data) || has_error(Some(&self.value))
    }

    /// The record as one JSON object: coordinates, key, headers and the value.
    pub fn to_json(&self) -> Value {
        let headers: BTreeMap<&str, &str> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        json!({
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            "key": self.key,
            "headers": headers,
            "value": self.value,
        })
    }
}

/// Which records to keep.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only failures (see [`ConsumedRecord::is_failure`]).
    pub failed: bool,
    pub correlation_id: Option<String>,
    /// Every `(name, value)` header must be present with that value.
    pub headers: Vec<(String, String)>,
}

impl Filter {
    /// Whether `record` passes.
    pub fn matches(&self, record: &ConsumedRecord) -> bool {
        (!self.failed || record.is_failure())
            && self
                .correlation_id
                .as_deref()
                .is_none_or(|id| record.correlation_id() == Some(id))
            && self
                .headers
                .iter()
                .all(|(k, v)| record.header(k) == Some(v.as_str()))
    }

    /// Whether the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        !self.failed && self.correlation_id.is_none() && self.headers.is_empty()
    }
}

/// Offsets `[start, end)` to read from one partition.
#[derive(Debug, Clone, Copy)]
struct Range {
    partition: i32,
    start: i64,
    end: i64,
}

/// A reader on one cluster; not a group member, it assigns partitions itself.
pub struct Reader {
    consumer: BaseConsumer,
    bootstrap: String,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

impl Reader {
    /// A reader with its own consumer (no group membership, no commits).
    pub fn connect(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        let consumer = settings
            .client_config_with(&[
                ("group.id", civitas_topics::groups::TROUBLESHOOTING),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "false"),
                ("fetch.wait.max.ms", "50"),
                ("log_level", "3"),
            ])
            .create()
            .map_err(|source| KafkaError::CreateClient {
                bootstrap: settings.bootstrap_servers.clone(),
                source: source.into(),
            })?;
        Ok(Self {
            consumer,
            bootstrap: settings.bootstrap_servers.clone(),
        })
    }

    /// The partition ids of `topic`; an error if the cluster does not know it.
    pub fn partitions(&self, topic: &str) -> Result<Vec<i32>, KafkaError> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(|source| self.metadata_error(topic, source))?;
        let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Err(KafkaError::UnknownTopic(topic.to_owned()));
        };
        if found.error().is_some() || found.partitions().is_empty() {
            return Err(KafkaError::UnknownTopic(topic.to_owned()));
        }
        Ok(found.partitions().iter().map(|p| p.id()).collect())
    }

    /// Every topic the cluster knows, sorted.
    pub fn topics(&self) -> Result<Vec<String>, KafkaError> {
        let metadata = self
            .consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .map_err(|source| self.metadata_error("the cluster", source))?;
        let mut names: Vec<String> = metadata
            .topics()
            .iter()
            .map(|t| t.name().to_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    fn metadata_error(&self, what: &str, source: rdkafka::error::KafkaError) -> KafkaError {
        KafkaError::Metadata {
            what: what.to_owned(),
            bootstrap: self.bootstrap.clone(),
            source: source.into(),
        }
    }

    fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), KafkaError> {
        self.consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .map_err(|source| self.metadata_error(&format!("{topic}[{partition}]"), source))
    }

    /// The partitions of `topic` whose first offset is past 0, with that offset: their
    /// older records are gone (the broker's retention or, on the embedded broker, its
    /// per-partition limit). Unknown topics have none.
    pub fn gone(&self, topic: &str) -> Result<Vec<(i32, i64)>, KafkaError> {
        let partitions = match self.partitions(topic) {
            Ok(p) => p,
            Err(KafkaError::UnknownTopic(_)) => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let mut gone = Vec::new();
        for partition in partitions {
            let (low, _) = self.watermarks(topic, partition)?;
            if low > 0 {
                gone.push((partition, low));
            }
        }
        Ok(gone)
    }

    /// The last `n` records of `topic` that pass `filter`, across all partitions, oldest first.
    pub fn tail(
        &self,
        topic: &str,
        n: usize,
        filter: &Filter,
    ) -> Result<Vec<ConsumedRecord>, KafkaError> {
        let mut bounds = Vec::new();
        for partition in self.partitions(topic)? {
            let (low, high) = self.watermarks(topic, partition)?;
            bounds.push((partition, low, high));
        }
        let mut found = Vec::new();
        // `next_end[p]`: where the next, older window of partition p ends.
        let mut next_end: HashMap<i32, i64> = bounds.iter().map(|&(p, _, h)| (p, h)).collect();
        let mut window = n.max(1) as i64;
        loop {
            let ranges: Vec<Range> = bounds
                .iter()
                .filter_map(|&(partition, low, _)| {
                    let end = next_end[&partition];
                    let start = (end - window).max(low);
                    (start < end).then_some(Range {
                        partition,
                        start,
                        end,
                    })
                })
                .collect();
            if ranges.is_empty() {
                break;
            }
            for range in &ranges {
                next_end.insert(range.partition, range.start);
            }
            found.extend(self.read_ranges(topic, &ranges, filter)?);
            if found.len() >= n {
                break;
            }
            window = window.saturating_mul(4);
        }
        sort_by_time(&mut found);
        let skip = found.len().saturating_sub(n);
        Ok(found.split_off(skip))
    }

    /// Every record of `topics` passing `filter`, merged by timestamp. Topics the cluster
    /// does not know are skipped. With `since`, each partition is read from the first
    /// offset at or after that time instead of its start.
    pub fn scan(
        &self,
        topics: &[String],
        filter: &Filter,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ConsumedRecord>, KafkaError> {
        let mut found = Vec::new();
        for topic in topics {
            let partitions = match self.partitions(topic) {
                Ok(p) => p,
                Err(KafkaError::UnknownTopic(_)) => continue,
                Err(err) => return Err(err),
            };
            let mut ranges = Vec::new();
            for partition in partitions {
                let (low, high) = self.watermarks(topic, partition)?;
                let start = match since {
                    Some(time) => self
                        .offset_for_time(topic, partition, time)?
                        .unwrap_or(high),
                    None => low,
                };
                if start < high {
                    ranges.push(Range {
                        partition,
                        start: start.max(low),
                        end: high,
                    });
                }
            }
            found.extend(self.read_ranges(topic, &ranges, filter)?);
        }
        sort_by_time(&mut found);
        Ok(found)
    }

    fn offset_for_time(
        &self,
        topic: &str,
        partition: i32,
        time: DateTime<Utc>,
    ) -> Result<Option<i64>, KafkaError> {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(time.timestamp_millis()))
            .map_err(|source| self.consume_error(topic, source))?;
        let result = self
            .consumer
            .offsets_for_times(list, Duration::from_secs(10))
            .map_err(|source| self.consume_error(topic, source))?;
        Ok(result
            .find_partition(topic, partition)
            .and_then(|p| match p.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            }))
    }

    fn consume_error(&self, topic: &str, source: rdkafka::error::KafkaError) -> KafkaError {
        KafkaError::Consume {
            topic: topic.to_owned(),
            source: source.into(),
        }
    }

    /// Reads exactly the offsets `[start, end)` of each range.
    /// The records of `ranges` that pass `filter`; the others are dropped as they are read,
    /// so scanning a whole topic holds only the matches in memory.
    fn read_ranges(
        &self,
        topic: &str,
        ranges: &[Range],
        filter: &Filter,
    ) -> Result<Vec<ConsumedRecord>, KafkaError> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let mut assignment = TopicPartitionList::new();
        for range in ranges {
            assignment
                .add_partition_offset(topic, range.partition, Offset::Offset(range.start))
                .map_err(|source| self.consume_error(topic, source))?;
        }
        self.consumer
            .assign(&assignment)
            .map_err(|source| self.consume_error(topic, source))?;
        let mut open: HashMap<i32, i64> = ranges.iter().map(|r| (r.partition, r.end)).collect();
        let mut records = Vec::new();
        let mut deadline = Instant::now() + READ_TIMEOUT;
        while !open.is_empty() && Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    let partition = message.partition();
                    let Some(&end) = open.get(&partition) else {
                        continue;
                    };
                    if message.offset() < end {
                        let record = ConsumedRecord::from_message(&message);
                        if filter.matches(&record) {
                            records.push(record);
                        }
                        deadline = Instant::now() + READ_TIMEOUT;
                    }
                    if message.offset() + 1 >= end {
                        open.remove(&partition);
                    }
                }
                Some(Err(source)) => {
                    tracing::debug!(%topic, %source, "read error (retrying)");
                }
                None => {
                    // Offsets may have gaps (transaction markers): a partition whose
                    // position already passed its end is done.
                    if let Ok(positions) = self.consumer.position() {
                        for element in positions.elements_for_topic(topic) {
                            if let Offset::Offset(pos) = element.offset()
                                && open
                                    .get(&element.partition())
                                    .is_some_and(|&end| pos >= end)
                            {
                                open.remove(&element.partition());
                            }
                        }
                    }
                }
            }
        }
        let _ = self.consumer.unassign();
        if !open.is_empty() {
            tracing::warn!(%topic, partitions = ?open.keys().collect::<Vec<_>>(),
                "gave up waiting for records the broker announced; output may be incomplete");
        }
        Ok(records)
    }

    /// Calls `each` for every new record of `topics` that passes `filter`, from the current
    /// end, until `stop` is set.
    pub fn follow(
        &self,
        topics: &[String],
        filter: &Filter,
        stop: &AtomicBool,
        mut each: impl FnMut(ConsumedRecord),
    ) -> Result<(), KafkaError> {
        let mut assignment = TopicPartitionList::new();
        for topic in topics {
            for partition in self.partitions(topic)? {
                let (_, high) = self.watermarks(topic, partition)?;
                assignment
                    .add_partition_offset(topic, partition, Offset::Offset(high))
                    .map_err(|source| self.consume_error(topic, source))?;
            }
        }
        self.consumer
            .assign(&assignment)
            .map_err(|source| self.consume_error(&topics.join(","), source))?;
        while !stop.load(Ordering::Relaxed) {
            if let Some(Ok(message)) = self.consumer.poll(Duration::from_millis(200)) {
                let record = ConsumedRecord::from_message(&message);
                if filter.matches(&record) {
                    each(record);
                }
            }
        }
        Ok(())
    }
}

/// Sort key: when it happened (envelope, else record time), record time, then coordinates.
type TimeKey = (
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    String,
    i32,
    i64,
);

/// Orders by when the event happened: the envelope's own microsecond `timestamp` where there
/// is one (a service hands some events to the producer later than others, e.g. a command's
/// operation event after its workflow's next step), else the record timestamp; then by
/// record timestamp and coordinates.
fn sort_by_time(records: &mut [ConsumedRecord]) {
    records.sort_by_cached_key(|r| -> TimeKey {
        let fine = r
            .value
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        (
            fine.or(r.timestamp),
            r.timestamp,
            r.topic.clone(),
            r.partition,
            r.offset,
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: Value, headers: &[(&str, &str)]) -> ConsumedRecord {
        ConsumedRecord {
            topic: "crud.operations".into(),
            partition: 0,
            offset: 0,
            timestamp: None,
            key: None,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value,
        }
    }

    #[test]
    fn a_record_with_success_false_or_an_error_is_a_failure() {
        assert!(record(json!({"data": {"success": false}}), &[]).is_failure());
        assert!(record(json!({"data": {"error": "boom"}}), &[]).is_failure());
        assert!(record(json!({"status": "FAILURE", "error": {"code": 2001}}), &[]).is_failure());
        assert!(!record(json!({"data": {"success": true, "error": null}}), &[]).is_failure());
        assert!(!record(json!("not json"), &[]).is_failure());
    }

    #[test]
    fn the_correlation_id_comes_from_the_header_before_the_envelope() {
        let r = record(
            json!({"correlation_id": "from-body"}),
            &[("ce-correlationid", "from-header")],
        );
        assert_eq!(r.correlation_id(), Some("from-header"));
        assert_eq!(
            record(json!({"correlation_id": "b"}), &[]).correlation_id(),
            Some("b")
        );
        assert_eq!(
            record(json!({"correlationId": "saga"}), &[]).correlation_id(),
            Some("saga")
        );
    }

    #[test]
    fn a_filter_keeps_only_records_matching_every_condition() {
        let r = record(
            json!({"correlation_id": "c1", "data": {"success": false}}),
            &[("ce_subject", "local/user/max")],
        );
        let mut filter = Filter {
            failed: true,
            correlation_id: Some("c1".into()),
            headers: vec![("CE_SUBJECT".into(), "local/user/max".into())],
        };
        assert!(filter.matches(&r));
        filter.headers[0].1 = "local/user/other".into();
        assert!(!filter.matches(&r));
        assert!(Filter::default().is_empty() && Filter::default().matches(&r));
    }

    #[test]
    fn records_sort_by_time_then_by_the_envelopes_finer_timestamp() {
        let at = Utc.timestamp_millis_opt(1_000).single();
        let mut late = record(json!({"timestamp": "1970-01-01T00:00:01.000900Z"}), &[]);
        late.timestamp = at;
        let mut early = record(json!({"timestamp": "1970-01-01T00:00:01.000100Z"}), &[]);
        early.timestamp = at;
        early.offset = 9;
        let mut records = vec![late.clone(), early.clone()];
        sort_by_time(&mut records);
        assert_eq!(records, vec![early.clone(), late.clone()]);
        // Produced later, happened earlier: the envelope's time orders it first.
        let mut produced_late = early;
        produced_late.timestamp = Utc.timestamp_millis_opt(5_000).single();
        let mut records = vec![late.clone(), produced_late.clone()];
        sort_by_time(&mut records);
        assert_eq!(records, vec![produced_late, late]);
    }
}
