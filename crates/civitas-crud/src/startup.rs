//! Building the app: settings → systems, database, events, metrics. Its state is
//! [`app`](crate::app)'s, its routes [`routes`](crate::routes)', serving it
//! [`server`](crate::server)'s.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use civitas_crud::{App, CrudSettings};
//!
//! let app = App::build(&CrudSettings::default(), None).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! civitas_crud::server::serve(listener, app, std::future::pending()).await?;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use civitas_events::Masker;
use civitas_kafka::CrudEvents;
use civitas_kafka::crud_events::Sink;
use civitas_secrets::{
    KafkaSecretEvents, NoEvents, SecretEvents, SecretService, SecretSettings, VaultSetupError,
};
use civitas_topics::CrudTopics;
use sqlx::AnyPool;

use crate::app::{App, AppInner};
use crate::metrics::Metrics;
use civitas_auth::authz::Policy;
use civitas_auth::caller_auth::{CallerAuth, CallerAuthSettings, KeysError};
use civitas_command::config::{Catalog, ConfigErrors, SystemConfig, load_catalog};
use civitas_command::config_events::ConfigTopics;
use civitas_command::connectors::Connector;
use civitas_command::credentials::CredentialResolver;
use civitas_command::events::Events;
use civitas_command::systems::DirectoryConnectors;
use civitas_command::systems::{Systems, SystemsError};
use civitas_command::template::Templates;
use civitas_directory::{DirectoryConnector, DirectoryStore};
use civitas_store::Clock;
use civitas_workflow::{Workflows, store::WorkflowStore};

/// Name of the built-in directory system.
pub use civitas_directory::LOCAL_SYSTEM;

/// Everything the CRUD service needs to know to start.
#[derive(Debug, Clone)]
pub struct CrudSettings {
    /// The envelope's `service` (and the CloudEvents source `/civitas/<service>`).
    pub service_name: String,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// A directory of system files (and `system-types/`), besides the shipped types.
    pub systems_dir: Option<PathBuf>,
    /// Configure the built-in directory as system `local`.
    pub local_directory: bool,
    /// The CRUD topics, under `KAFKA_TOPIC_PREFIX`.
    pub topics: CrudTopics,
    /// Publish events. Switching this off is for benchmarks and diagnosis only: the
    /// operations events are the audit trail.
    pub publish_events: bool,
    /// Largest `/execute` body accepted.
    pub body_limit_bytes: usize,
    /// How long a client may take to send a request's headers, and its body: a client that
    /// trickles bytes is cut off instead of holding a connection (and shutdown) forever.
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    /// Authenticate callers with bearer tokens of this issuer; `None`: anyone may call.
    pub caller_auth: Option<CallerAuthSettings>,
    /// The authorization policy file (`--authz`); `None`: every caller may run every
    /// command. Needs `caller_auth`.
    pub authz: Option<PathBuf>,
    /// The secret service: vault, cache, development mode (docs/secrets.md).
    pub secrets: SecretSettings,
    /// A directory of workflow files (`--workflows`); `None`: no workflow engine.
    pub workflows_dir: Option<PathBuf>,
    /// Time between two `crud.metrics` snapshots (one more at shutdown); `None`: none.
    pub metrics_interval: Option<Duration>,
    /// Figures of other components of the process for `/metrics` and `crud.metrics` (the
    /// saga in `civitas up`).
    pub extra_metrics: Option<Arc<dyn crate::metrics::ExtraMetrics>>,
    /// Serve the web console at `/console`, reading from this cluster.
    pub console: Option<civitas_console::ConsoleSettings>,
}

impl Default for CrudSettings {
    fn default() -> Self {
        Self {
            service_name: "crud-service".to_owned(),
            database_url: "sqlite://.civitas/civitas.db".to_owned(),
            systems_dir: None,
            local_directory: true,
            topics: CrudTopics::default(),
            publish_events: true,
            body_limit_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(5),
            body_read_timeout: Duration::from_secs(10),
            caller_auth: None,
            authz: None,
            secrets: SecretSettings::default(),
            workflows_dir: None,
            metrics_interval: Some(Duration::from_secs(60)),
            extra_metrics: None,
            console: None,
        }
    }
}

