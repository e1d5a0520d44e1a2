//! Topic names as types, one per family (docs/topics.md, "Topic families"), and the parser that classifies a
//! string into its family or says which segment broke which rule (§5).
//!
//! | family | shape |
//! |---|---|
//! | [`CrudTopic`] | `<crud-prefix>.operations` / `.errors` / `.workflows` / `.secrets` / `.secrets.audit` / `.metrics` |
//! | [`ConfigEventTopic`] | `<platform-prefix>.<domain>.<entity>.<event>`, event possibly composite (`password.changed`) |
//! | [`SagaTopic`] | `core.civitas.<system>.<entity>.<verb \| result \| deadletter>` or `core.civitas.<flow>.<verb>.<requested \| completed \| failed \| escalated>` |
//! | [`PayloadTopic`] | `<customer-domain>.<bundle>.<context>.<message-type>`, fallback `<platform-prefix>.data.<bundle>.<context>.<message-type>` |

use std::fmt;

use crate::error::{NameError, Segment};
use crate::rules::{
    MAX_TOPIC_LEN, NamingContext, PAYLOAD_FALLBACK_SEGMENT, Rule, SAGA_PREFIX, is_past_tense,
    is_saga_verb, past_tense_hint, saga_verb_for_past,
};

/// The four topic families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// The CRUD service's audit topics (seed 000).
    Crud,
    /// Configuration events `de.civitascore.<domain>.<entity>.<event>` (seed 003).
    ConfigEvent,
    /// Saga / orchestrator topics `core.civitas.…` (seed 003; fixed prefix: docs/architecture.md).
    Saga,
    /// Payload data topics `<customer-domain>.<bundle>.<context>.<message-type>` (seed 003).
    Payload,
}

impl Family {
    /// Every family, in catalog order.
    pub const ALL: [Family; 4] = [
        Family::Crud,
        Family::ConfigEvent,
        Family::Saga,
        Family::Payload,
    ];

    /// Stable id: `crud`, `config-event`, `saga`, `payload`.
    pub fn id(self) -> &'static str {
        match self {
            Family::Crud => "crud",
            Family::ConfigEvent => "config-event",
            Family::Saga => "saga",
            Family::Payload => "payload",
        }
    }

    /// A heading for people.
    pub fn title(self) -> &'static str {
        match self {
            Family::Crud => "CRUD service topics",
            Family::ConfigEvent => "Configuration events",
            Family::Saga => "Saga / orchestrator topics",
            Family::Payload => "Payload data topics",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The CRUD service's topics, after the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrudKind {
    /// `<prefix>.operations`: per-command success/failure.
    Operations,
    /// `<prefix>.errors`: validation errors.
    Errors,
    /// `<prefix>.workflows`: workflow started/completed/failed/waiting.
    Workflows,
    /// `<prefix>.secrets`: secret retrievals, cache hits, errors.
    Secrets,
    /// `<prefix>.secrets.audit`: the audit copy of every secret event.
    SecretsAudit,
    /// `<prefix>.metrics`: operational snapshots.
    Metrics,
}

impl CrudKind {
    /// All six, in the seed's order.
    pub const ALL: [CrudKind; 6] = [
        CrudKind::Operations,
        CrudKind::Errors,
        CrudKind::Workflows,
        CrudKind::Secrets,
        CrudKind::SecretsAudit,
        CrudKind::Metrics,
    ];

    /// The part after the prefix: `operations`, …, `secrets.audit`, `metrics`.
    pub fn suffix(self) -> &'static str {
        match self {
            CrudKind::Operations => "operations",
            CrudKind::Errors => "errors",
            CrudKind::Workflows => "workflows",
            CrudKind::Secrets => "secrets",
            CrudKind::SecretsAudit => "secrets.audit",
            CrudKind::Metrics => "metrics",
        }
    }

    /// The kind whose suffix is `suffix`.
    pub fn from_suffix(suffix: &str) -> Option<CrudKind> {
        CrudKind::ALL.into_iter().find(|k| k.suffix() == suffix)
    }
}

/// A CRUD service topic: `<prefix>.<kind>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CrudTopic {
    prefix: String,
    kind: CrudKind,
}

impl CrudTopic {
    /// The topic with the default prefix `crud`.
    pub fn new(kind: CrudKind) -> Self {
        Self::in_context(&NamingContext::default(), kind)
    }

    /// The topic with the context's prefix (`KAFKA_TOPIC_PREFIX`).
    pub fn in_context(ctx: &NamingContext, kind: CrudKind) -> Self {
        CrudTopic {
            prefix: ctx.crud_prefix().to_owned(),
            kind,
        }
    }

