//! CloudEvents 1.0, Kafka protocol binding, binary content mode.
//!
//! In binary mode the record value is the event's data and every attribute travels as a
//! header: `ce_<attribute>` for the context attributes and extensions, `content-type` for
//! `datacontenttype`. [`CloudEvent::to_headers`] writes exactly that (plus the plain W3C
//! `traceparent` header when the event carries one, so tracing tools that know nothing of
//! CloudEvents still find it); [`CloudEvent::from_headers`] reads it back and also accepts the
//! `ce-` prefix and any capitalisation of the header names.
//!
//! ```
//! use civitas_events::CloudEvent;
//!
//! let event = CloudEvent::new("/civitas/crud-service", "crud.update")
//!     .with_subject("entraid_contractors/user/E123456")
//!     .with_correlation_id("b1e5c2d4");
//! let headers = event.to_headers();
//! let read = CloudEvent::from_headers(
//!     headers.iter().map(|(name, value)| (name.as_str(), Some(value.as_bytes()))),
//! )
//! .unwrap();
//! assert_eq!(read, event);
//! ```

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use chrono::{DateTime, SubsecRound, Utc};

use crate::error::CloudEventError;
use crate::time::{RFC3339_MICROS_LEN, rfc3339_micros};

/// The only CloudEvents version this codec reads and writes.
pub const SPEC_VERSION: &str = "1.0";

/// `datacontenttype` of a new event, and of a read one that names none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/json";

/// Name of the extension that carries the request or workflow id.
pub const CORRELATION_ID_EXTENSION: &str = "correlationid";

/// Name of the extension (and of the plain W3C header) that carries the trace context.
pub const TRACEPARENT_EXTENSION: &str = "traceparent";

/// Longest extension name [`CloudEvent::with_extension`] accepts (the spec's SHOULD, made a rule).
pub const MAX_EXTENSION_NAME_LEN: usize = 20;

/// Attribute names the spec defines; none of them can be used as an extension name.
const CORE_ATTRIBUTES: &[&str] = &[
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "subject",
    "datacontenttype",
    "dataschema",
    "data",
];

/// The attributes of one CloudEvent; the data travels as the record value.
///
/// Invariants the codec relies on (the builders keep them; code that fills the public fields
/// directly must too): `id`, `source` and `ty` are non-empty, `subject` is `None` or
/// non-empty, `time` has at most microsecond precision (the precision of `ce_time`), and
/// extension names are lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEvent {
    pub id: String,
    /// URI-reference of the producer, e.g. `/civitas/crud-service`.
    pub source: String,
    /// For configuration events the topic name; for crud events `<prefix>.<event_type>`.
    pub ty: String,
    pub time: DateTime<Utc>,
    pub subject: Option<String>,
    /// Defaults to `application/json`.
    pub datacontenttype: String,
    /// Extension attributes (lowercase alphanumeric names), e.g. `correlationid`, `traceparent`.
    pub extensions: BTreeMap<String, String>,
}

