//! Making a JSON value fit a size, with visible markers.
//!
//! A record larger than the producer's `message.max.bytes` is refused by Kafka and would
//! never arrive: an event that says less is better than no event. [`fit_json`] shortens a
//! value until its serialized form fits a budget, in this order, each step only as far as
//! needed:
//!
//! 1. long strings keep their first bytes and end in `…[truncated N bytes]`;
//! 2. long arrays keep their first items and end with a `"…[truncated N items]"` item, long
//!    objects keep their first keys and get a `"…"` key saying how many were left out;
//! 3. if even that is too large, the whole value becomes one marker string.
//!
//! Short strings (ids, names, timestamps) are never cut: only strings longer than
//! [`KEEP_BYTES`] are.

use serde_json::{Map, Value};

/// Strings this long or shorter are never cut.
pub const KEEP_BYTES: usize = 64;

/// Containers this long or shorter are never cut.
const KEEP_ITEMS: usize = 4;

/// The marker appended to a cut string.
pub fn marker(cut_bytes: usize) -> String {
    format!("…[truncated {cut_bytes} bytes]")
}

/// `text` cut to at most `keep` bytes (at a character boundary) plus the marker; `text`
/// itself when it is not longer than `keep`.
pub fn truncate_str(text: &str, keep: usize) -> String {
    if text.len() <= keep {
        return text.to_owned();
    }
    let mut end = keep;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + 32);
    out.push_str(&text[..end]);
    out.push_str(&marker(text.len() - end));
    out
}

/// The length of `value` serialized as compact JSON.
pub fn json_len(value: &Value) -> usize {
    let mut counter = Counter(0);
    // Writing to a counter cannot fail, and a `Value` always serializes.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Shortens `value` until its compact JSON is at most `max_bytes` long (see the module
/// docs). Returns whether anything was cut.
pub fn fit_json(value: &mut Value, max_bytes: usize) -> bool {
    if json_len(value) <= max_bytes {
        return false;
    }
    // 1. The longest string cap that fits.
    let longest = longest_string(value);
    if longest > KEEP_BYTES {
        let mut probe = value.clone();
        cap_strings(&mut probe, KEEP_BYTES);
        if json_len(&probe) <= max_bytes {
            let cap = largest_fitting(KEEP_BYTES, longest, |cap| {
                let mut probe = value.clone();
                cap_strings(&mut probe, cap);
                json_len(&probe) <= max_bytes
            });
            cap_strings(value, cap);
            return true;
        }
        *value = probe;
    }
    // 2. The longest container cap that fits.
    let widest = widest_container(value);
    if widest > KEEP_ITEMS {
        let mut probe = value.clone();
        cap_containers(&mut probe, KEEP_ITEMS);
        if json_len(&probe) <= max_bytes {
            let cap = largest_fitting(KEEP_ITEMS, widest, |cap| {
                let mut probe = value.clone();
                cap_containers(&mut probe, cap);
                json_len(&probe) <= max_bytes
            });
            cap_containers(value, cap);
            return true;
        }
    }
    // 3. Nothing of it fits.
    *value = Value::String(format!("…[truncated {} bytes of JSON]", json_len(value)));
    true
}

/// The largest `cap` in `low..=high` for which `fits(cap)`, given that `fits(low)`.
fn largest_fitting(low: usize, high: usize, fits: impl Fn(usize) -> bool) -> usize {
    let (mut good, mut bad) = (low, high.saturating_add(1));
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if fits(mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    good
}

fn longest_string(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| k.len().max(longest_string(v)))
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

fn widest_container(value: &Value) -> usize {
    match value {
        Value::Array(items) => items
            .iter()
            .map(widest_container)
            .max()
            .unwrap_or(0)
            .max(items.len()),
        Value::Object(fields) => fields
            .values()
            .map(widest_container)
            .max()
            .unwrap_or(0)
            .max(fields.len()),
        _ => 0,
    }
}

fn cap_strings(value: &mut Value, cap: usize) {
    match value {
        Value::String(s) if s.len() > cap => *s = truncate_str(s, cap),
        Value::Array(items) => items.iter_mut().for_each(|v| cap_strings(v, cap)),
        Value::Object(fields) => {
            if fields.keys().any(|k| k.len() > cap) {
                let old = std::mem::take(fields);
                *fields = old
                    .into_iter()
                    .map(|(k, v)| (truncate_str(&k, cap), v))
                    .collect();
            }
            fields.values_mut().for_each(|v| cap_strings(v, cap));
        }
        _ => {}
    }
}

fn cap_containers(value: &mut Value, cap: usize) {
    match value {
        Value::Array(items) => {
            if items.len() > cap {
                let cut = items.len() - cap;
                items.truncate(cap);
                items.push(Value::String(format!("…[truncated {cut} items]")));
            }
            items.iter_mut().for_each(|v| cap_containers(v, cap));
        }
        Value::Object(fields) => {
            if fields.len() > cap {
                let cut = fields.len() - cap;
                let kept: Map<String, Value> =
                    std::mem::take(fields).into_iter().take(cap).collect();
                *fields = kept;
                fields.insert(
                    "…".to_owned(),
                    Value::String(format!("[truncated {cut} keys]")),
                );
            }
            fields.values_mut().for_each(|v| cap_containers(v, cap));
        }
        _ => {}
    }
}

struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_long_string_keeps_its_start_and_says_how_much_was_cut() {
        let mut value = json!({"id": "max", "params": {"blob": "x".repeat(400_000)}});
        assert!(fit_json(&mut value, 10_000));
        assert!(json_len(&value) <= 10_000);
        assert_eq!(value["id"], "max");
        let blob = value["params"]["blob"].as_str().unwrap();
        assert!(blob.starts_with("xxxx"));
        assert!(blob.contains("…[truncated "), "{blob:.100}");
    }

    #[test]
    fn a_value_that_fits_is_left_alone() {
        let mut value = json!({"a": [1, 2, 3], "b": "c"});
        let before = value.clone();
        assert!(!fit_json(&mut value, 1_000));
        assert_eq!(value, before);
    }

    #[test]
    fn many_short_items_are_cut_by_count() {
        let mut value =
            json!({"result": (0..100_000).map(|n| json!({"id": n})).collect::<Vec<_>>()});
        assert!(fit_json(&mut value, 50_000));
        assert!(json_len(&value) <= 50_000);
        let items = value["result"].as_array().unwrap();
        assert!(items.last().unwrap().as_str().unwrap().contains("items]"));
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        assert_eq!(truncate_str("äöü", 3), format!("ä{}", marker(4)));
    }

    proptest! {
        #[test]
        fn any_value_fits_any_budget_of_at_least_a_marker(
            strings in proptest::collection::vec(".{0,300}", 0..40),
            budget in 64usize..4_000,
        ) {
            let mut value = json!({"params": strings, "id": "x"});
            fit_json(&mut value, budget);
            prop_assert!(json_len(&value) <= budget.max(64), "{} > {}", json_len(&value), budget);
        }
    }
}
