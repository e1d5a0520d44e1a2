//! The orchestrator's driver: feeds inputs to the pure state machine ([`crate::machine`]),
//! **persists the new state before** sending what it commands, and only then lets the
//! consumer store the offset. A crash at any point therefore either loses nothing (the
//! record is redelivered and the stored message id makes it a no-op) or leaves commands
//! unsent that [`Orchestrator::resume`] re-sends at the next start.
//!
//! Single-step functions ([`Orchestrator::apply`], [`Orchestrator::on_record`],
//! [`Orchestrator::tick`], [`Orchestrator::resume`]) let tests drive it without Kafka or
//! sleeping; [`Orchestrator::run`] wires them to a consumer group and a timer.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

use civitas_events::saga::{self, DatasetCreateRequested, StepResult};
use civitas_kafka::KafkaSettings;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::definition::SagaDefinition;
use crate::error::SagaError;
use crate::io::{self, Emit, Envelope, Received};
use crate::machine::{self, Command, Input, Saga};
use crate::outage::{OutageLog, Report};
use crate::store::{Applied, SagaStore};

/// `ce_source` of everything the orchestrator publishes.
pub const SOURCE: &str = "/civitas/saga-orchestrator";

/// How many times a write that lost a race is recomputed before giving up.
const MAX_CONFLICTS: usize = 20;

/// How JSON writes a NUL character.
const NUL_ESCAPE: &[u8] = b"\\u0000";

/// Tuning of the driver.
#[derive(Debug, Clone)]
pub struct OrchestratorConfig {
    /// Consumer group of the orchestrator instances.
    pub group: String,
    /// How often the timer looks for expired steps.
    pub timer_interval: Duration,
    /// At start, outcomes of sagas finished this recently are published again (they may
    /// not have left the process before it stopped).
    pub republish_window: Duration,
    /// How long processed-message ids are kept for redelivery dedup.
    pub processed_retention: Duration,
    /// Most records handled in one batch.
    pub max_batch: usize,
    /// Non-transient failures of one record before it goes to the dead-letter topic.
    pub max_failures: u32,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            group: civitas_topics::groups::ORCHESTRATOR.to_owned(),
            timer_interval: Duration::from_millis(100),
            republish_window: Duration::from_secs(60),
            processed_retention: Duration::from_secs(7 * 24 * 3600),
            max_batch: 256,
            max_failures: io::MAX_FAILURES,
        }
    }
}

/// A consumed record, read.
enum Decoded {
    Input(Box<Input>, String),
    DeadLetter(String),
    Ignore,
}

/// What [`Orchestrator::apply`] did with an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The saga changed; the new state is stored and its commands sent.
    Changed(Box<Saga>),
    /// Nothing to change (duplicate, stray, late); any re-announcement was sent.
    Unchanged,
    /// The message's effect was already stored (redelivery).
    Duplicate,
    /// No saga for this input (e.g. a result for an unknown saga).
    NoSaga,
}

/// The orchestrator of one saga definition.
pub struct Orchestrator {
    definition: Arc<SagaDefinition>,
    store: SagaStore,
    emit: Arc<dyn Emit>,
    clock: Clock,
    config: OrchestratorConfig,
    /// Running sagas as last written by this instance, so a result need not be read back
    /// from the store. Only the batch path reads it; a stale entry (another instance wrote
    /// since) makes the versioned write fail, and the batch is redone from the store.
    cache: Mutex<HashMap<String, Saga>>,
}

/// Most sagas the cache holds before it starts over.
const CACHE_CAPACITY: usize = 100_000;

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("definition", &self.definition.name)
            .field("config", &self.config)
            .finish()
    }
}

