//! The outbox against a real database: on SQLite and, when `CIVITAS_TEST_POSTGRES_URL` is
//! set (`scripts/test.sh` sets it), on PostgreSQL.

use std::collections::HashSet;
use std::time::Duration;

use civitas_kafka::{Publisher, Record, outbox};
use civitas_testkit::{read_topic, settings, start_broker, unique_name};
use serde_json::json;
use sqlx::AnyPool;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn records_undelivered_at_shutdown_are_kept_and_sent_at_the_next_start_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/outbox.db", dir.path().display());
    let pool = civitas_store::connect(&url).await.unwrap();
    undelivered_records_survive_a_restart(pool).await;
}

#[tokio::test]
async fn records_undelivered_at_shutdown_are_kept_and_sent_at_the_next_start_on_postgres() {
    let Some(url) = civitas_store::test_postgres_url() else {
        eprintln!(
            "skipped on PostgreSQL: CIVITAS_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)"
        );
        return;
    };
    let pool = civitas_store::connect(&url).await.unwrap();
    // Only this test uses the table; rows of an earlier, interrupted run would be re-sent.
    sqlx::query("DELETE FROM kafka_outbox")
        .execute(&pool)
        .await
        .unwrap();
    undelivered_records_survive_a_restart(pool).await;
}

async fn undelivered_records_survive_a_restart(pool: AnyPool) {
    let broker = start_broker(1).await;
    let settings = settings(&broker);
    let topic = unique_name("outbox");
    broker.create_topic(&topic, 1).unwrap();
    let event = civitas_events::CloudEvent::new("/civitas/test", "test.outbox");
    let total = 50u64;

    // The broker is away for the whole life of the first publisher.
    broker.broker_down(1).unwrap();
    let first = Publisher::connect(&settings).unwrap();
    for n in 0..total {
        let record = Record::json(
            &topic,
            Some(format!("k{n}")),
            &event.attributes(),
            &json!({"n": n}),
        )
        .unwrap();
        first.send(record);
    }
    // The service's shutdown: flush, take back, keep.
    let shutdown = outbox::flush_or_keep(first, &pool, Duration::from_millis(500))
        .await
        .unwrap();
    assert!(shutdown.flush_error.is_some(), "the broker is down");
    assert_eq!(shutdown.kept as u64, total);
    assert!(shutdown.nothing_lost(), "{shutdown:?}");

    // The next start: the broker is back.
    broker.broker_up(1).unwrap();
    let second = Publisher::connect(&settings).unwrap();
    assert_eq!(outbox::resend(&pool, &second).await.unwrap() as u64, total);
    assert_eq!(
        outbox::resend(&pool, &second).await.unwrap(),
        0,
        "sent once"
    );
    let flusher = second.clone();
    tokio::task::spawn_blocking(move || flusher.flush(WAIT))
        .await
        .unwrap()
        .unwrap();

    let bootstrap = broker.bootstrap_servers().to_owned();
    let records = tokio::task::spawn_blocking(move || {
        read_topic(&bootstrap, &topic, 1, total as usize, WAIT)
    })
    .await
    .unwrap();
    let seen: HashSet<u64> = records
        .iter()
        .map(|r| r.value["n"].as_u64().unwrap())
        .collect();
    assert_eq!(seen.len() as u64, total, "every kept record arrives");
    let first = &records[0];
    assert_eq!(
        first.key.as_deref(),
        Some(format!("k{}", first.value["n"]).as_str())
    );
    assert!(
        first
            .headers
            .iter()
            .any(|(name, value)| name == "ce_type" && value == "test.outbox"),
        "headers survive: {:?}",
        first.headers
    );
}
