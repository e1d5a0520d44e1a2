//! The topic catalog as data: which topics exist and with which settings.
//!
//! The product ships `config/catalog.yaml` (embedded here as the default); an operator adds
//! their own file (new domains, entities, events, saga or payload topics, other settings),
//! which is checked by the same rules and merged over it. See `docs/topics.md` for the format.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use crate::error::{CatalogError, NameError, Segment};
use crate::lint::Violation;
use crate::name::{
    ConfigEventTopic, CrudKind, CrudTopic, Family, PayloadTopic, SagaTopic, TopicName,
};
use crate::rules::{NamingContext, Rule};
use crate::yaml::{Ordered, ScalarKey};
use civitas_config::Locator;

/// The catalog shipped with the product (`config/catalog.yaml`).
pub const EMBEDDED_CATALOG: &str = include_str!("../../../config/catalog.yaml");
/// The file name violations in the embedded catalog are reported against.
pub const EMBEDDED_CATALOG_FILE: &str = "config/catalog.yaml";

/// Kafka's `cleanup.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CleanupPolicy {
    /// Old segments are deleted after the retention time: event streams.
    Delete,
    /// Only the latest record per key is kept: state.
    Compact,
    /// Both: latest per key, and nothing older than the retention time.
    CompactDelete,
}

impl CleanupPolicy {
    /// The Kafka config value: `delete`, `compact`, `compact,delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s.replace(' ', "").as_str() {
            "delete" => Some(CleanupPolicy::Delete),
            "compact" => Some(CleanupPolicy::Compact),
            "compact,delete" | "delete,compact" => Some(CleanupPolicy::CompactDelete),
            _ => None,
        }
    }
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settings a topic is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSettings {
    /// Number of partitions (never lowered once created).
    pub partitions: u32,
    /// Replication factor.
    pub replicas: u16,
    /// `retention.ms`; `-1` keeps records forever.
    pub retention_ms: i64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `min.insync.replicas`, if set.
    pub min_insync_replicas: Option<u16>,
    /// Any other topic-level Kafka configs, passed through.
    pub config: BTreeMap<String, String>,
}

impl Default for TopicSettings {
    /// Used where no catalog file says otherwise: 3 partitions, 3 replicas, 7 days, delete.
    fn default() -> Self {
        TopicSettings {
            partitions: 3,
            replicas: 3,
            retention_ms: 7 * DAY_MS,
            cleanup_policy: CleanupPolicy::Delete,
            min_insync_replicas: None,
            config: BTreeMap::new(),
        }
    }
}

impl TopicSettings {
    /// Every topic-level config as Kafka names it (`retention.ms`, `cleanup.policy`, …).
    pub fn configs(&self) -> BTreeMap<String, String> {
        let mut c = self.config.clone();
        c.insert("cleanup.policy".into(), self.cleanup_policy.as_str().into());
        c.insert("retention.ms".into(), self.retention_ms.to_string());
        if let Some(m) = self.min_insync_replicas {
            c.insert("min.insync.replicas".into(), m.to_string());
        }
        c
    }

    /// The retention for people: `7d`, `12h`, `forever`, …
    pub fn retention_human(&self) -> String {
        human_duration(self.retention_ms)
    }

