//! The linter behind `civitas topics lint`: every violation of a catalog file or a list of
//! names, each with file, line, rule and segment.

use std::fmt;

use crate::catalog::load;
use crate::error::{NameError, Segment};
use crate::name::TopicName;
use crate::rules::{NamingContext, Rule};

/// One broken rule at one place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The file as the caller named it.
    pub file: String,
    /// 1-based line in that file.
    pub line: usize,
    /// The rule broken.
    pub rule: Rule,
    /// The topic name concerned, when there is one.
    pub name: Option<String>,
    /// The offending segment of that name, when one is to blame.
    pub segment: Option<Segment>,
    /// A suggestion or a detail, e.g. `did you mean "created"?`.
    pub hint: Option<String>,
}

impl Violation {
    pub(crate) fn from_name_error(file: &str, line: usize, e: NameError) -> Self {
        Violation {
            file: file.to_owned(),
            line,
            rule: e.rule,
            name: Some(e.name),
            segment: e.segment,
            hint: e.hint,
        }
    }

    /// The rule's message.
    pub fn message(&self) -> &'static str {
        self.rule.message()
    }
}

impl fmt::Display for Violation {
    /// `file:line: rule-id: message (segment N "text"); hint [name]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file,
            self.line,
            self.rule.id(),
            self.message()
        )?;
        if let Some(seg) = &self.segment {
            write!(f, " ({seg})")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        if let Some(name) = &self.name {
            write!(f, " [{name}]")?;
        }
        Ok(())
    }
}

/// What a file holds: a catalog, or a plain list of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileShape {
    /// A YAML topic catalog (`config/catalog.yaml` and extensions).
    Catalog,
    /// One topic name per line (`#` comments and blank lines allowed), or a YAML list of names.
    NameList,
}

/// Decides how `lint` reads a file: a `.yaml`/`.yml` file is a catalog unless it is a YAML
/// list; any other file is a catalog only if it is a YAML map.
pub fn file_shape(src: &str, file: &str) -> FileShape {
    let yaml_ext = file.ends_with(".yaml") || file.ends_with(".yml");
    match serde_norway::from_str::<serde_norway::Value>(src) {
        Ok(serde_norway::Value::Sequence(_)) => FileShape::NameList,
        Ok(serde_norway::Value::Mapping(_)) => FileShape::Catalog,
        _ if yaml_ext => FileShape::Catalog,
        _ => FileShape::NameList,
    }
}

/// Lints a catalog file or a list of names (see [`file_shape`]). `ctx` is the installation's
/// naming; a catalog's own `naming:` section overrides it. An empty result means clean.
///
/// ```
/// use civitas_topics::{lint, NamingContext};
/// let v = lint("topics:\n  - de.civitascore.idm.User.create\n", "ext.yaml", &NamingContext::default());
/// let ids: Vec<&str> = v.iter().map(|v| v.rule.id()).collect();
/// assert_eq!(ids, ["platform.lowercase", "platform.past-tense"]);
/// assert!(v.iter().all(|v| v.line == 2));
/// ```
pub fn lint(src: &str, file: &str, ctx: &NamingContext) -> Vec<Violation> {
    match file_shape(src, file) {
        FileShape::Catalog => load(src, file, ctx).1,
        FileShape::NameList => lint_names(src, file, ctx),
    }
}

/// Lints one topic name per line; blank lines and `#` comments are skipped, a leading `- `
/// and quotes are tolerated.
pub fn lint_names(src: &str, file: &str, ctx: &NamingContext) -> Vec<Violation> {
    let mut out = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let Some(name) = list_item(raw) else {
            continue;
        };
        if let Err(errs) = TopicName::check(name, ctx) {
            out.extend(
                errs.into_iter()
                    .map(|e| Violation::from_name_error(file, i + 1, e)),
            );
        }
    }
    out
}

fn list_item(line: &str) -> Option<&str> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let t = match t.find(" #") {
        Some(i) => t[..i].trim_end(),
        None => t,
    };
    let t = t.strip_prefix("- ").map_or(t, str::trim_start);
    let t = t
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| t.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(t);
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{EMBEDDED_CATALOG, EMBEDDED_CATALOG_FILE};

    fn ctx() -> NamingContext {
        NamingContext::default()
    }

    #[test]
    fn the_shipped_catalog_is_clean() {
        let v = lint(EMBEDDED_CATALOG, EMBEDDED_CATALOG_FILE, &ctx());
        assert!(v.is_empty(), "{v:#?}");
    }

    #[test]
    fn a_catalog_with_the_acceptance_name_reports_both_rules_with_lines() {
        let src = "\
# operator extension
topics:
  - crud.operations
  - de.civitascore.idm.User.create
";
        let v = lint(src, "ext.yaml", &ctx());
        let got: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            vec![
                "ext.yaml:4: platform.lowercase: segments are lowercase (segment 3 \"User\"); did you mean \"user\"? [de.civitascore.idm.User.create]",
                "ext.yaml:4: platform.past-tense: configuration events are in past tense (created, not create) (segment 4 \"create\"); did you mean \"created\"? [de.civitascore.idm.User.create]",
            ]
        );
    }

    #[test]
    fn the_structured_form_points_at_the_entity_and_the_event_lines() {
        let src = "\
config_events:
  idm:
    User:
      - updated
      - create
";
        let v = lint(src, "ext.yaml", &ctx());
        let got: Vec<(usize, Rule, String)> = v
            .iter()
            .map(|v| (v.line, v.rule, v.segment.clone().unwrap().text))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, Rule::Lowercase, "User".into()),
                (5, Rule::PastTense, "create".into()),
            ]
        );
    }

    #[test]
    fn a_plain_list_is_linted_line_by_line() {
        let src = "\
# names to check
crud.operations

de.civitascore.idm.User.create
core.civitas.frost.project.create  # a command
- \"core.civitas.frost.project.created\"
";
        assert_eq!(file_shape(src, "names.txt"), FileShape::NameList);
        let v = lint(src, "names.txt", &ctx());
        let got: Vec<(usize, &str)> = v.iter().map(|v| (v.line, v.rule.id())).collect();
        assert_eq!(
            got,
            vec![
                (4, "platform.lowercase"),
                (4, "platform.past-tense"),
                (6, "saga.operation"),
            ]
        );
    }

    #[test]
    fn a_yaml_list_of_names_is_a_name_list() {
        let src = "- crud.operations\n- crud.Errors\n";
        assert_eq!(file_shape(src, "names.yaml"), FileShape::NameList);
        let v = lint(src, "names.yaml", &ctx());
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].line, v[0].rule), (2, Rule::Lowercase));
    }

    #[test]
    fn the_file_naming_section_overrides_the_context() {
        let src = "naming:\n  crud_prefix: staging\ncrud: [operations]\n";
        assert!(lint(src, "x.yaml", &ctx()).is_empty());
        let bad = "naming:\n  crud_prefix: Staging_1\n";
        let v = lint(bad, "x.yaml", &ctx());
        assert_eq!((v[0].line, v[0].rule), (2, Rule::Lowercase));
    }
}