impl Orchestrator {
    pub fn new(
        definition: SagaDefinition,
        store: SagaStore,
        emit: Arc<dyn Emit>,
        clock: Clock,
        config: OrchestratorConfig,
    ) -> Self {
        Self {
            definition: Arc::new(definition),
            store,
            emit,
            clock,
            config,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Saga>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a running saga as written; forgets a finished one.
    fn remember(&self, saga: &Saga) {
        let mut cache = self.cache();
        if saga.status.is_terminal() {
            cache.remove(&saga.saga_id);
        } else {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(saga.saga_id.clone(), saga.clone());
        }
    }

    pub fn definition(&self) -> &SagaDefinition {
        &self.definition
    }

    pub fn store(&self) -> &SagaStore {
        &self.store
    }

    async fn current(&self, input: &Input) -> Result<Option<Saga>, SagaError> {
        match input {
            Input::Requested { request, .. } => {
                self.store
                    .find_by_dataset(&self.definition.name, &request.dataset_id)
                    .await
            }
            Input::StepResult(result) | Input::CompensationResult(result) => {
                self.store.load(&result.saga_id).await
            }
            Input::StepTimedOut { saga_id, .. } | Input::Resume { saga_id } => {
                self.store.load(saga_id).await
            }
        }
    }

    /// Runs one input through the state machine: load, transition, store (over the version
    /// read, together with `message_id`), then send the commands.
    pub async fn apply(
        &self,
        input: Input,
        message_id: Option<&str>,
    ) -> Result<Outcome, SagaError> {
        for _ in 0..MAX_CONFLICTS {
            let current = self.current(&input).await?;
            let previous = current.as_ref().map(|s| s.version);
            let (next, commands) =
                machine::handle(&self.definition, current, input.clone(), self.clock.now());
            let Some(next) = next else {
                return Ok(Outcome::NoSaga);
            };
            if Some(next.version) == previous {
                self.send(&next, commands);
                return Ok(Outcome::Unchanged);
            }
            match self.store.apply(previous, &next, message_id).await? {
                Applied::Stored => {
                    self.remember(&next);
                    tracing::debug!(saga_id = %next.saga_id, dataset_id = %next.dataset_id,
                        status = %next.status, "saga stored");
                    self.send(&next, commands);
                    return Ok(Outcome::Changed(Box::new(next)));
                }
                Applied::DuplicateMessage => return Ok(Outcome::Duplicate),
                Applied::Conflict => {
                    self.cache().remove(&next.saga_id);
                    continue;
                }
            }
        }
        let id = match &input {
            Input::Requested { request, .. } => request.dataset_id.clone(),
            Input::StepResult(r) | Input::CompensationResult(r) => r.saga_id.clone(),
            Input::StepTimedOut { saga_id, .. } | Input::Resume { saga_id } => saga_id.clone(),
        };
        Err(SagaError::Contention(id))
    }

    fn send(&self, saga: &Saga, commands: Vec<Command>) {
        let envelope = Envelope {
            source: SOURCE.to_owned(),
            subject: Some(saga.dataset_id.clone()),
            correlation_id: Some(saga.correlation_id.clone()),
            traceparent: io::outgoing_traceparent(saga.traceparent.as_deref()),
        };
        for command in commands {
            let record = match &command {
                Command::Dispatch {
                    topic,
                    message_id,
                    message,
                    step_id,
                } => {
                    tracing::info!(saga_id = %saga.saga_id, dataset_id = %saga.dataset_id,
                        step = %step_id, %topic, "dispatch");
                    envelope.record(topic, message_id, message)
                }
                Command::PublishCompleted { topic, message } => {
                    tracing::info!(saga_id = %saga.saga_id, dataset_id = %saga.dataset_id,
                        duration_ms = message.duration_ms, "saga completed");
                    envelope.record(topic, &message.message_id, message)
                }
                Command::PublishFailed { topic, message } => {
                    tracing::warn!(saga_id = %saga.saga_id, dataset_id = %saga.dataset_id,
                        status = ?message.status, failed_step = %message.failed_step,
                        error = %message.error, "saga failed");
                    envelope.record(topic, &message.message_id, message)
                }
                Command::PublishIntervention { topic, message } => {
                    tracing::error!(saga_id = %saga.saga_id, dataset_id = %saga.dataset_id,
                        reason = %message.reason, stale = ?message.stale_resources,
                        "manual intervention required");
                    envelope.record(topic, &message.message_id, message)
                }
                Command::ScheduleTimeout { step_id, deadline } => {
                    tracing::debug!(saga_id = %saga.saga_id, step = %step_id, %deadline,
                        "deadline stored");
                    continue;
                }
            };
            match record {
                Ok(record) => self.emit.emit(record),
                Err(err) => {
                    tracing::error!(saga_id = %saga.saga_id, error = %io::error_chain(&err),
                    "could not encode a saga message")
                }
            }
        }
    }

    fn dead_letter(&self, record: &Received, reason: String) {
        io::send_dead_letter(
            self.emit.as_ref(),
            record,
            "saga-orchestrator",
            &self.definition.dead_letter_topic,
            reason,
            self.clock.now(),
        );
    }

    /// What a consumed record asks for: an input with its message id, a dead letter, or
    /// nothing (a topic this orchestrator does not read).
    fn decode(&self, record: &Received) -> Decoded {
        // A NUL can only reach a JSON string escaped. PostgreSQL's text columns cannot hold
        // it, so such a message would fail its transaction on every retry and stop the
        // partition behind it.
        if record
            .payload
            .windows(NUL_ESCAPE.len())
            .any(|w| w.eq_ignore_ascii_case(NUL_ESCAPE))
        {
            return Decoded::DeadLetter(
                "the message holds a NUL character (\\u0000), which the saga store cannot keep"
                    .to_owned(),
            );
        }
        if record.topic == self.definition.request_topic {
            let request: DatasetCreateRequested =
                match saga::decode(&record.payload, "dataset.create.requested message") {
                    Ok(request) => request,
                    Err(reason) => return Decoded::DeadLetter(reason),
                };
            let problems = request.problems();
            if !problems.is_empty() {
                return Decoded::DeadLetter(format!("invalid request: {}", problems.join("; ")));
            }
            let event = record.event();
            let message_id = request.message_id.clone();
            let input = Input::Requested {
                saga_id: uuid::Uuid::now_v7().to_string(),
                correlation_id: event
                    .as_ref()
                    .and_then(|e| e.correlation_id().map(str::to_owned)),
                traceparent: event
                    .as_ref()
                    .and_then(|e| e.traceparent().map(str::to_owned)),
                request,
            };
            return Decoded::Input(Box::new(input), message_id);
        }
        if self
            .definition
            .steps
            .iter()
            .any(|s| s.result_topic == record.topic)
        {
            return match saga::decode::<StepResult>(&record.payload, "step result") {
                Ok(result) => {
                    let message_id = result.message_id.clone();
                    Decoded::Input(Box::new(Input::from_result(result)), message_id)
                }
                Err(reason) => Decoded::DeadLetter(reason),
            };
        }
        Decoded::Ignore
    }

    /// Handles one consumed record: a request or a step result. Unreadable records go to
    /// the dead-letter topic (and count as handled).
    pub async fn on_record(&self, record: &Received) -> Result<(), SagaError> {
        self.handle_record(record)
            .instrument(record.span("saga-orchestrator"))
            .await
    }

    async fn handle_record(&self, record: &Received) -> Result<(), SagaError> {
        let (input, message_id) = match self.decode(record) {
            Decoded::Input(input, message_id) => (*input, message_id),
            Decoded::DeadLetter(reason) => {
                self.dead_letter(record, reason);
                return Ok(());
            }
            Decoded::Ignore => return Ok(()),
        };
        let saga_id = match &input {
            Input::StepResult(r) | Input::CompensationResult(r) => {
                let span = tracing::Span::current();
                span.record("saga_id", r.saga_id.as_str());
                span.record("step", r.step_id.as_str());
                r.saga_id.clone()
            }
            _ => String::new(),
        };
        match self.apply(input, Some(&message_id)).await? {
            Outcome::NoSaga => {
                tracing::warn!(%saga_id, %message_id, "result for an unknown saga ignored");
            }
            Outcome::Unchanged => {
                tracing::info!(%message_id, key = ?record.key, "duplicate or stray message: nothing to change");
            }
            _ => {}
        }
        Ok(())
    }

    /// Handles a batch in one store transaction (one commit for all its messages): the
    /// transitions are computed in memory, one saga's messages in order, written together,
    /// and only then are their commands sent. If anything in the batch collides (a
    /// redelivered message, a saga changed by another instance), the batch is rolled back and
    /// handled message by message, which sorts each case out.
    pub async fn on_batch(&self, batch: Vec<Received>) -> Result<(), SagaError> {
        if batch.len() > 1 {
            match self.try_batch(&batch).await {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    tracing::debug!(records = batch.len(), "batch collided; one by one");
                }
                Err(err) => return Err(err),
            }
        }
        for record in &batch {
            self.on_record(record).await?;
        }
        Ok(())
    }

    async fn try_batch(&self, batch: &[Received]) -> Result<bool, SagaError> {
        struct Entry {
            previous: Option<i64>,
            saga: Saga,
        }
        let now = self.clock.now();
        let mut entries: Vec<Entry> = Vec::new();
        let mut from_cache: HashSet<String> = HashSet::new();
        let mut by_saga: HashMap<String, usize> = HashMap::new();
        let mut by_dataset: HashMap<String, usize> = HashMap::new();
        let mut processed: Vec<(String, String)> = Vec::new();
        let mut out: Vec<(usize, Vec<Command>, tracing::Span)> = Vec::new();
        let mut letters: Vec<(&Received, String)> = Vec::new();
        for record in batch {
            // Each record has its span, as on the one-by-one path: its loads, its transition
            // and the commands it causes (whose traceparent continues it) happen in it.
            let span = record.span("saga-orchestrator");
            let (input, message_id) = match span.in_scope(|| self.decode(record)) {
                Decoded::Input(input, message_id) => (*input, message_id),
                Decoded::DeadLetter(reason) => {
                    letters.push((record, reason));
                    continue;
                }
                Decoded::Ignore => continue,
            };
            let index = match &input {
                Input::Requested { request, .. } => match by_dataset.get(&request.dataset_id) {
                    Some(index) => Some(*index),
                    None => self
                        .store
                        .find_by_dataset(&self.definition.name, &request.dataset_id)
                        .instrument(span.clone())
                        .await?
                        .map(|saga| push(&mut entries, &mut by_saga, &mut by_dataset, saga)),
                },
                Input::StepResult(r) | Input::CompensationResult(r) => {
                    span.record("saga_id", r.saga_id.as_str());
                    span.record("step", r.step_id.as_str());
                    match by_saga.get(&r.saga_id) {
                        Some(index) => Some(*index),
                        None => {
                            let cached = self.cache().get(&r.saga_id).cloned();
                            let saga = match cached {
                                Some(saga) => {
                                    from_cache.insert(saga.saga_id.clone());
                                    Some(saga)
                                }
                                None => {
                                    self.store.load(&r.saga_id).instrument(span.clone()).await?
                                }
                            };
                            saga.map(|saga| push(&mut entries, &mut by_saga, &mut by_dataset, saga))
                        }
                    }
                }
                Input::StepTimedOut { .. } | Input::Resume { .. } => return Ok(false),
            };
            let is_result = matches!(input, Input::StepResult(_) | Input::CompensationResult(_));
            let current = index.map(|i| entries[i].saga.clone());
            let before = current.as_ref().map(|s| s.version);
            let (next, commands) =
                span.in_scope(|| machine::handle(&self.definition, current, input, now));
            let Some(next) = next else {
                tracing::warn!(%message_id, "result for an unknown saga ignored");
                continue;
            };
            let index = match index {
                Some(index) => {
                    entries[index].saga = next;
                    index
                }
                None => {
                    let index = entries.len();
                    by_saga.insert(next.saga_id.clone(), index);
                    by_dataset.insert(next.dataset_id.clone(), index);
                    entries.push(Entry {
                        previous: None,
                        saga: next,
                    });
                    index
                }
            };
            if Some(entries[index].saga.version) != before {
                processed.push((message_id, entries[index].saga.saga_id.clone()));
            } else if is_result && from_cache.contains(&entries[index].saga.saga_id) {
                // A result without effect on a remembered state: the memory may be stale
                // (another instance moved the saga on); let the store decide.
                let mut cache = self.cache();
                for entry in &entries {
                    cache.remove(&entry.saga.saga_id);
                }
                return Ok(false);
            }
            out.push((index, commands, span));
        }

        fn push(
            entries: &mut Vec<Entry>,
            by_saga: &mut HashMap<String, usize>,
            by_dataset: &mut HashMap<String, usize>,
            saga: Saga,
        ) -> usize {
            let index = entries.len();
            by_saga.insert(saga.saga_id.clone(), index);
            by_dataset.insert(saga.dataset_id.clone(), index);
            entries.push(Entry {
                previous: Some(saga.version),
                saga,
            });
            index
        }

        let writes: Vec<(Option<i64>, &Saga)> = entries
            .iter()
            .filter(|e| e.previous != Some(e.saga.version))
            .map(|e| (e.previous, &e.saga))
            .collect();
        if !writes.is_empty() {
            let ids: Vec<(&str, &str)> = processed
                .iter()
                .map(|(m, s)| (m.as_str(), s.as_str()))
                .collect();
            match self.store.apply_batch(&writes, &ids).await? {
                Applied::Stored => {}
                Applied::DuplicateMessage | Applied::Conflict => {
                    let mut cache = self.cache();
                    for entry in &entries {
                        cache.remove(&entry.saga.saga_id);
                    }
                    return Ok(false);
                }
            }
            for entry in entries
                .iter()
                .filter(|e| e.previous != Some(e.saga.version))
            {
                self.remember(&entry.saga);
            }
        }
        for (index, commands, span) in out {
            span.in_scope(|| self.send(&entries[index].saga, commands));
        }
        for (record, reason) in letters {
            self.dead_letter(record, reason);
        }
        Ok(true)
    }

    /// Times out every step whose deadline has passed; returns how many.
    pub async fn tick(&self) -> Result<usize, SagaError> {
        let now = self.clock.now();
        let mut count = 0;
        for saga in self.store.expired(now, 1000).await? {
            for step_id in saga.expired_steps(now) {
                let input = Input::StepTimedOut {
                    saga_id: saga.saga_id.clone(),
                    step_id: step_id.clone(),
                };
                if let Outcome::Changed(_) = self.apply(input, None).await? {
                    tracing::warn!(saga_id = %saga.saga_id, step = %step_id, "step timed out");
                    count += 1;
                }
            }
        }
        Ok(count)
    }

    /// At start: re-sends every command in flight (adapters are idempotent) with a fresh
    /// deadline, and re-announces outcomes of sagas finished within the republish window.
    /// Returns how many sagas were resumed.
    pub async fn resume(&self) -> Result<usize, SagaError> {
        let mut sagas = self.store.unfinished().await?;
        let window = chrono::Duration::from_std(self.config.republish_window).unwrap_or_default();
        sagas.extend(self.store.finished_since(self.clock.now() - window).await?);
        for saga in &sagas {
            self.apply(
                Input::Resume {
                    saga_id: saga.saga_id.clone(),
                },
                None,
            )
            .await?;
        }
        if !sagas.is_empty() {
            tracing::info!(sagas = sagas.len(), "resumed sagas after start");
        }
        Ok(sagas.len())
    }

    /// Runs until `stop`: resumes, then consumes requests and results in the consumer group
    /// while a timer finds expired steps.
    pub async fn run(
        self: Arc<Self>,
        settings: &KafkaSettings,
        stop: watch::Receiver<bool>,
    ) -> Result<(), SagaError> {
        let consumer = io::consumer(
            settings,
            &self.config.group,
            &self.definition.consumed_topics(),
        )?;
        self.resume().await?;
        let timer = tokio::spawn(self.clone().timer(stop.clone()));
        let this = self.clone();
        let letters = self.clone();
        let dead_letter =
            move |record: &Received, reason: String| letters.dead_letter(record, reason);
        io::consume(
            consumer,
            stop,
            self.config.max_batch,
            "saga-orchestrator",
            io::Poison {
                max_failures: self.config.max_failures,
                dead_letter: &dead_letter,
            },
            move |batch| {
                let this = this.clone();
                async move { this.on_batch(batch).await }
            },
        )
        .await;
        timer.abort();
        Ok(())
    }

    async fn timer(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(self.config.timer_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let prune_every = (Duration::from_secs(600).as_millis()
            / self.config.timer_interval.as_millis().max(1))
        .max(1) as u64;
        let mut ticks: u64 = 0;
        let mut outage = OutageLog::default();
        loop {
            tokio::select! {
                () = io::stopped(&mut stop) => return,
                _ = interval.tick() => {}
            }
            let report = match self.tick().await {
                Ok(_) => outage.succeeded(Instant::now()),
                Err(err) => {
                    let report = outage.failed(Instant::now());
                    match report {
                        Report::Started => tracing::error!(
                            error = %io::error_chain(&err),
                            "timeout check failed; repeated failures are logged once a minute"
                        ),
                        Report::Continues { lasting, failures } => tracing::error!(
                            error = %io::error_chain(&err),
                            failing_for_s = lasting.as_secs(),
                            failures,
                            "timeout check still failing"
                        ),
                        _ => {}
                    }
                    report
                }
            };
            if let Report::Recovered { lasted, failures } = report {
                tracing::info!(
                    failed_for_s = lasted.as_secs(),
                    failures,
                    "timeout check recovered"
                );
            }
            ticks += 1;
            if ticks.is_multiple_of(prune_every) {
                let retention =
                    chrono::Duration::from_std(self.config.processed_retention).unwrap_or_default();
                if let Err(err) = self
                    .store
                    .prune_processed(self.clock.now() - retention)
                    .await
                {
                    tracing::warn!(error = %io::error_chain(&err), "could not prune processed message ids");
                }
            }
        }
    }
}
