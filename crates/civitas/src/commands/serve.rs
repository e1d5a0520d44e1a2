//! `civitas serve <component>`: one component as its own process against an existing Kafka
//! cluster (`--kafka` / `KAFKA_BOOTSTRAP_SERVERS`), scaled out by running more of them.
//! Components: `crud` (more, e.g. `orchestrator`, `frost-adapter`, `apisix-adapter`, join
//! the [`Component`] enum).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use civitas_crud::caller_auth::CallerAuthSettings;
use civitas_crud::{App, CrudSettings, Running};
use civitas_kafka::KafkaSettings;
use civitas_kafka::crud_events::Sink;
use civitas_kafka::outbox::{self, Outbox};
use civitas_topics::CrudTopics;

use super::shared::{KafkaArgs, shutdown_signal};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub component: Component,
}

/// The components that can run on their own.
#[derive(Debug, clap::Subcommand)]
pub enum Component {
    /// The CRUD service: POST /execute, GET /systems, /health, /metrics, /openapi.json.
    Crud(Box<CrudServeArgs>),
    /// The saga orchestrator (dataset provisioning; needs --database-url).
    Orchestrator(super::saga::ServeArgs),
    /// The FROST adapter of the saga (dry-run without --frost-url).
    FrostAdapter(super::saga::ServeArgs),
    /// The APISIX adapter of the saga (dry-run without --apisix-url).
    ApisixAdapter(super::saga::ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct CrudServeArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub crud: CrudArgs,
    /// How long shutdown waits for undelivered events.
    #[arg(long, env = "CIVITAS_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,
    /// The saga orchestrator's database (sqlite://… or postgres://…), for the console's
    /// sagas view; without it that view says where to look instead.
    #[arg(long, env = "CIVITAS_SAGA_STORE", value_name = "URL")]
    pub saga_store: Option<String>,
}

/// The CRUD service's settings (shared by `civitas up` and `civitas serve crud`).
#[derive(Debug, Clone, clap::Args)]
pub struct CrudArgs {
    /// Address of the CRUD service's HTTP API.
    #[arg(long, env = "CIVITAS_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    pub http_listen: SocketAddr,
    /// Database of the built-in directory: sqlite://PATH or postgres://…
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://.civitas/civitas.db"
    )]
    pub database_url: String,
    /// The password of a postgres:// --database-url, as a credential pointer (env:, file:,
    /// openbao+kv2://…); resolved once at start.
    #[arg(long, env = "CIVITAS_DATABASE_PASSWORD", value_name = "POINTER", value_parser = super::secret_args::PointerParser)]
    pub database_password: Option<civitas_http::CredentialRef>,
    /// Directory of system files (*.yaml) and extra system types (system-types/*.yaml).
    #[arg(long = "systems", value_name = "DIR", env = "CIVITAS_SYSTEMS_DIR")]
    pub systems: Option<PathBuf>,
    /// Directory of workflow files (*.yaml): the workflow engine (docs/workflows.md). Checked
    /// at start; an invalid file stops the start with file:line and reason.
    #[arg(long = "workflows", value_name = "DIR", env = "CIVITAS_WORKFLOWS_DIR")]
    pub workflows: Option<PathBuf>,
    /// The `service` of every event (and the CloudEvents source `/civitas/<name>`).
    #[arg(long, env = "CIVITAS_SERVICE_NAME", default_value = "crud-service")]
    pub service_name: String,
    /// Publish no events. For benchmarks and diagnosis only: the events are the audit trail.
    #[arg(long, env = "CIVITAS_NO_EVENTS")]
    pub no_events: bool,
    /// Seconds a client may take to send a request's headers; the connection is closed then.
    #[arg(long, env = "CIVITAS_HEADER_READ_TIMEOUT_SECS", default_value_t = 5)]
    pub header_read_timeout_secs: u64,
    /// Seconds a client may take to send a request's body; 408 then.
    #[arg(long, env = "CIVITAS_BODY_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub body_read_timeout_secs: u64,
    #[command(flatten)]
    pub caller_auth: CallerAuthArgs,
    #[command(flatten)]
    pub secrets: super::secret_args::SecretArgs,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
    #[command(flatten)]
    pub console: ConsoleArgs,
}

