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

/// A message's headers as UTF-8 pairs (lossy: header values are UTF-8, docs/architecture.md "Wire contracts").
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

    /// Whether the headers alone already say no, so the value need not be parsed: a
    /// correlation id header that differs (the header wins over the envelope, see
    /// [`ConsumedRecord::correlation_id`]) or a wanted header that is absent or differs.
    /// This keeps a search over millions of records from parsing each one.
    fn rejects_by_headers<H: Headers>(&self, headers: Option<&H>) -> bool {
        let header = |name: &str| -> Option<&[u8]> {
            headers?
                .iter()
                .find(|h| h.key.eq_ignore_ascii_case(name))
                .map(|h| h.value.unwrap_or_default())
        };
        if let Some(id) = &self.correlation_id
            && let Some(found) = header("ce_correlationid").or_else(|| header("ce-correlationid"))
            && found != id.as_bytes()
        {
            return true;
        }
        self.headers
            .iter()
            .any(|(k, v)| header(k).is_none_or(|found| found != v.as_bytes()))
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
    /// Skip records older than this (ms since the epoch): set where the broker could not
    /// seek by time, so the range starts earlier than asked.
    not_before: Option<i64>,
}

/// A reader on one cluster; not a group member, it assigns partitions itself.
pub struct Reader {
    consumer: BaseConsumer,
    bootstrap: String,
    /// To open more consumers: [`Reader::scan_each`] reads topics in parallel.
    settings: KafkaSettings,
    /// Reads stop here ([`Reader::stop_at`]); shared with a scan's workers.
    deadline: Option<Instant>,
    /// Set when a read stopped at the deadline before its end.
    cut_short: std::sync::Arc<AtomicBool>,
}