    /// The topic with an explicit prefix, checked.
    pub fn with_prefix(prefix: &str, kind: CrudKind) -> Result<Self, NameError> {
        let ctx = NamingContext::new().with_crud_prefix(prefix)?;
        Ok(Self::in_context(&ctx, kind))
    }

    /// The prefix, e.g. `crud`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Which of the six topics.
    pub fn kind(&self) -> CrudKind {
        self.kind
    }
}

impl fmt::Display for CrudTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.prefix, self.kind.suffix())
    }
}

/// A configuration event: `<platform-prefix>.<domain>.<entity>.<event>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigEventTopic {
    prefix: String,
    domain: String,
    entity: String,
    event: String,
}

impl ConfigEventTopic {
    /// `de.civitascore.<domain>.<entity>.<event>`, checked; `event` may be composite
    /// (`password.changed`).
    pub fn new(domain: &str, entity: &str, event: &str) -> Result<Self, NameError> {
        Self::in_context(&NamingContext::default(), domain, entity, event)
    }

    /// The same with the context's platform prefix.
    pub fn in_context(
        ctx: &NamingContext,
        domain: &str,
        entity: &str,
        event: &str,
    ) -> Result<Self, NameError> {
        let name = format!("{}.{domain}.{entity}.{event}", ctx.platform_prefix());
        let base = ctx.platform_prefix().split('.').count();
        single_segment(&name, base, domain)?;
        single_segment(&name, base + 1, entity)?;
        match TopicName::parse(&name, ctx)? {
            TopicName::ConfigEvent(t) => Ok(t),
            _ => Err(NameError::new(&name, Rule::DataComposite).at(Segment::new(
                base + 3,
                event.split('.').nth(1).unwrap_or_default(),
            ))),
        }
    }

    /// For names whose parts were checked when the catalog was loaded.
    pub(crate) fn unchecked(prefix: &str, domain: &str, entity: &str, event: &str) -> Self {
        ConfigEventTopic {
            prefix: prefix.to_owned(),
            domain: domain.to_owned(),
            entity: entity.to_owned(),
            event: event.to_owned(),
        }
    }

    /// The platform prefix, e.g. `de.civitascore`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The domain, e.g. `idm`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The entity, e.g. `user`.
    pub fn entity(&self) -> &str {
        &self.entity
    }

    /// The event, e.g. `created` or `password.changed`.
    pub fn event(&self) -> &str {
        &self.event
    }
}

impl fmt::Display for ConfigEventTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            self.prefix, self.domain, self.entity, self.event
        )
    }
}

/// The stage of a saga flow topic (`core.civitas.dataset.create.<stage>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowStage {
    /// The saga is asked for (portal backend → orchestrator).
    Requested,
    /// The saga succeeded.
    Completed,
    /// The saga failed (and was compensated, or not).
    Failed,
    /// A compensation failed or a late result created something: resources are left that
    /// an operator must remove by hand (the manual-intervention record).
    Escalated,
}

impl FlowStage {
    /// All four.
    pub const ALL: [FlowStage; 4] = [
        FlowStage::Requested,
        FlowStage::Completed,
        FlowStage::Failed,
        FlowStage::Escalated,
    ];

    /// `requested`, `completed`, `failed`, `escalated`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStage::Requested => "requested",
            FlowStage::Completed => "completed",
            FlowStage::Failed => "failed",
            FlowStage::Escalated => "escalated",
        }
    }

    fn parse(s: &str) -> Option<FlowStage> {
        FlowStage::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// What a saga topic carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SagaKind {
    /// `core.civitas.<system>.<entity>.<verb>`: a command to the adapter of `system`.
    Command {
        /// The target system, e.g. `frost`.
        system: String,
        /// The entity in that system, e.g. `project`.
        entity: String,
        /// The imperative verb, e.g. `create`.
        verb: String,
    },
    /// `core.civitas.<system>.<entity>.result`: the adapter's answer to every command.
    Result {
        /// The system, e.g. `frost`.
        system: String,
        /// The entity, e.g. `project`.
        entity: String,
    },
    /// `core.civitas.<system>.<entity>.deadletter`: messages that could not be processed.
    DeadLetter {
        /// The system, e.g. `saga`.
        system: String,
        /// The entity, e.g. `message`.
        entity: String,
    },
    /// `core.civitas.<flow>.<verb>.<stage>`: the saga's own lifecycle.
    Flow {
        /// The flow, e.g. `dataset`.
        flow: String,
        /// The action, e.g. `create`.
        verb: String,
        /// requested / completed / failed / escalated.
        stage: FlowStage,
    },
}

/// A saga / orchestrator topic under `core.civitas`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SagaTopic {
    kind: SagaKind,
}

