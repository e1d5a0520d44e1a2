//! `civitas emit`, `tail` and `trace`, run as processes against an embedded broker of the
//! test kit, each test on topics of its own prefix.

use std::process::{Command, Output};

use civitas_testkit::{start_broker, unique_name};
use serde_json::Value;

/// Runs the civitas binary with `args`; its output.
async fn civitas(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_civitas"))
            .args(&args)
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .env_remove("KAFKA_TOPIC_PREFIX")
            .env_remove("CIVITAS_CONFIG")
            .env("RUST_LOG", "warn")
            .output()
            .expect("the civitas binary runs")
    })
    .await
    .expect("the command's thread")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A broker with the six crud topics under a prefix of this test's own.
async fn broker_with_crud_topics() -> (civitas_kafka::EmbeddedBroker, String) {
    let broker = start_broker(1).await;
    let prefix = unique_name("cli");
    for suffix in [
        "operations",
        "errors",
        "workflows",
        "secrets",
        "secrets.audit",
        "metrics",
    ] {
        broker
            .create_topic(&format!("{prefix}.{suffix}"), 3)
            .expect("a topic");
    }
    (broker, prefix)
}

/// `civitas emit --count N` onto the topics of `prefix`; its output (it succeeded).
async fn emit(kafka: &str, prefix: &str, count: usize) -> Output {
    let count = count.to_string();
    let emitted = civitas(args(&[
        "emit",
        "--count",
        &count,
        "--kafka",
        kafka,
        "--topic-prefix",
        prefix,
    ]))
    .await;
    assert!(emitted.status.success(), "{emitted:?}");
    emitted
}

#[tokio::test(flavor = "multi_thread")]
async fn emit_publishes_what_tail_reads_back_newest_last_across_partitions() {
    let (broker, prefix) = broker_with_crud_topics().await;
    let kafka = broker.bootstrap_servers().to_owned();
    let emitted = emit(&kafka, &prefix, 40).await;
    assert!(
        stdout(&emitted).contains("published 40 events"),
        "{}",
        stdout(&emitted)
    );

    let topic = format!("{prefix}.operations");
    let tailed = civitas(args(&[
        "tail", &topic, "-n", "5", "--json", "--kafka", &kafka,
    ]))
    .await;
    assert!(tailed.status.success(), "{tailed:?}");
    let records: Vec<Value> = stdout(&tailed)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(records.len(), 5);
    let times: Vec<&str> = records
        .iter()
        .map(|r| r["timestamp"].as_str().unwrap_or_default())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted, "tail prints in time order");
    assert!(
        records
            .iter()
            .all(|r| r["headers"]["ce_specversion"] == "1.0" && r["value"]["data"].is_object())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn trace_finds_every_record_of_one_correlation_id_and_exits_1_for_an_unknown_one() {
    let (broker, prefix) = broker_with_crud_topics().await;
    let kafka = broker.bootstrap_servers().to_owned();
    emit(&kafka, &prefix, 8).await;
    let topic = format!("{prefix}.operations");
    let tailed = civitas(args(&[
        "tail", &topic, "-n", "1", "--json", "--kafka", &kafka,
    ]))
    .await;
    let record: Value = serde_json::from_str(stdout(&tailed).trim()).expect("one record");
    let id = record["value"]["correlation_id"]
        .as_str()
        .expect("a correlation id")
        .to_owned();

    let traced = civitas(args(&[
        "trace",
        &id,
        "--json",
        "--kafka",
        &kafka,
        "--topic-prefix",
        &prefix,
    ]))
    .await;
    assert!(traced.status.success(), "{traced:?}");
    let found: Vec<Value> = stdout(&traced)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    // emit: every 4 consecutive events share a correlation id, and a secret event is on
    // the audit topic too: several records on several topics, each of this id.
    let topics: std::collections::BTreeSet<&str> =
        found.iter().filter_map(|r| r["topic"].as_str()).collect();
    assert!(found.len() >= 2 && topics.len() >= 2, "{found:?}");
    assert!(
        found
            .iter()
            .all(|r| r["value"]["correlation_id"] == id.as_str())
    );

    let unknown = civitas(args(&[
        "trace",
        "no-such-id",
        "--kafka",
        &kafka,
        "--topic-prefix",
        &prefix,
    ]))
    .await;
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
}
