//! The app's shared state, [`App`]: what every route and the command executor read. Built by
//! [`startup`](crate::startup), routed by [`routes`](crate::routes).

use std::sync::Arc;
use std::time::Duration;

use civitas_events::Masker;
use sqlx::AnyPool;

use crate::authz::Policy;
use crate::caller_auth::CallerAuth;
use crate::config_events::ConfigTopics;
use crate::events::Events;
use crate::executor::CommandExecutor;
use crate::metrics::{ExtraMetrics, Metrics, Sample};
use crate::systems::Systems;
use crate::workflow::Workflows;

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
    pub caller_auth: Option<CallerAuth>,
    /// `None`: every caller may run every command.
    pub policy: Option<Policy>,
    /// The workflow engine; `None` when no workflows are configured.
    pub workflows: Option<Arc<Workflows>>,
    /// Time between two `crud.metrics` snapshots; `None`: none.
    pub metrics_interval: Option<Duration>,
    /// Figures of other components of the process (the saga in `civitas up`).
    pub extra_metrics: Option<Arc<dyn ExtraMetrics>>,
    /// The web console at `/console`; `None`: not served.
    pub console: Option<Arc<crate::console::Console>>,
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
            self.policy.as_ref(),
            &self.events,
            &self.config_topics,
        )
    }
}