impl SagaTopic {
    /// `core.civitas.<system>.<entity>.<verb>`, checked.
    pub fn command(system: &str, entity: &str, verb: &str) -> Result<Self, NameError> {
        Self::build(&[system, entity, verb])
    }

    /// `core.civitas.<system>.<entity>.result`, checked.
    pub fn result(system: &str, entity: &str) -> Result<Self, NameError> {
        Self::build(&[system, entity, "result"])
    }

    /// `core.civitas.<system>.<entity>.deadletter`, checked.
    pub fn dead_letter(system: &str, entity: &str) -> Result<Self, NameError> {
        Self::build(&[system, entity, "deadletter"])
    }

    /// `core.civitas.<flow>.<verb>.<stage>`, checked.
    pub fn flow(flow: &str, verb: &str, stage: FlowStage) -> Result<Self, NameError> {
        Self::build(&[flow, verb, stage.as_str()])
    }

    fn build(parts: &[&str; 3]) -> Result<Self, NameError> {
        let name = format!("{SAGA_PREFIX}.{}.{}.{}", parts[0], parts[1], parts[2]);
        for (i, p) in parts.iter().enumerate() {
            single_segment(&name, 2 + i, p)?;
        }
        match TopicName::parse(&name, &NamingContext::default())? {
            TopicName::Saga(t) => Ok(t),
            _ => Err(NameError::new(&name, Rule::UnknownFamily)),
        }
    }

    /// What the topic carries.
    pub fn kind(&self) -> &SagaKind {
        &self.kind
    }
}

impl fmt::Display for SagaTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SagaKind::Command {
                system,
                entity,
                verb,
            } => write!(f, "{SAGA_PREFIX}.{system}.{entity}.{verb}"),
            SagaKind::Result { system, entity } => {
                write!(f, "{SAGA_PREFIX}.{system}.{entity}.result")
            }
            SagaKind::DeadLetter { system, entity } => {
                write!(f, "{SAGA_PREFIX}.{system}.{entity}.deadletter")
            }
            SagaKind::Flow { flow, verb, stage } => {
                write!(f, "{SAGA_PREFIX}.{flow}.{verb}.{}", stage.as_str())
            }
        }
    }
}

/// A payload data topic: `<namespace>.<bundle>.<context>.<message-type>`, where the namespace
/// is the customer domain or the platform fallback `<platform-prefix>.data`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadTopic {
    namespace: String,
    fallback: bool,
    bundle: String,
    context: String,
    message_type: String,
}

impl PayloadTopic {
    /// A payload topic in the installation's namespace (customer domain or fallback), checked.
    pub fn in_context(
        ctx: &NamingContext,
        bundle: &str,
        context: &str,
        message_type: &str,
    ) -> Result<Self, NameError> {
        let ns = ctx.payload_namespace();
        let name = format!("{ns}.{bundle}.{context}.{message_type}");
        let base = ns.split('.').count();
        for (i, p) in [bundle, context, message_type].iter().enumerate() {
            single_segment(&name, base + i, p)?;
        }
        match TopicName::parse(&name, ctx)? {
            TopicName::Payload(t) => Ok(t),
            _ => Err(NameError::new(&name, Rule::UnknownFamily)),
        }
    }

    /// A payload topic under an explicit customer domain (`de.musterstadt`), checked.
    pub fn in_domain(
        customer_domain: &str,
        bundle: &str,
        context: &str,
        message_type: &str,
    ) -> Result<Self, NameError> {
        let ctx = NamingContext::new().with_customer_domain(Some(customer_domain))?;
        Self::in_context(&ctx, bundle, context, message_type)
    }

    /// For names whose parts were checked when the catalog was loaded.
    pub(crate) fn unchecked(
        namespace: &str,
        fallback: bool,
        bundle: &str,
        context: &str,
        message_type: &str,
    ) -> Self {
        PayloadTopic {
            namespace: namespace.to_owned(),
            fallback,
            bundle: bundle.to_owned(),
            context: context.to_owned(),
            message_type: message_type.to_owned(),
        }
    }

    /// The namespace: the customer domain or `<platform-prefix>.data`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// True when the namespace is the platform fallback, not a customer domain.
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }

    /// The bundle, e.g. `umwelt`.
    pub fn bundle(&self) -> &str {
        &self.bundle
    }

    /// The context, e.g. `luftqualitaet`.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The message type, e.g. `raw`, `enriched`, `validated`.
    pub fn message_type(&self) -> &str {
        &self.message_type
    }
}

impl fmt::Display for PayloadTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            self.namespace, self.bundle, self.context, self.message_type
        )
    }
}

/// A valid topic name of one of the four families.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicName {
    /// A CRUD service topic.
    Crud(CrudTopic),
    /// A configuration event.
    ConfigEvent(ConfigEventTopic),
    /// A saga / orchestrator topic.
    Saga(SagaTopic),
    /// A payload data topic.
    Payload(PayloadTopic),
}