/// The web console's sign-in (docs/console.md): used with --auth-issuer.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    /// The console's client id at the issuer (authorization code with PKCE).
    #[arg(
        long,
        env = "CIVITAS_CONSOLE_CLIENT_ID",
        default_value = "civitas-console"
    )]
    pub console_client_id: String,
    /// The client's secret, for a confidential client (a public client needs none): a
    /// pointer, `env:VAR`, `file:/path` or `vault:…` (docs/secrets.md), read once at start.
    #[arg(
        long,
        env = "CIVITAS_CONSOLE_CLIENT_SECRET",
        value_name = "POINTER",
        value_parser = super::secret_args::PointerParser
    )]
    pub console_client_secret: Option<civitas_http::CredentialRef>,
    /// Where browsers reach this service, e.g. `https://civitas.example.org` (default: the
    /// HTTP listen address): the issuer redirects to `URL/console/auth/callback`. With https
    /// the session cookie is `Secure`.
    #[arg(long, env = "CIVITAS_CONSOLE_URL", value_name = "URL")]
    pub console_url: Option<String>,
}

impl CrudArgs {
    /// Where the console reads from, and how people sign in to it when callers are
    /// authenticated.
    pub fn console_settings(
        &self,
        kafka: &KafkaSettings,
        naming: civitas_topics::NamingContext,
        sagas: Option<std::sync::Arc<dyn civitas_crud::console::SagaSource>>,
    ) -> anyhow::Result<civitas_crud::console::ConsoleSettings> {
        let public_url = self
            .console
            .console_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.http_listen));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            anyhow::bail!("--console-url {public_url:?} is not an http(s) URL");
        }
        let sign_in = match &self.caller_auth.auth_issuer {
            None => None,
            Some(_) => {
                let client_secret = match &self.console.console_client_secret {
                    Some(pointer) => Some(secrecy::SecretString::from(
                        super::shared::resolve_now(&[(
                            "--console-client-secret".to_owned(),
                            pointer.clone(),
                        )])?
                        .remove(0),
                    )),
                    None => None,
                };
                Some(civitas_crud::console::signin::SignInSettings {
                    client_id: self.console.console_client_id.clone(),
                    client_secret,
                    public_url,
                })
            }
        };
        Ok(civitas_crud::console::ConsoleSettings {
            kafka: kafka.clone(),
            naming,
            sagas,
            sign_in,
        })
    }
}

/// How events are kept until the broker has them (docs/operations.md, "Delivery").
#[derive(Debug, Clone, clap::Args)]
pub struct DeliveryArgs {
    /// Undelivered events at which the backlog is full.
    #[arg(long, env = "CIVITAS_OUTBOX_MAX_EVENTS", default_value_t = 1_000_000)]
    pub outbox_max_events: u64,
    /// Undelivered payload bytes at which the backlog is full.
    #[arg(long, env = "CIVITAS_OUTBOX_MAX_BYTES", default_value_t = 1 << 30)]
    pub outbox_max_bytes: u64,
    /// What a full backlog does: `refuse` new commands with 503 (no command without its
    /// audit event), or `accept` them and drop (and count) their events.
    #[arg(long, env = "CIVITAS_OUTBOX_WHEN_FULL", default_value = "refuse")]
    pub outbox_when_full: outbox::FullPolicy,
    /// Seconds between two `crud.metrics` snapshots (one more at shutdown); 0: none.
    #[arg(long, env = "CIVITAS_METRICS_INTERVAL_SECS", default_value_t = 60)]
    pub metrics_interval_secs: u64,
}

impl DeliveryArgs {
    /// The outbox settings.
    pub fn outbox(&self) -> outbox::OutboxSettings {
        outbox::OutboxSettings {
            max_events: self.outbox_max_events.max(1),
            max_bytes: self.outbox_max_bytes.max(1),
            when_full: self.outbox_when_full,
            ..outbox::OutboxSettings::default()
        }
    }
}

/// Caller authentication: OpenID Connect bearer tokens on /execute and /systems.
#[derive(Debug, Clone, clap::Args)]
pub struct CallerAuthArgs {
    /// Require bearer tokens issued by this OpenID Connect issuer (its `iss`, e.g.
    /// `https://keycloak.example.org/realms/civitas`); the keys are read through its discovery
    /// document. Without it anyone who reaches the port may call the API.
    #[arg(long, env = "CIVITAS_AUTH_ISSUER", value_name = "URL")]
    pub auth_issuer: Option<String>,
    /// Also require this audience in the tokens' `aud`.
    #[arg(long, env = "CIVITAS_AUTH_AUDIENCE", requires = "auth_issuer")]
    pub auth_audience: Option<String>,
    /// Read the issuer's keys here instead of through discovery.
    #[arg(
        long,
        env = "CIVITAS_AUTH_JWKS_URL",
        value_name = "URL",
        requires = "auth_issuer"
    )]
    pub auth_jwks_url: Option<String>,
    /// The token claim that becomes the events' `user_context.subject` (falls back to `sub`).
    #[arg(
        long,
        env = "CIVITAS_AUTH_SUBJECT_CLAIM",
        default_value = civitas_crud::caller_auth::DEFAULT_SUBJECT_CLAIM
    )]
    pub auth_subject_claim: String,
    /// Authorization policy (YAML): which callers, by token claims, may run which commands.
    /// Default deny when given; needs --auth-issuer. Without it every authenticated caller
    /// may run every command. Format: docs/crud.md, "Authorization".
    #[arg(
        long,
        env = "CIVITAS_AUTHZ",
        value_name = "FILE",
        requires = "auth_issuer"
    )]
    pub authz: Option<PathBuf>,
}