/// How many topics a scan reads at once, each with its own consumer.
const PARALLEL_TOPICS: usize = 6;

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
        // A broker that answers a fetch only when the wait is over (the embedded one, 1 ms)
        // gets its own short wait; a cluster answers when data is there: 50 ms at most.
        let fetch_wait = settings.fetch_wait_ms.min(50).to_string();
        let consumer = settings
            .client_config_with(&[
                ("group.id", civitas_topics::groups::TROUBLESHOOTING),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "false"),
                ("fetch.wait.max.ms", fetch_wait.as_str()),
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
            settings: settings.clone(),
            deadline: None,
            cut_short: std::sync::Arc::new(AtomicBool::new(false)),
        })
    }

    /// Reads stop at `deadline`, however much is left: a search on a person's behalf ends in
    /// bounded time. [`Reader::cut_short`] then says the answer is incomplete.
    pub fn stop_at(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// Whether a read stopped at the deadline before it reached its end.
    pub fn cut_short(&self) -> bool {
        self.cut_short.load(Ordering::Relaxed)
    }

    fn past_deadline(&self) -> bool {
        let past = self.deadline.is_some_and(|d| Instant::now() >= d);
        if past {
            self.cut_short.store(true, Ordering::Relaxed);
        }
        past
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

    /// The topics a correlation id can appear on (what `civitas trace` and the console's
    /// search read): the crud topics of `naming`, and every topic of the cluster that is a
    /// configuration-event or saga topic by its naming rules; with `all`, every other
    /// non-internal topic too (payload topics: possibly huge).
    pub fn platform_topics(
        &self,
        naming: &civitas_topics::NamingContext,
        all: bool,
    ) -> Result<Vec<String>, KafkaError> {
        use civitas_topics::{CrudTopics, Family, TopicName};
        let mut topics: Vec<String> = CrudTopics::in_context(naming)
            .all()
            .iter()
            .map(|t| (*t).to_owned())
            .collect();
        for name in self.topics()? {
            let wanted = all && !name.starts_with("__")
                || matches!(
                    TopicName::parse(&name, naming).map(|t| t.family()),
                    Ok(Family::ConfigEvent | Family::Saga)
                );
            if wanted && !topics.contains(&name) {
                topics.push(name);
            }
        }
        Ok(topics)
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

    /// How many records `topic` holds now (high minus low watermark, summed over its
    /// partitions; transaction markers count too).
    pub fn record_count(&self, topic: &str) -> Result<i64, KafkaError> {
        let mut count = 0;
        for partition in self.partitions(topic)? {
            let (low, high) = self.watermarks(topic, partition)?;
            count += high - low;
        }
        Ok(count)
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
                        not_before: None,
                    })
                })
                .collect();
            if ranges.is_empty() {
                break;
            }
            for range in &ranges {
                next_end.insert(range.partition, range.start);
            }
            self.read_ranges(topic, &ranges, filter, &mut |r| found.push(r))?;
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
        self.scan_each(topics, filter, since, |record| found.push(record))?;
        sort_by_time(&mut found);
        Ok(found)
    }

    /// Calls `each` for every record of `topics` passing `filter`, in no particular order
    /// across topics (in offset order within a partition), holding none of them: what a
    /// summary over a day of events needs. Up to six topics are read at
    /// once, each by its own consumer; the headers are matched before a value is parsed.
    pub fn scan_each(
        &self,
        topics: &[String],
        filter: &Filter,
        since: Option<DateTime<Utc>>,
        mut each: impl FnMut(ConsumedRecord),
    ) -> Result<(), KafkaError> {
        let mut plans = Vec::new();
        for topic in topics {
            let ranges = self.ranges_since(topic, since)?;
            if !ranges.is_empty() {
                plans.push((topic.as_str(), ranges));
            }
        }
        if plans.len() <= 1 {
            for (topic, ranges) in &plans {
                self.read_ranges(topic, ranges, filter, &mut each)?;
            }
            return Ok(());
        }
        // Each worker takes the next topic; matches come back through a bounded channel, so
        // a slow `each` slows the readers instead of filling memory.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (sender, receiver) = std::sync::mpsc::sync_channel::<ConsumedRecord>(4096);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..PARALLEL_TOPICS.min(plans.len()))
                .map(|_| {
                    let sender = sender.clone();
                    let (next, plans) = (&next, &plans);
                    scope.spawn(move || -> Result<(), KafkaError> {
                        let mut reader = Reader::connect(&self.settings)?;
                        reader.deadline = self.deadline;
                        reader.cut_short = self.cut_short.clone();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some((topic, ranges)) = plans.get(i) else {
                                return Ok(());
                            };
                            reader.read_ranges(topic, ranges, filter, &mut |record| {
                                // The receiver only goes away when this scan has ended.
                                let _ = sender.send(record);
                            })?;
                        }
                    })
                })
                .collect();
            drop(sender);
            for record in receiver {
                each(record);
            }
            workers.into_iter().try_for_each(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        })
    }

    /// The offsets of `topic` to read: everything, or from the first offset at or after
    /// `since`. An unknown topic has none.
    fn ranges_since(
        &self,
        topic: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Range>, KafkaError> {
        let partitions = match self.partitions(topic) {
            Ok(p) => p,
            Err(KafkaError::UnknownTopic(_)) => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        // One request for every partition's start, one for every end (and one for `since`),
        // not a round trip per partition: a topic may have dozens.
        let lows = self.offsets_at(topic, &partitions, Offset::Beginning)?;
        let highs = self.offsets_at(topic, &partitions, Offset::End)?;
        let at_time = match since {
            Some(time) => {
                self.offsets_at(topic, &partitions, Offset::Offset(time.timestamp_millis()))?
            }
            None => HashMap::new(),
        };
        let mut ranges = Vec::new();
        for partition in partitions {
            let (low, high) = match (lows.get(&partition), highs.get(&partition)) {
                (Some(&low), Some(&high)) => (low, high),
                _ => self.watermarks(topic, partition)?,
            };
            if low >= high {
                continue;
            }
            let (start, not_before) = match since {
                None => (low, None),
                Some(time) => match at_time.get(&partition) {
                    Some(&offset) => (offset, None),
                    // No offset at or after `time`: nothing that new, or a broker that
                    // cannot seek by time (the embedded one). The last record tells which.
                    None if self.last_timestamp(topic, partition, high)?
                        >= Some(time.timestamp_millis()) =>
                    {
                        (low, Some(time.timestamp_millis()))
                    }
                    None => (high, None),
                },
            };
            if start < high {
                ranges.push(Range {
                    partition,
                    start: start.max(low),
                    end: high,
                    not_before,
                });
            }
        }
        Ok(ranges)
    }

    /// The timestamp (ms) of the record before `high` in `partition`.
    fn last_timestamp(
        &self,
        topic: &str,
        partition: i32,
        high: i64,
    ) -> Result<Option<i64>, KafkaError> {
        let last = Range {
            partition,
            start: high - 1,
            end: high,
            not_before: None,
        };
        let mut found = None;
        self.read_ranges(topic, &[last], &Filter::default(), &mut |r| {
            found = r.timestamp.map(|t| t.timestamp_millis());
        })?;
        Ok(found)
    }

    /// The offset of each partition at `at`: its start (`Beginning`), its end (`End`), or the
    /// first offset at or after a timestamp (`Offset(ms)`), in one request. A partition the
    /// broker has no answer for is left out.
    fn offsets_at(
        &self,
        topic: &str,
        partitions: &[i32],
        at: Offset,
    ) -> Result<HashMap<i32, i64>, KafkaError> {
        let mut list = TopicPartitionList::new();
        for &partition in partitions {
            list.add_partition_offset(topic, partition, at)
                .map_err(|source| self.consume_error(topic, source))?;
        }
        let result = self
            .consumer
            .offsets_for_times(list, Duration::from_secs(10))
            .map_err(|source| self.consume_error(topic, source))?;
        Ok(result
            .elements_for_topic(topic)
            .iter()
            .filter(|e| e.error().is_ok())
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect())
    }

    fn consume_error(&self, topic: &str, source: rdkafka::error::KafkaError) -> KafkaError {
        KafkaError::Consume {
            topic: topic.to_owned(),
            source: source.into(),
        }
    }

    /// Reads exactly the offsets `[start, end)` of each range and calls `each` with the
    /// records that pass `filter`; the others are dropped as they are read (most of them on
    /// their headers alone, unparsed).
    fn read_ranges(
        &self,
        topic: &str,
        ranges: &[Range],
        filter: &Filter,
        each: &mut dyn FnMut(ConsumedRecord),
    ) -> Result<(), KafkaError> {
        if ranges.is_empty() {
            return Ok(());
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
        let not_before: HashMap<i32, i64> = ranges
            .iter()
            .filter_map(|r| r.not_before.map(|t| (r.partition, t)))
            .collect();
        let mut deadline = Instant::now() + READ_TIMEOUT;
        while !open.is_empty() && Instant::now() < deadline && !self.past_deadline() {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    let partition = message.partition();
                    let Some(&end) = open.get(&partition) else {
                        continue;
                    };
                    if message.offset() < end {
                        deadline = Instant::now() + READ_TIMEOUT;
                        let too_old = not_before.get(&partition).is_some_and(|&t| {
                            message.timestamp().to_millis().is_some_and(|at| at < t)
                        });
                        if !too_old && !filter.rejects_by_headers(message.headers()) {
                            let record = ConsumedRecord::from_message(&message);
                            if filter.matches(&record) {
                                each(record);
                            }
                        }
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
        if !open.is_empty() && !self.cut_short() {
            tracing::warn!(%topic, partitions = ?open.keys().collect::<Vec<_>>(),
                "gave up waiting for records the broker announced; output may be incomplete");
        }
        Ok(())
    }

    /// Calls `each` for every new record of `topics` that passes `filter`, from the current
    /// end, until `stop` is set.
    pub fn follow(
        &self,
        topics: &[String],
        filter: &Filter,
        stop: &AtomicBool,
        each: impl FnMut(ConsumedRecord),
    ) -> Result<(), KafkaError> {
        self.follow_from(topics, filter, 0, stop, each)
    }

    /// As [`Reader::follow`], starting `back` records before each partition's end (the
    /// console's live view opens with the last few).
    pub fn follow_from(
        &self,
        topics: &[String],
        filter: &Filter,
        back: i64,
        stop: &AtomicBool,
        mut each: impl FnMut(ConsumedRecord),
    ) -> Result<(), KafkaError> {
        let mut assignment = TopicPartitionList::new();
        for topic in topics {
            for partition in self.partitions(topic)? {
                let (low, high) = self.watermarks(topic, partition)?;
                let start = high.saturating_sub(back.max(0)).max(low);
                assignment
                    .add_partition_offset(topic, partition, Offset::Offset(start))
                    .map_err(|source| self.consume_error(topic, source))?;
            }
        }
        self.consumer
            .assign(&assignment)
            .map_err(|source| self.consume_error(&topics.join(","), source))?;
        while !stop.load(Ordering::Relaxed) {
            if let Some(Ok(message)) = self.consumer.poll(Duration::from_millis(200))
                && !filter.rejects_by_headers(message.headers())
            {
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
    fn headers_alone_reject_a_record_before_its_value_is_parsed() {
        use rdkafka::message::{Header, OwnedHeaders};
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "ce_correlationid",
                value: Some("c1"),
            })
            .insert(Header {
                key: "ce_subject",
                value: Some("local/user/max"),
            });
        let by_id = |id: &str| Filter {
            correlation_id: Some(id.into()),
            ..Filter::default()
        };
        assert!(by_id("c2").rejects_by_headers(Some(&headers)));
        assert!(!by_id("c1").rejects_by_headers(Some(&headers)));
        // Without the header the envelope decides: not rejected here.
        assert!(!by_id("c2").rejects_by_headers(None::<&OwnedHeaders>));
        let by_header = |k: &str, v: &str| Filter {
            headers: vec![(k.into(), v.into())],
            ..Filter::default()
        };
        assert!(!by_header("CE_SUBJECT", "local/user/max").rejects_by_headers(Some(&headers)));
        assert!(by_header("ce_subject", "local/user/eve").rejects_by_headers(Some(&headers)));
        assert!(by_header("ce_type", "x").rejects_by_headers(Some(&headers)));
        assert!(!Filter::default().rejects_by_headers(Some(&headers)));
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
