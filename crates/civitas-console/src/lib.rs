//! The web console at `/console`: what happened, to whom, and what waits for a person —
//! live events, timelines, failures, sagas, workflows and approvals, secrets audit, topics
//! and access, health (docs/console.md).
//!
//! Built from parts the product already has: the [`Reader`](civitas_kafka::Reader) behind
//! `civitas tail` and `trace` for everything on Kafka, the workflow API (`/workflow/*`,
//! `/tasks`) for runs and approvals (the page calls it, so a decision takes the same
//! authorization and idempotency as any client's), `/health`, the topic catalog and the ACL
//! matrix, and the saga store through [`SagaSource`].
//!
//! The stack: one server-rendered shell per view ([`pages`], minijinja, auto-escaped) and
//! one script and one stylesheet built into the binary ([`assets`]) — no Node.js to build or
//! run it. The script fills the views from the JSON of [`api`] (and [`live`]'s
//! Server-Sent Events) with `textContent`, never HTML, so a value from an event is always
//! text. [`headers`] sets a Content-Security-Policy without inline scripts.
//!
//! - [`api`]: the console's JSON reads (search, failures, secrets, topics, sagas, metrics).
//! - [`live`]: the live event stream.
//! - [`visibility`]: who sees which records under the authorization policy.
//! - [`signin`]: OpenID Connect sign-in (authorization code with PKCE) when the service runs
//!   with `--auth-issuer`.

use std::fmt::Debug;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use civitas_kafka::KafkaSettings;
use civitas_topics::NamingContext;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::Semaphore;

use civitas_auth::{CallerAuth, Policy};

pub mod api;
pub mod assets;
pub mod error;
pub mod headers;
pub mod live;
pub mod pages;
pub mod signin;
pub mod visibility;

/// At most this many live streams at once (each holds a Kafka consumer and a thread).
pub const MAX_LIVE_STREAMS: usize = 16;
/// At most this many searches and summaries at once (each reads topics with a thread per
/// topic): more wait their turn.
pub const MAX_SCANS: usize = 2;

/// Where the console reads from.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// The cluster the service publishes to.
    pub kafka: KafkaSettings,
    /// The platform's naming context (configuration-event and saga topics, the ACL matrix).
    pub naming: NamingContext,
    /// The saga store; `None`: the sagas view says how to connect one.
    pub sagas: Option<Arc<dyn SagaSource>>,
    /// How people sign in; needed when callers are authenticated (`--auth-issuer`).
    pub sign_in: Option<signin::SignInSettings>,
}

/// The saga store as the console reads it: sagas as `civitas saga show --json` prints them.
pub trait SagaSource: Send + Sync + Debug {
    /// The newest `limit` sagas, newest first.
    fn list(&self, limit: i64) -> BoxFuture<'_, Result<Vec<Value>, String>>;
    /// One saga by id, unique id prefix or dataset id.
    fn show<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Value>, String>>;
}

/// The console's state (its handlers' `State`): its settings, who calls and what they may
/// read, and the bounds on what it holds open.
#[derive(Debug)]
pub struct Console {
    pub settings: ConsoleSettings,
    /// The service's name, in the page header.
    pub service_name: String,
    /// `None`: callers are not authenticated; the console is as open as the API.
    pub caller_auth: Option<Arc<CallerAuth>>,
    /// The authorization policy every read is checked against; `None`: none.
    pub policy: Option<Arc<Policy>>,
    pub sign_in: Option<Arc<signin::SignIn>>,
    /// The topics view's catalog and access, made once.
    pub topic_catalog: api::TopicCatalog,
    live_streams: Arc<Semaphore>,
    scans: Arc<Semaphore>,
}

impl Console {
    pub fn new(
        settings: ConsoleSettings,
        service_name: String,
        caller_auth: Option<Arc<CallerAuth>>,
        policy: Option<Arc<Policy>>,
    ) -> Self {
        Self {
            service_name,
            caller_auth,
            policy,
            sign_in: settings
                .sign_in
                .clone()
                .map(|s| Arc::new(signin::SignIn::new(s))),
            topic_catalog: api::TopicCatalog::new(&settings.naming),
            settings,
            live_streams: Arc::new(Semaphore::new(MAX_LIVE_STREAMS)),
            scans: Arc::new(Semaphore::new(MAX_SCANS)),
        }
    }
}

/// The console's routes, for the service to merge into its own: the pages, assets and
/// sign-in (each page checks the session itself, to send a stranger to sign in), and the
/// data, which `guard` wraps (the service puts its caller authentication there: a 401
/// without a session or a token). Every answer carries the console's security headers.
pub fn router<S>(console: Arc<Console>, guard: impl FnOnce(Router<S>) -> Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let open = Router::new()
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route("/console/assets/{file}", get(assets::asset))
        .route("/console/auth/login", get(signin::login))
        .route("/console/auth/callback", get(signin::callback))
        .route("/console/auth/logout", axum::routing::post(signin::logout))
        .route("/console/{view}", get(pages::view))
        .with_state(console.clone());
    let data = Router::new()
        .route("/console/api/live", get(live::stream))
        .route("/console/api/search", get(api::search))
        .route("/console/api/failures", get(api::failures))
        .route("/console/api/secrets", get(api::secrets))
        .route("/console/api/topics", get(api::topics))
        .route("/console/api/sagas", get(api::sagas))
        .route("/console/api/sagas/{id}", get(api::saga))
        .route("/console/api/metrics", get(api::metrics))
        .with_state(console);
    open.merge(guard(data))
        .layer(axum::middleware::from_fn(headers::security_headers))
}
