//! The saga's settings and components in `civitas up` and `civitas serve orchestrator|…`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use civitas_http::{AuthConfig, CredentialRef};
use civitas_kafka::{EmbeddedBroker, KafkaSettings};
use civitas_saga::adapter::RetryPolicy;
use civitas_saga::adapter::apisix::ApisixConfig;
use civitas_saga::adapter::frost::FrostConfig;
use civitas_saga::service::{self, Component, Running, SagaConfig};
use civitas_saga::store::redact_url;
use civitas_secrets::SecretSettings;
use civitas_topics::{CrudTopics, SagaTopics};

use civitas_saga::SagaStore;

use super::DEFAULT_DATABASE_URL;
use crate::commands::secret_args::{PointerParser, SecretArgs};
use crate::commands::shared::{KafkaArgs, shutdown_signal};

/// The saga's settings in `civitas up` and `civitas serve …`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// How long a saga step (or its compensation) may take before it counts as failed.
    #[arg(long, env = "CIVITAS_SAGA_STEP_TIMEOUT_SECS", default_value_t = 30)]
    pub step_timeout_secs: u64,
    /// FROST-Server base URL, e.g. http://frost:8080/FROST-Server. Without it the FROST
    /// adapter runs dry (logs the requests, answers with synthetic ids).
    #[arg(long, env = "CIVITAS_FROST_URL")]
    pub frost_url: Option<String>,
    /// Path of FROST's Projects collection under the base URL.
    #[arg(
        long,
        env = "CIVITAS_FROST_PROJECTS_PATH",
        default_value = "/v1.1/Projects"
    )]
    pub frost_projects_path: String,
    /// User for HTTP Basic authentication to FROST (its BasicAuthProvider).
    #[arg(long, env = "CIVITAS_FROST_USERNAME", requires = "frost_password")]
    pub frost_username: Option<String>,
    /// Password for HTTP Basic authentication to FROST: a credential pointer (env:NAME,
    /// file:PATH, openbao+kv2://…; docs/secrets.md).
    #[arg(
        long,
        env = "CIVITAS_FROST_PASSWORD",
        value_name = "POINTER",
        value_parser = PointerParser,
        requires = "frost_username"
    )]
    pub frost_password: Option<CredentialRef>,
    /// Bearer token for FROST behind Keycloak (instead of a user and password): a pointer.
    #[arg(
        long,
        env = "CIVITAS_FROST_BEARER_TOKEN",
        value_name = "POINTER",
        value_parser = PointerParser,
        conflicts_with = "frost_username"
    )]
    pub frost_bearer_token: Option<CredentialRef>,
    /// OAuth2 token endpoint for FROST behind Keycloak, e.g.
    /// `https://keycloak/realms/civitas/protocol/openid-connect/token`: the adapter fetches a
    /// token with client credentials and fetches a new one before it expires.
    #[arg(
        long,
        env = "CIVITAS_FROST_TOKEN_URL",
        value_name = "URL",
        requires_all = ["frost_client_id", "frost_client_secret"],
        conflicts_with_all = ["frost_username", "frost_bearer_token"]
    )]
    pub frost_token_url: Option<String>,
    /// OAuth2 client id (with --frost-token-url).
    #[arg(long, env = "CIVITAS_FROST_CLIENT_ID", requires = "frost_token_url")]
    pub frost_client_id: Option<String>,
    /// OAuth2 client secret (with --frost-token-url): a pointer.
    #[arg(
        long,
        env = "CIVITAS_FROST_CLIENT_SECRET",
        value_name = "POINTER",
        value_parser = PointerParser,
        requires = "frost_token_url"
    )]
    pub frost_client_secret: Option<CredentialRef>,
    /// OAuth2 scope to ask for (with --frost-token-url).
    #[arg(long, env = "CIVITAS_FROST_SCOPE", requires = "frost_token_url")]
    pub frost_scope: Option<String>,
    /// APISIX Admin API base URL, e.g. http://apisix:9180. Without it the APISIX adapter runs dry.
    #[arg(long, env = "CIVITAS_APISIX_URL")]
    pub apisix_url: Option<String>,
    /// APISIX admin key (sent as X-API-KEY): a pointer.
    #[arg(
        long,
        env = "CIVITAS_APISIX_ADMIN_KEY",
        value_name = "POINTER",
        value_parser = PointerParser
    )]
    pub apisix_admin_key: Option<CredentialRef>,
    /// Public base URL of the gateway, for the public URLs in dataset.create.completed.
    #[arg(
        long,
        env = "CIVITAS_APISIX_PUBLIC_URL",
        default_value = "http://localhost:9080"
    )]
    pub apisix_public_url: String,
    /// Tries per adapter HTTP call (retryable errors only).
    #[arg(long, env = "CIVITAS_ADAPTER_MAX_ATTEMPTS", default_value_t = 3)]
    pub adapter_max_attempts: u32,
    /// Wait after the first failed try, in ms; doubles per try, capped at 30 s.
    #[arg(long, env = "CIVITAS_ADAPTER_BACKOFF_MS", default_value_t = 1000)]
    pub adapter_backoff_ms: u64,
    /// Timeout of one adapter HTTP request.
    #[arg(
        long,
        env = "CIVITAS_ADAPTER_REQUEST_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub adapter_request_timeout_secs: u64,
}

