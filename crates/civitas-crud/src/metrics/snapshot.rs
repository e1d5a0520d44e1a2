//! The `crud.metrics` snapshots, made from the `/metrics` text itself (one source for both):
//! the text is parsed, counters become counts within the window (since the previous
//! snapshot), gauges are taken as they are, and latency percentiles come from the
//! histogram's buckets within the window (each reported as its bucket's upper bound, in
//! milliseconds: an upper estimate, as Prometheus' `histogram_quantile` would interpolate).
//!
//! Types (docs/operations.md lists every field): `execute`, `connector`, `publisher`,
//! `workflow`, `secrets`, and `saga` where the saga runs in the process (`civitas up`).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Utc;
use civitas_events::MetricsData;
use serde_json::{Map, Value, json};

/// One sample line: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format's sample lines (comments and malformed lines are
/// skipped: the text is our own).
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = value.trim().parse().ok()?;
    let (name, labels) = match head.split_once('{') {
        None => (head.to_owned(), BTreeMap::new()),
        Some((name, rest)) => (name.to_owned(), parse_labels(rest.strip_suffix('}')?)?),
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// `a="x",b="y\"z"` → {a: x, b: y"z}.
fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek() == Some(&',') || chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(labels);
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if chars.next() != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        }
        labels.insert(name, value);
    }
}

/// The figures of the previous snapshot, to count within the window.
#[derive(Debug)]
pub struct Snapshots {
    previous: BTreeMap<String, f64>,
    at: Instant,
}

impl Default for Snapshots {
    fn default() -> Self {
        Self {
            previous: BTreeMap::new(),
            at: Instant::now(),
        }
    }
}

/// A sample's identity: name and labels.
fn identity(sample: &Sample) -> String {
    let labels: Vec<String> = sample
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{}{{{}}}", sample.name, labels.join(","))
}

impl Snapshots {
    /// The snapshots of every type from `/metrics`'s `text`, counting since the previous call.
    pub fn take(&mut self, text: &str) -> Vec<MetricsData> {
        let samples = parse(text);
        let window_seconds = self.at.elapsed().as_secs();
        let mut current = BTreeMap::new();
        // Counters become counts within the window; a counter that went down was reset.
        let windowed: Vec<Sample> = samples
            .into_iter()
            .map(|mut sample| {
                let id = identity(&sample);
                current.insert(id.clone(), sample.value);
                let is_counter = sample.name.ends_with("_total")
                    || sample.name.ends_with("_bucket")
                    || sample.name.ends_with("_count")
                    || sample.name.ends_with("_sum");
                if is_counter {
                    let before = self.previous.get(&id).copied().unwrap_or(0.0);
                    if sample.value >= before {
                        sample.value -= before;
                    }
                }
                sample
            })
            .collect();
        self.previous = current;
        self.at = Instant::now();
        let timestamp = Utc::now();
        let snapshot = |metric_type: &str, values: Value| MetricsData {
            metric_type: metric_type.to_owned(),
            window_seconds,
            values,
            timestamp,
        };
        let mut snapshots = vec![
            snapshot("execute", execute(&windowed)),
            snapshot("connector", connector(&windowed)),
            snapshot("publisher", publisher(&windowed)),
            snapshot("workflow", workflow(&windowed)),
            snapshot("secrets", secrets(&windowed)),
        ];
        // Only where the saga runs in this process (`civitas up`).
        if windowed.iter().any(|s| s.name.starts_with("civitas_saga_")) {
            snapshots.push(snapshot("saga", saga(&windowed)));
        }
        snapshots
    }
}

fn named<'a>(samples: &'a [Sample], name: &'a str) -> impl Iterator<Item = &'a Sample> {
    samples.iter().filter(move |s| s.name == name)
}

fn label<'a>(sample: &'a Sample, name: &str) -> &'a str {
    sample.labels.get(name).map_or("", String::as_str)
}

/// Adds `value` at `path` in `map`, creating the objects on the way.
fn add(map: &mut Map<String, Value>, path: &[&str], value: f64) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = map;
    for parent in parents {
        let entry = node
            .entry((*parent).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else {
            return;
        };
        node = next;
    }
    let sum = node.get(*last).and_then(Value::as_f64).unwrap_or(0.0) + value;
    node.insert((*last).to_owned(), number(sum));
}

/// Whole numbers as integers, others as floats.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

