//! The CRUD service's flags and settings, shared by `civitas up` and `civitas serve crud`:
//! where it listens and stores, who may call it, how the console signs people in, and how
//! events are kept until the broker has them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use civitas_auth::caller_auth::CallerAuthSettings;
use civitas_crud::CrudSettings;
use civitas_kafka::KafkaSettings;
use civitas_kafka::outbox;
use civitas_topics::CrudTopics;

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
        sagas: Option<std::sync::Arc<dyn civitas_console::SagaSource>>,
    ) -> anyhow::Result<civitas_console::ConsoleSettings> {
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
                Some(civitas_console::signin::SignInSettings {
                    client_id: self.console.console_client_id.clone(),
                    client_secret,
                    public_url,
                })
            }
        };
        Ok(civitas_console::ConsoleSettings {
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
        default_value = civitas_auth::caller_auth::DEFAULT_SUBJECT_CLAIM
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