impl CallerAuthArgs {
    pub fn settings(&self) -> Option<CallerAuthSettings> {
        let issuer = self.auth_issuer.clone()?;
        Some(CallerAuthSettings {
            issuer,
            audience: self.auth_audience.clone(),
            jwks_url: self.auth_jwks_url.clone(),
            subject_claim: self.auth_subject_claim.clone(),
        })
    }
}

impl CrudArgs {
    /// Puts the password `--database-password` points to into `database_url` (once, at
    /// start; every later use of the URL has it).
    pub fn resolve_database_password(&mut self) -> anyhow::Result<()> {
        self.database_url = super::shared::database_url_with(
            &self.database_url,
            self.database_password.take().as_ref(),
        )?;
        Ok(())
    }

    /// The settings; `development`: `civitas up` (yaml:// secrets are read).
    pub fn settings(&self, topics: &CrudTopics, development: bool) -> CrudSettings {
        CrudSettings {
            service_name: self.service_name.clone(),
            database_url: self.database_url.clone(),
            systems_dir: self.systems.clone(),
            workflows_dir: self.workflows.clone(),
            topics: topics.clone(),
            publish_events: !self.no_events,
            caller_auth: self.caller_auth.settings(),
            authz: self.caller_auth.authz.clone(),
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            body_read_timeout: Duration::from_secs(self.body_read_timeout_secs.max(1)),
            secrets: self.secrets.settings(development),
            metrics_interval: (self.delivery.metrics_interval_secs > 0)
                .then(|| Duration::from_secs(self.delivery.metrics_interval_secs)),
            ..CrudSettings::default()
        }
    }
}

/// Builds the CRUD service and serves it in the background; prints its address.
pub async fn start_crud(
    args: &CrudArgs,
    topics: &CrudTopics,
    outbox: Outbox,
    development: bool,
    extra_metrics: Option<std::sync::Arc<dyn civitas_crud::metrics::ExtraMetrics>>,
    console: civitas_crud::console::ConsoleSettings,
) -> anyhow::Result<Running> {
    let mut settings = args.settings(topics, development);
    settings.extra_metrics = extra_metrics;
    settings.console = Some(console);
    let app = App::build(&settings, Some(Sink::Durable(outbox)))
        .await
        .context("starting the CRUD service")?;
    let systems: Vec<String> = app.systems.iter().map(|(name, _)| name.clone()).collect();
    let running = Running::start(app, args.http_listen)
        .await
        .with_context(|| format!("listening on {} for the CRUD service", args.http_listen))?;
    println!(
        "civitas: CRUD service listening on http://{} (POST /execute, /workflow/start; GET /systems, /health, /metrics, /openapi.json)",
        running.addr
    );
    println!("civitas: console at http://{}/console", running.addr);
    println!(
        "         systems: {}; database: {}",
        systems.join(", "),
        civitas_crud::redact_database_url(&args.database_url)
    );
    match &running.app.caller_auth {
        Some(auth) => println!(
            "         callers: bearer tokens of {} (keys: {})",
            auth.settings().issuer,
            auth.jwks_url()
        ),
        None => println!(
            "         callers: not authenticated (--auth-issuer); events carry no user_context"
        ),
    }
    match (&running.app.policy, &args.caller_auth.authz) {
        (Some(policy), Some(file)) => println!(
            "         authorization: {} rule(s) from {}; anything no rule allows is refused (403)",
            policy.rules.len(),
            file.display()
        ),
        _ => println!(
            "         authorization: none (--authz): every caller may run every command of every system"
        ),
    }
    if let Some(workflows) = &running.app.workflows {
        let names: Vec<&str> = workflows.definitions().map(|w| w.name.as_str()).collect();
        println!(
            "         workflows: {} ({}); POST /workflow/start, GET /workflow/status/{{id}}, /tasks",
            names.len(),
            names.join(", ")
        );
        if running.app.caller_auth.is_none() {
            println!(
                "         approvals: OPEN TO ANYONE: without --auth-issuer there is no identity to check approvers against"
            );
        }
    }
    let secrets = &settings.secrets;
    let vault = match &secrets.vault {
        Some(vault) => format!(
            "vault {} ({})",
            vault.addr,
            match vault.auth {
                civitas_secrets::VaultAuth::Token(_) => "token",
                civitas_secrets::VaultAuth::AppRole { .. } => "AppRole",
            }
        ),
        None => "no vault (VAULT_ADDR / --vault-addr unset: vault pointers are refused)".to_owned(),
    };
    println!(
        "         secrets: {vault}; cache {} s; events on {} and {}",
        secrets.cache_ttl.as_secs(),
        topics.secrets,
        topics.secrets_audit
    );
    if secrets.development {
        println!(
            "         secrets: DEVELOPMENT MODE: yaml:// pointers are read (never in production)"
        );
    }
    if args.no_events {
        println!("WARNING: event publishing is off (--no-events): no audit events are written.");
    }
    Ok(running)
}

