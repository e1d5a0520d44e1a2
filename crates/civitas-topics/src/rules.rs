//! The naming rules (docs/topics.md, "Naming rules"): their stable ids, the naming context an installation
//! chooses (crud prefix, platform prefix, customer domain), and the word lists behind the
//! past-tense and saga-verb rules.

use std::fmt;

use crate::error::{NameError, Segment};

/// Kafka's limit on the length of a topic name.
pub const MAX_TOPIC_LEN: usize = 249;
/// Default prefix of the CRUD service's topics (`KAFKA_TOPIC_PREFIX`).
pub const DEFAULT_CRUD_PREFIX: &str = "crud";
/// Default platform prefix of configuration events (reverse DNS).
pub const DEFAULT_PLATFORM_PREFIX: &str = "de.civitascore";
/// Prefix of the saga / orchestrator topics (docs/architecture.md, "The saga prefix"). Not configurable.
pub const SAGA_PREFIX: &str = "core.civitas";
/// The segment under the platform prefix that holds the payload fallback namespace.
pub const PAYLOAD_FALLBACK_SEGMENT: &str = "data";

/// A naming rule, with a stable id for tools and a message for people.
///
/// Ids never change once shipped; new rules get new ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// Kafka: a topic name has 1 to 249 characters.
    KafkaLength,
    /// Kafka: only ASCII letters, digits, `.`, `_` and `-`.
    KafkaChars,
    /// Kafka: `.` and `..` are not topic names.
    KafkaDotName,
    /// Platform: no empty segments (no leading, trailing or doubled dots).
    EmptySegment,
    /// Platform: segments are lowercase.
    Lowercase,
    /// Platform: no `_` in convention names (it collides with `.` in Kafka metric names).
    NoUnderscore,
    /// Platform: domains, entities, systems, bundles and event words have no separators (`-`).
    NoSeparator,
    /// Platform: the event of a configuration-event topic is in past tense.
    PastTense,
    /// Platform: customer domains and prefixes are reverse-DNS labels with an alphabetic TLD.
    DomainLabel,
    /// Platform: the name has the wrong number of segments for its family.
    SegmentCount,
    /// Platform: the name belongs to no topic family.
    UnknownFamily,
    /// Platform: `data`-domain events are single words (six segments under `<platform>.data`
    /// are the payload fallback namespace).
    DataComposite,
    /// CRUD: the suffix is one of the CRUD service's topics.
    CrudKind,
    /// Saga: the last segment is a command verb, `result`, `deadletter`, or a flow stage after a verb.
    SagaOperation,
    /// Prefixes (ACLs): a prefix ends at a segment boundary, i.e. with `.`.
    PrefixBoundary,
    /// Catalog: the file is not valid YAML or not shaped like a catalog.
    CatalogSyntax,
    /// Catalog: a topic setting is out of range or malformed.
    CatalogSettings,
    /// Catalog: the same topic is declared twice in one file.
    CatalogDuplicate,
    /// Catalog: a name declared in one section belongs to another family.
    CatalogFamily,
}

impl Rule {
    /// Every rule, in documentation order.
    pub const ALL: [Rule; 19] = [
        Rule::KafkaLength,
        Rule::KafkaChars,
        Rule::KafkaDotName,
        Rule::EmptySegment,
        Rule::Lowercase,
        Rule::NoUnderscore,
        Rule::NoSeparator,
        Rule::PastTense,
        Rule::DomainLabel,
        Rule::SegmentCount,
        Rule::UnknownFamily,
        Rule::DataComposite,
        Rule::CrudKind,
        Rule::SagaOperation,
        Rule::PrefixBoundary,
        Rule::CatalogSyntax,
        Rule::CatalogSettings,
        Rule::CatalogDuplicate,
        Rule::CatalogFamily,
    ];

