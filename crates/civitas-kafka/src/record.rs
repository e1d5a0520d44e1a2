//! One record to publish, with its headers kept as librdkafka's own list.

use civitas_events::Attributes;
use civitas_events::truncate::{fit_json, truncate_str};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use serde::Serialize;

use crate::error::KafkaError;

/// One record to publish. Headers are UTF-8 (docs/architecture.md, "Wire contracts").
///
/// The headers are kept as librdkafka's own list, built once: sending hands it over
/// without another copy, and a record that comes back (queue full, delivery failed) keeps it.
#[derive(Clone)]
pub struct Record {
    pub topic: String,
    pub key: Option<String>,
    pub headers: OwnedHeaders,
    pub payload: Vec<u8>,
}

/// Room for the usual event's headers (CloudEvents attributes, two extensions, the W3C
/// header) without growing the list.
const HEADER_CAPACITY: usize = 12;

/// Room for the usual event's JSON without growing the buffer.
const PAYLOAD_CAPACITY: usize = 1024;

impl Record {
    /// A record with these headers, as given.
    pub fn new<'h>(
        topic: impl Into<String>,
        key: Option<String>,
        headers: impl IntoIterator<Item = (&'h str, &'h str)>,
        payload: Vec<u8>,
    ) -> Self {
        let mut builder = HeaderBuilder::default();
        for (name, value) in headers {
            builder.put(name, value);
        }
        Self {
            topic: topic.into(),
            key,
            headers: builder.finish(),
            payload,
        }
    }

    /// A JSON record whose CloudEvents attributes travel as headers (binary content mode).
    pub fn json<T: Serialize>(
        topic: impl Into<String>,
        key: Option<String>,
        attributes: &Attributes<'_>,
        value: &T,
    ) -> Result<Self, KafkaError> {
        let topic = topic.into();
        let mut payload = Vec::with_capacity(PAYLOAD_CAPACITY);
        serde_json::to_writer(&mut payload, value).map_err(|source| KafkaError::Serialize {
            topic: topic.clone(),
            source,
        })?;
        let mut builder = HeaderBuilder::default();
        attributes.write_headers(|name, value| builder.put(name, value));
        Ok(Self {
            topic,
            key,
            headers: builder.finish(),
            payload,
        })
    }

    /// The value of the first header called `name`, if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| std::str::from_utf8(h.value.unwrap_or_default()).ok())
    }

    /// The headers as UTF-8 pairs, in order (a value that is not UTF-8 is read lossily).
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        crate::reader::utf8_pairs(&self.headers)
    }
}

/// Room left for librdkafka's own framing of a record (lengths, timestamps, attributes) when
/// fitting a record to `message.max.bytes`.
const FRAMING_BYTES: usize = 1024;

/// Longest key or header value kept whole when a record must shrink; a longer one keeps its
/// start and a marker. Keys of operation events carry the object id, which a caller chooses.
const MAX_KEY_BYTES: usize = 1024;

/// A record that cannot be made to fit (its payload is not JSON, or the limit is tiny).
#[derive(Debug)]
pub struct TooLarge {
    pub record: Record,
    pub size: usize,
}

impl Record {
    /// Bytes of key, headers and payload: what the producer compares to `message.max.bytes`.
    pub fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
            .sum();
        self.key.as_ref().map_or(0, String::len) + headers + self.payload.len()
    }

    /// The record, made to fit `max_bytes` when it is larger: long keys and header values
    /// keep their start and a marker, and the JSON payload is shortened with
    /// [`fit_json`](civitas_events::truncate::fit_json). A record that fits is returned as it
    /// is, without a copy.
    pub fn fit(mut self, max_bytes: usize) -> Result<Self, TooLarge> {
        if self.size() + FRAMING_BYTES <= max_bytes {
            return Ok(self);
        }
        let Ok(mut value) = parse_unbounded(&self.payload) else {
            let size = self.size();
            return Err(TooLarge { record: self, size });
        };
        if let Some(key) = &mut self.key
            && key.len() > MAX_KEY_BYTES
        {
            *key = truncate_str(key, MAX_KEY_BYTES);
        }
        if self
            .headers
            .iter()
            .any(|h| h.value.is_some_and(|v| v.len() > MAX_KEY_BYTES))
        {
            let mut builder = HeaderBuilder::default();
            for (name, value) in self.header_pairs() {
                builder.put(&name, &truncate_str(&value, MAX_KEY_BYTES));
            }
            self.headers = builder.finish();
        }
        let envelope = self.size() - self.payload.len() + FRAMING_BYTES;
        let budget = max_bytes.saturating_sub(envelope);
        fit_json(&mut value, budget);
        self.payload = serde_json::to_vec(&value).unwrap_or_default();
        if self.size() + FRAMING_BYTES > max_bytes {
            let size = self.size();
            return Err(TooLarge { record: self, size });
        }
        tracing::warn!(topic = %self.topic, key = ?self.key.as_deref().map(|k| truncate_str(k, 80)),
            max_bytes, "record larger than message.max.bytes: values truncated with a marker");
        Ok(self)
    }
}

/// Our own payload, parsed back without serde_json's nesting limit of 128: an event wraps a
/// caller's body (itself up to 128 deep) in two or four more levels.
fn parse_unbounded(payload: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    use serde::Deserialize;
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    deserializer.disable_recursion_limit();
    let value = serde_json::Value::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("topic", &self.topic)
            .field("key", &self.key)
            .field("headers", &self.header_pairs())
            .field("payload", &String::from_utf8_lossy(&self.payload))
            .finish()
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.topic == other.topic
            && self.key == other.key
            && self.payload == other.payload
            && self.header_pairs() == other.header_pairs()
    }
}

impl Eq for Record {}

/// Fills an [`OwnedHeaders`], whose `insert` takes and gives back the list.
struct HeaderBuilder(Option<OwnedHeaders>);

impl Default for HeaderBuilder {
    fn default() -> Self {
        Self(Some(OwnedHeaders::new_with_capacity(HEADER_CAPACITY)))
    }
}

impl HeaderBuilder {
    fn put(&mut self, name: &str, value: &str) {
        self.0 = self.0.take().map(|headers| {
            headers.insert(Header {
                key: name,
                value: Some(value.as_bytes()),
            })
        });
    }

    fn finish(self) -> OwnedHeaders {
        self.0.unwrap_or_default()
    }
}