/// Opens the CRUD service's durable outbox in its database and starts its relay; events
/// an earlier run stored and the broker never acknowledged are sent first.
pub async fn crud_outbox(kafka: &KafkaSettings, args: &CrudArgs) -> anyhow::Result<Outbox> {
    let pool = civitas_store::connect(&args.database_url)
        .await
        .context("opening the database of the event outbox")?;
    let mut settings = args.delivery.outbox();
    // One name per host and port: a restart relays at once; two live instances differ.
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    settings.instance = Some(format!("{host}@{}", args.http_listen));
    let outbox = Outbox::start(pool, kafka, settings)
        .await
        .context("starting the event outbox")?;
    let waiting = outbox.stats().backlog_events;
    if waiting > 0 {
        println!(
            "civitas: {waiting} event(s) stored by an earlier run are being sent to the broker"
        );
    }
    Ok(outbox)
}

/// Stops the outbox at shutdown: it stores what is queued and delivers for up to `timeout`.
/// What the broker has not acknowledged by then stays in the database and is sent at the
/// next start, so nothing is lost: exit code 0 unless events were dropped.
pub async fn stop_outbox(outbox: &Outbox, timeout: Duration) -> ExitCode {
    let left = outbox.shutdown(timeout).await;
    if left.backlog_events > 0 {
        eprintln!(
            "civitas: {} event(s) not yet acknowledged by the broker stay in the outbox; the next start sends them",
            left.backlog_events
        );
    }
    if left.dropped > 0 {
        eprintln!(
            "civitas: {} event(s) were dropped while this instance ran (see the log)",
            left.dropped
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.component {
        Component::Crud(args) => crud(*args).await,
        Component::Orchestrator(args) => {
            super::saga::serve(civitas_saga::Component::Orchestrator, args).await
        }
        Component::FrostAdapter(args) => {
            super::saga::serve(civitas_saga::Component::FrostAdapter, args).await
        }
        Component::ApisixAdapter(args) => {
            super::saga::serve(civitas_saga::Component::ApisixAdapter, args).await
        }
    }
}

async fn crud(mut args: CrudServeArgs) -> anyhow::Result<ExitCode> {
    args.crud.resolve_database_password()?;
    let settings = args.kafka.settings()?;
    let outbox = crud_outbox(&settings, &args.crud).await?;
    println!(
        "civitas: CRUD service publishing to {}",
        settings.bootstrap_servers
    );
    let sagas = match &args.saga_store {
        Some(url) => {
            let store = civitas_saga::SagaStore::connect(url)
                .await
                .with_context(|| {
                    format!(
                        "opening the saga store {} (--saga-store)",
                        civitas_saga::store::redact_url(url)
                    )
                })?;
            let source: std::sync::Arc<dyn civitas_crud::console::SagaSource> =
                std::sync::Arc::new(super::saga::console::ConsoleSagas::new(store));
            Some(source)
        }
        None => None,
    };
    let console = args
        .crud
        .console_settings(&settings, args.kafka.client.naming()?, sagas)?;
    let running = start_crud(
        &args.crud,
        &args.kafka.crud_topics()?,
        outbox.clone(),
        false,
        None,
        console,
    )
    .await?;
    shutdown_signal().await;
    println!("civitas: shutting down, finishing requests");
    let timeout = Duration::from_secs(args.shutdown_timeout_secs);
    // Whatever the HTTP side says, the events are flushed or kept.
    let stopped = running.stop_within(timeout).await;
    if let Err(error) = &stopped {
        eprintln!("civitas: stopping the CRUD service: {error}");
    }
    println!("civitas: delivering the events still waiting");
    let code = stop_outbox(&outbox, timeout).await;
    Ok(if stopped.is_err() {
        ExitCode::FAILURE
    } else {
        code
    })
}