impl TopicName {
    /// Classifies `name` into its family, or returns the first rule it breaks.
    ///
    /// ```
    /// use civitas_topics::{NamingContext, Rule, TopicName, Family};
    /// let ctx = NamingContext::default();
    /// let t = TopicName::parse("de.civitascore.idm.user.password.changed", &ctx).unwrap();
    /// assert_eq!(t.family(), Family::ConfigEvent);
    /// let err = TopicName::parse("de.civitascore.idm.user.create", &ctx).unwrap_err();
    /// assert_eq!(err.rule, Rule::PastTense);
    /// assert_eq!(err.hint.as_deref(), Some("did you mean \"created\"?"));
    /// ```
    pub fn parse(name: &str, ctx: &NamingContext) -> Result<TopicName, NameError> {
        Self::check(name, ctx).map_err(|mut errs| errs.remove(0))
    }

    /// Like [`parse`](Self::parse), but reports every rule the name breaks (never an empty list).
    pub fn check(name: &str, ctx: &NamingContext) -> Result<TopicName, Vec<NameError>> {
        let mut p = Parser {
            name,
            segs: name.split('.').collect(),
            low: Vec::new(),
            bad: Vec::new(),
            errs: Vec::new(),
        };
        if name.is_empty() || name.len() > MAX_TOPIC_LEN {
            p.errs.push(
                NameError::new(name, Rule::KafkaLength)
                    .with_hint(format!("the name has {} characters", name.len())),
            );
            if name.is_empty() {
                return Err(p.errs);
            }
        }
        if name == "." || name == ".." {
            return Err(vec![NameError::new(name, Rule::KafkaDotName)]);
        }
        p.generic_checks();
        let found = p.classify(ctx);
        match found {
            Some(t) if p.errs.is_empty() => Ok(t),
            _ => {
                if p.errs.is_empty() {
                    p.errs.push(NameError::new(name, Rule::UnknownFamily));
                }
                // Whole-name errors first, then by segment; stable for equal positions.
                p.errs
                    .sort_by_key(|e| e.segment.as_ref().map_or(0, |s| s.index + 1));
                Err(p.errs)
            }
        }
    }

    /// The family of this name.
    pub fn family(&self) -> Family {
        match self {
            TopicName::Crud(_) => Family::Crud,
            TopicName::ConfigEvent(_) => Family::ConfigEvent,
            TopicName::Saga(_) => Family::Saga,
            TopicName::Payload(_) => Family::Payload,
        }
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicName::Crud(t) => t.fmt(f),
            TopicName::ConfigEvent(t) => t.fmt(f),
            TopicName::Saga(t) => t.fmt(f),
            TopicName::Payload(t) => t.fmt(f),
        }
    }
}

impl From<CrudTopic> for TopicName {
    fn from(t: CrudTopic) -> Self {
        TopicName::Crud(t)
    }
}

impl From<ConfigEventTopic> for TopicName {
    fn from(t: ConfigEventTopic) -> Self {
        TopicName::ConfigEvent(t)
    }
}

impl From<SagaTopic> for TopicName {
    fn from(t: SagaTopic) -> Self {
        TopicName::Saga(t)
    }
}

impl From<PayloadTopic> for TopicName {
    fn from(t: PayloadTopic) -> Self {
        TopicName::Payload(t)
    }
}

/// A builder argument that should be one segment must not smuggle in dots.
fn single_segment(name: &str, index: usize, part: &str) -> Result<(), NameError> {
    if part.contains('.') {
        return Err(NameError::new(name, Rule::NoSeparator)
            .at(Segment::new(index, part))
            .with_hint("this part is a single segment, without dots"));
    }
    Ok(())
}

/// Checks that are the same for every family, then family-specific ones.
struct Parser<'a> {
    name: &'a str,
    segs: Vec<&'a str>,
    /// Lowercased segments, used to classify a name even when its case is wrong.
    low: Vec<String>,
    /// Segments already reported as broken beyond repair (illegal characters, empty).
    bad: Vec<bool>,
    errs: Vec<NameError>,
}

