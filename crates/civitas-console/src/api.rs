//! The console's JSON reads. Everything from Kafka goes through the
//! [`Reader`] behind `civitas tail` and `trace` and is masked as they mask it
//! ([`record_json`]); searches and summaries take turns ([`MAX_SCANS`](super::MAX_SCANS))
//! and are bounded in time (`since`) and in what they return.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use civitas_kafka::{ConsumedRecord, Filter, KafkaError, Reader};
use civitas_topics::{AclMatrix, Catalog, CrudTopics, Family, TopicName};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ConsoleError;
use super::visibility::Visibility;
use super::{Console, ConsoleSettings};
use civitas_auth::Caller;

/// The caller, when callers are authenticated (the layer in front of the console's data).
pub type MaybeCaller = Option<Extension<Caller>>;

/// What only platform-wide readers see, under a policy.
fn platform_only(visibility: &Visibility) -> Result<(), ConsoleError> {
    if visibility.sees_platform() {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "under the authorization policy this view is for platform-wide readers (a rule that covers every system and may read)".to_owned(),
        ))
    }
}

/// Records a search returns at most (the first ones in time; the count says how many matched).
const MAX_TIMELINE: usize = 1000;
/// Failures and secret events listed at most (the newest); the summaries count them all.
const MAX_LISTED: usize = 200;
/// Distinct error messages counted at most; later new ones count under "(other)".
const MAX_MESSAGES: usize = 1000;
/// How long one search or summary may read: then it answers with what it found, marked
/// `cut_short` (narrow the time range).
const SCAN_TIME: std::time::Duration = std::time::Duration::from_secs(60);

/// A reader for one search or summary, stopping at [`SCAN_TIME`].
fn scan_reader(settings: &ConsoleSettings) -> Result<Reader, KafkaError> {
    let mut reader = Reader::connect(&settings.kafka)?;
    reader.stop_at(std::time::Instant::now() + SCAN_TIME);
    Ok(reader)
}

/// Longest value of a filter field or search.
const MAX_QUERY_LEN: usize = 512;

fn bad_query(rejection: QueryRejection) -> ConsoleError {
    ConsoleError::BadRequest(rejection.body_text())
}

/// The filters of the live view (and its links).
#[derive(Debug, Default, Deserialize)]
pub struct RecordQuery {
    /// `1`/`true`/`on`: failures only, by the seed's rule.
    pub failed: Option<String>,
    /// The envelope's `data.system`.
    pub system: Option<String>,
    /// The envelope's `data.operation`.
    pub action: Option<String>,
    pub correlation_id: Option<String>,
    /// `name=value`: the record must carry that header with that value.
    pub header: Option<String>,
}

/// A [`RecordQuery`] made usable: what the reader matches (headers first) and what only the
/// value can tell.
#[derive(Debug, Clone)]
pub struct CompiledQuery {
    pub kafka: Filter,
    system: Option<String>,
    action: Option<String>,
}

impl RecordQuery {
    pub fn compile(&self) -> Result<CompiledQuery, ConsoleError> {
        let field = |name: &str, value: &Option<String>| -> Result<Option<String>, ConsoleError> {
            match value.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(v) if v.len() > MAX_QUERY_LEN => Err(ConsoleError::BadRequest(format!(
                    "{name} is at most {MAX_QUERY_LEN} bytes"
                ))),
                Some(v) => Ok(Some(v.to_owned())),
            }
        };
        let failed = match field("failed", &self.failed)?.as_deref() {
            None | Some("0" | "false" | "off") => false,
            Some("1" | "true" | "on") => true,
            Some(other) => {
                return Err(ConsoleError::BadRequest(format!(
                    "failed is 1 or 0, not {other:?}"
                )));
            }
        };
        let headers = match field("header", &self.header)? {
            None => Vec::new(),
            Some(text) => {
                let Some((name, value)) = text.split_once('=') else {
                    return Err(ConsoleError::BadRequest(format!(
                        "header is name=value, e.g. ce_subject=local/user/max; {text:?} has no ="
                    )));
                };
                if name.trim().is_empty() {
                    return Err(ConsoleError::BadRequest(
                        "header needs a name before the =".to_owned(),
                    ));
                }
                vec![(name.trim().to_owned(), value.to_owned())]
            }
        };
        Ok(CompiledQuery {
            kafka: Filter {
                failed,
                correlation_id: field("correlation_id", &self.correlation_id)?,
                headers,
            },
            system: field("system", &self.system)?,
            action: field("action", &self.action)?,
        })
    }
}