fn execute(samples: &[Sample]) -> Value {
    let mut values = Map::new();
    for key in ["requests", "successes", "failures"] {
        values.insert(key.to_owned(), json!(0));
    }
    for sample in named(samples, "civitas_execute_requests_total") {
        let outcome = if label(sample, "outcome") == "success" {
            "successes"
        } else {
            "failures"
        };
        let (system, action) = (label(sample, "system"), label(sample, "action"));
        add(&mut values, &["requests"], sample.value);
        add(&mut values, &[outcome], sample.value);
        add(
            &mut values,
            &["by_system", system, action, "requests"],
            sample.value,
        );
        add(
            &mut values,
            &["by_system", system, action, outcome],
            sample.value,
        );
    }
    // Buckets within the window, summed over every label set: le → count.
    let mut buckets: BTreeMap<u64, f64> = BTreeMap::new();
    let mut infinite = 0.0;
    for sample in named(samples, "civitas_execute_duration_seconds_bucket") {
        match label(sample, "le") {
            "+Inf" => infinite += sample.value,
            le => {
                if let Ok(le) = le.parse::<f64>() {
                    *buckets.entry((le * 1e9) as u64).or_default() += sample.value;
                }
            }
        }
    }
    let mut latency = Map::new();
    for (name, quantile) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)] {
        latency.insert(
            name.to_owned(),
            percentile(&buckets, infinite, quantile).map_or(Value::Null, |ms| json!(ms)),
        );
    }
    values.insert("latency_ms".to_owned(), Value::Object(latency));
    Value::Object(values)
}

/// The upper bound (ms) of the first bucket holding `quantile` of the `total` requests;
/// `None` without requests. Beyond the last finite bucket: that bucket's bound.
fn percentile(buckets: &BTreeMap<u64, f64>, total: f64, quantile: f64) -> Option<f64> {
    if total <= 0.0 {
        return None;
    }
    let wanted = total * quantile;
    // Prometheus buckets are cumulative already.
    let bound = buckets
        .iter()
        .find(|(_, count)| **count >= wanted)
        .or_else(|| buckets.iter().next_back())
        .map(|(le, _)| *le)?;
    Some(bound as f64 / 1e6)
}

fn connector(samples: &[Sample]) -> Value {
    let mut values = Map::new();
    for (metric, key) in [
        ("civitas_connector_calls_total", "calls"),
        ("civitas_connector_errors_total", "errors"),
        ("civitas_connector_retries_total", "retries"),
    ] {
        add(&mut values, &[key], 0.0);
        for sample in named(samples, metric) {
            add(&mut values, &[key], sample.value);
            add(
                &mut values,
                &["by_system", label(sample, "system"), key],
                sample.value,
            );
        }
    }
    Value::Object(values)
}

fn publisher(samples: &[Sample]) -> Value {
    let mut values = Map::new();
    // The outbox's names in the snapshot, as operators read them (docs/operations.md).
    for (metric, key) in [
        ("civitas_outbox_appended_total", "sent"),
        ("civitas_outbox_stored_total", "stored"),
        ("civitas_outbox_delivered_total", "delivered"),
        ("civitas_outbox_failed_total", "failed"),
        ("civitas_outbox_retried_total", "retried"),
        ("civitas_outbox_dropped_total", "dropped"),
        ("civitas_outbox_rejected_total", "rejected"),
        ("civitas_outbox_refused_total", "refused_commands"),
        ("civitas_outbox_backlog_events", "outbox_backlog_events"),
        ("civitas_outbox_backlog_bytes", "outbox_backlog_bytes"),
        (
            "civitas_outbox_oldest_undelivered_seconds",
            "oldest_undelivered_seconds",
        ),
    ] {
        for sample in named(samples, metric) {
            add(&mut values, &[key], sample.value);
        }
    }
    Value::Object(values)
}

fn workflow(samples: &[Sample]) -> Value {
    let mut values = Map::new();
    for key in ["started", "waiting", "completed", "failed", "cancelled"] {
        values.insert(key.to_owned(), json!(0));
    }
    for sample in named(samples, "civitas_workflow_events_total") {
        add(&mut values, &[label(sample, "type")], sample.value);
    }
    Value::Object(values)
}

fn secrets(samples: &[Sample]) -> Value {
    let mut values = Map::new();
    add(&mut values, &["lookups"], 0.0);
    for sample in named(samples, "civitas_secret_lookups_total") {
        let (provider, outcome) = (label(sample, "provider"), label(sample, "outcome"));
        add(&mut values, &["lookups"], sample.value);
        add(
            &mut values,
            &["by_provider", provider, outcome],
            sample.value,
        );
    }
    for sample in named(samples, "civitas_secret_breaker_state") {
        add(&mut values, &["breaker_state"], sample.value);
    }
    Value::Object(values)
}

