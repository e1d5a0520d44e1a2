//! `civitas bench execute`: `/execute` read throughput and latency on the built-in
//! directory, with events published and with publishing off, in one run (the engine is
//! `civitas_bench`).

use std::process::ExitCode;
use std::time::Duration;

use civitas_bench::{LoadOptions, LoadResult, execute_bench, secret_bench};

use super::shared::parse_kafka_options;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Requests in flight at any time.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Requests per side (ignored when --duration is given).
    #[arg(long, default_value_t = 100_000)]
    pub requests: u64,
    /// Seconds per side instead of a request count.
    #[arg(long)]
    pub duration: Option<u64>,
    /// Requests per side before measuring.
    #[arg(long, default_value_t = 5_000)]
    pub warmup: u64,
    /// The sides take turns this many times; their turns are added up.
    #[arg(long, default_value_t = 10)]
    pub rounds: u32,
    /// A raw librdkafka option for the publishing side's producer, KEY=VALUE (repeatable),
    /// e.g. linger.ms=20, to see what a producer setting costs.
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    pub kafka_options: Vec<String>,
    /// Measure a vault-backed credential instead: an OpenBao/Vault (KV v2 at secret/) where
    /// the benchmark writes secret/civitas-bench; its system's requests beside an env: one's.
    #[arg(long, value_name = "URL")]
    pub vault_addr: Option<String>,
    /// The vault token (a pointer) for --vault-addr.
    #[arg(long, value_name = "POINTER", default_value = "env:VAULT_TOKEN", value_parser = super::secret_args::PointerParser)]
    pub vault_token: civitas_http::CredentialRef,
    /// Uncached lookups measured per pointer (with --vault-addr).
    #[arg(long, default_value_t = 200)]
    pub uncached_lookups: u32,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = load_options(&args);
    if let Some(vault_addr) = &args.vault_addr {
        return secrets(&args, &options, vault_addr).await;
    }
    execute(&args, options).await
}

fn load_options(args: &Args) -> LoadOptions {
    LoadOptions {
        concurrency: args.concurrency.max(1),
        requests: if args.duration.is_some() {
            None
        } else {
            Some(args.requests)
        },
        duration: args.duration.map(Duration::from_secs),
        warmup_requests: args.warmup,
        rounds: args.rounds.max(1),
    }
}

/// `--vault-addr`: an openbao+kv2 credential beside an env: one.
async fn secrets(args: &Args, options: &LoadOptions, vault_addr: &str) -> anyhow::Result<ExitCode> {
    let token =
        super::shared::resolve_now(&[("--vault-token".to_owned(), args.vault_token.clone())])?
            .remove(0);
    println!(
        "bench execute (secrets): POST /execute <system>/user/read against a local stand-in, concurrency {}, {} alternating rounds; bearer token openbao+kv2://secret/civitas-bench#token ({vault_addr}) vs env:PATH; events published",
        options.concurrency, options.rounds
    );
    let report = secret_bench(options, vault_addr, &token.into(), args.uncached_lookups).await?;
    println!(
        "{:<24} {:>10} {:>10} {:>9} {:>9} {:>8} {:>14}",
        "side", "req/s", "requests", "p50 ms", "p99 ms", "errors", "CPU us/request"
    );
    line("openbao+kv2 (cached)", &report.vault);
    line("env:", &report.env);
    let ratio = report.vault.requests_per_second() / report.env.requests_per_second();
    println!("ratio openbao/env: {ratio:.3} (target >= 0.95)");
    for (name, cost) in [
        ("openbao+kv2", report.uncached_vault),
        ("env:", report.uncached_env),
    ] {
        println!(
            "uncached lookup {name:<12} mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms ({} lookups)",
            cost.mean.as_secs_f64() * 1e3,
            cost.p50.as_secs_f64() * 1e3,
            cost.p99.as_secs_f64() * 1e3,
            args.uncached_lookups
        );
    }
    let failed = report.vault.errors + report.env.errors;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{failed} requests failed");
        ExitCode::FAILURE
    })
}

async fn execute(args: &Args, options: LoadOptions) -> anyhow::Result<ExitCode> {
    println!(
        "bench execute: POST /execute local/user/read, concurrency {}, {} per side in {} alternating rounds, embedded broker, SQLite",
        options.concurrency,
        match options.duration {
            Some(d) => format!("{}s", d.as_secs()),
            None => format!("{} requests", args.requests),
        },
        options.rounds
    );
    let client_options = parse_kafka_options(&args.kafka_options)?;
    if !client_options.is_empty() {
        let shown: Vec<String> = client_options
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("producer options: {}", shown.join(", "));
    }
    let report = execute_bench(&options, &client_options).await?;
    println!(
        "{:<24} {:>10} {:>10} {:>9} {:>9} {:>8} {:>14}",
        "side", "req/s", "requests", "p50 ms", "p99 ms", "errors", "CPU us/request"
    );
    line("events (durable outbox)", &report.publishing);
    line("publishing off", &report.not_publishing);
    let ratio =
        report.publishing.requests_per_second() / report.not_publishing.requests_per_second();
    println!(
        "ratio events/off: {ratio:.3} (target >= 0.85, and p99 <= 15 ms with events, at concurrency 64)"
    );
    println!(
        "events: {} stored, {} delivered after the outbox's shutdown; {} commits ({:.1} events per commit)",
        report.events_sent,
        report.events_delivered,
        report.outbox_commits,
        report.events_sent as f64 / report.outbox_commits.max(1) as f64
    );
    let failed = report.publishing.errors + report.not_publishing.errors;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn line(side: &str, result: &LoadResult) {
    println!(
        "{side:<24} {:>10.0} {:>10} {:>9.2} {:>9.2} {:>8} {:>14}",
        result.requests_per_second(),
        result.requests,
        result.percentile_ms(0.50),
        result.percentile_ms(0.99),
        result.errors,
        result
            .cpu_us_per_request()
            .map_or_else(|| "-".to_owned(), |us| format!("{us:.1}"))
    );
}
