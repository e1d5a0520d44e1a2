//! `civitas serve <component>`: one component as its own process against an existing Kafka
//! cluster (`--kafka` / `KAFKA_BOOTSTRAP_SERVERS`), scaled out by running more of them.
//! Components: `crud` (more, e.g. `orchestrator`, `frost-adapter`, `apisix-adapter`, join
//! the [`Component`] enum).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use civitas_crud::{App, Running};
use civitas_kafka::KafkaSettings;
use civitas_kafka::crud_events::Sink;
use civitas_kafka::outbox::Outbox;
use civitas_services::{Services, Stage};
use civitas_topics::CrudTopics;

pub use super::crud_args::CrudArgs;
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

/// Builds the CRUD service and serves it in the background; prints its address.
pub async fn start_crud(
    args: &CrudArgs,
    topics: &CrudTopics,
    outbox: Outbox,
    development: bool,
    extra_metrics: Option<std::sync::Arc<dyn civitas_crud::metrics::ExtraMetrics>>,
    console: civitas_console::ConsoleSettings,
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
    // One name per host and port: a restart relays at once; two live instances differ.
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let outbox = civitas_services::open_outbox(
        &args.database_url,
        kafka,
        args.delivery.outbox(),
        format!("{host}@{}", args.http_listen),
    )
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

/// Stops `services` in their order (`civitas_services`), saying each step, and tells what
/// is left: undelivered events stay in the database for the next start, so the exit code is
/// 0 unless something failed to stop or events were dropped.
pub async fn stop(services: Services, timeout: Duration) -> ExitCode {
    let stopped = services
        .stop(timeout, |stage| match stage {
            Stage::Http => println!("civitas: shutting down, finishing HTTP requests"),
            Stage::Outbox => {
                println!("civitas: shutting down, delivering the events still waiting")
            }
            Stage::Saga | Stage::Journal => {}
        })
        .await;
    for failure in &stopped.failures {
        eprintln!("civitas: {failure}");
    }
    if stopped.undelivered > 0 {
        eprintln!(
            "civitas: {} event(s) not yet acknowledged by the broker stay in the outbox; the next start sends them",
            stopped.undelivered
        );
    }
    if stopped.dropped > 0 {
        eprintln!(
            "civitas: {} event(s) were dropped while this instance ran (see the log)",
            stopped.dropped
        );
    }
    if stopped.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
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
            let source: std::sync::Arc<dyn civitas_console::SagaSource> =
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
    let services = Services {
        crud: Some(running),
        outbox: Some(outbox),
        ..Services::default()
    };
    Ok(stop(services, Duration::from_secs(args.shutdown_timeout_secs)).await)
}