fn saga(samples: &[Sample]) -> Value {
    let mut values = Map::new();
    add(&mut values, &["started"], 0.0);
    for sample in named(samples, "civitas_saga_started_total") {
        add(&mut values, &["started"], sample.value);
    }
    for status in ["COMPLETED", "COMPENSATED", "COMPENSATION_FAILED", "FAILED"] {
        add(&mut values, &[&status.to_ascii_lowercase()], 0.0);
    }
    for sample in named(samples, "civitas_saga_ended_total") {
        let status = label(sample, "status").to_ascii_lowercase();
        add(&mut values, &[&status], sample.value);
    }
    for sample in named(samples, "civitas_saga_running") {
        add(
            &mut values,
            &["running", label(sample, "status")],
            sample.value,
        );
    }
    let mut durations = Map::new();
    for (name, quantile) in [("p50", "0.5"), ("p95", "0.95")] {
        let ms = named(samples, "civitas_saga_duration_seconds")
            .find(|s| label(s, "quantile") == quantile)
            .map(|s| s.value * 1000.0);
        durations.insert(name.to_owned(), ms.map_or(Value::Null, |ms| json!(ms)));
    }
    values.insert("duration_ms".to_owned(), Value::Object(durations));
    Value::Object(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &str = r#"# TYPE civitas_execute_requests_total counter
civitas_execute_requests_total{system="local",action="create",outcome="success"} 8
civitas_execute_requests_total{system="local",action="create",outcome="conflict"} 2
civitas_execute_duration_seconds_bucket{system="local",action="create",outcome="success",le="0.001"} 5
civitas_execute_duration_seconds_bucket{system="local",action="create",outcome="success",le="0.01"} 8
civitas_execute_duration_seconds_bucket{system="local",action="create",outcome="success",le="+Inf"} 8
civitas_execute_duration_seconds_bucket{system="local",action="create",outcome="conflict",le="0.001"} 2
civitas_execute_duration_seconds_bucket{system="local",action="create",outcome="conflict",le="0.01"} 2
civitas_execute_duration_seconds_bucket{system="local",action="create",outcome="conflict",le="+Inf"} 2
civitas_outbox_backlog_events 3
civitas_connector_calls_total{system="weird \"name\""} 4
"#;

    #[test]
    fn counts_are_within_the_window_and_gauges_as_they_are() {
        let mut snapshots = Snapshots::default();
        let first = snapshots.take(FIRST);
        let execute = &first[0].values;
        assert_eq!(execute["requests"], json!(10));
        assert_eq!(execute["successes"], json!(8));
        assert_eq!(execute["failures"], json!(2));
        assert_eq!(
            execute["by_system"]["local"]["create"]["failures"],
            json!(2)
        );
        assert_eq!(execute["latency_ms"]["p50"], json!(1.0));
        assert_eq!(execute["latency_ms"]["p99"], json!(10.0));
        assert_eq!(
            first[1].values["by_system"]["weird \"name\""]["calls"],
            json!(4)
        );
        assert_eq!(first[2].values["outbox_backlog_events"], json!(3));

        let second = snapshots.take(&FIRST.replace("} 8\n", "} 9\n"));
        let execute = &second[0].values;
        assert_eq!(execute["requests"], json!(1), "one more success since");
        assert_eq!(execute["failures"], json!(0));
        assert_eq!(
            second[2].values["outbox_backlog_events"],
            json!(3),
            "a gauge"
        );
    }

    #[test]
    fn the_saga_snapshot_counts_within_the_window_and_only_where_it_runs() {
        let text = |started: u32, completed: u32| {
            format!(
                "civitas_saga_started_total {started}\n\
                 civitas_saga_ended_total{{status=\"COMPLETED\"}} {completed}\n\
                 civitas_saga_running{{status=\"EXECUTING\"}} 2\n\
                 civitas_saga_duration_seconds{{quantile=\"0.5\"}} 0.5\n"
            )
        };
        let mut snapshots = Snapshots::default();
        let first = snapshots.take(&text(5, 3));
        let saga = &first
            .iter()
            .find(|s| s.metric_type == "saga")
            .unwrap()
            .values;
        assert_eq!(saga["started"], json!(5));
        assert_eq!(saga["completed"], json!(3));
        assert_eq!(saga["running"]["EXECUTING"], json!(2));
        assert_eq!(saga["duration_ms"]["p50"], json!(500.0));
        let second = snapshots.take(&text(7, 4));
        let saga = &second
            .iter()
            .find(|s| s.metric_type == "saga")
            .unwrap()
            .values;
        assert_eq!(
            (saga["started"].clone(), saga["completed"].clone()),
            (json!(2), json!(1))
        );
        assert!(
            Snapshots::default()
                .take("")
                .iter()
                .all(|s| s.metric_type != "saga")
        );
    }

    #[test]
    fn no_requests_means_no_percentiles() {
        let taken = Snapshots::default().take("");
        assert_eq!(taken[0].values["latency_ms"]["p50"], Value::Null);
        assert_eq!(taken[0].values["requests"], json!(0));
        let types: Vec<&str> = taken.iter().map(|s| s.metric_type.as_str()).collect();
        assert_eq!(
            types,
            ["execute", "connector", "publisher", "workflow", "secrets"]
        );
    }
}