impl CloudEvent {
    /// A new event with a fresh id, the current time and `application/json` content.
    ///
    /// The time is truncated to microseconds so that the event a reader decodes from
    /// [`to_headers`](Self::to_headers) equals this one.
    pub fn new(source: impl Into<String>, ty: impl Into<String>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            source: source.into(),
            ty: ty.into(),
            time: Utc::now().trunc_subsecs(6),
            subject: None,
            datacontenttype: DEFAULT_CONTENT_TYPE.to_owned(),
            extensions: BTreeMap::new(),
        }
    }

    /// Replaces the generated id, e.g. with the envelope's `event_id`.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the event time, truncated to microseconds (the precision of `ce_time`).
    #[must_use]
    pub fn with_time(mut self, time: DateTime<Utc>) -> Self {
        self.time = time.trunc_subsecs(6);
        self
    }

    /// Sets the subject: the entity the event is about, e.g. the record key.
    #[must_use]
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the `correlationid` extension.
    #[must_use]
    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.extensions
            .insert(CORRELATION_ID_EXTENSION.to_owned(), correlation_id.into());
        self
    }

    /// Sets the `traceparent` extension (a W3C `traceparent` value, not checked here; see
    /// [`TraceContext`](crate::TraceContext) to build or check one).
    #[must_use]
    pub fn with_traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.extensions
            .insert(TRACEPARENT_EXTENSION.to_owned(), traceparent.into());
        self
    }

    /// Sets an extension attribute.
    ///
    /// The name must be 1 to 20 characters of `a`–`z` and `0`–`9` and must not be one of the
    /// spec's own attribute names (`id`, `source`, `type`, `time`, `subject`, …).
    pub fn with_extension(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, CloudEventError> {
        let name = name.into();
        check_extension_name(&name)?;
        self.extensions.insert(name, value.into());
        Ok(self)
    }

    /// The `correlationid` extension, if set.
    pub fn correlation_id(&self) -> Option<&str> {
        self.extensions
            .get(CORRELATION_ID_EXTENSION)
            .map(String::as_str)
    }

    /// The `traceparent` extension, if set.
    pub fn traceparent(&self) -> Option<&str> {
        self.extensions
            .get(TRACEPARENT_EXTENSION)
            .map(String::as_str)
    }

    /// The attributes, borrowed, as [`Attributes::write_headers`] writes them.
    pub fn attributes(&self) -> Attributes<'_> {
        Attributes {
            id: &self.id,
            source: &self.source,
            ty: &self.ty,
            time: self.time,
            subject: self.subject.as_deref(),
            datacontenttype: &self.datacontenttype,
            extensions: Extensions::Map(&self.extensions),
        }
    }

    /// The Kafka headers of this event, in the order of [`Attributes::write_headers`].
    pub fn to_headers(&self) -> Vec<(String, String)> {
        let mut headers = Vec::with_capacity(8 + self.extensions.len());
        self.attributes()
            .write_headers(|name, value| headers.push((name.to_owned(), value.to_owned())));
        headers
    }

    /// Reads an event from a record's headers, as `(name, value)` pairs the way Kafka clients
    /// hand them out (a header may have no value).
    ///
    /// - Header names are compared case-insensitively; `ce_` and `ce-` prefixes are both
    ///   accepted.
    /// - `specversion` (must be `1.0`), `id`, `source`, `type` and `time` are required.
    ///   `time` is optional in CloudEvents but every civitas producer sets it, so a record
    ///   without it is reported as [`CloudEventError::MissingAttribute`]`("time")`.
    /// - `id`, `source`, `type` and, when present, `subject` must not be empty.
    /// - `ce_time` is RFC 3339 with any offset; it is normalised to UTC.
    /// - `content-type` gives `datacontenttype`, else `ce_datacontenttype`, else
    ///   `application/json`.
    /// - Every other `ce_<name>` header becomes the extension `<name>`, lowercased. Names
    ///   are not checked against [`with_extension`](Self::with_extension)'s rules, so that a
    ///   record from a less careful producer can still be read.
    /// - The plain `traceparent` header becomes the `traceparent` extension when there is no
    ///   `ce_traceparent`; all other headers are ignored, whatever their bytes.
    /// - A header without a value counts as absent. The same attribute given twice with
    ///   different values (e.g. as `ce_id` and `ce-id`) is an error.
    /// - Values of the headers read must be UTF-8 ([`CloudEventError::NotUtf8`] names the
    ///   header as given).
    pub fn from_headers<'a, I>(headers: I) -> Result<CloudEvent, CloudEventError>
    where
        I: IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    {
        let mut attributes: BTreeMap<String, String> = BTreeMap::new();
        let mut content_type: Option<String> = None;
        let mut w3c_traceparent: Option<String> = None;

        for (name, value) in headers {
            let Some(value) = value else { continue };
            let lowered = name.to_ascii_lowercase();
            let slot = match lowered
                .strip_prefix("ce_")
                .or_else(|| lowered.strip_prefix("ce-"))
            {
                Some("") => continue,
                Some(attribute) => Slot::Attribute(attribute),
                None if lowered == "content-type" => Slot::ContentType,
                None if lowered == TRACEPARENT_EXTENSION => Slot::W3cTraceparent,
                None => continue,
            };
            let value = std::str::from_utf8(value)
                .map_err(|_| CloudEventError::NotUtf8(name.to_owned()))?;
            match slot {
                Slot::Attribute(attribute) => match attributes.entry(attribute.to_owned()) {
                    Entry::Vacant(entry) => {
                        entry.insert(value.to_owned());
                    }
                    Entry::Occupied(entry) => {
                        if entry.get() != value {
                            return Err(given_twice(attribute));
                        }
                    }
                },
                Slot::ContentType => set_once(&mut content_type, "content-type", value)?,
                Slot::W3cTraceparent => {
                    set_once(&mut w3c_traceparent, TRACEPARENT_EXTENSION, value)?;
                }
            }
        }

        let specversion = attributes
            .remove("specversion")
            .ok_or(CloudEventError::MissingAttribute("specversion"))?;
        if specversion != SPEC_VERSION {
            return Err(CloudEventError::UnsupportedSpecVersion(specversion));
        }
        let id = required_non_empty(&mut attributes, "id")?;
        let source = required_non_empty(&mut attributes, "source")?;
        let ty = required_non_empty(&mut attributes, "type")?;
        let time = attributes
            .remove("time")
            .ok_or(CloudEventError::MissingAttribute("time"))?;
        let time = DateTime::parse_from_rfc3339(&time)
            .map_err(|e| CloudEventError::InvalidAttribute {
                name: "time".to_owned(),
                reason: format!("`{time}` is not an RFC 3339 timestamp: {e}"),
            })?
            .with_timezone(&Utc);
        let subject = attributes.remove("subject");
        if subject.as_deref() == Some("") {
            return Err(empty("subject"));
        }
        let ce_datacontenttype = attributes.remove("datacontenttype");
        let datacontenttype = content_type
            .or(ce_datacontenttype)
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());

        let mut extensions = attributes;
        if let Some(traceparent) = w3c_traceparent {
            extensions
                .entry(TRACEPARENT_EXTENSION.to_owned())
                .or_insert(traceparent);
        }

        Ok(CloudEvent {
            id,
            source,
            ty,
            time,
            subject,
            datacontenttype,
            extensions,
        })
    }
}

