//! `civitas bench …`: benchmarks that print our figure beside its baseline in one run.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use civitas_events::Masker;
use civitas_kafka::{CrudEvents, EmbeddedBroker, EventContext, KafkaSettings, Publisher, Record};
use civitas_topics::CrudTopics;
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Publish N seed-sized operation events through our publisher and through a bare
    /// rdkafka FutureProducer, to the same broker; print events/s of both and the ratio.
    Publish(PublishArgs),
    /// Load POST /execute (local/user/read) at fixed concurrency, with events published and
    /// with publishing off; print req/s, p50, p99 of both and the ratio.
    Execute(super::bench_execute::Args),
    /// N dataset sagas end to end through the embedded broker with dry-run adapters; print
    /// sagas/s and p50/p99 latency beside Temporal's anchors.
    Saga(super::saga::BenchArgs),
    /// Find one correlation id among a million `emit` events with the reader behind
    /// `civitas trace` and with kcat | jq, on the same broker; print both and the ratio.
    Trace(super::bench_trace::Args),
    /// Runs of a 3-action workflow (no approval) start to completed at concurrency 1 and 32,
    /// beside the same three commands as three sequential /execute calls.
    Workflow(WorkflowArgs),
}

#[derive(Debug, clap::Args)]
pub struct WorkflowArgs {
    /// Runs per concurrency level (and as many sets of three plain calls).
    #[arg(long, default_value_t = 2_000)]
    pub runs: u64,
    /// Concurrency levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    pub concurrency: Vec<usize>,
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Events per side.
    #[arg(long, default_value_t = 200_000)]
    pub count: usize,
    /// Partitions of the two bench topics (embedded broker only).
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Use this cluster instead of an embedded broker.
    #[arg(long = "kafka", env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub kafka: Option<String>,
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Publish(args) => publish(args).await,
        Command::Execute(args) => super::bench_execute::run(args).await,
        Command::Saga(args) => super::saga::bench(args).await,
        Command::Trace(args) => super::bench_trace::run(args).await,
        Command::Workflow(args) => workflow(args).await,
    }
}

async fn workflow(args: WorkflowArgs) -> anyhow::Result<ExitCode> {
    println!(
        "bench workflow: {} runs of a 3-action workflow (local/user read, update, read; no approval) per level, SQLite, embedded broker, events published; beside: the same 3 commands as 3 sequential POST /execute",
        args.runs
    );
    let report = civitas_bench::workflow_bench(args.runs, &args.concurrency).await?;
    println!(
        "{:<34} {:>6} {:>9} {:>9} {:>9} {:>7}",
        "side", "conc.", "runs/s", "p50 ms", "p99 ms", "failed"
    );
    for (wf, plain) in report.workflow.iter().zip(&report.plain) {
        for (name, level) in [
            ("workflow start → completed", wf),
            ("3 plain /execute calls", plain),
        ] {
            println!(
                "{:<34} {:>6} {:>9.0} {:>9.2} {:>9.2} {:>7}",
                name,
                level.concurrency,
                level.per_second(),
                level.percentile_ms(0.5),
                level.percentile_ms(0.99),
                level.failed
            );
        }
        println!(
            "  concurrency {}: p50 workflow / p50 plain = {:.2} (target ≤ 3 at concurrency 1); {:.0} runs/s (target ≥ 500 at 32)",
            wf.concurrency,
            wf.percentile_ms(0.5) / plain.percentile_ms(0.5).max(f64::EPSILON),
            wf.per_second()
        );
    }
    println!("anchor: Temporal's minimum end-to-end workflow latency ≈ 100 ms");
    let failed: u64 = report.workflow.iter().map(|l| l.failed).sum();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let any_port: SocketAddr = "127.0.0.1:0".parse()?;
    let broker = match &args.kafka {
        Some(_) => None,
        None => Some(EmbeddedBroker::start(any_port, 1).await?),
    };
    let bootstrap = match (&broker, &args.kafka) {
        (Some(b), _) => b.bootstrap_servers().to_owned(),
        (None, Some(k)) => k.clone(),
        (None, None) => unreachable!("one of the two is set"),
    };
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench{}", &run_id[..8]);
    let topics = CrudTopics::with_prefix(&prefix)?;
    let bare_topic = format!("{prefix}.bare");
    let ours_topic = topics.operations.clone();
    if let Some(b) = &broker {
        b.create_topic(&bare_topic, args.partitions)?;
        b.create_topic(&ours_topic, args.partitions)?;
    }
    let settings = KafkaSettings::new(&bootstrap);

    // The bytes both sides publish: one masked operation envelope with all headers, as
    // our publisher produces it.
    let publisher = Publisher::connect(&settings)?;
    let events = CrudEvents::new(publisher.clone(), topics, "crud-service", Masker::default());
    let ctx = EventContext::correlated("b1e-2d8a-bench");
    let (sample, _) = events.operation_record(
        "update",
        &ctx,
        civitas_kafka::samples::operation("update", "E123456", false),
    )?;
    println!(
        "bench publish: {} events per side, {} bytes value + {} headers, broker {}",
        args.count,
        sample.payload.len(),
        sample.headers.count(),
        bootstrap
    );

    let bare = bare_future_producer(&bootstrap, &bare_topic, &sample, args.count).await?;
    let ours = ours_publisher(&publisher, &sample, args.count).await?;
    let full = ours_full_path(&events, &publisher, args.count).await?;
    let build = build_only(&events, args.count)?;

    let rate = |d: Duration| args.count as f64 / d.as_secs_f64();
    println!("{:<58} {:>10} {:>8}", "side", "events/s", "seconds");
    for (name, took) in [
        ("bare rdkafka FutureProducer, same bytes (baseline)", bare),
        ("civitas Publisher::send, same bytes", ours),
        ("civitas CrudEvents::operation (queued, built, sent)", full),
        ("  of which building the record (operation_record)", build),
    ] {
        println!(
            "{name:<58} {:>10.0} {:>8.3}",
            rate(took),
            took.as_secs_f64()
        );
    }
    println!(
        "ratio Publisher/bare: {:.2}   ratio full path/bare: {:.2}   (targets: >= 0.90 and >= 100000 events/s)",
        rate(ours) / rate(bare),
        rate(full) / rate(bare)
    );
    Ok(ExitCode::SUCCESS)
}