/// Why the app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("the system configuration is invalid")]
    Config(#[from] ConfigErrors),
    #[error("could not open the database")]
    Database(#[from] civitas_store::StoreError),
    #[error(transparent)]
    Systems(#[from] SystemsError),
    #[error("caller authentication is configured but unusable")]
    CallerAuth(#[from] KeysError),
    #[error(
        "an authorization policy needs caller authentication (--auth-issuer): without it no caller has claims to match"
    )]
    PolicyWithoutAuth,
    #[error("the secret service cannot start: {0}")]
    Secrets(#[from] VaultSetupError),
    #[error("the workflow definitions are invalid")]
    Workflows(#[source] ConfigErrors),
}

impl App {
    /// Loads the systems, opens the database and wires the events. Without a publisher (or
    /// with publishing switched off) no event is sent.
    pub async fn build(settings: &CrudSettings, sink: Option<Sink>) -> Result<Self, StartupError> {
        let mut catalog = load_catalog(settings.systems_dir.as_deref())?;
        if settings.local_directory {
            catalog
                .add_system(
                    "builtin:local",
                    SystemConfig::new(LOCAL_SYSTEM, "directory"),
                )
                .map_err(ConfigErrors)?;
        }
        let needs_database = catalog.systems.values().any(|s| {
            catalog
                .types
                .get(&s.system_type)
                .is_some_and(|t| t.connector == civitas_command::config::ConnectorKind::Directory)
        });
        let needs_database = needs_database || settings.workflows_dir.is_some();
        let pool = if needs_database {
            Some(civitas_store::connect(&settings.database_url).await?)
        } else {
            None
        };
        let events = match sink {
            Some(sink) if settings.publish_events => {
                Events::Publishing(Box::new(CrudEvents::with_sink(
                    sink,
                    settings.topics.clone(),
                    &settings.service_name,
                    Masker::default(),
                )))
            }
            _ => Events::Disabled,
        };
        let policy = match &settings.authz {
            None => None,
            Some(_) if settings.caller_auth.is_none() => {
                return Err(StartupError::PolicyWithoutAuth);
            }
            Some(path) => {
                let policy = Policy::load(path).map_err(ConfigErrors)?;
                let errors = policy.check_systems(
                    &path.display().to_string(),
                    catalog.systems.keys().map(String::as_str),
                );
                if !errors.is_empty() {
                    return Err(ConfigErrors(errors).into());
                }
                Some(policy)
            }
        };
        let sink: Arc<dyn SecretEvents> = match &events {
            Events::Publishing(events) => Arc::new(KafkaSecretEvents((**events).clone())),
            Events::Disabled => Arc::new(NoEvents),
        };
        let metrics = Metrics::new();
        let secrets = Arc::new(
            SecretService::new(&settings.secrets, sink)?.with_metrics(metrics.shared_recorder()),
        );
        let mut inner = Self::inner(settings, &catalog, pool, events, secrets, metrics)?;
        if let Some(caller_auth) = &settings.caller_auth {
            inner.caller_auth = Some(Arc::new(CallerAuth::connect(caller_auth.clone()).await?));
        }
        inner.policy = policy.map(Arc::new);
        if let (Some(dir), Some(pool)) = (&settings.workflows_dir, &inner.pool) {
            let definitions = civitas_workflow::load_dir(dir, &inner.systems)
                .map_err(|e| StartupError::Workflows(ConfigErrors(e)))?;
            inner.workflows = Some(Arc::new(Workflows::new(
                definitions,
                WorkflowStore::new(pool.clone()),
                Clock::new(),
            )));
        }
        inner.attach_console(settings);
        Ok(Self(Arc::new(inner)))
    }

    /// An app from an already loaded catalog and an open pool (tests, embedding). Callers
    /// are not authenticated: `settings.caller_auth` needs the issuer's keys, which
    /// [`App::build`] fetches.
    pub fn from_parts(
        settings: &CrudSettings,
        catalog: &Catalog,
        pool: Option<AnyPool>,
        events: Events,
        resolver: Arc<dyn CredentialResolver>,
    ) -> Result<Self, StartupError> {
        let mut inner = Self::inner(settings, catalog, pool, events, resolver, Metrics::new())?;
        inner.attach_console(settings);
        Ok(Self(Arc::new(inner)))
    }

    /// The state, without caller authentication (which needs I/O).
    fn inner(
        settings: &CrudSettings,
        catalog: &Catalog,
        pool: Option<AnyPool>,
        events: Events,
        resolver: Arc<dyn CredentialResolver>,
        metrics: Metrics,
    ) -> Result<AppInner, StartupError> {
        // `directory` systems are served by the built-in directory on this database.
        let directory = pool.clone().map(DirectoryStore::new).map(|store| {
            move |system: &str| -> Arc<dyn Connector> {
                Arc::new(DirectoryConnector::new(system, store.clone()))
            }
        });
        let systems = Systems::build(
            catalog,
            directory
                .as_ref()
                .map(|make| make as DirectoryConnectors<'_>),
            resolver,
            Arc::new(Templates::new()),
        )?;
        let config_topics = ConfigTopics::from_catalog(&civitas_topics::Catalog::embedded());
        for pair in config_topics.missing(catalog) {
            tracing::warn!(%pair, "configuration event not in the topic catalog; it will not be published");
        }
        Ok(AppInner {
            service_name: settings.service_name.clone(),
            systems,
            events,
            masker: Masker::default(),
            config_topics,
            metrics,
            pool,
            body_limit_bytes: settings.body_limit_bytes,
            header_read_timeout: settings.header_read_timeout,
            body_read_timeout: settings.body_read_timeout,
            caller_auth: None,
            policy: None,
            workflows: None,
            metrics_interval: settings.metrics_interval,
            extra_metrics: settings.extra_metrics.clone(),
            sessions: None,
            console: None,
        })
    }
}

impl AppInner {
    /// The console, once who calls and the policy are known; its sign-in sessions stand for
    /// bearer tokens in the API's authentication.
    fn attach_console(&mut self, settings: &CrudSettings) {
        let Some(console_settings) = settings.console.clone() else {
            return;
        };
        let console = Arc::new(civitas_console::Console::new(
            console_settings,
            self.service_name.clone(),
            self.caller_auth.clone(),
            self.policy.clone(),
        ));
        self.sessions = console
            .sign_in
            .clone()
            .map(|s| s as Arc<dyn civitas_auth::SessionAuthenticator>);
        self.console = Some(console);
    }
}