/// The attributes of one event, borrowed: what goes into the Kafka headers.
///
/// [`CloudEvent::attributes`] gives them for an event; a producer that has the parts at hand
/// (the CRUD service, once per request) builds them directly and writes the headers without
/// building a [`CloudEvent`] first. The [`CloudEvent`] invariants apply.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    pub id: &'a str,
    pub source: &'a str,
    pub ty: &'a str,
    pub time: DateTime<Utc>,
    pub subject: Option<&'a str>,
    pub datacontenttype: &'a str,
    extensions: Extensions<'a>,
}

/// Extension attributes, in name order.
#[derive(Debug, Clone, Copy)]
enum Extensions<'a> {
    Map(&'a BTreeMap<String, String>),
    Sorted(&'a [(&'a str, &'a str)]),
}

impl<'a> Extensions<'a> {
    fn iter(self) -> impl Iterator<Item = (&'a str, &'a str)> {
        let (map, pairs) = match self {
            Extensions::Map(map) => (Some(map), None),
            Extensions::Sorted(pairs) => (None, Some(pairs)),
        };
        let from_map = map
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        from_map.chain(pairs.into_iter().flatten().copied())
    }
}

impl<'a> Attributes<'a> {
    /// The four attributes every civitas event has, `application/json` content, no subject
    /// and no extensions.
    pub fn new(id: &'a str, source: &'a str, ty: &'a str, time: DateTime<Utc>) -> Self {
        Self {
            id,
            source,
            ty,
            time,
            subject: None,
            datacontenttype: DEFAULT_CONTENT_TYPE,
            extensions: Extensions::Sorted(&[]),
        }
    }

    /// Sets the subject (`None` leaves it unset).
    #[must_use]
    pub fn with_subject(mut self, subject: Option<&'a str>) -> Self {
        self.subject = subject;
        self
    }

    /// Sets the extension attributes: lowercase names, sorted by name, each once (e.g.
    /// `[("correlationid", …), ("traceparent", …)]`).
    #[must_use]
    pub fn with_extensions(mut self, sorted: &'a [(&'a str, &'a str)]) -> Self {
        debug_assert!(
            sorted.windows(2).all(|w| w[0].0 < w[1].0),
            "extensions must be sorted by name, each once"
        );
        self.extensions = Extensions::Sorted(sorted);
        self
    }

    /// Hands each Kafka header to `put`, in this order: `ce_specversion`, `ce_id`,
    /// `ce_source`, `ce_type`, `ce_time`, `ce_subject` (if set), one `ce_<name>` per
    /// extension in name order, `content-type`, and `traceparent` (if that extension is
    /// set). Nothing is allocated for the usual event.
    ///
    /// `ce_time` is RFC 3339 in UTC with `Z` and six fractional digits, e.g.
    /// `2026-11-22T12:00:00.123456Z`.
    pub fn write_headers(&self, mut put: impl FnMut(&str, &str)) {
        put("ce_specversion", SPEC_VERSION);
        put("ce_id", self.id);
        put("ce_source", self.source);
        put("ce_type", self.ty);
        let mut time = [0u8; RFC3339_MICROS_LEN];
        put("ce_time", &rfc3339_micros(&self.time, &mut time));
        if let Some(subject) = self.subject {
            put("ce_subject", subject);
        }
        let mut traceparent = None;
        let mut name_buf = [0u8; 3 + 2 * MAX_EXTENSION_NAME_LEN];
        for (name, value) in self.extensions.iter() {
            if name == TRACEPARENT_EXTENSION {
                traceparent = Some(value);
            }
            let header = 3 + name.len();
            if header <= name_buf.len() {
                name_buf[..3].copy_from_slice(b"ce_");
                name_buf[3..header].copy_from_slice(name.as_bytes());
                // Both parts are UTF-8 and the split falls between them.
                match std::str::from_utf8(&name_buf[..header]) {
                    Ok(header) => put(header, value),
                    Err(_) => put(&format!("ce_{name}"), value),
                }
            } else {
                put(&format!("ce_{name}"), value);
            }
        }
        put("content-type", self.datacontenttype);
        if let Some(traceparent) = traceparent {
            put(TRACEPARENT_EXTENSION, traceparent);
        }
    }
}

/// Where a header read by [`CloudEvent::from_headers`] goes.
enum Slot<'n> {
    Attribute(&'n str),
    ContentType,
    W3cTraceparent,
}

fn check_extension_name(name: &str) -> Result<(), CloudEventError> {
    let invalid = |reason: String| CloudEventError::InvalidAttribute {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > MAX_EXTENSION_NAME_LEN {
        return Err(invalid(format!(
            "an extension name must be 1 to {MAX_EXTENSION_NAME_LEN} characters long"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(invalid(
            "an extension name may only contain lowercase letters a-z and digits 0-9".to_owned(),
        ));
    }
    if CORE_ATTRIBUTES.contains(&name) {
        return Err(invalid(
            "this is a CloudEvents context attribute, not an extension".to_owned(),
        ));
    }
    Ok(())
}

fn required_non_empty(
    attributes: &mut BTreeMap<String, String>,
    name: &'static str,
) -> Result<String, CloudEventError> {
    let value = attributes
        .remove(name)
        .ok_or(CloudEventError::MissingAttribute(name))?;
    if value.is_empty() {
        return Err(empty(name));
    }
    Ok(value)
}

fn set_once(slot: &mut Option<String>, name: &str, value: &str) -> Result<(), CloudEventError> {
    match slot {
        None => {
            *slot = Some(value.to_owned());
            Ok(())
        }
        Some(existing) if existing == value => Ok(()),
        Some(_) => Err(given_twice(name)),
    }
}

fn empty(name: &str) -> CloudEventError {
    CloudEventError::InvalidAttribute {
        name: name.to_owned(),
        reason: "must not be empty".to_owned(),
    }
}

fn given_twice(name: &str) -> CloudEventError {
    CloudEventError::InvalidAttribute {
        name: name.to_owned(),
        reason: "given more than once with different values".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
            + chrono::Duration::microseconds(123_456)
    }

    fn sample() -> CloudEvent {
        CloudEvent::new("/civitas/crud-service", "crud.update")
            .with_id("3f6c1a2e-0b7d-4c1e-9a55-2f0d1c8e7b10")
            .with_time(noon())
    }

    fn header<'a>(name: &'a str, value: &'a str) -> (&'a str, Option<&'a [u8]>) {
        (name, Some(value.as_bytes()))
    }

    fn decode(headers: &[(String, String)]) -> Result<CloudEvent, CloudEventError> {
        CloudEvent::from_headers(
            headers
                .iter()
                .map(|(name, value)| (name.as_str(), Some(value.as_bytes()))),
        )
    }

    /// The five headers every readable record needs, minus the one named `without`.
    fn required_headers_without(without: &str) -> Vec<(&'static str, Option<&'static [u8]>)> {
        [
            ("ce_specversion", "1.0"),
            ("ce_id", "42"),
            ("ce_source", "/civitas/crud-service"),
            ("ce_type", "crud.update"),
            ("ce_time", "2026-11-22T12:00:00Z"),
        ]
        .into_iter()
        .filter(|(name, _)| *name != without)
        .map(|(name, value)| (name, Some(value.as_bytes())))
        .collect()
    }

    fn with_extra(
        extra: &[(&'static str, &'static str)],
    ) -> Vec<(&'static str, Option<&'static [u8]>)> {
        let mut headers = required_headers_without("");
        headers.extend(
            extra
                .iter()
                .map(|(name, value)| (*name, Some(value.as_bytes()))),
        );
        headers
    }

    fn invalid_attribute_name(result: Result<impl std::fmt::Debug, CloudEventError>) -> String {
        match result {
            Err(CloudEventError::InvalidAttribute { name, .. }) => name,
            other => panic!("expected InvalidAttribute, got {other:?}"),
        }
    }

    #[test]
    fn a_new_event_has_a_uuid_v4_id_json_content_and_no_subject_or_extensions() {
        let event = CloudEvent::new("/civitas/crud-service", "crud.create");
        let id = uuid::Uuid::parse_str(&event.id).expect("id is a UUID");
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(event.source, "/civitas/crud-service");
        assert_eq!(event.ty, "crud.create");
        assert_eq!(event.datacontenttype, "application/json");
        assert_eq!(event.subject, None);
        assert!(event.extensions.is_empty());
        assert!((Utc::now() - event.time).num_seconds().abs() < 5);
    }

    #[test]
    fn two_new_events_get_different_ids() {
        let a = CloudEvent::new("/s", "t");
        let b = CloudEvent::new("/s", "t");
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn a_new_event_reads_back_equal_because_its_time_is_kept_to_microseconds() {
        let event = CloudEvent::new("/civitas/crud-service", "crud.create");
        assert_eq!(event.time.timestamp_subsec_nanos() % 1_000, 0);
        assert_eq!(decode(&event.to_headers()).unwrap(), event);
    }

    #[test]
    fn with_time_drops_precision_below_a_microsecond() {
        let time = noon() + chrono::Duration::nanoseconds(789);
        assert_eq!(sample().with_time(time).time, noon());
    }

    #[test]
    fn the_builders_set_id_subject_and_the_two_well_known_extensions() {
        let event = sample()
            .with_subject("entraid_contractors/user/E123456")
            .with_correlation_id("b1e5c2d4")
            .with_traceparent(TRACEPARENT);
        assert_eq!(event.id, "3f6c1a2e-0b7d-4c1e-9a55-2f0d1c8e7b10");
        assert_eq!(
            event.subject.as_deref(),
            Some("entraid_contractors/user/E123456")
        );
        assert_eq!(event.correlation_id(), Some("b1e5c2d4"));
        assert_eq!(event.traceparent(), Some(TRACEPARENT));
        assert_eq!(event.extensions["correlationid"], "b1e5c2d4");
        assert_eq!(event.extensions["traceparent"], TRACEPARENT);
    }

    #[test]
    fn the_getters_return_none_without_the_extensions() {
        assert_eq!(sample().correlation_id(), None);
        assert_eq!(sample().traceparent(), None);
    }

    #[test]
    fn headers_come_in_a_fixed_order_with_the_w3c_traceparent_last() {
        let event = sample()
            .with_subject("user/E123456")
            .with_traceparent(TRACEPARENT)
            .with_correlation_id("b1e5c2d4")
            .with_extension("tenant", "city")
            .unwrap();
        let expected: Vec<(String, String)> = [
            ("ce_specversion", "1.0"),
            ("ce_id", "3f6c1a2e-0b7d-4c1e-9a55-2f0d1c8e7b10"),
            ("ce_source", "/civitas/crud-service"),
            ("ce_type", "crud.update"),
            ("ce_time", "2026-11-22T12:00:00.123456Z"),
            ("ce_subject", "user/E123456"),
            ("ce_correlationid", "b1e5c2d4"),
            ("ce_tenant", "city"),
            ("ce_traceparent", TRACEPARENT),
            ("content-type", "application/json"),
            ("traceparent", TRACEPARENT),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(event.to_headers(), expected);
    }

    #[test]
    fn a_minimal_event_has_no_subject_extension_or_traceparent_headers() {
        let names: Vec<String> = sample().to_headers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "ce_specversion",
                "ce_id",
                "ce_source",
                "ce_type",
                "ce_time",
                "content-type"
            ]
        );
    }

    #[test]
    fn ce_time_always_has_six_fractional_digits_and_a_z() {
        let whole_second = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let headers = sample().with_time(whole_second).to_headers();
        let time = headers.iter().find(|(n, _)| n == "ce_time").unwrap();
        assert_eq!(time.1, "2026-01-02T03:04:05.000000Z");
    }

    #[test]
    fn with_extension_accepts_twenty_lowercase_letters_and_digits() {
        let name = "abcdefghij0123456789";
        let event = sample().with_extension(name, "v").unwrap();
        assert_eq!(event.extensions[name], "v");
    }

    #[test]
    fn with_extension_rejects_a_name_longer_than_twenty_characters() {
        let name = invalid_attribute_name(sample().with_extension("abcdefghij0123456789x", "v"));
        assert_eq!(name, "abcdefghij0123456789x");
    }

    #[test]
    fn with_extension_rejects_an_empty_name() {
        invalid_attribute_name(sample().with_extension("", "v"));
    }

    #[test]
    fn with_extension_rejects_uppercase_letters() {
        invalid_attribute_name(sample().with_extension("correlationId", "v"));
    }

    #[test]
    fn with_extension_rejects_separators_and_non_ascii_letters() {
        for name in ["tenant_id", "tenant-id", "tenant.id", "tenant id", "grüße"] {
            invalid_attribute_name(sample().with_extension(name, "v"));
        }
    }

    #[test]
    fn with_extension_rejects_the_names_of_context_attributes() {
        for name in CORE_ATTRIBUTES {
            assert_eq!(
                invalid_attribute_name(sample().with_extension(*name, "v")),
                *name
            );
        }
    }

    #[test]
    fn the_written_headers_read_back_as_the_same_event() {
        let event = sample()
            .with_subject("user/E123456")
            .with_correlation_id("b1e5c2d4")
            .with_traceparent(TRACEPARENT)
            .with_extension("tenant", "city")
            .unwrap();
        assert_eq!(decode(&event.to_headers()).unwrap(), event);
    }

    #[test]
    fn each_missing_required_attribute_is_reported_by_name() {
        for (header, attribute) in [
            ("ce_specversion", "specversion"),
            ("ce_id", "id"),
            ("ce_source", "source"),
            ("ce_type", "type"),
            ("ce_time", "time"),
        ] {
            assert_eq!(
                CloudEvent::from_headers(required_headers_without(header)),
                Err(CloudEventError::MissingAttribute(attribute))
            );
        }
    }

    #[test]
    fn a_header_without_a_value_counts_as_absent() {
        let mut headers = required_headers_without("ce_id");
        headers.push(("ce_id", None));
        assert_eq!(
            CloudEvent::from_headers(headers),
            Err(CloudEventError::MissingAttribute("id"))
        );
    }

    #[test]
    fn a_specversion_other_than_1_0_is_unsupported() {
        let mut headers = required_headers_without("ce_specversion");
        headers.push(header("ce_specversion", "0.3"));
        assert_eq!(
            CloudEvent::from_headers(headers),
            Err(CloudEventError::UnsupportedSpecVersion("0.3".to_owned()))
        );
    }

    #[test]
    fn an_empty_id_source_type_or_subject_is_invalid() {
        for (header_name, attribute) in [
            ("ce_id", "id"),
            ("ce_source", "source"),
            ("ce_type", "type"),
        ] {
            let mut headers = required_headers_without(header_name);
            headers.push(header(header_name, ""));
            assert_eq!(
                invalid_attribute_name(CloudEvent::from_headers(headers)),
                attribute
            );
        }
        let headers = with_extra(&[("ce_subject", "")]);
        assert_eq!(
            invalid_attribute_name(CloudEvent::from_headers(headers)),
            "subject"
        );
    }

    #[test]
    fn the_dash_prefix_is_read_like_the_underscore_prefix() {
        let headers = [
            header("ce-specversion", "1.0"),
            header("ce-id", "42"),
            header("ce-source", "/civitas/crud-service"),
            header("ce-type", "crud.update"),
            header("ce-time", "2026-11-22T12:00:00Z"),
            header("ce-subject", "user/E1"),
            header("ce-correlationid", "b1e"),
        ];
        let event = CloudEvent::from_headers(headers).unwrap();
        assert_eq!(event.id, "42");
        assert_eq!(event.subject.as_deref(), Some("user/E1"));
        assert_eq!(event.correlation_id(), Some("b1e"));
    }

    #[test]
    fn header_names_are_matched_case_insensitively() {
        let headers = [
            header("CE_SpecVersion", "1.0"),
            header("Ce_Id", "42"),
            header("CE-SOURCE", "/civitas/crud-service"),
            header("ce_Type", "crud.update"),
            header("CE_TIME", "2026-11-22T12:00:00Z"),
            header("Content-Type", "text/plain"),
            header("CE_CorrelationId", "b1e"),
        ];
        let event = CloudEvent::from_headers(headers).unwrap();
        assert_eq!(event.ty, "crud.update");
        assert_eq!(event.datacontenttype, "text/plain");
        assert_eq!(event.correlation_id(), Some("b1e"));
    }

    #[test]
    fn without_a_content_type_the_data_is_taken_as_json() {
        let event = CloudEvent::from_headers(required_headers_without("")).unwrap();
        assert_eq!(event.datacontenttype, "application/json");
    }

    #[test]
    fn ce_datacontenttype_is_read_when_there_is_no_content_type_header() {
        let event =
            CloudEvent::from_headers(with_extra(&[("ce_datacontenttype", "application/avro")]))
                .unwrap();
        assert_eq!(event.datacontenttype, "application/avro");
        assert!(event.extensions.is_empty());
    }

    #[test]
    fn the_content_type_header_wins_over_ce_datacontenttype() {
        let event = CloudEvent::from_headers(with_extra(&[
            ("ce_datacontenttype", "application/avro"),
            ("content-type", "application/cloudevents+json"),
        ]))
        .unwrap();
        assert_eq!(event.datacontenttype, "application/cloudevents+json");
    }

    #[test]
    fn a_time_with_an_offset_is_normalised_to_utc() {
        let mut headers = required_headers_without("ce_time");
        headers.push(header("ce_time", "2026-11-22T13:00:00.123456+01:00"));
        let event = CloudEvent::from_headers(headers).unwrap();
        assert_eq!(event.time, noon());
    }

    #[test]
    fn a_time_that_is_not_rfc_3339_is_an_invalid_attribute() {
        let mut headers = required_headers_without("ce_time");
        headers.push(header("ce_time", "22.11.2026 12:00"));
        assert_eq!(
            invalid_attribute_name(CloudEvent::from_headers(headers)),
            "time"
        );
    }

    #[test]
    fn a_value_that_is_not_utf8_is_reported_with_the_header_name_as_given() {
        let mut headers = required_headers_without("ce_source");
        headers.push(("Ce_Source", Some(&[0x66, 0xff, 0x6f][..])));
        assert_eq!(
            CloudEvent::from_headers(headers),
            Err(CloudEventError::NotUtf8("Ce_Source".to_owned()))
        );
    }

    #[test]
    fn a_foreign_header_is_ignored_even_when_it_is_not_utf8() {
        let mut headers = with_extra(&[("x-request-id", "abc"), ("kafka_key", "k")]);
        headers.push(("x-binary", Some(&[0xff, 0xfe][..])));
        let event = CloudEvent::from_headers(headers).unwrap();
        assert!(event.extensions.is_empty());
    }

    #[test]
    fn unknown_ce_headers_become_lowercased_extensions() {
        let event = CloudEvent::from_headers(with_extra(&[
            ("ce_Tenant", "city"),
            ("ce-partitionkey", "p1"),
        ]))
        .unwrap();
        let expected: BTreeMap<String, String> = [("tenant", "city"), ("partitionkey", "p1")]
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(event.extensions, expected);
    }

    #[test]
    fn the_plain_traceparent_header_is_used_when_there_is_no_ce_traceparent() {
        let event = CloudEvent::from_headers(with_extra(&[("traceparent", TRACEPARENT)])).unwrap();
        assert_eq!(event.traceparent(), Some(TRACEPARENT));
    }

    #[test]
    fn ce_traceparent_wins_over_the_plain_traceparent_header() {
        let other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let event = CloudEvent::from_headers(with_extra(&[
            ("traceparent", other),
            ("ce_traceparent", TRACEPARENT),
        ]))
        .unwrap();
        assert_eq!(event.traceparent(), Some(TRACEPARENT));
    }

    #[test]
    fn an_attribute_given_twice_with_different_values_is_rejected() {
        let headers = with_extra(&[("ce-id", "43")]);
        assert_eq!(
            invalid_attribute_name(CloudEvent::from_headers(headers)),
            "id"
        );
    }

    #[test]
    fn an_attribute_repeated_with_the_same_value_is_accepted() {
        let event = CloudEvent::from_headers(with_extra(&[("ce-id", "42")])).unwrap();
        assert_eq!(event.id, "42");
    }

    fn non_empty_string() -> impl Strategy<Value = String> {
        any::<String>().prop_filter("must not be empty", |s| !s.is_empty())
    }

    fn extension_name() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,20}".prop_filter("must not be a context attribute", |name| {
            !CORE_ATTRIBUTES.contains(&name.as_str())
        })
    }

    fn microsecond_time() -> impl Strategy<Value = DateTime<Utc>> {
        // 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z: the years RFC 3339 can write.
        (-62_135_596_800_i64..=253_402_300_799_i64, 0_u32..1_000_000).prop_map(
            |(seconds, micros)| DateTime::from_timestamp(seconds, micros * 1_000).unwrap(),
        )
    }

    prop_compose! {
        fn any_event()(
            id in non_empty_string(),
            source in non_empty_string(),
            ty in non_empty_string(),
            time in microsecond_time(),
            subject in proptest::option::of(non_empty_string()),
            datacontenttype in non_empty_string(),
            extensions in proptest::collection::btree_map(extension_name(), any::<String>(), 0..6),
        ) -> CloudEvent {
            CloudEvent { id, source, ty, time, subject, datacontenttype, extensions }
        }
    }

    proptest! {
        #[test]
        fn any_event_reads_back_from_its_headers_unchanged(event in any_event()) {
            prop_assert_eq!(decode(&event.to_headers()), Ok(event));
        }

        #[test]
        fn borrowed_attributes_write_the_headers_of_the_same_event(event in any_event()) {
            let pairs: Vec<(&str, &str)> =
                event.extensions.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut attributes = Attributes::new(&event.id, &event.source, &event.ty, event.time)
                .with_subject(event.subject.as_deref())
                .with_extensions(&pairs);
            attributes.datacontenttype = &event.datacontenttype;
            let mut written = Vec::new();
            attributes.write_headers(|n, v| written.push((n.to_owned(), v.to_owned())));
            prop_assert_eq!(written, event.to_headers());
        }
    }

    #[test]
    fn a_time_outside_four_digit_years_is_still_written() {
        let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        let headers = sample().with_time(far).to_headers();
        let time = headers.iter().find(|(n, _)| n == "ce_time").unwrap();
        assert_eq!(
            time.1,
            far.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        );
    }
}
