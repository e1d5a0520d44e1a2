//! Making a JSON value fit a size, with visible markers.
//!
//! A record larger than the producer's `message.max.bytes` is refused by Kafka and would
//! never arrive: an event that says less is better than no event. [`fit_json`] shortens a
//! value until its serialized form fits a budget, each step only as far as needed:
//!
//! 1. long strings keep their first bytes and end in `…[truncated N bytes]` — one cap for
//!    all strings, the largest that fits, and a string is only cut when that shortens it;
//! 2. if that is not enough, whole subtrees at depth 2 or deeper (`data.params`,
//!    `data.result`, an `errors[i].input`, …) become a `"…[truncated N bytes of JSON]"`
//!    string: the smallest one that is enough on its own, else the largest, repeatedly.
//!
//! The top of the value — an event's envelope (`event_id`, `user_context`, …) and `data`'s
//! own shape — is never cut away, and short strings (ids, names, timestamps) are never cut:
//! only strings longer than [`KEEP_BYTES`] are. Sizes are computed by walking the value,
//! never by copying it.

use serde_json::Value;

/// Strings this long or shorter are never cut.
pub const KEEP_BYTES: usize = 64;

/// Containers at this depth or deeper may be replaced whole (root = 0: an envelope's
/// fields are at 1, `data.params` at 2).
const REPLACEABLE_DEPTH: usize = 2;

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

/// The serialized length of a string (quotes and escapes included).
fn str_len(text: &str) -> usize {
    let mut counter = Counter(0);
    let _ = serde_json::to_writer(&mut counter, text);
    counter.0
}

/// The serialized length of `text` cut with cap `cap`, or `None` when cutting would not
/// shorten it.
fn cut_len(text: &str, cap: usize) -> Option<usize> {
    if text.len() <= cap.max(KEEP_BYTES) {
        return None;
    }
    let cut = str_len(&truncate_str(text, cap.max(KEEP_BYTES)));
    (cut < str_len(text)).then_some(cut)
}

/// The length of `value` serialized once every string is cut with cap `cap`.
fn len_with_cap(value: &Value, cap: usize) -> usize {
    match value {
        Value::String(text) => cut_len(text, cap).unwrap_or_else(|| str_len(text)),
        Value::Array(items) => {
            2 + items.len().saturating_sub(1)
                + items.iter().map(|v| len_with_cap(v, cap)).sum::<usize>()
        }
        Value::Object(fields) => {
            2 + fields.len().saturating_sub(1)
                + fields
                    .iter()
                    .map(|(k, v)| str_len(k) + 1 + len_with_cap(v, cap))
                    .sum::<usize>()
        }
        other => json_len(other),
    }
}

fn cap_strings(value: &mut Value, cap: usize) {
    match value {
        Value::String(text) if cut_len(text, cap).is_some() => {
            *text = truncate_str(text, cap.max(KEEP_BYTES));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| cap_strings(v, cap)),
        Value::Object(fields) => fields.values_mut().for_each(|v| cap_strings(v, cap)),
        _ => {}
    }
}

fn longest_string(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(fields) => fields.values().map(longest_string).max().unwrap_or(0),
        _ => 0,
    }
}

/// Shortens `value` until its compact JSON is at most `max_bytes` long (see the module
/// docs). Returns whether anything was cut; the result may still be larger when the parts
/// that are never cut are larger than `max_bytes` on their own.
pub fn fit_json(value: &mut Value, max_bytes: usize) -> bool {
    if json_len(value) <= max_bytes {
        return false;
    }
    // 1. The largest string cap that fits, if one does; else every long string at the least.
    let longest = longest_string(value);
    if len_with_cap(value, KEEP_BYTES) <= max_bytes {
        let (mut good, mut bad) = (KEEP_BYTES, longest.saturating_add(1));
        while bad - good > 1 {
            let mid = good + (bad - good) / 2;
            if len_with_cap(value, mid) <= max_bytes {
                good = mid;
            } else {
                bad = mid;
            }
        }
        cap_strings(value, good);
        return true;
    }
    cap_strings(value, KEEP_BYTES);
    // 2. Whole subtrees, deep ones first when one is enough.
    loop {
        let size = json_len(value);
        if size <= max_bytes {
            return true;
        }
        let excess = size - max_bytes;
        let mut candidates = Vec::new();
        containers(value, 0, &mut Vec::new(), &mut candidates);
        // Replacing a subtree of `len` bytes by its marker saves `len - marker`.
        let saving = |len: usize| len.saturating_sub(str_len(&replaced(len)));
        let pick = candidates
            .iter()
            .filter(|(_, len)| saving(*len) >= excess)
            .min_by_key(|(_, len)| *len)
            .or_else(|| candidates.iter().max_by_key(|(_, len)| *len));
        let Some((path, len)) = pick.cloned() else {
            return true;
        };
        if saving(len) == 0 {
            return true;
        }
        if let Some(node) = at_path(value, &path) {
            *node = Value::String(replaced(len));
        }
    }
}