async fn bare_future_producer(
    bootstrap: &str,
    topic: &str,
    sample: &Record,
    count: usize,
) -> anyhow::Result<Duration> {
    let producer: FutureProducer = KafkaSettings::new(bootstrap)
        .client_config_with(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("compression.type", "lz4"),
            ("linger.ms", "5"),
            ("batch.num.messages", "10000"),
            ("queue.buffering.max.messages", "1000000"),
            ("queue.buffering.max.kbytes", "1048576"),
        ])
        .create()
        .context("creating the bare producer")?;
    let pairs = sample.header_pairs();
    let start = Instant::now();
    let mut pending = FuturesUnordered::new();
    for _ in 0..count {
        let mut headers = OwnedHeaders::new_with_capacity(pairs.len());
        for (key, value) in &pairs {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let mut record = FutureRecord::to(topic)
            .payload(&sample.payload)
            .headers(headers);
        if let Some(key) = &sample.key {
            record = record.key(key);
        }
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((_, back)) => {
                    record = back;
                    // Queue full: let deliveries complete before trying again.
                    if let Some(done) = pending.next().await {
                        done.ok();
                    }
                }
            }
        }
    }
    let mut failed = 0usize;
    while let Some(done) = pending.next().await {
        if !matches!(done, Ok(Ok(_))) {
            failed += 1;
        }
    }
    let elapsed = start.elapsed();
    anyhow::ensure!(failed == 0, "{failed} bare deliveries failed");
    Ok(elapsed)
}

/// Our publisher with the very record the bare side sends (cloned per send, as a caller
/// building records would).
async fn ours_publisher(
    publisher: &Publisher,
    sample: &Record,
    count: usize,
) -> anyhow::Result<Duration> {
    let before = publisher.stats();
    let start = Instant::now();
    for _ in 0..count {
        publisher.send(sample.clone());
    }
    let elapsed = flush_and_check(publisher, before.delivered, count).await?;
    Ok(start.elapsed().max(elapsed))
}

/// The whole path of an operation event: data → masked envelope → JSON → headers → send.
async fn ours_full_path(
    events: &CrudEvents,
    publisher: &Publisher,
    count: usize,
) -> anyhow::Result<Duration> {
    let ctx = EventContext::correlated("b1e-2d8a-bench");
    let data = civitas_kafka::samples::operation("update", "E123456", false);
    let before = publisher.stats();
    let start = Instant::now();
    for _ in 0..count {
        events.operation("update", &ctx, data.clone());
    }
    flush_and_check(publisher, before.delivered, count).await?;
    Ok(start.elapsed())
}

/// The build half of the whole path alone: the record is made and dropped, never sent.
fn build_only(events: &CrudEvents, count: usize) -> anyhow::Result<Duration> {
    let ctx = EventContext::correlated("b1e-2d8a-bench");
    let data = civitas_kafka::samples::operation("update", "E123456", false);
    let start = Instant::now();
    for _ in 0..count {
        std::hint::black_box(events.operation_record("update", &ctx, data.clone())?);
    }
    Ok(start.elapsed())
}

async fn flush_and_check(
    publisher: &Publisher,
    delivered_before: u64,
    count: usize,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let publisher = publisher.clone();
    let stats = tokio::task::spawn_blocking(move || {
        publisher
            .flush(Duration::from_secs(120))
            .map(|()| publisher.stats())
    })
    .await??;
    let delivered = stats.delivered - delivered_before;
    anyhow::ensure!(
        delivered as usize == count && stats.dropped == 0,
        "ours delivered {delivered} of {count} (dropped {})",
        stats.dropped
    );
    Ok(start.elapsed())
}
