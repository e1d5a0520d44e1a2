//! Starting the saga's components in a process: the orchestrator and the two adapters,
//! together (`civitas up`) or one at a time (`civitas serve orchestrator|frost-adapter|
//! apisix-adapter`), with one shared low-latency publisher.

use std::sync::Arc;
use std::time::Duration;

use civitas_events::Masker;
use civitas_http::CredentialResolver;
use civitas_kafka::{CrudEvents, KafkaSettings, Publisher};
use civitas_secrets::{KafkaSecretEvents, SecretService, SecretSettings};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::adapter::Adapter;
use crate::adapter::apisix::{ApisixAdapter, ApisixConfig};
use crate::adapter::frost::{FrostAdapter, FrostConfig};
use crate::clock::Clock;
use crate::definition::{DEFAULT_STEP_TIMEOUT, SagaDefinition};
use crate::error::SagaError;
use crate::io;
use crate::orchestrator::{Orchestrator, OrchestratorConfig};
use crate::store::SagaStore;
use civitas_topics::{CrudTopics, SagaTopics};

/// Everything the saga's components are configured with.
#[derive(Debug, Clone)]
pub struct SagaConfig {
    pub topics: SagaTopics,
    /// How long a step (or its compensation) may take (default 30 s).
    pub step_timeout: Duration,
    pub orchestrator: OrchestratorConfig,
    pub frost: FrostConfig,
    pub apisix: ApisixConfig,
    /// Consumer group of the FROST adapters.
    pub frost_group: String,
    /// Consumer group of the APISIX adapters.
    pub apisix_group: String,
    /// Most commands an adapter handles at once.
    pub adapter_batch: usize,
    /// The adapters' credentials are pointers resolved by a secret service with these
    /// settings; its events go to `crud_topics`' `secrets` and `secrets_audit`.
    pub secrets: SecretSettings,
    pub crud_topics: CrudTopics,
}

impl Default for SagaConfig {
    fn default() -> Self {
        Self {
            topics: SagaTopics::default(),
            step_timeout: DEFAULT_STEP_TIMEOUT,
            orchestrator: OrchestratorConfig::default(),
            frost: FrostConfig::default(),
            apisix: ApisixConfig::default(),
            frost_group: civitas_topics::groups::FROST_ADAPTER.to_owned(),
            apisix_group: civitas_topics::groups::APISIX_ADAPTER.to_owned(),
            adapter_batch: 64,
            secrets: SecretSettings::default(),
            crud_topics: CrudTopics::default(),
        }
    }
}

impl SagaConfig {
    /// The dataset-provisioning definition with this configuration's topics and timeout.
    pub fn definition(&self) -> SagaDefinition {
        SagaDefinition::dataset_create(&self.topics, self.step_timeout)
    }
}

/// A component of the saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Orchestrator,
    FrostAdapter,
    ApisixAdapter,
}

impl Component {
    pub const ALL: [Component; 3] = [Self::Orchestrator, Self::FrostAdapter, Self::ApisixAdapter];

    pub fn name(self) -> &'static str {
        match self {
            Self::Orchestrator => "orchestrator",
            Self::FrostAdapter => "frost-adapter",
            Self::ApisixAdapter => "apisix-adapter",
        }
    }
}

/// Running components; [`shutdown`](Self::shutdown) stops them and flushes.
#[derive(Debug)]
pub struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<(Component, JoinHandle<Result<(), SagaError>>)>,
    publisher: Publisher,
}

impl Running {
    /// The components' shared publisher.
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Resolves when a component stops on its own (an error), with its name and result.
    pub async fn failed(&mut self) -> (Component, Result<(), SagaError>) {
        if self.tasks.is_empty() {
            return std::future::pending().await;
        }
        let handles = self.tasks.iter_mut().map(|(_, h)| h);
        let (result, index, _) = futures::future::select_all(handles).await;
        let component = self.tasks.remove(index).0;
        let result =
            result.unwrap_or_else(|join| Err(SagaError::Config(format!("task ended: {join}"))));
        (component, result)
    }

    /// Stops every component and flushes the publisher.
    pub async fn shutdown(self, flush_timeout: Duration) -> Result<(), SagaError> {
        let _ = self.stop.send(true);
        for (component, task) in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::warn!(component = component.name(), error = %io::error_chain(&err), "stopped with an error")
                }
                Err(err) => {
                    tracing::warn!(component = component.name(), %err, "task ended abnormally")
                }
            }
        }
        let publisher = self.publisher;
        tokio::task::spawn_blocking(move || {
            publisher.flush(flush_timeout).map_err(SagaError::from)
        })
        .await
        .map_err(|e| SagaError::Config(format!("flush task: {e}")))??;
        Ok(())
    }
}

/// Starts `components` against the cluster in `settings`. The orchestrator needs `store`.
pub async fn start(
    settings: &KafkaSettings,
    config: &SagaConfig,
    store: Option<SagaStore>,
    components: &[Component],
) -> Result<Running, SagaError> {
    let publisher = Publisher::connect(&io::low_latency(settings))?;
    let emit: Arc<dyn io::Emit> = Arc::new(publisher.clone());
    // The adapters' secret lookups are reported like the CRUD service's, as the saga's.
    let events = CrudEvents::new(
        publisher.clone(),
        config.crud_topics.clone(),
        "civitas-saga",
        Masker::default(),
    );
    let secrets: Arc<dyn CredentialResolver> = Arc::new(
        SecretService::new(&config.secrets, Arc::new(KafkaSecretEvents(events)))
            .map_err(|e| SagaError::Config(e.to_string()))?,
    );
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for component in components {
        let settings = settings.clone();
        let stop_rx = stop_rx.clone();
        let task = match component {
            Component::Orchestrator => {
                let store = store.clone().ok_or_else(|| {
                    SagaError::Config(
                        "the orchestrator needs a database (--database-url)".to_owned(),
                    )
                })?;
                let orchestrator = Arc::new(Orchestrator::new(
                    config.definition(),
                    store,
                    emit.clone(),
                    Clock::new(),
                    config.orchestrator.clone(),
                ));
                tokio::spawn(async move { orchestrator.run(&settings, stop_rx).await })
            }
            Component::FrostAdapter => {
                let adapter = Adapter::new(
                    FrostAdapter::new(
                        config.frost.clone(),
                        config.topics.clone(),
                        secrets.clone(),
                    )?,
                    emit.clone(),
                );
                let group = config.frost_group.clone();
                let batch = config.adapter_batch;
                tokio::spawn(async move { adapter.run(&settings, &group, batch, stop_rx).await })
            }
            Component::ApisixAdapter => {
                let adapter = Adapter::new(
                    ApisixAdapter::new(
                        config.apisix.clone(),
                        config.topics.clone(),
                        secrets.clone(),
                    )?,
                    emit.clone(),
                );
                let group = config.apisix_group.clone();
                let batch = config.adapter_batch;
                tokio::spawn(async move { adapter.run(&settings, &group, batch, stop_rx).await })
            }
        };
        tasks.push((*component, task));
    }
    Ok(Running {
        stop,
        tasks,
        publisher,
    })
}
