//! The app's shared state, [`App`]: what every route and the command executor read. Built by
//! [`startup`](crate::startup), routed by [`routes`](crate::routes).

use std::sync::Arc;
use std::time::Duration;

use civitas_events::Masker;
use sqlx::AnyPool;

use crate::metrics::{ExtraMetrics, Metrics, Sample};
use civitas_auth::authz::Policy;
use civitas_auth::caller_auth::CallerAuth;
use civitas_command::config_events::ConfigTopics;
use civitas_command::events::Events;
use civitas_command::executor::CommandExecutor;
use civitas_command::systems::Systems;
use civitas_workflow::Workflows;

/// The shared state of the app.
#[derive(Debug)]
pub struct AppInner {
    pub service_name: String,
    pub systems: Systems,
    pub events: Events,
    pub masker: Masker,
    /// Configuration-event topics of the shipped catalog (seed 003).
    pub config_topics: ConfigTopics,
    pub metrics: Metrics,
    pub pool: Option<AnyPool>,
    pub body_limit_bytes: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    /// `None`: callers are not authenticated.
    pub caller_auth: Option<Arc<CallerAuth>>,
    /// `None`: every caller may run every command.
    pub policy: Option<Arc<Policy>>,
    /// The workflow engine; `None` when no workflows are configured.
    pub workflows: Option<Arc<Workflows>>,
    /// Time between two `crud.metrics` snapshots; `None`: none.
    pub metrics_interval: Option<Duration>,
    /// Figures of other components of the process (the saga in `civitas up`).
    pub extra_metrics: Option<Arc<dyn ExtraMetrics>>,
    /// Sessions that stand for a bearer token (the console's sign-in); `None`: bearer tokens
    /// only.
    pub sessions: Option<Arc<dyn civitas_auth::SessionAuthenticator>>,
    /// The web console at `/console`; `None`: not served.
    pub console: Option<Arc<civitas_console::Console>>,
}

/// The app: cheap to clone, one per service instance.
#[derive(Debug, Clone)]
pub struct App(pub Arc<AppInner>);

impl std::ops::Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl App {
    /// Publishes the `crud.metrics` snapshots of the window since the previous ones.
    pub async fn publish_metrics(&self) {
        let extra = self.extra_samples().await;
        let ctx = civitas_kafka::EventContext::correlated(uuid::Uuid::new_v4().to_string());
        for data in self
            .metrics
            .snapshots(self.events.stats(), &self.systems, &extra)
        {
            self.events.metrics(&ctx, data);
        }
    }

    /// What the other components of the process report now.
    pub async fn extra_samples(&self) -> Vec<Sample> {
        match &self.extra_metrics {
            Some(source) => source.sample().await,
            None => Vec::new(),
        }
    }

    /// The command executor over this app's systems, policy and events.
    pub fn executor(&self) -> CommandExecutor<'_> {
        CommandExecutor::new(
            &self.systems,
            self.policy.as_deref(),
            &self.events,
            &self.config_topics,
        )
    }
}

/// The workflow engine's view of the service: its commands, events, policy and directory.
impl civitas_workflow::Host for App {
    fn workflows(&self) -> Option<&Arc<Workflows>> {
        self.0.workflows.as_ref()
    }

    fn executor(&self) -> CommandExecutor<'_> {
        App::executor(self)
    }

    fn events(&self) -> &Events {
        &self.0.events
    }

    fn masker(&self) -> &Masker {
        &self.0.masker
    }

    fn failure_text(&self, error: &civitas_command::CommandError) -> String {
        let status = crate::error::ApiError::from(error.clone()).status();
        format!("{} {}", status.as_u16(), error.message())
    }

    fn count_event(&self, event_type: &str) {
        self.0.metrics.record_workflow(event_type);
    }

    fn policy(&self) -> Option<&Policy> {
        self.0.policy.as_deref()
    }

    fn authenticates_callers(&self) -> bool {
        self.0.caller_auth.is_some()
    }

    fn directory(&self) -> Option<civitas_directory::DirectoryStore> {
        self.0
            .pool
            .clone()
            .map(civitas_directory::DirectoryStore::new)
    }
}