    fn apply(&mut self, p: &SettingsPatch) {
        if let Some(v) = p.partitions {
            self.partitions = v;
        }
        if let Some(v) = p.replicas {
            self.replicas = v;
        }
        if let Some(v) = p.retention_ms {
            self.retention_ms = v;
        }
        if let Some(v) = p.cleanup_policy {
            self.cleanup_policy = v;
        }
        if let Some(v) = p.min_insync_replicas {
            self.min_insync_replicas = Some(v);
        }
        self.config
            .extend(p.config.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// One topic the catalog yields: its name (and so its family) and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic's name.
    pub name: TopicName,
    /// Partitions, replicas and configs.
    pub settings: TopicSettings,
}

impl TopicSpec {
    /// The family of the topic.
    pub fn family(&self) -> Family {
        self.name.family()
    }
}

const SECOND_MS: i64 = 1000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

fn human_duration(ms: i64) -> String {
    if ms < 0 {
        return "forever".into();
    }
    for (unit, size) in [
        ("d", DAY_MS),
        ("h", HOUR_MS),
        ("m", MINUTE_MS),
        ("s", SECOND_MS),
    ] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// A retention in milliseconds: `forever` (or `infinite`, `-1`) is -1, else the one duration
/// grammar of the configuration files (`civitas_config::duration`).
fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if matches!(s, "forever" | "infinite" | "-1") {
        return Some(-1);
    }
    civitas_config::duration::parse(s).and_then(|d| i64::try_from(d.as_millis()).ok())
}

/// Checked, partial settings from one file; fields a file leaves out stay as they were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SettingsPatch {
    partitions: Option<u32>,
    replicas: Option<u16>,
    retention_ms: Option<i64>,
    cleanup_policy: Option<CleanupPolicy>,
    min_insync_replicas: Option<u16>,
    config: BTreeMap<String, String>,
}

impl SettingsPatch {
    fn merge(&mut self, other: &SettingsPatch) {
        self.partitions = other.partitions.or(self.partitions);
        self.replicas = other.replicas.or(self.replicas);
        self.retention_ms = other.retention_ms.or(self.retention_ms);
        self.cleanup_policy = other.cleanup_policy.or(self.cleanup_policy);
        self.min_insync_replicas = other.min_insync_replicas.or(self.min_insync_replicas);
        self.config
            .extend(other.config.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// A configuration event in the catalog, independent of the platform prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct EventKey {
    domain: String,
    entity: String,
    event: String,
}

/// A payload topic: in the installation's namespace (whatever it is when topics are listed),
/// or under an explicit namespace given by full name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum PayloadEntry {
    Installation {
        bundle: String,
        context: String,
        message_type: String,
    },
    Explicit(PayloadTopic),
}

/// Which naming fields a file set explicitly (so a merge only overrides those).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NamingOverrides {
    crud_prefix: Option<String>,
    platform_prefix: Option<String>,
    customer_domain: Option<String>,
}

/// The topic catalog: the CRUD topics, configuration events by domain and entity, saga
/// topics, payload topics, and settings per family and per topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    naming: NamingOverrides,
    defaults: BTreeMap<Family, SettingsPatch>,
    crud: Vec<(CrudKind, SettingsPatch)>,
    config_events: Vec<(EventKey, SettingsPatch)>,
    saga: Vec<(SagaTopic, SettingsPatch)>,
    payload: Vec<(PayloadEntry, SettingsPatch)>,
}

impl Catalog {
    /// Loads a catalog file. `file` is only used in messages. Every name is checked by the
    /// naming rules; any violation fails the load (use [`crate::lint()`] to see them all).
    pub fn from_yaml(src: &str, file: &str) -> Result<Catalog, CatalogError> {
        let (catalog, violations) = load(src, file, &NamingContext::default());
        if violations.is_empty() {
            Ok(catalog)
        } else {
            Err(CatalogError::Invalid {
                file: file.to_owned(),
                violations,
            })
        }
    }

    /// The catalog shipped with the product.
    pub fn embedded() -> Catalog {
        Self::try_embedded().expect("the embedded catalog is checked by the crate's tests")
    }

    /// The catalog shipped with the product, or why it does not load (a defect).
    pub fn try_embedded() -> Result<Catalog, CatalogError> {
        Self::from_yaml(EMBEDDED_CATALOG, EMBEDDED_CATALOG_FILE)
            .map_err(|e| CatalogError::Embedded(Box::new(e)))
    }

    /// Adds an operator's extension: its domains, entities, events and topics join this
    /// catalog; where both declare the same topic or family defaults, the extension's settings
    /// win field by field; naming fields the extension sets replace this catalog's.
    pub fn merge(&mut self, extension: Catalog) {
        let n = extension.naming;
        if n.crud_prefix.is_some() {
            self.naming.crud_prefix = n.crud_prefix;
        }
        if n.platform_prefix.is_some() {
            self.naming.platform_prefix = n.platform_prefix;
        }
        if n.customer_domain.is_some() {
            self.naming.customer_domain = n.customer_domain;
        }
        for (family, patch) in extension.defaults {
            self.defaults.entry(family).or_default().merge(&patch);
        }
        merge_entries(&mut self.crud, extension.crud);
        merge_entries(&mut self.config_events, extension.config_events);
        merge_entries(&mut self.saga, extension.saga);
        merge_entries(&mut self.payload, extension.payload);
    }

    /// The naming in effect: defaults, overridden by what the catalog files set.
    pub fn naming(&self) -> NamingContext {
        let mut ctx = NamingContext::default();
        // Every override was checked when its file was loaded, so these cannot fail.
        if let Some(p) = &self.naming.crud_prefix {
            ctx = ctx.clone().with_crud_prefix(p).unwrap_or(ctx);
        }
        if let Some(p) = &self.naming.platform_prefix {
            ctx = ctx.clone().with_platform_prefix(p).unwrap_or(ctx);
        }
        if let Some(d) = &self.naming.customer_domain {
            ctx = ctx.clone().with_customer_domain(Some(d)).unwrap_or(ctx);
        }
        ctx
    }