impl ServiceArgs {
    /// The components' configuration; the adapters' credentials resolve through a secret
    /// service with `secrets`, whose events go to `crud_topics`.
    pub fn config(&self, secrets: SecretSettings, crud_topics: CrudTopics) -> SagaConfig {
        let retry = RetryPolicy {
            attempts: self.adapter_max_attempts.max(1),
            initial: Duration::from_millis(self.adapter_backoff_ms),
            ..RetryPolicy::default()
        };
        let request_timeout = Duration::from_secs(self.adapter_request_timeout_secs);
        SagaConfig {
            topics: SagaTopics::default(),
            step_timeout: Duration::from_secs(self.step_timeout_secs),
            frost: FrostConfig {
                base_url: self.frost_url.clone(),
                projects_path: self.frost_projects_path.clone(),
                auth: self.frost_auth(),
                request_timeout,
                retry: retry.clone(),
            },
            apisix: ApisixConfig {
                admin_url: self.apisix_url.clone(),
                admin_key: self.apisix_admin_key.clone(),
                public_url: self.apisix_public_url.clone(),
                request_timeout,
                retry,
            },
            secrets,
            crud_topics,
            ..SagaConfig::default()
        }
    }

    fn frost_auth(&self) -> AuthConfig {
        let secret = |pointer: &CredentialRef| pointer.clone();
        if let (Some(token_url), Some(client_id), Some(client_secret)) = (
            &self.frost_token_url,
            &self.frost_client_id,
            &self.frost_client_secret,
        ) {
            return AuthConfig::Oauth2ClientCredentials {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                client_secret: secret(client_secret),
                scope: self.frost_scope.clone(),
                audience: None,
            };
        }
        match (
            &self.frost_username,
            &self.frost_password,
            &self.frost_bearer_token,
        ) {
            (Some(username), Some(password), _) => AuthConfig::Basic {
                username: username.clone(),
                password: secret(password),
            },
            (_, _, Some(token)) => AuthConfig::Bearer {
                token: secret(token),
            },
            _ => AuthConfig::None,
        }
    }

    fn print_modes(&self, components: &[Component]) {
        let frost_auth = self.frost_auth();
        let mode = |url: &Option<String>| match url {
            Some(url) => format!("live against {url}"),
            None => "DRY-RUN (logs requests, answers with synthetic ids)".to_owned(),
        };
        for component in components {
            match component {
                Component::Orchestrator => println!(
                    "civitas: saga orchestrator: step timeout {} s, topics {}.*",
                    self.step_timeout_secs,
                    civitas_topics::rules::SAGA_PREFIX
                ),
                Component::FrostAdapter => println!(
                    "civitas: FROST adapter: {}{}",
                    mode(&self.frost_url),
                    if self.frost_url.is_some() {
                        let auth = match &frost_auth {
                            AuthConfig::None => "no authentication".to_owned(),
                            AuthConfig::Basic { username, .. } => {
                                format!("basic auth as {username}")
                            }
                            AuthConfig::Oauth2ClientCredentials {
                                token_url,
                                client_id,
                                ..
                            } => format!("OAuth2 client {client_id} at {token_url}"),
                            other => format!("{} auth", other.kind()),
                        };
                        format!(" (projects at {}, {auth})", self.frost_projects_path)
                    } else {
                        String::new()
                    }
                ),
                Component::ApisixAdapter => {
                    println!("civitas: APISIX adapter: {}", mode(&self.apisix_url))
                }
            }
        }
    }
}