fn replaced(len: usize) -> String {
    format!("…[truncated {len} bytes of JSON]")
}

/// One step of a path into a value.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every non-empty container at [`REPLACEABLE_DEPTH`] or deeper, with its serialized size.
fn containers(
    value: &Value,
    depth: usize,
    path: &mut Vec<Step>,
    out: &mut Vec<(Vec<Step>, usize)>,
) -> usize {
    let len = match value {
        Value::Array(items) => {
            let mut len = 2 + items.len().saturating_sub(1);
            for (index, item) in items.iter().enumerate() {
                path.push(Step::Index(index));
                len += containers(item, depth + 1, path, out);
                path.pop();
            }
            len
        }
        Value::Object(fields) => {
            let mut len = 2 + fields.len().saturating_sub(1);
            for (key, item) in fields {
                path.push(Step::Key(key.clone()));
                len += str_len(key) + 1 + containers(item, depth + 1, path, out);
                path.pop();
            }
            len
        }
        other => return json_len(other),
    };
    let non_empty = matches!(value, Value::Array(a) if !a.is_empty())
        || matches!(value, Value::Object(o) if !o.is_empty());
    if depth >= REPLACEABLE_DEPTH && non_empty {
        out.push((path.clone(), len));
    }
    len
}

fn at_path<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |node, step| match step {
        Step::Key(key) => node.get_mut(key.as_str()),
        Step::Index(index) => node.get_mut(*index),
    })
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
    fn many_short_items_become_a_marker_and_the_envelope_stays() {
        let mut value = json!({
            "event_id": "e", "user_context": {"subject": "alice"},
            "data": {"result": (0..100_000).map(|n| json!({"id": n})).collect::<Vec<_>>(), "system": "kc"}
        });
        assert!(fit_json(&mut value, 50_000));
        assert!(json_len(&value) <= 50_000);
        assert_eq!(value["user_context"]["subject"], "alice");
        assert_eq!(value["data"]["system"], "kc");
        assert!(
            value["data"]["result"]
                .as_str()
                .unwrap()
                .contains("bytes of JSON]")
        );
    }

    /// A tree of strings just over the cut length, a few items per level: cutting them
    /// would not shorten them, and the envelope must survive (found in review).
    #[test]
    fn a_deep_narrow_tree_is_cut_below_the_envelope() {
        fn tree(depth: usize) -> Value {
            if depth == 0 {
                return json!("y".repeat(65));
            }
            Value::Array((0..4).map(|_| tree(depth - 1)).collect())
        }
        let mut value = json!({
            "event_id": "e", "trace_id": "t", "user_context": {"subject": "alice"},
            "data": {"params": {"a": tree(7), "b": tree(6)}, "error": "x"}
        });
        let budget = json_len(&value) / 3;
        assert!(fit_json(&mut value, budget));
        assert!(
            json_len(&value) <= budget,
            "{} > {budget}",
            json_len(&value)
        );
        assert_eq!(value["user_context"]["subject"], "alice");
        assert_eq!(value["trace_id"], "t");
        assert!(value["data"]["params"].is_object() || value["data"]["params"].is_string());
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
            let mut value = json!({"data": {"params": strings}, "id": "x"});
            fit_json(&mut value, budget);
            prop_assert!(json_len(&value) <= budget.max(120), "{} > {}", json_len(&value), budget);
            prop_assert_eq!(&value["id"], "x");
        }
    }
}
