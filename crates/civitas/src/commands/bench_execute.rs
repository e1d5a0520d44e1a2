//! `civitas bench execute`: `/execute` read throughput and latency on the built-in
//! directory, with events published and with publishing off, in one run (the engine is
//! `civitas_crud::bench`).

use std::process::ExitCode;
use std::time::Duration;

use civitas_crud::bench::{LoadOptions, LoadResult, execute_bench};

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
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = LoadOptions {
        concurrency: args.concurrency.max(1),
        requests: if args.duration.is_some() {
            None
        } else {
            Some(args.requests)
        },
        duration: args.duration.map(Duration::from_secs),
        warmup_requests: args.warmup,
        rounds: args.rounds.max(1),
    };
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
    line("events published", &report.publishing);
    line("publishing off", &report.not_publishing);
    let ratio =
        report.publishing.requests_per_second() / report.not_publishing.requests_per_second();
    println!("ratio published/off: {ratio:.3} (target >= 0.90; published target >= 10000 req/s)");
    println!(
        "events: {} sent, {} delivered after the final flush",
        report.events_sent, report.events_delivered
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
