//! `civitas bench execute --vault-addr …`: what a vault-backed credential costs. One app, two
//! systems of the same type against one local stand-in upstream; their only difference is
//! the bearer token's pointer — `openbao+kv2://…` served by a real OpenBao, or `env:PATH`
//! (any variable that is set: the stand-in ignores the token). Both sides publish their
//! events (operations and secret cache hits) to an embedded broker; they take turns as in
//! the execute benchmark. Then the cost of one *uncached* lookup of each pointer, measured
//! straight on a secret service (no cache, no HTTP request around it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use civitas_http::CredentialRef;
use civitas_kafka::{EmbeddedBroker, Publisher};
use civitas_secrets::{NoEvents, SecretService, SecretSettings, VaultAuth, VaultSettings};
use civitas_topics::CrudTopics;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{BenchError, LoadOptions, LoadResult, Target, alternate};
use civitas_crud::App;
use civitas_crud::CrudSettings;
use civitas_crud::Running;

/// The secret `secret_bench` writes and reads.
const BENCH_PATH: &str = "civitas-bench";

/// The cost of one lookup that misses the cache.
#[derive(Debug, Clone, Copy)]
pub struct UncachedCost {
    pub mean: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

/// Both sides, and the uncached costs.
#[derive(Debug, Clone)]
pub struct SecretBenchReport {
    pub vault: LoadResult,
    pub env: LoadResult,
    pub uncached_vault: UncachedCost,
    pub uncached_env: UncachedCost,
}

/// Runs the benchmark against the OpenBao at `vault_addr` (KV v2 at `secret/`), writing the
/// secret `secret/civitas-bench` with `vault_token` first.
pub async fn secret_bench(
    options: &LoadOptions,
    vault_addr: &str,
    vault_token: &SecretString,
    uncached_lookups: u32,
) -> Result<SecretBenchReport, BenchError> {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("a literal address");
    let upstream = stand_in_upstream().await?;
    write_secret(vault_addr, vault_token).await?;

    let broker = EmbeddedBroker::start(any, 1)
        .await
        .map_err(BenchError::Broker)?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let topics = CrudTopics::with_prefix(&format!("bench{}", &run_id[..8]))
        .expect("bench<hex> is a valid CRUD prefix");
    for topic in topics.all() {
        broker.create_topic(topic, 3).map_err(BenchError::Broker)?;
    }
    let publisher = Publisher::connect(&broker.settings()).map_err(BenchError::Broker)?;

    let dir = std::env::temp_dir().join(format!("civitas-bench-{run_id}"));
    let vault_pointer = format!("openbao+kv2://secret/{BENCH_PATH}#token");
    let systems = dir.join("systems");
    std::fs::create_dir_all(&systems)?;
    for (name, pointer) in [("vault_kc", vault_pointer.as_str()), ("env_kc", "env:PATH")] {
        std::fs::write(
            systems.join(format!("{name}.yaml")),
            format!(
                "name: {name}\ntype: keycloak\nbase_url: http://{upstream}\nsettings: {{realm: bench}}\n\
                 auth: {{kind: bearer, token: '{pointer}'}}\n"
            ),
        )?;
    }
    let vault = VaultSettings::new(
        vault_addr,
        VaultAuth::Token(CredentialRef::Inline(vault_token.clone())),
    );
    let secrets = SecretSettings {
        vault: Some(vault),
        ..SecretSettings::default()
    };
    let settings = CrudSettings {
        database_url: format!("sqlite://{}/bench.db", dir.display()),
        systems_dir: Some(systems),
        local_directory: false,
        topics,
        secrets: secrets.clone(),
        ..CrudSettings::default()
    };
    let result = async {
        let app = Running::start(App::build(&settings, Some(publisher.clone().into())).await?, any).await?;
        let body = |system: &str| {
            serde_json::to_vec(&json!({
                "system": system, "object_type": "user", "action": "read", "params": {}, "object_id": "bench"
            }))
            .expect("a JSON value serializes")
        };
        let vault_side = Target::new(&app.url(), body("vault_kc"), options.concurrency)?;
        let env_side = Target::new(&app.url(), body("env_kc"), options.concurrency)?;
        let (vault, env) = alternate(&vault_side, &env_side, options).await;
        app.stop().await?;
        Ok::<_, BenchError>((vault, env))
    }
    .await;
    let flush = publisher.clone();
    let _ = tokio::task::spawn_blocking(move || flush.flush(Duration::from_secs(60))).await;
    drop(publisher);
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
    let (vault, env) = result?;

    let service = SecretService::new(&secrets, Arc::new(NoEvents))
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let uncached_vault = uncached(&service, &vault_pointer, uncached_lookups).await?;
    let uncached_env = uncached(&service, "env:PATH", uncached_lookups).await?;
    Ok(SecretBenchReport {
        vault,
        env,
        uncached_vault,
        uncached_env,
    })
}

/// `count` lookups of `pointer` straight from its provider.
async fn uncached(
    service: &SecretService,
    pointer: &str,
    count: u32,
) -> Result<UncachedCost, BenchError> {
    let pointer = CredentialRef::parse(pointer).map_err(|e| BenchError::Setup(e.to_string()))?;
    let pointers = vec![pointer; count.max(1) as usize];
    let mut latencies: Vec<Duration> = Vec::with_capacity(pointers.len());
    for result in service.check(&pointers).await {
        result
            .result
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        latencies.push(result.latency);
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let total: Duration = latencies.iter().sum();
    Ok(UncachedCost {
        mean: total / u32::try_from(latencies.len()).unwrap_or(u32::MAX),
        p50: at(0.5),
        p99: at(0.99),
    })
}

/// Writes a fresh random token to `secret/civitas-bench`.
async fn write_secret(vault_addr: &str, token: &SecretString) -> Result<(), BenchError> {
    let url = format!(
        "{}/v1/secret/data/{BENCH_PATH}",
        vault_addr.trim_end_matches('/')
    );
    let response = reqwest::Client::new()
        .post(url)
        .header("X-Vault-Token", token.expose_secret())
        .json(&json!({"data": {"token": uuid::Uuid::new_v4().to_string()}}))
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(BenchError::Setup(format!(
            "writing secret/{BENCH_PATH} to the vault answered {}",
            response.status()
        )));
    }
    Ok(())
}

/// A stand-in for Keycloak's user endpoint: any GET answers a small user.
async fn stand_in_upstream() -> Result<SocketAddr, BenchError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .fallback(|| async { axum::Json(json!({"id": "bench", "username": "bench"})) });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    // Served as long as the process lives; the benchmark is a one-shot command.
    Ok(addr)
}