    /// The stable id, e.g. `kafka.length` or `platform.past-tense`.
    pub fn id(self) -> &'static str {
        match self {
            Rule::KafkaLength => "kafka.length",
            Rule::KafkaChars => "kafka.chars",
            Rule::KafkaDotName => "kafka.dot-name",
            Rule::EmptySegment => "platform.empty-segment",
            Rule::Lowercase => "platform.lowercase",
            Rule::NoUnderscore => "platform.no-underscore",
            Rule::NoSeparator => "platform.no-separator",
            Rule::PastTense => "platform.past-tense",
            Rule::DomainLabel => "platform.domain-label",
            Rule::SegmentCount => "platform.segment-count",
            Rule::UnknownFamily => "platform.family",
            Rule::DataComposite => "platform.data-composite",
            Rule::CrudKind => "crud.kind",
            Rule::SagaOperation => "saga.operation",
            Rule::PrefixBoundary => "prefix.boundary",
            Rule::CatalogSyntax => "catalog.syntax",
            Rule::CatalogSettings => "catalog.settings",
            Rule::CatalogDuplicate => "catalog.duplicate",
            Rule::CatalogFamily => "catalog.family",
        }
    }

    /// What the rule demands, in one sentence for people.
    pub fn message(self) -> &'static str {
        match self {
            Rule::KafkaLength => "a topic name has 1 to 249 characters",
            Rule::KafkaChars => "a topic name uses only ASCII letters, digits, '.', '_' and '-'",
            Rule::KafkaDotName => "'.' and '..' are not valid topic names",
            Rule::EmptySegment => "segments are not empty (no leading, trailing or doubled dots)",
            Rule::Lowercase => "segments are lowercase",
            Rule::NoUnderscore => {
                "convention names contain no '_' (Kafka metric names confuse '_' with '.')"
            }
            Rule::NoSeparator => {
                "domains, entities, systems, bundles and event words contain no separators"
            }
            Rule::PastTense => "configuration events are in past tense (created, not create)",
            Rule::DomainLabel => {
                "reverse-DNS labels are [a-z0-9] with inner '-', and the top-level label is alphabetic"
            }
            Rule::SegmentCount => "the name has the wrong number of segments for its family",
            Rule::UnknownFamily => "the name belongs to no topic family",
            Rule::DataComposite => {
                "events of the 'data' domain are single words: <platform>.data.<a>.<b>.<c> is the payload fallback namespace"
            }
            Rule::CrudKind => {
                "a CRUD topic is <prefix>.operations, .errors, .workflows, .secrets, .secrets.audit or .metrics"
            }
            Rule::SagaOperation => {
                "a saga topic ends in a command verb, 'result', 'deadletter', or <verb>.requested|completed|failed|escalated"
            }
            Rule::PrefixBoundary => "a topic prefix ends with '.', at a segment boundary",
            Rule::CatalogSyntax => "the file is a topic catalog in YAML",
            Rule::CatalogSettings => "topic settings are in range",
            Rule::CatalogDuplicate => "a topic is declared once per file",
            Rule::CatalogFamily => "a name is declared in the section of its family",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The names an installation chooses: the CRUD prefix (`KAFKA_TOPIC_PREFIX`), the platform
/// prefix of configuration events, and the customer domain of payload topics (if any).
///
/// Built through checked setters, so a context always holds valid prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamingContext {
    crud_prefix: String,
    platform_prefix: String,
    customer_domain: Option<String>,
}

impl Default for NamingContext {
    fn default() -> Self {
        NamingContext {
            crud_prefix: DEFAULT_CRUD_PREFIX.to_owned(),
            platform_prefix: DEFAULT_PLATFORM_PREFIX.to_owned(),
            customer_domain: None,
        }
    }
}

impl NamingContext {
    /// The defaults: `crud`, `de.civitascore`, no customer domain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the CRUD prefix; its segments must be lowercase DNS-style labels.
    pub fn with_crud_prefix(mut self, prefix: &str) -> Result<Self, NameError> {
        check_label_path(prefix, false)?;
        self.crud_prefix = prefix.to_owned();
        self.check_disjoint()?;
        Ok(self)
    }

    /// Sets the platform prefix of configuration events, a reverse-DNS name (`de.civitascore`).
    pub fn with_platform_prefix(mut self, prefix: &str) -> Result<Self, NameError> {
        check_label_path(prefix, true)?;
        self.platform_prefix = prefix.to_owned();
        self.check_disjoint()?;
        Ok(self)
    }

