//! Finds the line of a key or value in YAML source text — the one locator of every loader
//! (the topic catalog and ACL matrix, workflow definitions, the settings file).
//!
//! The YAML parser gives positions for syntax errors only, not for values, so problems are
//! placed by scanning the source: walk down a path of keys, each searched inside the block of
//! the previous one (by indentation), then look for the value as a whole token. A path
//! segment that is a number is the index of a list item (`- …`) of the block. Good enough
//! for hand-written files; when something cannot be found the nearest enclosing key's line
//! is used.

/// Line lookup over one source text.
#[derive(Debug)]
pub struct Locator<'a> {
    /// Lines with comments removed.
    lines: Vec<&'a str>,
}

impl<'a> Locator<'a> {
    pub fn new(src: &'a str) -> Self {
        Locator {
            lines: src.lines().map(strip_comment).collect(),
        }
    }

    /// The 0-based line range `[start, end)` of the block under `path`, and the line of the
    /// last key found.
    fn block(&self, path: &[&str]) -> (usize, usize) {
        let (mut start, mut end) = (0, self.lines.len());
        // Where the children of the block found last begin.
        let mut children = 0;
        for key in path {
            let index = key.parse::<usize>().ok();
            let found = match index {
                Some(n) => self.list_item(children, end, n),
                None => (children..end).find(|&i| is_key_line(self.lines[i], key)),
            };
            let Some(i) = found else {
                break;
            };
            // A key's children are below its line; a list item's line holds its first key
            // (`- from: a`).
            children = if index.is_some() { i } else { i + 1 };
            let indent = indent_of(self.lines[i]);
            let block_end = (i + 1..end)
                .find(|&j| !self.lines[j].trim().is_empty() && indent_of(self.lines[j]) <= indent)
                .unwrap_or(end);
            start = i;
            end = block_end;
        }
        (start, end)
    }

    /// The 0-based line of the `n`th (0-based) item of the list in `[from, end)`: the lines
    /// `- …` at the indentation of the first one.
    fn list_item(&self, from: usize, end: usize, n: usize) -> Option<usize> {
        let is_item = |line: &str| {
            let t = line.trim_start();
            t == "-" || t.starts_with("- ")
        };
        let first = (from..end).find(|&i| is_item(self.lines[i]))?;
        let indent = indent_of(self.lines[first]);
        (first..end)
            .filter(|&i| is_item(self.lines[i]) && indent_of(self.lines[i]) == indent)
            .nth(n)
    }

    /// 1-based line of the last key of `path` (or of the deepest key that exists).
    pub fn key(&self, path: &[&str]) -> usize {
        self.block(path).0 + 1
    }

    /// 1-based line of `item` (a list value or a key) inside the block of `path`.
    pub fn item(&self, path: &[&str], item: &str) -> usize {
        self.item_nth(path, item, 0)
    }

    /// Like [`item`](Self::item), for the `nth` (0-based) occurrence: duplicates are reported
    /// at their own line.
    pub fn item_nth(&self, path: &[&str], item: &str, nth: usize) -> usize {
        let (start, end) = self.block(path);
        (start..end)
            .filter(|&i| {
                // on the key line itself, only look after the key (flow lists: `user: [created]`)
                let line = if i == start && !path.is_empty() {
                    self.lines[i].split_once(':').map_or("", |(_, rest)| rest)
                } else {
                    self.lines[i]
                };
                contains_token(line, item)
            })
            .nth(nth)
            .map_or(start + 1, |i| i + 1)
    }
}

fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_key_line(line: &str, key: &str) -> bool {
    let t = line.trim_start();
    let t = t.strip_prefix("- ").unwrap_or(t).trim_start();
    [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ]
    .iter()
    .any(|k| t.starts_with(k.as_str()))
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') || !c.is_ascii()
}

/// True when `token` occurs in `line` not as part of a longer name.
fn contains_token(line: &str, token: &str) -> bool {
    if token.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(pos) = line[from..].find(token) {
        let at = from + pos;
        let before = line[..at].chars().next_back();
        let after = line[at + token.len()..].chars().next();
        if !before.is_some_and(is_name_char) && !after.is_some_and(is_name_char) {
            return true;
        }
        from = at + token.len().max(1);
        if from >= line.len() {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "\
# a comment mentioning created
config_events:
  idm:
    user: [created, updated]
    realm:
      - created   # trailing
      - deleted
  api:
    route:
      created:
      deleted: { retention: 1d }
saga:
  - core.civitas.frost.project.create
";

    #[test]
    fn items_are_found_inside_their_block() {
        let l = Locator::new(SRC);
        assert_eq!(l.key(&["config_events", "idm", "user"]), 4);
        assert_eq!(l.item(&["config_events", "idm", "user"], "updated"), 4);
        assert_eq!(l.item(&["config_events", "idm", "realm"], "deleted"), 7);
        assert_eq!(l.item(&["config_events", "api", "route"], "deleted"), 11);
        assert_eq!(l.item(&["saga"], "core.civitas.frost.project.create"), 13);
    }

    #[test]
    fn tokens_do_not_match_inside_longer_names() {
        assert!(!contains_token("created.again", "created"));
        assert!(contains_token("- \"created\"", "created"));
        assert!(!contains_token("crud.operations", "operations"));
    }

    #[test]
    fn a_number_in_the_path_is_a_list_item_and_keys_below_it_are_found() {
        let src = "name: w\nedges:\n  - from: a\n    to: b\n  - from: b\n    to: c\n";
        let l = Locator::new(src);
        assert_eq!(l.key(&["edges", "0"]), 3);
        assert_eq!(l.key(&["edges", "1"]), 5);
        assert_eq!(l.key(&["edges", "1", "to"]), 6);
        assert_eq!(
            l.key(&["edges", "7"]),
            2,
            "a missing item falls back to the list's key"
        );
    }

    #[test]
    fn a_key_named_like_its_section_is_found_below_the_section() {
        let src = "kafka:\n  topic_prefix: crud\n  kafka: 127.0.0.1:9092\n";
        assert_eq!(Locator::new(src).key(&["kafka", "kafka"]), 3);
    }

    #[test]
    fn a_key_of_a_section_is_found_in_that_section_only() {
        let src = "kafka:\n  bootstrap: x\ncrud:\n  bootstrap: y\n";
        assert_eq!(Locator::new(src).key(&["crud", "bootstrap"]), 4);
    }

    #[test]
    fn missing_items_fall_back_to_the_enclosing_key() {
        let l = Locator::new(SRC);
        assert_eq!(l.item(&["config_events", "idm", "user"], "nothere"), 4);
    }
}