    /// Replaces the naming, e.g. with values from the environment (`KAFKA_TOPIC_PREFIX`).
    pub fn set_naming(&mut self, ctx: &NamingContext) {
        self.naming = NamingOverrides {
            crud_prefix: Some(ctx.crud_prefix().to_owned()),
            platform_prefix: Some(ctx.platform_prefix().to_owned()),
            customer_domain: ctx.customer_domain().map(str::to_owned),
        };
    }

    /// The settings a topic of `family` gets unless it says otherwise.
    pub fn defaults(&self, family: Family) -> TopicSettings {
        let mut s = TopicSettings::default();
        if let Some(p) = self.defaults.get(&family) {
            s.apply(p);
        }
        s
    }

    /// Every topic the catalog yields, family by family, in file order.
    pub fn topics(&self) -> Vec<TopicSpec> {
        let ctx = self.naming();
        let mut out = Vec::new();
        let mut spec = |name: TopicName, patch: &SettingsPatch| {
            let mut settings = self.defaults(name.family());
            settings.apply(patch);
            out.push(TopicSpec { name, settings });
        };
        for (kind, patch) in &self.crud {
            spec(CrudTopic::in_context(&ctx, *kind).into(), patch);
        }
        for (key, patch) in &self.config_events {
            spec(self.event_topic(&ctx, key).into(), patch);
        }
        for (saga, patch) in &self.saga {
            spec(saga.clone().into(), patch);
        }
        for (entry, patch) in &self.payload {
            spec(payload_topic(&ctx, entry).into(), patch);
        }
        out
    }

    /// The spec of the topic called `name`, if the catalog has it.
    pub fn topic(&self, name: &str) -> Option<TopicSpec> {
        self.topics()
            .into_iter()
            .find(|t| t.name.to_string() == name)
    }

    /// The configuration-event topic for `domain`/`entity`/`event` (e.g. `idm`, `user`,
    /// `password.changed`), if the catalog declares it.
    pub fn config_event_topic(
        &self,
        domain: &str,
        entity: &str,
        event: &str,
    ) -> Option<ConfigEventTopic> {
        let ctx = self.naming();
        self.config_events
            .iter()
            .find(|(k, _)| k.domain == domain && k.entity == entity && k.event == event)
            .map(|(k, _)| self.event_topic(&ctx, k))
    }

    /// Every configuration-event topic, in catalog order.
    pub fn config_event_topics(&self) -> Vec<ConfigEventTopic> {
        let ctx = self.naming();
        self.config_events
            .iter()
            .map(|(k, _)| self.event_topic(&ctx, k))
            .collect()
    }

    fn event_topic(&self, ctx: &NamingContext, k: &EventKey) -> ConfigEventTopic {
        ConfigEventTopic::unchecked(ctx.platform_prefix(), &k.domain, &k.entity, &k.event)
    }
}

fn payload_topic(ctx: &NamingContext, entry: &PayloadEntry) -> PayloadTopic {
    match entry {
        PayloadEntry::Installation {
            bundle,
            context,
            message_type,
        } => PayloadTopic::unchecked(
            &ctx.payload_namespace(),
            ctx.customer_domain().is_none(),
            bundle,
            context,
            message_type,
        ),
        PayloadEntry::Explicit(t) => t.clone(),
    }
}