impl Parser<'_> {
    fn err(&mut self, rule: Rule, index: usize) -> &mut NameError {
        let e = NameError::new(self.name, rule).at(Segment::new(index, self.segs[index]));
        self.errs.push(e);
        self.errs.last_mut().expect("just pushed")
    }

    fn generic_checks(&mut self) {
        self.bad = vec![false; self.segs.len()];
        for i in 0..self.segs.len() {
            let s = self.segs[i];
            if let Some(c) = s
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
            {
                self.err(Rule::KafkaChars, i).hint = Some(format!("illegal character {c:?}"));
                self.bad[i] = true;
            } else if s.is_empty() {
                self.err(Rule::EmptySegment, i);
                self.bad[i] = true;
            } else {
                if s.chars().any(|c| c.is_ascii_uppercase()) {
                    let lower = s.to_ascii_lowercase();
                    self.err(Rule::Lowercase, i).hint = Some(format!("did you mean \"{lower}\"?"));
                }
                if s.contains('_') {
                    self.err(Rule::NoUnderscore, i);
                }
            }
        }
        self.low = self.segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    }

    fn starts_with(&self, prefix: &str) -> Option<usize> {
        let p: Vec<&str> = prefix.split('.').collect();
        (self.low.len() >= p.len() && self.low.iter().zip(&p).all(|(a, b)| a == b))
            .then_some(p.len())
    }

    /// A word segment: `[a-z0-9]+`, no separators. Case and `_` were reported already.
    fn word(&mut self, i: usize) -> String {
        if !self.bad[i] && self.low[i].contains('-') {
            self.err(Rule::NoSeparator, i).hint = Some(format!(
                "did you mean \"{}\"?",
                self.low[i].replace('-', "")
            ));
        }
        self.low[i].clone()
    }

    fn classify(&mut self, ctx: &NamingContext) -> Option<TopicName> {
        if let Some(k) = self.starts_with(ctx.crud_prefix()) {
            return self.crud(ctx, k);
        }
        if let Some(k) = self.starts_with(SAGA_PREFIX) {
            return self.saga(k);
        }
        if let Some(k) = self.starts_with(ctx.platform_prefix()) {
            let n = self.low.len();
            if n == k + 4 && self.low[k] == PAYLOAD_FALLBACK_SEGMENT {
                return self.payload(ctx.payload_fallback(), true, k + 1);
            }
            return self.config_event(ctx, k);
        }
        if let Some(domain) = ctx.customer_domain()
            && let Some(k) = self.starts_with(domain)
        {
            if self.low.len() != k + 3 {
                self.errs.push(
                    NameError::new(self.name, Rule::SegmentCount).with_hint(format!(
                        "expected {domain}.<bundle>.<context>.<message-type>"
                    )),
                );
                return None;
            }
            return self.payload(domain.to_owned(), false, k);
        }
        let mut expected = format!(
            "expected {}.*, {}.*, {}.*",
            ctx.crud_prefix(),
            ctx.platform_prefix(),
            SAGA_PREFIX
        );
        match ctx.customer_domain() {
            Some(d) => expected.push_str(&format!(" or {d}.*")),
            None => expected.push_str(" (payload topics need a configured customer domain, or use the fallback namespace)"),
        }
        self.err(Rule::UnknownFamily, 0).hint = Some(expected);
        None
    }

    fn crud(&mut self, ctx: &NamingContext, k: usize) -> Option<TopicName> {
        let rest = self.low[k..].join(".");
        match CrudKind::from_suffix(&rest) {
            Some(kind) => Some(TopicName::Crud(CrudTopic::in_context(ctx, kind))),
            None => {
                let hint = "one of operations, errors, workflows, secrets, secrets.audit, metrics";
                if k < self.segs.len() {
                    self.err(Rule::CrudKind, k).hint = Some(hint.to_owned());
                } else {
                    self.errs
                        .push(NameError::new(self.name, Rule::CrudKind).with_hint(hint));
                }
                None
            }
        }
    }

    fn config_event(&mut self, ctx: &NamingContext, k: usize) -> Option<TopicName> {
        let n = self.low.len();
        if n < k + 3 {
            self.errs.push(
                NameError::new(self.name, Rule::SegmentCount).with_hint(format!(
                    "expected {}.<domain>.<entity>.<event>",
                    ctx.platform_prefix()
                )),
            );
            for i in k..n {
                self.word(i);
            }
            return None;
        }
        let domain = self.word(k);
        let entity = self.word(k + 1);
        let event: Vec<String> = (k + 2..n).map(|i| self.word(i)).collect();
        if domain == PAYLOAD_FALLBACK_SEGMENT && event.len() > 1 {
            self.err(Rule::DataComposite, k + 3);
        }
        let last = n - 1;
        if !self.bad[last] && !is_past_tense(&self.low[last]) {
            let hint = past_tense_hint(&self.low[last])
                .map(|p| format!("did you mean \"{p}\"?"))
                .unwrap_or_else(|| {
                    "use a past participle such as created, updated, deleted".into()
                });
            self.err(Rule::PastTense, last).hint = Some(hint);
        }
        Some(TopicName::ConfigEvent(ConfigEventTopic {
            prefix: ctx.platform_prefix().to_owned(),
            domain,
            entity,
            event: event.join("."),
        }))
    }

    fn saga(&mut self, k: usize) -> Option<TopicName> {
        let n = self.low.len();
        let words: Vec<String> = (k..n).map(|i| self.word(i)).collect();
        if n != k + 3 {
            self.errs.push(NameError::new(self.name, Rule::SegmentCount).with_hint(format!(
                "expected {SAGA_PREFIX}.<system>.<entity>.<verb|result|deadletter> or {SAGA_PREFIX}.<flow>.<verb>.<requested|completed|failed|escalated>"
            )));
            return None;
        }
        let (a, b, c) = (words[0].clone(), words[1].clone(), words[2].clone());
        let kind = if let Some(stage) = FlowStage::parse(&c) {
            if !is_saga_verb(&b) && !self.bad[k + 1] {
                let hint = saga_verb_for_past(&b)
                    .map(|v| format!("did you mean \"{v}\"?"))
                    .unwrap_or_else(|| {
                        "a flow topic is <flow>.<verb>.<stage>, e.g. dataset.create.requested"
                            .into()
                    });
                self.err(Rule::SagaOperation, k + 1).hint = Some(hint);
            }
            SagaKind::Flow {
                flow: a,
                verb: b,
                stage,
            }
        } else if c == "result" {
            SagaKind::Result {
                system: a,
                entity: b,
            }
        } else if c == "deadletter" {
            SagaKind::DeadLetter {
                system: a,
                entity: b,
            }
        } else if is_saga_verb(&c) {
            SagaKind::Command {
                system: a,
                entity: b,
                verb: c,
            }
        } else {
            if !self.bad[k + 2] {
                let hint = match saga_verb_for_past(&c) {
                    Some(v) => format!(
                        "did you mean \"{v}\"? commands are imperative; answers go to <system>.<entity>.result"
                    ),
                    None => "use a verb (create, delete, update, …), result or deadletter".into(),
                };
                self.err(Rule::SagaOperation, k + 2).hint = Some(hint);
            }
            return None;
        };
        Some(TopicName::Saga(SagaTopic { kind }))
    }

    fn payload(&mut self, namespace: String, fallback: bool, k: usize) -> Option<TopicName> {
        let bundle = self.word(k);
        let context = self.word(k + 1);
        let message_type = self.word(k + 2);
        Some(TopicName::Payload(PayloadTopic {
            namespace,
            fallback,
            bundle,
            context,
            message_type,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> NamingContext {
        NamingContext::default()
    }

    fn rules_of(name: &str, ctx: &NamingContext) -> Vec<(Rule, Option<usize>)> {
        match TopicName::check(name, ctx) {
            Ok(_) => vec![],
            Err(errs) => errs
                .into_iter()
                .map(|e| (e.rule, e.segment.map(|s| s.index)))
                .collect(),
        }
    }

    #[test]
    fn kafka_rules_table() {
        let ok249 = format!("crud.{}", "a".repeat(244));
        assert_eq!(ok249.len(), 249);
        let long250 = format!("de.musterstadt.x.y.{}", "a".repeat(231));
        assert_eq!(long250.len(), 250);
        let ctx = NamingContext::new()
            .with_customer_domain(Some("de.musterstadt"))
            .unwrap();
        let table: Vec<(String, Option<Rule>)> = vec![
            (String::new(), Some(Rule::KafkaLength)),
            (".".into(), Some(Rule::KafkaDotName)),
            ("..".into(), Some(Rule::KafkaDotName)),
            (long250.clone(), Some(Rule::KafkaLength)),
            ("crud.oper$tions".into(), Some(Rule::KafkaChars)),
            ("crud.operations ".into(), Some(Rule::KafkaChars)),
            ("crud/operations".into(), Some(Rule::KafkaChars)),
            (
                "de.civitascore.idm.üser.created".into(),
                Some(Rule::KafkaChars),
            ),
            ("crud.operations".into(), None),
        ];
        for (name, want) in table {
            let got = TopicName::check(&name, &ctx).err().map(|e| e[0].rule);
            assert_eq!(got, want, "{name:?}");
        }
        // 249 characters pass Kafka's length rule (the name then fails only the crud-kind rule).
        let errs = TopicName::check(&ok249, &ctx).unwrap_err();
        assert!(errs.iter().all(|e| e.rule != Rule::KafkaLength));
        let ok249_payload = format!("de.musterstadt.x.y.{}", "a".repeat(230));
        assert_eq!(ok249_payload.len(), 249);
        assert!(TopicName::parse(&ok249_payload, &ctx).is_ok());
    }

    #[test]
    fn a_topic_name_longer_than_249_characters_is_rejected() {
        let name = format!("de.civitascore.idm.{}.created", "u".repeat(240));
        let err = TopicName::parse(&name, &ctx()).unwrap_err();
        assert_eq!(err.rule, Rule::KafkaLength);
    }

    #[test]
    fn platform_rules_table() {
        use Rule::*;
        let c = ctx();
        type Expected<'a> = &'a [(Rule, Option<usize>)];
        let table: &[(&str, Expected<'_>)] = &[
            ("de.civitascore.idm.user.created", &[]),
            ("de.civitascore.idm.user.password.changed", &[]),
            ("de.civitascore.idm.user.password.reset", &[]),
            ("de.civitascore.api.route.updated", &[]),
            (
                "de.civitascore.idm.User.create",
                &[(Lowercase, Some(3)), (PastTense, Some(4))],
            ),
            ("de.civitascore.idm.user.delete", &[(PastTense, Some(4))]),
            (
                "de.civitascore.idm.user_profile.created",
                &[(NoUnderscore, Some(3))],
            ),
            (
                "de.civitascore.idm.user-profile.created",
                &[(NoSeparator, Some(3))],
            ),
            ("de.civitascore..user.created", &[(EmptySegment, Some(2))]),
            (
                "crud.operations.",
                &[(CrudKind, Some(1)), (EmptySegment, Some(2))],
            ),
            ("de.civitascore.idm.user", &[(SegmentCount, None)]),
            ("crud.audit", &[(CrudKind, Some(1))]),
            ("crud.secrets.audit", &[]),
            ("CRUD.operations", &[(Lowercase, Some(0))]),
            ("de.civitascore.data.thing.created", &[]),
            ("de.civitascore.data.umwelt.luftqualitaet.raw", &[]),
            (
                "de.civitascore.data.thing.status.changed.again",
                &[(DataComposite, Some(5)), (PastTense, Some(6))],
            ),
            (
                "de.musterstadt.umwelt.luftqualitaet.raw",
                &[(UnknownFamily, Some(0))],
            ),
            (
                "core.civitas.frost.project.created",
                &[(SagaOperation, Some(4))],
            ),
            ("core.civitas.frost.project", &[(SegmentCount, None)]),
            (
                "core.civitas.dataset.created.requested",
                &[(SagaOperation, Some(3))],
            ),
            ("orders", &[(UnknownFamily, Some(0))]),
        ];
        for (name, want) in table {
            assert_eq!(&rules_of(name, &c), want, "{name}");
        }
    }

    #[test]
    fn the_acceptance_name_reports_uppercase_and_tense_with_a_hint() {
        let errs = TopicName::check("de.civitascore.idm.User.create", &ctx()).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].rule, Rule::Lowercase);
        assert_eq!(errs[0].segment, Some(Segment::new(3, "User")));
        assert_eq!(errs[1].rule, Rule::PastTense);
        assert_eq!(errs[1].segment, Some(Segment::new(4, "create")));
        assert_eq!(errs[1].hint.as_deref(), Some("did you mean \"created\"?"));
    }

    #[test]
    fn customer_domains_classify_payload_topics() {
        let c = NamingContext::new()
            .with_customer_domain(Some("de.musterstadt"))
            .unwrap();
        for name in [
            "de.musterstadt.umwelt.luftqualitaet.raw",
            "de.musterstadt.umwelt.luftqualitaet.enriched",
            "de.musterstadt.verkehr.zaehlstellen.raw",
        ] {
            let t = TopicName::parse(name, &c).unwrap();
            let TopicName::Payload(p) = t else {
                panic!("{name} is not payload")
            };
            assert!(!p.is_fallback());
            assert_eq!(p.namespace(), "de.musterstadt");
        }
        let ch = NamingContext::new()
            .with_customer_domain(Some("ch.beispielgemeinde"))
            .unwrap();
        assert!(TopicName::parse("ch.beispielgemeinde.energie.zaehler.validated", &ch).is_ok());
        assert_eq!(
            rules_of("de.musterstadt.umwelt.raw", &c),
            vec![(Rule::SegmentCount, None)]
        );
        // the fallback namespace keeps working next to a customer domain
        let TopicName::Payload(p) =
            TopicName::parse("de.civitascore.data.verkehr.zaehlstellen.enriched", &c).unwrap()
        else {
            panic!("not payload")
        };
        assert!(p.is_fallback());
    }

    #[test]
    fn every_saga_topic_of_the_seed_parses() {
        for name in [
            "core.civitas.dataset.create.requested",
            "core.civitas.frost.project.create",
            "core.civitas.frost.project.delete",
            "core.civitas.frost.project.result",
            "core.civitas.apisix.route.create",
            "core.civitas.apisix.route.result",
            "core.civitas.dataset.create.completed",
            "core.civitas.dataset.create.failed",
            "core.civitas.apisix.route.delete",
            "core.civitas.saga.message.deadletter",
        ] {
            let t = TopicName::parse(name, &ctx()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(t.family(), Family::Saga);
            assert_eq!(t.to_string(), name);
        }
    }

    #[test]
    fn the_crud_prefix_follows_the_context() {
        let c = NamingContext::new()
            .with_crud_prefix("staging.crud")
            .unwrap();
        let t = TopicName::parse("staging.crud.secrets.audit", &c).unwrap();
        assert_eq!(
            t,
            TopicName::Crud(CrudTopic::in_context(&c, CrudKind::SecretsAudit))
        );
        assert_eq!(
            rules_of("crud.operations", &c),
            vec![(Rule::UnknownFamily, Some(0))]
        );
    }

    #[test]
    fn builders_round_trip_through_the_parser_for_every_family() {
        let plain = ctx();
        let customer = NamingContext::new()
            .with_customer_domain(Some("de.musterstadt"))
            .unwrap();
        let swiss = NamingContext::new()
            .with_customer_domain(Some("ch.beispielgemeinde"))
            .unwrap();
        let prefixed = NamingContext::new()
            .with_crud_prefix("prod-crud")
            .unwrap()
            .with_platform_prefix("org.example")
            .unwrap();
        let mut cases: Vec<(TopicName, &NamingContext)> = Vec::new();
        for kind in CrudKind::ALL {
            cases.push((CrudTopic::new(kind).into(), &plain));
            cases.push((CrudTopic::in_context(&prefixed, kind).into(), &prefixed));
        }
        for (d, e, ev) in [
            ("idm", "user", "created"),
            ("idm", "user", "password.changed"),
            ("idm", "user", "password.reset"),
            ("api", "route", "deleted"),
            ("data", "observedproperty", "updated"),
        ] {
            cases.push((ConfigEventTopic::new(d, e, ev).unwrap().into(), &plain));
            cases.push((
                ConfigEventTopic::in_context(&prefixed, d, e, ev)
                    .unwrap()
                    .into(),
                &prefixed,
            ));
        }
        cases.push((
            SagaTopic::command("frost", "project", "create")
                .unwrap()
                .into(),
            &plain,
        ));
        cases.push((SagaTopic::result("apisix", "route").unwrap().into(), &plain));
        cases.push((
            SagaTopic::dead_letter("saga", "message").unwrap().into(),
            &plain,
        ));
        for stage in FlowStage::ALL {
            cases.push((
                SagaTopic::flow("dataset", "create", stage).unwrap().into(),
                &plain,
            ));
        }
        cases.push((
            PayloadTopic::in_context(&plain, "umwelt", "luftqualitaet", "raw")
                .unwrap()
                .into(),
            &plain,
        ));
        cases.push((
            PayloadTopic::in_context(&customer, "verkehr", "zaehlstellen", "enriched")
                .unwrap()
                .into(),
            &customer,
        ));
        cases.push((
            PayloadTopic::in_domain("ch.beispielgemeinde", "energie", "zaehler", "validated")
                .unwrap()
                .into(),
            &swiss,
        ));
        for (built, ctx) in cases {
            let text = built.to_string();
            let parsed = TopicName::parse(&text, ctx).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed, built, "{text}");
        }
    }

    #[test]
    fn builders_reject_what_the_parser_rejects() {
        let e = ConfigEventTopic::new("idm", "user", "create").unwrap_err();
        assert_eq!(e.rule, Rule::PastTense);
        let e = ConfigEventTopic::new("idm", "user.profile", "created").unwrap_err();
        assert_eq!(e.rule, Rule::NoSeparator);
        let e = ConfigEventTopic::new("data", "thing", "status.changed").unwrap_err();
        assert_eq!(e.rule, Rule::DataComposite);
        let e = SagaTopic::command("frost", "project", "created").unwrap_err();
        assert_eq!(e.rule, Rule::SagaOperation);
        assert_eq!(
            e.hint.as_deref(),
            Some(
                "did you mean \"create\"? commands are imperative; answers go to <system>.<entity>.result"
            )
        );
        let e = PayloadTopic::in_domain("de.musterstadt", "Umwelt", "luft", "raw").unwrap_err();
        assert_eq!(e.rule, Rule::Lowercase);
        assert!(CrudTopic::with_prefix("crud_", CrudKind::Metrics).is_err());
    }

    #[test]
    fn errors_name_the_segment_and_render_readably() {
        let e = TopicName::parse("de.civitascore.idm.user.create", &ctx()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"de.civitascore.idm.user.create\": platform.past-tense: configuration events are in past tense (created, not create) (segment 4 \"create\"); did you mean \"created\"?"
        );
    }
}
