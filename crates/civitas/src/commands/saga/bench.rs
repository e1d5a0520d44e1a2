//! `civitas bench saga`: sagas end to end through an embedded broker with dry-run adapters.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use civitas_saga::bench::BenchOptions;

use crate::commands::shared::parse_kafka_options;

/// `civitas bench saga`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Sagas of the throughput phase.
    #[arg(long, default_value_t = 5000)]
    pub count: usize,
    /// Sagas in flight at once in the throughput phase.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Sagas in flight at once in the target phase (p50 and sagas/s measured together).
    #[arg(long, default_value_t = 16)]
    pub target_concurrency: usize,
    /// Sagas of the latency phase (one at a time).
    #[arg(long, default_value_t = 200)]
    pub latency_count: usize,
    /// Partitions of each saga topic.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// The store; default a fresh SQLite file in the temp directory.
    #[arg(long)]
    pub database_url: Option<String>,
    /// A raw librdkafka option for every client, KEY=VALUE (repeatable), e.g. linger.ms=1.
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    pub kafka_options: Vec<String>,
}

pub async fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let options = BenchOptions {
        count: args.count,
        concurrency: args.concurrency,
        target_concurrency: args.target_concurrency,
        latency_count: args.latency_count,
        partitions: args.partitions,
        database_url: args.database_url.clone(),
        client_options: parse_kafka_options(&args.kafka_options)?
            .into_iter()
            .collect(),
    };
    println!(
        "bench saga: dataset sagas end to end (request → FROST → APISIX → completed; 5 Kafka hops) through an \
         embedded broker, dry-run adapters, store {}",
        args.database_url.as_deref().unwrap_or("SQLite (temp file)")
    );
    let reports = civitas_saga::bench::run(&options)
        .await
        .context("running the saga benchmark")?;
    println!(
        "{:<34} {:>7} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "phase", "sagas", "failed", "sagas/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for r in &reports {
        println!(
            "{:<34} {:>7} {:>7} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            r.label,
            r.sagas,
            r.failed,
            r.rate(),
            ms(r.p50),
            ms(r.p90),
            ms(r.p99),
            ms(r.max)
        );
    }
    println!(
        "{:<34} {:>7} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "Temporal (anchor, self-hosted)", "-", "-", "~200", "~100", "-", "-", "-"
    );
    let latency = &reports[0];
    let target = &reports[1];
    let throughput = &reports[reports.len() - 1];
    println!(
        "civitas vs Temporal: minimum latency p50 {:.1} ms vs ~100 ms ({:.0}x lower); \
         peak {:.0} vs ~200 sagas/s ({:.1}x)",
        ms(latency.p50),
        100.0 / ms(latency.p50).max(0.001),
        throughput.rate(),
        throughput.rate() / 200.0
    );
    let met = ms(target.p50) <= 20.0 && target.rate() >= 500.0;
    println!(
        "target phase: p50 {:.1} ms at {:.0} sagas/s: {}",
        ms(target.p50),
        target.rate(),
        if met {
            "both targets met"
        } else {
            "targets NOT met"
        }
    );
    println!("targets: p50 <= 20 ms and >= 500 sagas/s");
    let failed: usize = reports.iter().map(|r| r.failed).sum();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