fn merge_entries<K: PartialEq>(into: &mut Vec<(K, SettingsPatch)>, from: Vec<(K, SettingsPatch)>) {
    for (key, patch) in from {
        match into.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => existing.merge(&patch),
            None => into.push((key, patch)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The file format (private serde types), and loading with violations.

/// Topics of one section: a list of names, or a map of name → settings (or nothing).
#[derive(Debug, Default)]
struct Entries(Vec<(String, Option<RawSettings>)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of names, or a map of name to settings")
            }
            fn visit_unit<E>(self) -> Result<Entries, E> {
                Ok(Entries::default())
            }
            fn visit_str<E>(self, v: &str) -> Result<Entries, E> {
                Ok(Entries(vec![(v.to_owned(), None)]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = seq.next_element::<ScalarKey>()? {
                    out.push((k.0, None));
                }
                Ok(Entries(out))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<ScalarKey, Option<RawSettings>>()? {
                    out.push((k.0, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    #[serde(default)]
    naming: Option<RawNaming>,
    #[serde(default)]
    defaults: Option<RawDefaults>,
    #[serde(default)]
    crud: Entries,
    #[serde(default)]
    config_events: Ordered<Ordered<Entries>>,
    #[serde(default)]
    saga: Entries,
    #[serde(default)]
    payload: Ordered<Ordered<Entries>>,
    #[serde(default)]
    topics: Entries,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNaming {
    crud_prefix: Option<String>,
    platform_prefix: Option<String>,
    customer_domain: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    crud: Option<RawSettings>,
    config_events: Option<RawSettings>,
    saga: Option<RawSettings>,
    payload: Option<RawSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    partitions: Option<i64>,
    replicas: Option<i64>,
    retention: Option<ScalarKey>,
    cleanup_policy: Option<String>,
    min_insync_replicas: Option<i64>,
    #[serde(default)]
    config: Ordered<ScalarKey>,
}

/// Collects violations with their lines while a file is loaded.
struct Loader<'a> {
    file: &'a str,
    loc: Locator<'a>,
    violations: Vec<Violation>,
    /// How often each (section, item) was looked up, so duplicates find their own line.
    seen_items: BTreeMap<String, usize>,
}

impl Loader<'_> {
    fn entry_line(&mut self, path: &[&str], item: &str) -> usize {
        let key = format!("{}\u{0}{item}", path.join("\u{0}"));
        let n = self.seen_items.entry(key).or_insert(0);
        let line = self.loc.item_nth(path, item, *n);
        *n += 1;
        line
    }

    fn push(&mut self, line: usize, rule: Rule, name: Option<&str>, detail: Option<String>) {
        self.violations.push(Violation {
            file: self.file.to_owned(),
            line,
            rule,
            name: name.map(str::to_owned),
            segment: None,
            hint: detail,
        });
    }

    fn name_errors(&mut self, errors: Vec<NameError>, line_of: impl Fn(Option<usize>) -> usize) {
        for e in errors {
            let line = line_of(e.segment.as_ref().map(|s| s.index));
            self.violations
                .push(Violation::from_name_error(self.file, line, e));
        }
    }

    fn settings(&mut self, raw: Option<RawSettings>, path: &[&str]) -> SettingsPatch {
        let Some(raw) = raw else {
            return SettingsPatch::default();
        };
        let mut p = SettingsPatch::default();
        let field_line = |loc: &Locator<'_>, field: &str| {
            let mut full = path.to_vec();
            full.push(field);
            loc.key(&full)
        };
        if let Some(n) = raw.partitions {
            match u32::try_from(n) {
                Ok(v) if v >= 1 => p.partitions = Some(v),
                _ => {
                    let line = field_line(&self.loc, "partitions");
                    self.push(
                        line,
                        Rule::CatalogSettings,
                        None,
                        Some(format!("partitions must be at least 1, not {n}")),
                    );
                }
            }
        }
        if let Some(n) = raw.replicas {
            match u16::try_from(n) {
                Ok(v) if v >= 1 => p.replicas = Some(v),
                _ => {
                    let line = field_line(&self.loc, "replicas");
                    self.push(
                        line,
                        Rule::CatalogSettings,
                        None,
                        Some(format!("replicas must be at least 1, not {n}")),
                    );
                }
            }
        }
        if let Some(n) = raw.min_insync_replicas {
            match u16::try_from(n) {
                Ok(v) if v >= 1 => p.min_insync_replicas = Some(v),
                _ => {
                    let line = field_line(&self.loc, "min_insync_replicas");
                    self.push(
                        line,
                        Rule::CatalogSettings,
                        None,
                        Some(format!("min_insync_replicas must be at least 1, not {n}")),
                    );
                }
            }
        }
        if let Some(r) = raw.retention {
            match r.0.parse::<i64>().ok().or_else(|| parse_duration(&r.0)) {
                Some(ms) if ms >= -1 => p.retention_ms = Some(ms),
                _ => {
                    let line = field_line(&self.loc, "retention");
                    self.push(line, Rule::CatalogSettings, None, Some(format!(
                        "retention \"{}\" is not a duration: write milliseconds, or a number with ms, s, m, h, d or w (7d), or forever",
                        r.0
                    )));
                }
            }
        }
        if let Some(c) = raw.cleanup_policy {
            match CleanupPolicy::parse(&c) {
                Some(v) => p.cleanup_policy = Some(v),
                None => {
                    let line = field_line(&self.loc, "cleanup_policy");
                    self.push(
                        line,
                        Rule::CatalogSettings,
                        None,
                        Some(format!(
                            "cleanup_policy \"{c}\" is not one of delete, compact, compact,delete"
                        )),
                    );
                }
            }
        }
        for (k, v) in raw.config.0 {
            let typed = match k.as_str() {
                "retention.ms" => Some("retention"),
                "cleanup.policy" => Some("cleanup_policy"),
                "min.insync.replicas" => Some("min_insync_replicas"),
                _ => None,
            };
            if let Some(typed) = typed {
                let mut full = path.to_vec();
                full.push("config");
                let line = self.loc.item(&full, &k);
                self.push(
                    line,
                    Rule::CatalogSettings,
                    None,
                    Some(format!(
                        "set {k} with the `{typed}` key, not under `config`"
                    )),
                );
            } else {
                p.config.insert(k, v.0);
            }
        }
        if let (Some(m), Some(r)) = (p.min_insync_replicas, p.replicas)
            && m > r
        {
            let line = field_line(&self.loc, "min_insync_replicas");
            self.push(
                line,
                Rule::CatalogSettings,
                None,
                Some(format!(
                    "min_insync_replicas {m} is larger than replicas {r}: no write could succeed"
                )),
            );
        }
        p
    }
}

/// Loads a catalog file, collecting every violation instead of stopping at the first.
/// `base` is the naming the file's own `naming:` section overrides.
pub(crate) fn load(src: &str, file: &str, base: &NamingContext) -> (Catalog, Vec<Violation>) {
    let mut l = Loader {
        file,
        loc: Locator::new(src),
        violations: Vec::new(),
        seen_items: BTreeMap::new(),
    };
    let raw: RawCatalog = if src.trim().is_empty() {
        RawCatalog::default()
    } else {
        match serde_norway::from_str(src) {
            Ok(r) => r,
            Err(e) => {
                let line = e.location().map_or(1, |l| l.line());
                l.push(line, Rule::CatalogSyntax, None, Some(yaml_message(&e)));
                return (Catalog::default(), l.violations);
            }
        }
    };
    let mut cat = Catalog::default();

    // naming
    let mut ctx = base.clone();
    if let Some(n) = raw.naming {
        type Setter = fn(NamingContext, &str) -> Result<NamingContext, NameError>;
        let fields: [(&str, Option<String>, Setter); 3] = [
            ("crud_prefix", n.crud_prefix, |c, v| c.with_crud_prefix(v)),
            ("platform_prefix", n.platform_prefix, |c, v| {
                c.with_platform_prefix(v)
            }),
            ("customer_domain", n.customer_domain, |c, v| {
                c.with_customer_domain(Some(v))
            }),
        ];
        for (key, value, set) in fields {
            let Some(value) = value else { continue };
            match set(ctx.clone(), &value) {
                Ok(c) => {
                    ctx = c;
                    let slot = match key {
                        "crud_prefix" => &mut cat.naming.crud_prefix,
                        "platform_prefix" => &mut cat.naming.platform_prefix,
                        _ => &mut cat.naming.customer_domain,
                    };
                    *slot = Some(value);
                }
                Err(e) => {
                    let line = l.loc.key(&["naming", key]);
                    l.violations.push(Violation::from_name_error(file, line, e));
                }
            }
        }
    }

    // defaults per family
    if let Some(d) = raw.defaults {
        for (family, key, patch) in [
            (Family::Crud, "crud", d.crud),
            (Family::ConfigEvent, "config_events", d.config_events),
            (Family::Saga, "saga", d.saga),
            (Family::Payload, "payload", d.payload),
        ] {
            if patch.is_some() {
                let p = l.settings(patch, &["defaults", key]);
                cat.defaults.insert(family, p);
            }
        }
    }

    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut dup = |l: &mut Loader<'_>, name: &str, line: usize| {
        if !seen.insert(name.to_owned()) {
            l.push(line, Rule::CatalogDuplicate, Some(name), None);
            false
        } else {
            true
        }
    };

    // crud
    for (suffix, settings) in raw.crud.0 {
        let name = format!("{}.{suffix}", ctx.crud_prefix());
        let line = l.entry_line(&["crud"], &suffix);
        let patch = l.settings(settings, &["crud", &suffix]);
        match TopicName::check(&name, &ctx) {
            Ok(TopicName::Crud(t)) => {
                if dup(&mut l, &name, line) {
                    cat.crud.push((t.kind(), patch));
                }
            }
            Ok(other) => family_mismatch(&mut l, line, &other, Family::Crud),
            Err(errs) => l.name_errors(errs, |_| line),
        }
    }

    // configuration events
    let k = ctx.platform_prefix().split('.').count();
    for (domain, entities) in raw.config_events.0 {
        for (entity, events) in entities.0 {
            let entity_line = l.loc.key(&["config_events", &domain, &entity]);
            let domain_line = l.loc.key(&["config_events", &domain]);
            for (event, settings) in events.0 {
                let event_line = l.entry_line(&["config_events", &domain, &entity], &event);
                let patch = l.settings(settings, &["config_events", &domain, &entity, &event]);
                let name = format!("{}.{domain}.{entity}.{event}", ctx.platform_prefix());
                let line_of = |seg: Option<usize>| match seg {
                    Some(i) if i == k => domain_line,
                    Some(i) if i == k + 1 => entity_line,
                    _ => event_line,
                };
                if let Some((part, line)) = [(&domain, domain_line), (&entity, entity_line)]
                    .into_iter()
                    .find(|(p, _)| p.contains('.'))
                {
                    l.push(
                        line,
                        Rule::NoSeparator,
                        Some(&name),
                        Some(format!(
                            "\"{part}\" is one segment: domains and entities contain no dots"
                        )),
                    );
                    continue;
                }
                match TopicName::check(&name, &ctx) {
                    Ok(TopicName::ConfigEvent(t)) => {
                        if dup(&mut l, &name, event_line) {
                            cat.config_events.push((
                                EventKey {
                                    domain: t.domain().to_owned(),
                                    entity: t.entity().to_owned(),
                                    event: t.event().to_owned(),
                                },
                                patch,
                            ));
                        }
                    }
                    Ok(TopicName::Payload(_)) => {
                        // `data` + composite event has the shape of the payload fallback.
                        let second = event.split('.').nth(1).unwrap_or_default();
                        l.violations.push(Violation::from_name_error(
                            file,
                            event_line,
                            NameError::new(&name, Rule::DataComposite)
                                .at(Segment::new(k + 3, second)),
                        ));
                    }
                    Ok(other) => family_mismatch(&mut l, event_line, &other, Family::ConfigEvent),
                    Err(errs) => l.name_errors(errs, line_of),
                }
            }
        }
    }

    // saga
    for (name, settings) in raw.saga.0 {
        let line = l.entry_line(&["saga"], &name);
        let patch = l.settings(settings, &["saga", &name]);
        match TopicName::check(&name, &ctx) {
            Ok(TopicName::Saga(t)) => {
                if dup(&mut l, &name, line) {
                    cat.saga.push((t, patch));
                }
            }
            Ok(other) => family_mismatch(&mut l, line, &other, Family::Saga),
            Err(errs) => l.name_errors(errs, |_| line),
        }
    }

    // payload, in the installation's namespace
    let ns = ctx.payload_namespace();
    let kp = ns.split('.').count();
    for (bundle, contexts) in raw.payload.0 {
        for (context, types) in contexts.0 {
            let bundle_line = l.loc.key(&["payload", &bundle]);
            let context_line = l.loc.key(&["payload", &bundle, &context]);
            for (message_type, settings) in types.0 {
                let line = l.entry_line(&["payload", &bundle, &context], &message_type);
                let patch = l.settings(settings, &["payload", &bundle, &context, &message_type]);
                let name = format!("{ns}.{bundle}.{context}.{message_type}");
                if let Some(part) = [&bundle, &context, &message_type]
                    .into_iter()
                    .find(|p| p.contains('.'))
                {
                    l.push(line, Rule::NoSeparator, Some(&name), Some(format!(
                        "\"{part}\" is one segment: bundles, contexts and message types contain no dots"
                    )));
                    continue;
                }
                let line_of = |seg: Option<usize>| match seg {
                    Some(i) if i == kp => bundle_line,
                    Some(i) if i == kp + 1 => context_line,
                    _ => line,
                };
                match TopicName::check(&name, &ctx) {
                    Ok(TopicName::Payload(t)) => {
                        if dup(&mut l, &name, line) {
                            cat.payload.push((
                                PayloadEntry::Installation {
                                    bundle: t.bundle().to_owned(),
                                    context: t.context().to_owned(),
                                    message_type: t.message_type().to_owned(),
                                },
                                patch,
                            ));
                        }
                    }
                    Ok(other) => family_mismatch(&mut l, line, &other, Family::Payload),
                    Err(errs) => l.name_errors(errs, line_of),
                }
            }
        }
    }

    // any topic by full name
    for (name, settings) in raw.topics.0 {
        let line = l.entry_line(&["topics"], &name);
        let patch = l.settings(settings, &["topics", &name]);
        match TopicName::check(&name, &ctx) {
            Ok(t) => {
                if !dup(&mut l, &name, line) {
                    continue;
                }
                match t {
                    TopicName::Crud(t) => cat.crud.push((t.kind(), patch)),
                    TopicName::ConfigEvent(t) => cat.config_events.push((
                        EventKey {
                            domain: t.domain().to_owned(),
                            entity: t.entity().to_owned(),
                            event: t.event().to_owned(),
                        },
                        patch,
                    )),
                    TopicName::Saga(t) => cat.saga.push((t, patch)),
                    TopicName::Payload(t) => cat.payload.push((PayloadEntry::Explicit(t), patch)),
                }
            }
            Err(errs) => l.name_errors(errs, |_| line),
        }
    }

    // File order; one report per broken segment even if several names share it
    // (`User: [created, updated]` is one lowercase violation, not two).
    l.violations
        .sort_by_key(|v| (v.line, v.segment.as_ref().map_or(0, |s| s.index + 1)));
    l.violations.dedup_by(|a, b| {
        a.segment.is_some() && a.line == b.line && a.rule == b.rule && a.segment == b.segment
    });
    (cat, l.violations)
}

fn family_mismatch(l: &mut Loader<'_>, line: usize, name: &TopicName, expected: Family) {
    let text = name.to_string();
    l.push(
        line,
        Rule::CatalogFamily,
        Some(&text),
        Some(format!(
            "this is a {} topic, declared among {} topics",
            name.family(),
            expected
        )),
    );
}

/// The YAML parser's message without its own " at line N column M" suffix (we print the line).
fn yaml_message(e: &serde_norway::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::{FlowStage, SagaKind};

    #[test]
    fn the_embedded_catalog_loads() {
        let c = Catalog::try_embedded().unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.topics().is_empty());
    }

    #[test]
    fn the_embedded_catalog_holds_every_row_of_seed_003() {
        let c = Catalog::embedded();
        let names: BTreeSet<String> = c.topics().iter().map(|t| t.name.to_string()).collect();
        let crud = [
            "operations",
            "errors",
            "workflows",
            "secrets",
            "secrets.audit",
            "metrics",
        ];
        let cud = ["created", "updated", "deleted"];
        let mut want: Vec<String> = crud.iter().map(|k| format!("crud.{k}")).collect();
        for e in [
            "created",
            "updated",
            "deleted",
            "locked",
            "unlocked",
            "password.changed",
            "password.reset",
        ] {
            want.push(format!("de.civitascore.idm.user.{e}"));
        }
        for (domain, entities) in [
            ("idm", &["realm", "client", "group", "role"][..]),
            ("api", &["backend", "route"][..]),
            (
                "data",
                &[
                    "thing",
                    "location",
                    "sensor",
                    "observedproperty",
                    "datastream",
                    "project",
                    "pipeline",
                ][..],
            ),
        ] {
            for entity in entities {
                for e in cud {
                    want.push(format!("de.civitascore.{domain}.{entity}.{e}"));
                }
            }
        }
        for s in [
            "core.civitas.dataset.create.requested",
            "core.civitas.frost.project.create",
            "core.civitas.frost.project.delete",
            "core.civitas.frost.project.result",
            "core.civitas.apisix.route.create",
            "core.civitas.apisix.route.delete",
            "core.civitas.apisix.route.result",
            "core.civitas.dataset.create.completed",
            "core.civitas.dataset.create.failed",
            "core.civitas.dataset.create.escalated",
            "core.civitas.dataset.create.deadletter",
            "core.civitas.frost.project.deadletter",
            "core.civitas.apisix.route.deadletter",
        ] {
            want.push(s.to_owned());
        }
        for w in &want {
            assert!(names.contains(w), "missing {w}");
        }
        assert_eq!(names.len(), want.len(), "unexpected extra topics");
    }

    #[test]
    fn event_streams_delete_and_settings_follow_family_defaults_and_overrides() {
        let c = Catalog::embedded();
        for t in c.topics() {
            assert_eq!(
                t.settings.cleanup_policy,
                CleanupPolicy::Delete,
                "{}",
                t.name
            );
        }
        let ops = c.topic("crud.operations").unwrap();
        assert_eq!(ops.settings, c.defaults(Family::Crud));
        let audit = c.topic("crud.secrets.audit").unwrap();
        assert_eq!(audit.settings.retention_human(), "90d");
        assert_eq!(
            c.topic("de.civitascore.idm.user.created")
                .unwrap()
                .settings
                .retention_human(),
            "30d"
        );
    }

    #[test]
    fn config_event_lookup_finds_catalog_rows_only() {
        let c = Catalog::embedded();
        let t = c
            .config_event_topic("idm", "user", "password.changed")
            .unwrap();
        assert_eq!(t.to_string(), "de.civitascore.idm.user.password.changed");
        assert!(c.config_event_topic("idm", "user", "exploded").is_none());
        assert_eq!(c.config_event_topics().len(), 7 + 4 * 3 + 2 * 3 + 7 * 3);
    }

    const EXTENSION: &str = "\
naming:
  customer_domain: de.musterstadt
defaults:
  payload: { partitions: 12 }
config_events:
  idm:
    user: [expired]
  parking:
    space: [created, occupied, released]
saga:
  core.civitas.apisix.route.create: { partitions: 6 }
payload:
  umwelt:
    luftqualitaet: [raw, enriched]
topics:
  de.civitascore.data.verkehr.zaehlstellen.raw:
";

    #[test]
    fn an_extension_adds_events_topics_and_settings() {
        let mut c = Catalog::embedded();
        let before = c.topics().len();
        c.merge(Catalog::from_yaml(EXTENSION, "ext.yaml").unwrap_or_else(|e| panic!("{e}")));
        let names: Vec<String> = c.topics().iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names.len(), before + 1 + 3 + 2 + 1);
        assert!(names.contains(&"de.civitascore.idm.user.expired".to_owned()));
        assert!(names.contains(&"de.civitascore.parking.space.occupied".to_owned()));
        assert!(names.contains(&"de.musterstadt.umwelt.luftqualitaet.enriched".to_owned()));
        let fallback = c
            .topic("de.civitascore.data.verkehr.zaehlstellen.raw")
            .unwrap();
        assert_eq!(fallback.settings.partitions, 12);
        let route = c.topic("core.civitas.apisix.route.create").unwrap();
        assert_eq!(route.settings.partitions, 6);
        assert_eq!(
            route.settings.retention_ms,
            c.defaults(Family::Saga).retention_ms
        );
        assert_eq!(c.naming().customer_domain(), Some("de.musterstadt"));
        assert!(
            c.config_event_topic("parking", "space", "released")
                .is_some()
        );
    }

    #[test]
    fn a_broken_extension_reports_every_violation_with_lines() {
        let src = "\
config_events:
  idm:
    User: [create, updated]
  data:
    thing: [status.changed]
saga:
  - core.civitas.frost.project.created
defaults:
  crud: { partitions: 0, retention: soon }
";
        let Err(CatalogError::Invalid { violations, .. }) = Catalog::from_yaml(src, "bad.yaml")
        else {
            panic!("expected violations")
        };
        let got: Vec<(usize, &str)> = violations.iter().map(|v| (v.line, v.rule.id())).collect();
        assert_eq!(
            got,
            vec![
                (3, "platform.lowercase"),
                (3, "platform.past-tense"),
                (5, "platform.data-composite"),
                (7, "saga.operation"),
                (9, "catalog.settings"),
                (9, "catalog.settings"),
            ]
        );
    }

    #[test]
    fn yaml_errors_carry_the_parsers_line() {
        let src = "config_events:\n  idm:\n    user: [created\nsaga: []\n";
        let (_, v) = load(src, "x.yaml", &NamingContext::default());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].rule, Rule::CatalogSyntax);
        assert!(v[0].line >= 3, "{:?}", v[0]);
        let (_, v) = load("colour: blue\n", "x.yaml", &NamingContext::default());
        assert_eq!(v[0].rule, Rule::CatalogSyntax);
        assert_eq!(v[0].line, 1);
    }

    #[test]
    fn duplicates_and_misplaced_names_are_reported() {
        let src = "\
saga:
  - core.civitas.frost.project.create
  - core.civitas.frost.project.create
  - crud.operations
";
        let (_, v) = load(src, "x.yaml", &NamingContext::default());
        let got: Vec<(usize, Rule)> = v.iter().map(|v| (v.line, v.rule)).collect();
        assert_eq!(
            got,
            vec![(3, Rule::CatalogDuplicate), (4, Rule::CatalogFamily)]
        );
    }

    #[test]
    fn saga_kinds_are_typed() {
        let c = Catalog::embedded();
        let kinds: Vec<SagaKind> = c
            .topics()
            .into_iter()
            .filter_map(|t| match t.name {
                TopicName::Saga(s) => Some(s.kind().clone()),
                _ => None,
            })
            .collect();
        assert!(kinds.contains(&SagaKind::Flow {
            flow: "dataset".into(),
            verb: "create".into(),
            stage: FlowStage::Requested
        }));
        assert!(kinds.contains(&SagaKind::Flow {
            flow: "dataset".into(),
            verb: "create".into(),
            stage: FlowStage::Escalated
        }));
        assert!(kinds.contains(&SagaKind::DeadLetter {
            system: "frost".into(),
            entity: "project".into()
        }));
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("7d"), Some(7 * DAY_MS));
        assert_eq!(parse_duration("12h"), Some(12 * HOUR_MS));
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("forever"), Some(-1));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(human_duration(7 * DAY_MS), "7d");
        assert_eq!(human_duration(90 * MINUTE_MS), "90m");
        assert_eq!(human_duration(-1), "forever");
    }
}