impl CompiledQuery {
    /// Whether `record` passes what the reader could not check: system and action.
    pub fn keeps(&self, record: &ConsumedRecord) -> bool {
        let data = |key: &str| {
            record
                .value
                .get("data")
                .and_then(|d| d.get(key))
                .and_then(Value::as_str)
        };
        self.system
            .as_deref()
            .is_none_or(|s| data("system") == Some(s))
            && self
                .action
                .as_deref()
                .is_none_or(|a| data("operation") == Some(a))
    }
}

/// A record as the console shows it: masked as `civitas tail` masks, with its one-line form.
pub fn record_json(record: &ConsumedRecord) -> Value {
    let masked = civitas_kafka::display::masked(record);
    json!({
        "line": civitas_kafka::display::escape_controls(&civitas_kafka::display::human_line(&masked)),
        "correlation_id": masked.correlation_id(),
        "subject": masked.header("ce_subject"),
        "failure": masked.is_failure() || masked.value.get("event_type").and_then(Value::as_str) == Some("validation_error"),
        "timestamp": event_time(&masked).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        "record": masked.to_json(),
    })
}

/// When it happened: the envelope's `timestamp`, else the record's.
fn event_time(record: &ConsumedRecord) -> Option<DateTime<Utc>> {
    record
        .value
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .or(record.timestamp)
}

/// The topics a view reads: `None` the crud topics but `crud.metrics` (a snapshot a minute
/// of each type would crowd the events out; the health view charts them), `config` and
/// `saga` those families on the cluster, else one topic the cluster has.
pub async fn topics_for(
    settings: &ConsoleSettings,
    topic: Option<&str>,
) -> Result<Vec<String>, ConsoleError> {
    let crud: Vec<String> = CrudTopics::in_context(&settings.naming)
        .all()
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    let topic = topic.map(str::trim).filter(|t| !t.is_empty());
    let Some(topic) = topic else {
        let metrics = CrudTopics::in_context(&settings.naming).metrics.to_string();
        return Ok(crud.into_iter().filter(|t| *t != metrics).collect());
    };
    if crud.iter().any(|t| t == topic) {
        return Ok(vec![topic.to_owned()]);
    }
    let settings = settings.clone();
    let topic = topic.to_owned();
    blocking(move || {
        let reader = Reader::connect(&settings.kafka)?;
        let on_cluster = reader.topics()?;
        let family = |name: &str| {
            TopicName::parse(name, &settings.naming)
                .ok()
                .map(|t| t.family())
        };
        let chosen: Vec<String> = match topic.as_str() {
            "config" => on_cluster
                .into_iter()
                .filter(|t| family(t) == Some(Family::ConfigEvent))
                .collect(),
            "saga" => on_cluster
                .into_iter()
                .filter(|t| family(t) == Some(Family::Saga))
                .collect(),
            name if on_cluster.iter().any(|t| t == name) && !name.starts_with("__") => {
                vec![name.to_owned()]
            }
            name => {
                return Ok(Err(ConsoleError::NotFound(format!(
                    "the cluster has no topic {name:?}"
                ))));
            }
        };
        if chosen.is_empty() {
            return Ok(Err(ConsoleError::NotFound(format!(
                "the cluster has no {topic} topics yet"
            ))));
        }
        Ok(Ok(chosen))
    })
    .await?
}