/// `civitas up`: creates the saga topics on the embedded broker (if any), then starts the
/// orchestrator and both adapters in this process.
pub async fn start_in_up(
    args: &ServiceArgs,
    secrets: SecretSettings,
    crud_topics: CrudTopics,
    settings: &KafkaSettings,
    database_url: &str,
    broker: Option<&EmbeddedBroker>,
    partitions: i32,
) -> anyhow::Result<Running> {
    let config = args.config(secrets, crud_topics);
    if let Some(broker) = broker {
        for topic in config.topics.all() {
            broker.create_topic(topic, partitions)?;
        }
    }
    println!("civitas: saga topics: {}", config.topics.all().join(", "));
    let store = SagaStore::connect(database_url)
        .await
        .with_context(|| format!("opening the saga store {}", redact_url(database_url)))?;
    args.print_modes(&Component::ALL);
    service::start(settings, &config, Some(store), &Component::ALL)
        .await
        .context("starting the saga components")
}

/// `civitas serve orchestrator|frost-adapter|apisix-adapter`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub saga: ServiceArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
    /// The orchestrator's database (the adapters need none).
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// The password of a postgres:// --database-url, as a credential pointer; resolved once.
    #[arg(long, env = "CIVITAS_DATABASE_PASSWORD", value_name = "POINTER", value_parser = PointerParser)]
    pub database_password: Option<CredentialRef>,
    /// How long shutdown waits for undelivered events.
    #[arg(long, env = "CIVITAS_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,
    /// Address of the health probes (/health/live, /health/ready, /health); default
    /// 127.0.0.1:8091 (orchestrator), 8092 (frost-adapter), 8093 (apisix-adapter). In a
    /// Kubernetes pod: 0.0.0.0:PORT, so the kubelet reaches it.
    #[arg(long, env = "CIVITAS_HEALTH_LISTEN", value_name = "HOST:PORT")]
    pub health_listen: Option<std::net::SocketAddr>,
}

/// The default probe address of `component`: one port each, so all three run side by side.
fn default_health_listen(component: Component) -> std::net::SocketAddr {
    let port = match component {
        Component::Orchestrator => 8091,
        Component::FrostAdapter => 8092,
        Component::ApisixAdapter => 8093,
    };
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

pub async fn serve(component: Component, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = args.kafka.settings()?;
    let config = args
        .saga
        .config(args.secrets.settings(false), args.kafka.crud_topics()?);
    let store = match component {
        Component::Orchestrator => Some(
            SagaStore::connect(&crate::commands::shared::database_url_with(
                &args.database_url,
                args.database_password.as_ref(),
            )?)
            .await
            .with_context(|| {
                format!("opening the saga store {}", redact_url(&args.database_url))
            })?,
        ),
        _ => None,
    };
    println!(
        "civitas: {} against {}",
        component.name(),
        settings.bootstrap_servers
    );
    args.saga.print_modes(&[component]);
    let store_pool = store.as_ref().map(|s| s.pool().clone());
    let mut running = service::start(&settings, &config, store, &[component]).await?;
    let listen = args
        .health_listen
        .unwrap_or_else(|| default_health_listen(component));
    let probes = super::probes::serve(
        listen,
        component.name(),
        store_pool,
        running.publisher().clone(),
    )
    .await
    .with_context(|| format!("listening on {listen} for the health probes (--health-listen)"))?;
    println!("civitas: health probes on http://{probes}/health/live, /health/ready and /health");
    println!("civitas: ready (Ctrl-C to stop)");
    let code = tokio::select! {
        () = shutdown_signal() => ExitCode::SUCCESS,
        (which, result) = running.failed() => {
            eprintln!("civitas: {} stopped: {}", which.name(), match result {
                Ok(()) => "without an error".to_owned(),
                Err(err) => format!("{:#}", anyhow::Error::from(err)),
            });
            ExitCode::FAILURE
        }
    };
    println!("civitas: shutting down, flushing events");
    running
        .shutdown(Duration::from_secs(args.shutdown_timeout_secs))
        .await?;
    Ok(code)
}