    /// Sets (or clears) the customer domain of payload topics, a reverse-DNS name
    /// (`de.musterstadt`).
    pub fn with_customer_domain(mut self, domain: Option<&str>) -> Result<Self, NameError> {
        if let Some(d) = domain {
            check_label_path(d, true)?;
        }
        self.customer_domain = domain.map(str::to_owned);
        self.check_disjoint()?;
        Ok(self)
    }

    /// The CRUD prefix, default `crud`.
    pub fn crud_prefix(&self) -> &str {
        &self.crud_prefix
    }

    /// The platform prefix, default `de.civitascore`.
    pub fn platform_prefix(&self) -> &str {
        &self.platform_prefix
    }

    /// The saga prefix, always `core.civitas`.
    pub fn saga_prefix(&self) -> &str {
        SAGA_PREFIX
    }

    /// The customer domain, if the installation has one.
    pub fn customer_domain(&self) -> Option<&str> {
        self.customer_domain.as_deref()
    }

    /// The namespace of payload topics: the customer domain, or `<platform>.data`.
    pub fn payload_namespace(&self) -> String {
        match &self.customer_domain {
            Some(d) => d.clone(),
            None => self.payload_fallback(),
        }
    }

    /// The payload fallback namespace, `<platform>.data`.
    pub fn payload_fallback(&self) -> String {
        format!("{}.{PAYLOAD_FALLBACK_SEGMENT}", self.platform_prefix)
    }