/// Runs a blocking Kafka read off the runtime; a broker that cannot be reached is a 503.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, ConsoleError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(ConsoleError::Unavailable(
            format!(
                "the broker did not answer: {}",
                civitas_kafka::consume::error_chain(&error)
            ),
            Some(5),
        )),
        Err(join) => Err(ConsoleError::Internal(format!(
            "a Kafka read failed: {join}"
        ))),
    }
}

/// A scan's turn: at most [`MAX_SCANS`](super::MAX_SCANS) at once, the others wait.
async fn scan_turn(console: &Console) -> Result<tokio::sync::OwnedSemaphorePermit, ConsoleError> {
    console
        .scans
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ConsoleError::Unavailable("the console is shutting down".to_owned(), None))
}

#[derive(Debug, Deserialize)]
pub struct SinceQuery {
    /// `15m`, `1h`, `24h`, `7d` or `all`.
    pub since: Option<String>,
}

/// `since` as a time; `None` for `all`.
fn since_time(text: Option<&str>, default: &str) -> Result<Option<DateTime<Utc>>, ConsoleError> {
    let text = text
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(default);
    let age = match text {
        "all" => return Ok(None),
        "15m" => chrono::Duration::minutes(15),
        "1h" => chrono::Duration::hours(1),
        "24h" | "1d" => chrono::Duration::hours(24),
        "7d" => chrono::Duration::days(7),
        other => {
            return Err(ConsoleError::BadRequest(format!(
                "since is 15m, 1h, 24h, 7d or all, not {other:?}"
            )));
        }
    };
    Ok(Some(Utc::now() - age))
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    /// A correlation id (a request's, a workflow run's, a saga's) or an object id
    /// `system/object_type/id`.
    pub q: Option<String>,
    pub since: Option<String>,
}

/// `GET /console/api/search?q=&since=`: the timeline of one id across the platform's topics.
pub async fn search(
    State(console): State<Arc<Console>>,
    caller: MaybeCaller,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Value>, ConsoleError> {
    let Query(query) = query.map_err(bad_query)?;
    let visibility = Visibility::of(&console, caller.as_deref());
    let q = query
        .q
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if q.is_empty() {
        return Ok(Json(
            json!({"query": q, "kind": null, "records": [], "matched": 0}),
        ));
    }
    if q.len() > MAX_QUERY_LEN {
        return Err(ConsoleError::BadRequest(format!(
            "the id is at most {MAX_QUERY_LEN} bytes"
        )));
    }
    let since = since_time(query.since.as_deref(), "24h")?;
    // `system/type/id` is an object: its records carry it as `ce_subject`.
    let (kind, filter) = if q.contains('/') {
        let filter = Filter {
            headers: vec![("ce_subject".to_owned(), q.clone())],
            ..Filter::default()
        };
        ("object", filter)
    } else {
        let filter = Filter {
            correlation_id: Some(q.clone()),
            ..Filter::default()
        };
        ("correlation", filter)
    };
    let _turn = scan_turn(&console).await?;
    let settings = console.settings.clone();
    let (records, matched, topics, cut_short) = blocking(move || {
        let reader = scan_reader(&settings)?;
        let topics = reader.platform_topics(&settings.naming, false)?;
        let mut records = reader.scan(&topics, &filter, since)?;
        records.retain(|r| visibility.sees(r));
        let matched = records.len();
        records.truncate(MAX_TIMELINE);
        Ok((records, matched, topics.len(), reader.cut_short()))
    })
    .await?;
    let first = records.first().and_then(event_time);
    let entries: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut entry = record_json(r);
            entry["offset_ms"] = match (first, event_time(r)) {
                (Some(a), Some(b)) => {
                    json!((b - a).num_microseconds().unwrap_or(0) as f64 / 1000.0)
                }
                _ => Value::Null,
            };
            entry
        })
        .collect();
    Ok(Json(json!({
        "query": q,
        "kind": kind,
        "topics": topics,
        "matched": matched,
        "shown": entries.len(),
        "cut_short": cut_short,
        "records": entries,
    })))
}

