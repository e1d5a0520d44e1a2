//! `civitas tail TOPIC`: the last N records across all partitions, ordered by timestamp.

use std::process::ExitCode;

use anyhow::Context;
use civitas_kafka::{Filter, Reader};

use super::shared::{KafkaArgs, parse_pair, print_record, stop_flag};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topic to read, e.g. crud.operations.
    pub topic: String,
    /// How many records to show (after filtering).
    #[arg(short = 'n', long = "lines", default_value_t = 10)]
    pub count: usize,
    /// Only failures: data.success == false, or an error present.
    #[arg(long)]
    pub failed: bool,
    /// Only records with this correlation id.
    #[arg(long)]
    pub correlation_id: Option<String>,
    /// Only records with this header value, NAME=VALUE (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<String>,
    /// Keep printing new records as they arrive (Ctrl-C stops).
    #[arg(short, long)]
    pub follow: bool,
    /// One JSON object a line (coordinates, key, headers, value), for jq.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let filter = Filter {
        failed: args.failed,
        correlation_id: args.correlation_id.clone(),
        headers: args
            .headers
            .iter()
            .map(|h| parse_pair(h).with_context(|| format!("--header {h:?}")))
            .collect::<anyhow::Result<_>>()?,
    };
    let settings = args.kafka.settings()?;
    let stop = args.follow.then(stop_flag);
    tokio::task::spawn_blocking(move || {
        let reader = Reader::connect(&settings)?;
        let records = reader
            .tail(&args.topic, args.count, &filter)
            .with_context(|| format!("reading the end of {}", args.topic))?;
        for record in &records {
            print_record(record, args.json);
        }
        if records.len() < args.count {
            super::shared::note_gone(&reader, std::slice::from_ref(&args.topic))?;
        }
        if let Some(stop) = stop {
            reader.follow(
                std::slice::from_ref(&args.topic),
                &filter,
                &stop,
                |record| {
                    print_record(&record, args.json);
                },
            )?;
        }
        Ok(ExitCode::SUCCESS)
    })
    .await?
}
