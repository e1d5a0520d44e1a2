//! `civitas trace CORRELATION_ID`: every record with that id across topics, as a timeline.

use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Utc;
use civitas_kafka::{Filter, Reader};

use super::shared::{KafkaArgs, print_record};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The correlation id (X-Correlation-ID of the request, or a workflow/saga id).
    pub correlation_id: String,
    /// More topics to search besides the platform's own (repeatable).
    #[arg(long = "topic")]
    pub topics: Vec<String>,
    /// Search every topic the cluster has, payload topics included.
    #[arg(long)]
    pub all_topics: bool,
    /// Only records newer than this, e.g. 30m, 2h, 1d (seeks by time instead of scanning).
    #[arg(long)]
    pub since: Option<String>,
    /// One JSON object a line, for jq.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let since = args
        .since
        .as_deref()
        .map(parse_age)
        .transpose()
        .context("--since")?
        .map(|age| {
            Utc::now()
                .checked_sub_signed(age)
                .context("--since reaches before the year -262 143")
        })
        .transpose()?;
    let settings = args.kafka.settings()?;
    let naming = args.kafka.client.naming()?;
    let filter = Filter {
        correlation_id: Some(args.correlation_id.clone()),
        ..Filter::default()
    };
    tokio::task::spawn_blocking(move || {
        let reader = Reader::connect(&settings)?;
        let mut topics = reader.platform_topics(&naming, args.all_topics)?;
        for topic in args.topics {
            if !topics.contains(&topic) {
                topics.push(topic);
            }
        }
        let records = reader.scan(&topics, &filter, since)?;
        super::shared::note_gone(&reader, &topics)?;
        if records.is_empty() {
            eprintln!(
                "no record with correlation id {} in {} topic(s)",
                args.correlation_id,
                topics.len()
            );
            return Ok(ExitCode::from(1));
        }
        let first = records[0].timestamp;
        for record in &records {
            if !args.json {
                let offset = match (first, record.timestamp) {
                    (Some(a), Some(b)) => format!("+{:>6}ms  ", (b - a).num_milliseconds()),
                    _ => String::new(),
                };
                print!("{offset}");
            }
            print_record(record, args.json);
        }
        Ok(ExitCode::SUCCESS)
    })
    .await?
}

/// `90s`, `30m`, `2h`, `1d`.
fn parse_age(text: &str) -> anyhow::Result<chrono::Duration> {
    let (number, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let n: i64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration like 30m or 2h"))?;
    let age = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" | "" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        other => bail!("unknown unit {other:?} in {text:?}: use s, m, h or d"),
    };
    age.with_context(|| format!("{text:?} is longer than any time civitas can reach back"))
}

#[cfg(test)]
mod tests {
    use super::parse_age;

    #[test]
    fn ages_are_read_with_their_unit() {
        assert_eq!(parse_age("90s").unwrap(), chrono::Duration::seconds(90));
        assert_eq!(parse_age("2h").unwrap(), chrono::Duration::hours(2));
        assert!(parse_age("2w").is_err());
        assert!(parse_age("h").is_err());
        assert!(parse_age("999999999999999d").is_err());
        assert!(parse_age(&format!("{}s", i64::MAX)).is_err());
    }
}
