//! The secret service: credential pointers (`civitas_http::CredentialRef`) resolved from
//! OpenBao / HashiCorp Vault (KV version 2), the environment, files and — in development
//! mode — a YAML file; cached, guarded by a circuit breaker, and reported as `crud.secrets`
//! events (never a value). See docs/secrets.md.
//!
//! - [`service`]: [`SecretService`], the resolver the product runs with (cache, events,
//!   metrics, `secrets check`);
//! - [`vault`]: the KV v2 client (token or AppRole auth with renewal, retries);
//! - [`breaker`]: the circuit breaker in front of the vault;
//! - [`yaml`]: the development YAML provider;
//! - [`events`]: what is reported, and the sink it goes to;
//! - [`settings`]: [`SecretSettings`], from flags, the settings file and `VAULT_*`/`BAO_*`.

pub mod breaker;
pub mod events;
pub mod service;
pub mod settings;
pub mod vault;
pub mod yaml;

pub use breaker::BreakerState;
pub use events::{
    KafkaSecretEvents, NoEvents, RecordedEvents, SecretEvent, SecretEventType, SecretEvents,
};
pub use service::{CheckResult, SecretService};
pub use settings::{SecretSettings, VaultAuth, VaultSettings};
pub use vault::{LoginCounts, VaultSetupError};