/// The newest `MAX_LISTED` of what it is given, without holding more than twice that.
#[derive(Debug, Default)]
struct Newest(Vec<ConsumedRecord>);

impl Newest {
    fn push(&mut self, record: ConsumedRecord) {
        self.0.push(record);
        if self.0.len() >= 2 * MAX_LISTED {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.0.sort_by_key(|r| std::cmp::Reverse(event_time(r)));
        self.0.truncate(MAX_LISTED);
    }

    fn into_json(mut self, first: impl Fn(&ConsumedRecord) -> bool) -> Vec<Value> {
        self.trim();
        // Stable: within each part, newest first.
        self.0.sort_by_key(|r| !first(r));
        self.0.iter().map(record_json).collect()
    }
}

/// Counts of distinct messages, bounded.
#[derive(Debug, Default)]
struct Messages(HashMap<String, u64>);

impl Messages {
    fn count(&mut self, message: String) {
        let message: String = message.chars().take(300).collect();
        if self.0.len() < MAX_MESSAGES || self.0.contains_key(&message) {
            *self.0.entry(message).or_default() += 1;
        } else {
            *self.0.entry("(other messages)".to_owned()).or_default() += 1;
        }
    }

    fn top(self, n: usize) -> Vec<Value> {
        let mut all: Vec<(String, u64)> = self.0.into_iter().collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.into_iter()
            .take(n)
            .map(|(message, count)| json!({"message": message, "count": count}))
            .collect()
    }
}

fn data_str<'a>(record: &'a ConsumedRecord, key: &str) -> Option<&'a str> {
    record
        .value
        .get("data")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
}

/// `GET /console/api/failures?since=1h|24h`: failed operations and validation errors.
pub async fn failures(
    State(console): State<Arc<Console>>,
    caller: MaybeCaller,
    query: Result<Query<SinceQuery>, QueryRejection>,
) -> Result<Json<Value>, ConsoleError> {
    let Query(query) = query.map_err(bad_query)?;
    let visibility = Visibility::of(&console, caller.as_deref());
    let since = since_time(query.since.as_deref(), "1h")?;
    let crud = CrudTopics::in_context(&console.settings.naming);
    let (operations, errors) = (crud.operations.to_string(), crud.errors.to_string());
    let _turn = scan_turn(&console).await?;
    let settings = console.settings.clone();
    let result = blocking(move || {
        let reader = scan_reader(&settings)?;
        let mut groups: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut messages = Messages::default();
        let mut latest = Newest::default();
        let mut total = 0u64;
        reader.scan_each(
            &[operations.clone(), errors.clone()],
            &Filter::default(),
            since,
            |record| {
                let validation = record.topic == errors;
                if !validation && !record.is_failure() || !visibility.sees(&record) {
                    return;
                }
                total += 1;
                if validation {
                    groups
                        .entry(("(request)".to_owned(), "validation".to_owned()))
                        .and_modify(|n| *n += 1)
                        .or_insert(1);
                    for error in record
                        .value
                        .pointer("/data/errors")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let loc: Vec<String> = error
                            .get("loc")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                            .collect();
                        let msg = error.get("msg").and_then(Value::as_str).unwrap_or("");
                        messages.count(format!("{}: {msg}", loc.join(".")));
                    }
                } else {
                    let key = (
                        data_str(&record, "system").unwrap_or("-").to_owned(),
                        data_str(&record, "operation").unwrap_or("-").to_owned(),
                    );
                    *groups.entry(key).or_default() += 1;
                    let masked = civitas_kafka::display::masked(&record);
                    let error = masked.value.pointer("/data/error").map_or_else(
                        || "(no message)".to_owned(),
                        |e| e.as_str().map_or_else(|| e.to_string(), str::to_owned),
                    );
                    messages.count(error);
                }
                latest.push(record);
            },
        )?;
        let mut groups: Vec<Value> = groups
            .into_iter()
            .map(|((system, action), count)| json!({"system": system, "action": action, "count": count}))
            .collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g["count"].as_u64()));
        Ok(json!({
            "total": total,
            "cut_short": reader.cut_short(),
            "groups": groups,
            "messages": messages.top(20),
            "latest": latest.into_json(|_| true),
        }))
    })
    .await?;
    Ok(Json(result))
}

