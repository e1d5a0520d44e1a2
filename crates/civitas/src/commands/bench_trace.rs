//! `civitas bench trace`: how fast `civitas trace` (and the console's search, the same
//! reader) finds one correlation id among N `emit` events on the six crud topics, beside the
//! pipeline an operator would otherwise type: `kcat -C -e` over each topic into
//! `jq 'select(.correlation_id == …)'`. Both read the same broker in the same run, in turns.
//!
//! The broker is the embedded one (librdkafka's mock) unless `--kafka` names a cluster. It
//! keeps at most 5 MB a partition, so the topics get `--partitions` each (32 by default: a
//! million events fit with room); the run checks that nothing was evicted.

use std::net::SocketAddr;
use std::process::{Command as Process, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use civitas_events::Masker;
use civitas_kafka::{CrudEvents, EmbeddedBroker, Filter, KafkaSettings, Publisher, Reader};
use civitas_topics::CrudTopics;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events to publish with `emit` (over the six crud topics).
    #[arg(long, default_value_t = 1_000_000)]
    pub records: usize,
    /// Partitions of each crud topic (embedded broker only).
    #[arg(long, default_value_t = 32)]
    pub partitions: i32,
    /// Timed searches per side, taken in turns.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Use this cluster (its crud topics must be empty or you accept what they hold)
    /// instead of an embedded broker.
    #[arg(long = "kafka", env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub kafka: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    for tool in ["kcat", "jq"] {
        if Process::new(tool)
            .arg(if tool == "kcat" { "-V" } else { "--version" })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            bail!(
                "{tool} is not installed: the baseline is kcat | jq (scripts/install-deps.sh installs both)"
            );
        }
    }
    let topics = CrudTopics::default();
    let names: Vec<String> = topics.all().iter().map(|t| (*t).to_owned()).collect();
    let (broker, settings) = match &args.kafka {
        Some(bootstrap) => (None, KafkaSettings::new(bootstrap)),
        None => {
            let broker = EmbeddedBroker::start(SocketAddr::from(([127, 0, 0, 1], 0)), 1).await?;
            for name in &names {
                broker.create_topic(name, args.partitions)?;
            }
            let settings = broker.settings();
            (Some(broker), settings)
        }
    };
    let bootstrap = settings.bootstrap_servers.clone();
    println!(
        "bench trace: {} emit events on the six crud topics of {} ({})",
        args.records,
        bootstrap,
        match &broker {
            Some(_) => format!(
                "the embedded broker, {} partitions a topic",
                args.partitions
            ),
            None => "the given cluster".to_owned(),
        }
    );

    // The data: `emit` events, then one correlation id from the middle to look for.
    let started = Instant::now();
    let publisher = Publisher::connect(&settings)?;
    let events = CrudEvents::new(
        publisher.clone(),
        topics.clone(),
        "crud-service",
        Masker::default(),
    );
    let records = args.records;
    let (ids, events) = tokio::task::spawn_blocking(move || {
        civitas_kafka::samples::emit(&events, records).map(|ids| (ids, events))
    })
    .await??;
    drop(events);
    {
        let publisher = publisher.clone();
        tokio::task::spawn_blocking(move || publisher.flush(Duration::from_secs(120))).await??;
    }
    let Some(target) = ids.get(ids.len() / 2).cloned() else {
        bail!("emit made no correlation id (use --records 12 or more)");
    };
    println!(
        "published in {:.1} s; searching for correlation id {target}",
        started.elapsed().as_secs_f64()
    );

    let (held, gone) = {
        let settings = settings.clone();
        let names = names.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<(i64, i64)> {
            let reader = Reader::connect(&settings)?;
            let mut held = 0;
            let mut gone = 0;
            for name in &names {
                let here = reader.record_count(name)?;
                let lost = reader.gone(name)?.iter().map(|(_, low)| low).sum::<i64>();
                println!(
                    "  {name}: {here} records{}",
                    if lost > 0 {
                        format!(", {lost} evicted")
                    } else {
                        String::new()
                    }
                );
                held += here;
                gone += lost;
            }
            Ok((held, gone))
        })
        .await??
    };
    println!("the broker holds {held} records on the six topics");
    if gone > 0 {
        eprintln!(
            "warning: {gone} record(s) were evicted before the search (more --partitions): both sides read the same, smaller data"
        );
    }

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let (mut found_ours, mut found_theirs) = (0, 0);
    for round in 1..=args.rounds {
        let t = Instant::now();
        found_ours = civitas_search(&settings, &names, &target).await?;
        ours.push(t.elapsed());
        let t = Instant::now();
        found_theirs = kcat_jq(&bootstrap, settings.fetch_wait_ms.min(50), &names, &target)?;
        theirs.push(t.elapsed());
        println!(
            "round {round}: civitas trace {:>7.2} s ({found_ours} records) · kcat | jq {:>7.2} s ({found_theirs} records)",
            ours[round - 1].as_secs_f64(),
            theirs[round - 1].as_secs_f64()
        );
    }
    if found_ours != found_theirs {
        bail!(
            "the two sides found different records: civitas {found_ours}, kcat | jq {found_theirs}"
        );
    }
    let best = |d: &[Duration]| d.iter().min().copied().unwrap_or_default().as_secs_f64();
    let (ours, theirs) = (best(&ours), best(&theirs));
    println!();
    println!(
        "| search ({held} records, best of {}) | seconds | records/s |",
        args.rounds
    );
    println!("|---|---|---|");
    println!(
        "| civitas trace (reader: headers first, topics in parallel) | {ours:.2} | {:.0} |",
        held as f64 / ours.max(1e-9)
    );
    println!(
        "| kcat -C -e per topic into jq select(.correlation_id==…) | {theirs:.2} | {:.0} |",
        held as f64 / theirs.max(1e-9)
    );
    println!();
    println!("speed-up: {:.1}× (target ≥ 5×)", theirs / ours.max(1e-9));
    drop(publisher);
    drop(broker);
    Ok(ExitCode::SUCCESS)
}

/// What `civitas trace ID` does: every record with the id on the crud topics.
async fn civitas_search(
    settings: &KafkaSettings,
    topics: &[String],
    id: &str,
) -> anyhow::Result<usize> {
    let settings = settings.clone();
    let topics = topics.to_vec();
    let filter = Filter {
        correlation_id: Some(id.to_owned()),
        ..Filter::default()
    };
    tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let reader = Reader::connect(&settings)?;
        Ok(reader.scan(&topics, &filter, None)?.len())
    })
    .await?
}

/// `for t in topics; do kcat -C -e -q -t $t; done | jq -c 'select(.correlation_id == ID)'`,
/// kcat with the reader's fetch wait (`fetch_wait`, ms).
fn kcat_jq(bootstrap: &str, fetch_wait: u32, topics: &[String], id: &str) -> anyhow::Result<usize> {
    // The reader's own fetch wait, so neither side waits longer at the broker.
    let script = "for t in $TOPICS; do kcat -b \"$BOOTSTRAP\" -X fetch.wait.max.ms=$WAIT -C -e -q -t \"$t\"; done \
        | jq -c --arg id \"$ID\" 'select(.correlation_id == $id)'";
    let output = Process::new("sh")
        .arg("-c")
        .arg(script)
        .env("TOPICS", topics.join(" "))
        .env("BOOTSTRAP", bootstrap)
        .env("WAIT", fetch_wait.to_string())
        .env("ID", id)
        .stderr(Stdio::inherit())
        .output()
        .context("running kcat | jq")?;
    if !output.status.success() {
        bail!("kcat | jq failed ({})", output.status);
    }
    Ok(output
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count())
}