    /// The prefixes of the four families must not contain one another, or names could not be
    /// classified.
    fn check_disjoint(&self) -> Result<(), NameError> {
        let mut prefixes: Vec<(&str, &str)> = vec![
            ("crud prefix", &self.crud_prefix),
            ("platform prefix", &self.platform_prefix),
            ("saga prefix", SAGA_PREFIX),
        ];
        if let Some(d) = &self.customer_domain {
            prefixes.push(("customer domain", d));
        }
        for (i, (_, a)) in prefixes.iter().enumerate() {
            for (_, b) in prefixes.iter().skip(i + 1) {
                if segments_start_with(a, b) || segments_start_with(b, a) {
                    return Err(NameError::new(a, Rule::UnknownFamily).with_hint(format!(
                        "\"{a}\" and \"{b}\" overlap; the crud prefix, platform prefix, saga prefix and customer domain must not contain one another"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Checks a topic prefix as used by prefixed ACLs (`crud.`, `core.civitas.frost.`): Kafka's
/// characters, lowercase DNS-style segments, and a trailing `.` so that `crud.` cannot also
/// match `crudx.…`.
pub fn check_prefix(prefix: &str) -> Result<(), NameError> {
    if prefix.is_empty() || prefix.len() > MAX_TOPIC_LEN {
        return Err(NameError::new(prefix, Rule::KafkaLength));
    }
    let Some(body) = prefix.strip_suffix('.') else {
        return Err(NameError::new(prefix, Rule::PrefixBoundary)
            .with_hint(format!("did you mean \"{prefix}.\"?")));
    };
    for (i, seg) in body.split('.').enumerate() {
        let at = Segment::new(i, seg);
        if let Some(c) = seg
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(NameError::new(prefix, Rule::KafkaChars)
                .at(at)
                .with_hint(format!("illegal character {c:?}")));
        }
        if seg.is_empty() {
            return Err(NameError::new(prefix, Rule::EmptySegment).at(at));
        }
        if seg.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(NameError::new(prefix, Rule::Lowercase).at(at));
        }
        if seg.contains('_') {
            return Err(NameError::new(prefix, Rule::NoUnderscore).at(at));
        }
        if !is_dns_label(seg) {
            return Err(NameError::new(prefix, Rule::DomainLabel).at(at));
        }
    }
    Ok(())
}

/// True when the dot-segments of `name` begin with those of `prefix`.
pub(crate) fn segments_start_with(name: &str, prefix: &str) -> bool {
    name == prefix
        || (name.len() > prefix.len()
            && name.starts_with(prefix)
            && name.as_bytes()[prefix.len()] == b'.')
}

/// Checks a dotted path of DNS labels (a prefix or a customer domain). With `reverse_dns`,
/// the first label is a top-level domain and must be alphabetic, and there are at least two labels.
pub(crate) fn check_label_path(path: &str, reverse_dns: bool) -> Result<(), NameError> {
    if path.is_empty() {
        return Err(NameError::new(path, Rule::EmptySegment));
    }
    let labels: Vec<&str> = path.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        let seg = Segment::new(i, label);
        if label.is_empty() {
            return Err(NameError::new(path, Rule::EmptySegment).at(seg));
        }
        if label.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(NameError::new(path, Rule::Lowercase)
                .at(seg)
                .with_hint(format!("did you mean \"{}\"?", label.to_ascii_lowercase())));
        }
        if label.contains('_') {
            return Err(NameError::new(path, Rule::NoUnderscore).at(seg));
        }
        if !is_dns_label(label) || (reverse_dns && i == 0 && !is_alpha(label)) {
            return Err(NameError::new(path, Rule::DomainLabel).at(seg));
        }
    }
    if reverse_dns && labels.len() < 2 {
        return Err(NameError::new(path, Rule::DomainLabel)
            .with_hint("a reverse-DNS name has at least two labels, e.g. de.musterstadt"));
    }
    Ok(())
}

/// `[a-z0-9]([a-z0-9-]*[a-z0-9])?`
pub(crate) fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_alpha(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_lowercase())
}

/// Irregular past participles accepted as events besides words ending in `-ed`.
const IRREGULAR_PAST: &[&str] = &[
    "reset",
    "set",
    "sent",
    "built",
    "rebuilt",
    "run",
    "rerun",
    "done",
    "undone",
    "made",
    "begun",
    "broken",
    "chosen",
    "drawn",
    "found",
    "given",
    "held",
    "withheld",
    "kept",
    "left",
    "lost",
    "met",
    "paid",
    "put",
    "read",
    "seen",
    "sold",
    "shut",
    "split",
    "spent",
    "taken",
    "told",
    "thrown",
    "won",
    "written",
    "rewritten",
    "overwritten",
    "bound",
    "unbound",
    "cut",
    "hit",
    "let",
    "quit",
    "spread",
    "withdrawn",
    "upset",
    "bought",
    "brought",
    "caught",
    "taught",
    "thought",
    "sought",
    "dealt",
    "felt",
    "meant",
    "lent",
    "frozen",
    "unfrozen",
    "hidden",
    "known",
    "shown",
    "grown",
    "forgotten",
    "got",
    "gotten",
    "stolen",
    "driven",
    "risen",
    "spoken",
    "torn",
    "worn",
    "flown",
    "shaken",
    "struck",
    "stuck",
    "hung",
    "led",
    "fed",
    "fled",
    "slid",
    "hid",
    "lit",
    "sat",
    "swept",
    "burnt",
    "learnt",
    "spelt",
    "spilt",
    "gone",
    "laid",
    "said",
    "offset",
    "preset",
    "rebound",
    "remade",
    "resent",
    "resold",
    "retaken",
    "undergone",
];

/// Present-tense (or base-form) verbs whose past participle is irregular, for hints.
const IRREGULAR_HINTS: &[(&str, &str)] = &[
    ("send", "sent"),
    ("build", "built"),
    ("rebuild", "rebuilt"),
    ("make", "made"),
    ("write", "written"),
    ("rewrite", "rewritten"),
    ("overwrite", "overwritten"),
    ("do", "done"),
    ("undo", "undone"),
    ("begin", "begun"),
    ("break", "broken"),
    ("choose", "chosen"),
    ("give", "given"),
    ("hold", "held"),
    ("keep", "kept"),
    ("leave", "left"),
    ("lose", "lost"),
    ("pay", "paid"),
    ("sell", "sold"),
    ("take", "taken"),
    ("tell", "told"),
    ("throw", "thrown"),
    ("win", "won"),
    ("bind", "bound"),
    ("unbind", "unbound"),
    ("find", "found"),
    ("get", "got"),
    ("freeze", "frozen"),
    ("unfreeze", "unfrozen"),
    ("hide", "hidden"),
    ("show", "shown"),
    ("withdraw", "withdrawn"),
    ("lay", "laid"),
    ("say", "said"),
    ("go", "gone"),
];

/// Regular verbs whose final consonant doubles (`stop` → `stopped`).
const DOUBLING: &[&str] = &[
    "stop", "drop", "plan", "ban", "unban", "submit", "resubmit", "commit", "emit", "permit",
    "ship", "tag", "untag", "log", "map", "remap", "skip", "trim", "admit", "omit", "transfer",
    "refer", "prefer", "occur", "control", "patrol", "scan", "rescan", "pin", "unpin", "zip",
    "unzip", "wrap", "unwrap", "chat", "cap",
];

/// Common verbs in base form, so that `create` is rejected with a hint rather than silently.
const BASE_VERBS: &[&str] = &[
    "create",
    "update",
    "delete",
    "lock",
    "unlock",
    "change",
    "reset",
    "add",
    "remove",
    "insert",
    "modify",
    "enable",
    "disable",
    "publish",
    "unpublish",
    "approve",
    "reject",
    "start",
    "stop",
    "complete",
    "fail",
    "register",
    "unregister",
    "assign",
    "unassign",
    "revoke",
    "grant",
    "import",
    "export",
    "archive",
    "restore",
    "provision",
    "deprovision",
    "sync",
    "request",
    "send",
    "build",
    "write",
    "make",
    "begin",
    "do",
    "run",
    "upsert",
    "replace",
    "suspend",
    "resume",
    "cancel",
    "retry",
    "notify",
    "rename",
    "move",
    "copy",
    "refresh",
    "rotate",
    "validate",
    "verify",
    "invite",
    "join",
    "leave",
    "open",
    "close",
    "expire",
    "renew",
    "login",
    "logout",
    "attach",
    "detach",
    "link",
    "unlink",
    "deploy",
    "undeploy",
    "patch",
    "migrate",
    "purge",
    "confirm",
    "activate",
    "deactivate",
    "block",
    "unblock",
    "submit",
    "commit",
    "read",
    "get",
    "set",
    "put",
    "list",
    "apply",
    "destroy",
    "upload",
    "download",
    "tag",
    "transfer",
];

/// Verbs accepted as saga commands (`core.civitas.<system>.<entity>.<verb>`) and as the
/// action of a saga flow (`core.civitas.<flow>.<verb>.<stage>`).
pub const SAGA_VERBS: &[&str] = &[
    "create",
    "read",
    "update",
    "delete",
    "list",
    "get",
    "upsert",
    "replace",
    "patch",
    "provision",
    "deprovision",
    "register",
    "unregister",
    "enable",
    "disable",
    "publish",
    "unpublish",
    "archive",
    "restore",
    "sync",
    "lock",
    "unlock",
    "reset",
    "assign",
    "unassign",
    "grant",
    "revoke",
    "import",
    "export",
    "start",
    "stop",
    "suspend",
    "resume",
    "cancel",
    "validate",
    "deploy",
    "undeploy",
    "attach",
    "detach",
    "rename",
    "move",
    "copy",
    "refresh",
    "rotate",
    "migrate",
    "purge",
    "notify",
];

/// True when `word` reads as a past participle: it ends in `-ed` (and has at least four
/// letters), or it is one of the irregular participles the platform knows (`reset`, `sent`,
/// `built`, `set`, `run`, `done`, …).
pub fn is_past_tense(word: &str) -> bool {
    (word.len() >= 4 && word.ends_with("ed")) || IRREGULAR_PAST.contains(&word)
}

/// A past-tense suggestion for a word that is not in past tense, if the word looks like a
/// verb: `create` → `created`, `stop` → `stopped`, `send` → `sent`, `creating` → `created`.
pub fn past_tense_hint(word: &str) -> Option<String> {
    if let Some((_, past)) = IRREGULAR_HINTS.iter().find(|(base, _)| *base == word) {
        return Some((*past).to_owned());
    }
    if let Some(stem) = word.strip_suffix("ing").filter(|s| s.len() >= 2) {
        return Some(format!("{stem}ed"));
    }
    if !BASE_VERBS.contains(&word) && !DOUBLING.contains(&word) && !SAGA_VERBS.contains(&word) {
        return None;
    }
    Some(regular_past(word))
}

fn regular_past(word: &str) -> String {
    if DOUBLING.contains(&word) {
        let last = &word[word.len() - 1..];
        return format!("{word}{last}ed");
    }
    if word.ends_with('e') {
        return format!("{word}d");
    }
    let b = word.as_bytes();
    if b.len() >= 2 && b[b.len() - 1] == b'y' && !b"aeiou".contains(&b[b.len() - 2]) {
        return format!("{}ied", &word[..word.len() - 1]);
    }
    format!("{word}ed")
}

/// True when `word` is a verb the saga topics accept.
pub fn is_saga_verb(word: &str) -> bool {
    SAGA_VERBS.contains(&word)
}

/// The base form of a past participle, if it is one of the saga verbs
/// (`created` → `create`), for hints.
pub(crate) fn saga_verb_for_past(word: &str) -> Option<&'static str> {
    SAGA_VERBS
        .iter()
        .copied()
        .find(|v| regular_past(v) == word || IRREGULAR_HINTS.contains(&(v, word)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_namespaced() {
        let mut ids: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
        for id in ids {
            assert!(id.contains('.'), "{id}");
        }
    }

    #[test]
    fn past_tense_accepts_ed_words_and_known_irregulars() {
        for w in [
            "created", "updated", "deleted", "locked", "changed", "reset", "sent", "built", "set",
            "run", "done",
        ] {
            assert!(is_past_tense(w), "{w}");
        }
        for w in ["create", "update", "delete", "lock", "status", "ed", "red"] {
            assert!(!is_past_tense(w), "{w}");
        }
    }

    #[test]
    fn hints_suggest_the_past_participle() {
        let cases = [
            ("create", Some("created")),
            ("update", Some("updated")),
            ("delete", Some("deleted")),
            ("lock", Some("locked")),
            ("stop", Some("stopped")),
            ("modify", Some("modified")),
            ("deploy", Some("deployed")),
            ("send", Some("sent")),
            ("creating", Some("created")),
            ("status", None),
        ];
        for (word, hint) in cases {
            assert_eq!(past_tense_hint(word).as_deref(), hint, "{word}");
        }
    }

    #[test]
    fn saga_past_tense_maps_back_to_the_verb() {
        assert_eq!(saga_verb_for_past("created"), Some("create"));
        assert_eq!(saga_verb_for_past("deleted"), Some("delete"));
        assert_eq!(saga_verb_for_past("frobbed"), None);
    }

    #[test]
    fn naming_context_validates_its_prefixes() {
        assert!(
            NamingContext::new()
                .with_crud_prefix("staging-crud")
                .is_ok()
        );
        assert!(NamingContext::new().with_crud_prefix("Crud").is_err());
        assert!(NamingContext::new().with_crud_prefix("crud_x").is_err());
        assert!(
            NamingContext::new()
                .with_platform_prefix("civitas")
                .is_err()
        );
        assert!(
            NamingContext::new()
                .with_customer_domain(Some("de.musterstadt"))
                .is_ok()
        );
        let bad_tld = NamingContext::new()
            .with_customer_domain(Some("d3.musterstadt"))
            .unwrap_err();
        assert_eq!(bad_tld.rule, Rule::DomainLabel);
        let bad_label = NamingContext::new()
            .with_customer_domain(Some("de.-muster"))
            .unwrap_err();
        assert_eq!(bad_label.rule, Rule::DomainLabel);
    }

    #[test]
    fn prefixes_end_at_a_segment_boundary() {
        assert!(check_prefix("crud.").is_ok());
        assert!(check_prefix("core.civitas.frost.").is_ok());
        assert!(check_prefix("de.musterstadt.").is_ok());
        let cases = [
            ("crud", Rule::PrefixBoundary),
            ("", Rule::KafkaLength),
            ("Crud.", Rule::Lowercase),
            ("crud_x.", Rule::NoUnderscore),
            ("crud..", Rule::EmptySegment),
            ("cr*d.", Rule::KafkaChars),
            ("-crud.", Rule::DomainLabel),
        ];
        for (p, rule) in cases {
            assert_eq!(check_prefix(p).unwrap_err().rule, rule, "{p:?}");
        }
    }

    #[test]
    fn family_prefixes_must_not_overlap() {
        let err = NamingContext::new()
            .with_customer_domain(Some("de.civitascore"))
            .unwrap_err();
        assert_eq!(err.rule, Rule::UnknownFamily);
        assert!(
            NamingContext::new()
                .with_crud_prefix("core.civitas.crud")
                .is_err()
        );
    }
}