/// `GET /console/api/secrets?since=`: secret access by provider and outcome, errors first.
pub async fn secrets(
    State(console): State<Arc<Console>>,
    caller: MaybeCaller,
    query: Result<Query<SinceQuery>, QueryRejection>,
) -> Result<Json<Value>, ConsoleError> {
    let Query(query) = query.map_err(bad_query)?;
    // Secret events name no system: platform-wide readers only, under a policy.
    platform_only(&Visibility::of(&console, caller.as_deref()))?;
    let since = since_time(query.since.as_deref(), "24h")?;
    let topic = CrudTopics::in_context(&console.settings.naming)
        .secrets_audit
        .to_string();
    let _turn = scan_turn(&console).await?;
    let settings = console.settings.clone();
    let result = blocking(move || {
        let reader = scan_reader(&settings)?;
        let mut groups: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut latest = Newest::default();
        reader.scan_each(std::slice::from_ref(&topic), &Filter::default(), since, |record| {
            let provider = data_str(&record, "vault_type").unwrap_or("-").to_owned();
            let outcome = outcome(&record);
            *groups.entry((provider, outcome.to_owned())).or_default() += 1;
            latest.push(record);
        })?;
        let mut groups: Vec<Value> = groups
            .into_iter()
            .map(|((provider, outcome), count)| json!({"provider": provider, "outcome": outcome, "count": count}))
            .collect();
        groups.sort_by_key(|g| (g["outcome"] != "error", std::cmp::Reverse(g["count"].as_u64())));
        Ok(json!({
            "topic": topic,
            "cut_short": reader.cut_short(),
            "groups": groups,
            "latest": latest.into_json(|r| outcome(r) == "error"),
        }))
    })
    .await?;
    Ok(Json(result))
}

/// `error`, `cached` or `ok`.
fn outcome(record: &ConsumedRecord) -> &'static str {
    let data = record.value.get("data");
    if record.is_failure() {
        "error"
    } else if data.and_then(|d| d.get("cached")) == Some(&Value::Bool(true)) {
        "cached"
    } else {
        "ok"
    }
}

/// The catalog under the console's naming context, with who may write and read each topic:
/// made once, when the console starts (the catalog and the ACL matrix are built in).
#[derive(Debug)]
pub struct TopicCatalog {
    /// One object a topic: name, family, settings, writers and readers.
    entries: Vec<Value>,
    /// Why writers and readers are unknown, when the shipped matrix does not fit.
    access_note: Option<String>,
}

impl TopicCatalog {
    pub fn new(naming: &civitas_topics::NamingContext) -> Self {
        let mut catalog = Catalog::embedded();
        catalog.set_naming(naming);
        // The shipped matrix names the default topics: under another crud prefix it does not
        // load, and the view says so instead of guessing.
        let acls = AclMatrix::from_yaml(
            civitas_topics::acl::EMBEDDED_ACLS,
            civitas_topics::acl::EMBEDDED_ACLS_FILE,
            naming,
        );
        let access_note = acls.as_ref().err().map(|e| {
            format!("the shipped ACL matrix does not fit this naming context ({e}); `civitas acls who --matrix FILE` reads your own")
        });
        let acls = acls.ok();
        let access = |list: Vec<civitas_topics::acl::Access>| -> Vec<String> {
            list.iter().map(ToString::to_string).collect()
        };
        let entries = catalog
            .topics()
            .into_iter()
            .map(|spec| {
                let name = spec.name.to_string();
                let who = acls.as_ref().map(|m| m.who(&name));
                json!({
                    "name": name,
                    "family": spec.family().id(),
                    "partitions": spec.settings.partitions,
                    "replicas": spec.settings.replicas,
                    "retention": spec.settings.retention_human(),
                    "cleanup": spec.settings.cleanup_policy.as_str(),
                    "configs": spec.settings.configs(),
                    "writers": who.clone().map(|w| access(w.writers)),
                    "readers": who.map(|w| access(w.readers)),
                })
            })
            .collect();
        Self {
            entries,
            access_note,
        }
    }
}

/// `GET /console/api/topics`: the catalog with settings, who may write and read each topic
/// (as `civitas acls who`), and whether the cluster has it.
pub async fn topics(State(console): State<Arc<Console>>) -> Result<Json<Value>, ConsoleError> {
    let settings = console.settings.clone();
    // The cluster's view is a nice-to-have: without a broker the catalog still shows.
    let on_cluster = blocking(move || Reader::connect(&settings.kafka)?.topics())
        .await
        .ok();
    let topics: Vec<Value> = console
        .topic_catalog
        .entries
        .iter()
        .map(|entry| {
            let mut entry = entry.clone();
            let name = entry["name"].as_str().unwrap_or_default();
            entry["on_cluster"] = json!(on_cluster.as_ref().map(|t| t.iter().any(|n| n == name)));
            entry
        })
        .collect();
    Ok(Json(json!({
        "topics": topics,
        "cluster_reached": on_cluster.is_some(),
        "access_note": console.topic_catalog.access_note,
    })))
}

#[derive(Debug, Deserialize)]
pub struct LimitQuery {
    pub limit: Option<i64>,
}

/// `GET /console/api/sagas`: the newest sagas from the saga store.
pub async fn sagas(
    State(console): State<Arc<Console>>,
    caller: MaybeCaller,
    query: Result<Query<LimitQuery>, QueryRejection>,
) -> Result<Json<Value>, ConsoleError> {
    let Query(query) = query.map_err(bad_query)?;
    platform_only(&Visibility::of(&console, caller.as_deref()))?;
    let Some(source) = &console.settings.sagas else {
        return Ok(Json(json!({
            "sagas": [],
            "store": null,
            "note": "this service reads no saga store: civitas up has it; for serve crud pass --saga-store with the orchestrator's database URL",
        })));
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    let sagas = source.list(limit).await.map_err(|e| {
        ConsoleError::Unavailable(format!("the saga store did not answer: {e}"), Some(5))
    })?;
    Ok(Json(json!({"sagas": sagas, "store": true})))
}

/// `GET /console/api/sagas/{id}`: one saga (id, unique id prefix or dataset id).
pub async fn saga(
    State(console): State<Arc<Console>>,
    caller: MaybeCaller,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<Value>, ConsoleError> {
    let Path(id) = id.map_err(|r| ConsoleError::BadRequest(r.body_text()))?;
    platform_only(&Visibility::of(&console, caller.as_deref()))?;
    if id.is_empty() || id.len() > MAX_QUERY_LEN {
        return Err(ConsoleError::BadRequest(format!(
            "a saga id is 1 to {MAX_QUERY_LEN} bytes"
        )));
    }
    let Some(source) = &console.settings.sagas else {
        return Err(ConsoleError::NotFound(
            "this service reads no saga store (--saga-store)".to_owned(),
        ));
    };
    match source.show(&id).await {
        Ok(Some(saga)) => Ok(Json(saga)),
        Ok(None) => Err(ConsoleError::NotFound(format!("no saga {id:?}"))),
        Err(e) => Err(ConsoleError::Unavailable(
            format!("the saga store did not answer: {e}"),
            Some(5),
        )),
    }
}

/// Snapshots of each type the health view charts (one a minute by default: the last hour).
const METRIC_HISTORY: usize = 60;

/// `GET /console/api/metrics`: the newest `crud.metrics` snapshots of each type, oldest
/// first (`history`), and the newest of each (`snapshots`).
pub async fn metrics(
    State(console): State<Arc<Console>>,
    caller: MaybeCaller,
) -> Result<Json<Value>, ConsoleError> {
    platform_only(&Visibility::of(&console, caller.as_deref()))?;
    let topic = CrudTopics::in_context(&console.settings.naming)
        .metrics
        .to_string();
    let settings = console.settings.clone();
    // Six types a window; a few more for snapshots of other instances.
    let wanted = METRIC_HISTORY * 8;
    let records = blocking(move || {
        let reader = Reader::connect(&settings.kafka)?;
        match reader.tail(&topic, wanted, &Filter::default()) {
            Err(KafkaError::UnknownTopic(_)) => Ok(Vec::new()),
            other => other,
        }
    })
    .await?;
    let mut history: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for record in records {
        let Some(data) = record.value.get("data") else {
            continue;
        };
        let Some(kind) = data.get("metric_type").and_then(Value::as_str) else {
            continue;
        };
        history
            .entry(kind.to_owned())
            .or_default()
            .push(data.clone());
    }
    let mut newest = serde_json::Map::new();
    for (kind, list) in &mut history {
        let skip = list.len().saturating_sub(METRIC_HISTORY);
        list.drain(..skip);
        if let Some(last) = list.last() {
            newest.insert(kind.clone(), last.clone());
        }
    }
    Ok(Json(json!({"snapshots": newest, "history": history})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(data: Value) -> ConsumedRecord {
        ConsumedRecord {
            topic: "crud.operations".into(),
            partition: 0,
            offset: 0,
            timestamp: None,
            key: None,
            headers: vec![("ce_subject".into(), "local/user/max".into())],
            value: json!({ "event_type": "create", "data": data }),
        }
    }

    fn query(pairs: &[(&str, &str)]) -> RecordQuery {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        RecordQuery {
            failed: get("failed"),
            system: get("system"),
            action: get("action"),
            correlation_id: get("correlation_id"),
            header: get("header"),
        }
    }

    #[test]
    fn an_empty_query_keeps_every_record_and_asks_the_reader_for_nothing() {
        let compiled = query(&[]).compile().unwrap();
        assert!(!compiled.kafka.failed);
        assert!(compiled.kafka.headers.is_empty());
        assert!(compiled.keeps(&record(json!({"system": "local"}))));
    }

    #[test]
    fn system_and_action_keep_only_records_of_that_system_and_operation() {
        let compiled = query(&[("system", "local"), ("action", "create")])
            .compile()
            .unwrap();
        assert!(compiled.keeps(&record(json!({"system": "local", "operation": "create"}))));
        assert!(!compiled.keeps(&record(json!({"system": "kc", "operation": "create"}))));
        assert!(!compiled.keeps(&record(json!({"system": "local", "operation": "delete"}))));
        assert!(!compiled.keeps(&record(json!({}))));
    }

    #[test]
    fn a_header_filter_is_a_name_and_a_value_for_the_reader() {
        let compiled = query(&[("header", " ce_subject=local/user/max")])
            .compile()
            .unwrap();
        assert_eq!(
            compiled.kafka.headers,
            [("ce_subject".to_owned(), "local/user/max".to_owned())]
        );
    }

    #[test]
    fn a_header_without_a_name_or_an_equals_sign_is_a_400() {
        for bad in ["ce_subject", "=value"] {
            let error = query(&[("header", bad)]).compile().unwrap_err();
            assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn failed_is_one_or_zero_and_anything_else_is_a_400() {
        assert!(query(&[("failed", "1")]).compile().unwrap().kafka.failed);
        assert!(!query(&[("failed", "off")]).compile().unwrap().kafka.failed);
        assert!(query(&[("failed", "yes please")]).compile().is_err());
    }

    #[test]
    fn a_filter_longer_than_512_bytes_is_a_400() {
        let long = "x".repeat(MAX_QUERY_LEN + 1);
        assert!(query(&[("correlation_id", &long)]).compile().is_err());
        assert!(
            query(&[("correlation_id", &long[..MAX_QUERY_LEN])])
                .compile()
                .is_ok()
        );
    }
}
