//! The durable outbox against a real database (SQLite; PostgreSQL when
//! `CIVITAS_TEST_POSTGRES_URL` is set, as `scripts/test.sh` does) and the embedded broker.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use civitas_kafka::outbox::{self, FullPolicy, Outbox, OutboxSettings, Refusal};
use civitas_kafka::{EmbeddedBroker, Record};
use civitas_testkit::{TestDatabase, read_topic, settings, start_broker, unique_name};
use serde_json::json;
use sqlx::AnyPool;

const WAIT: Duration = Duration::from_secs(30);

fn record(topic: &str, key: &str, n: u64) -> Record {
    let event = civitas_events::CloudEvent::new("/civitas/test", "test.outbox");
    Record::json(
        topic,
        Some(key.to_owned()),
        &event.attributes(),
        &json!({"n": n}),
    )
    .unwrap()
}

/// Appends `records` as one request would, and waits until they are stored.
async fn append_durably(outbox: &Outbox, records: Vec<Record>) {
    let ((), ticket) = outbox::track(async {
        for record in records {
            outbox.append(record);
        }
    })
    .await;
    outbox.durable(ticket).await.expect("stored");
}

async fn read(broker: &EmbeddedBroker, topic: &str, partitions: i32, count: usize) -> Vec<u64> {
    let bootstrap = broker.bootstrap_servers().to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || read_topic(&bootstrap, &topic, partitions, count, WAIT))
        .await
        .unwrap()
        .iter()
        .map(|r| r.value["n"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn stored_events_survive_a_crash_during_an_outage_and_arrive_in_order_on_sqlite() {
    let db = TestDatabase::sqlite();
    let pool = civitas_store::connect(&db.url).await.unwrap();
    stored_events_survive_a_crash(pool.clone()).await;
    a_key_with_a_nul_does_not_block_the_outbox(pool).await;
}

#[tokio::test]
async fn stored_events_survive_a_crash_during_an_outage_and_arrive_in_order_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let _turn = civitas_testkit::POSTGRES_TURN.lock().await;
    let pool = civitas_store::connect(&db.url).await.unwrap();
    // Only this test uses the tables; rows of an earlier, interrupted run would be re-sent.
    for table in ["kafka_outbox", "kafka_outbox_relay"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&pool)
            .await
            .unwrap();
    }
    stored_events_survive_a_crash(pool.clone()).await;
    two_instances_on_one_database_send_each_row_once(pool.clone()).await;
    a_key_with_a_nul_does_not_block_the_outbox(pool).await;
}

/// A caller's object id ends up in a record key; PostgreSQL's TEXT takes no NUL. The event
/// is stored (the NUL replaced) and the ones behind it too.
async fn a_key_with_a_nul_does_not_block_the_outbox(pool: AnyPool) {
    let broker = start_broker(1).await;
    let topic = unique_name("outbox-nul");
    broker.create_topic(&topic, 1).unwrap();
    let outbox = Outbox::start(pool, &settings(&broker), OutboxSettings::default())
        .await
        .unwrap();
    append_durably(&outbox, vec![record(&topic, "local/user/a\0b", 0)]).await;
    append_durably(&outbox, vec![record(&topic, "after", 1)]).await;
    assert_eq!(read(&broker, &topic, 1, 2).await, vec![0, 1]);
    let stats = outbox.shutdown(WAIT).await;
    assert_eq!((stats.dropped, stats.rejected), (0, 0), "{stats:?}");
}

async fn stored_events_survive_a_crash(pool: AnyPool) {
    let broker = start_broker(1).await;
    let kafka = settings(&broker);
    let topic = unique_name("outbox");
    broker.create_topic(&topic, 1).unwrap();
    let total = 60u64;

    // The broker is away for the whole life of the first instance, which then "crashes":
    // its tasks end without a flush (shutdown with no time left aborts them).
    broker.broker_down(1).unwrap();
    let first = Outbox::start(pool.clone(), &kafka, OutboxSettings::default())
        .await
        .unwrap();
    for chunk in (0..total).collect::<Vec<_>>().chunks(7) {
        append_durably(
            &first,
            chunk
                .iter()
                .map(|n| record(&topic, "one-key", *n))
                .collect(),
        )
        .await;
    }
    let left = first.shutdown(Duration::ZERO).await;
    assert_eq!(left.stored, total);
    assert_eq!(left.delivered, 0, "the broker is down");

    // The next start: the broker is back, every stored event arrives, in order.
    broker.broker_up(1).unwrap();
    let second = Outbox::start(pool.clone(), &kafka, OutboxSettings::default())
        .await
        .unwrap();
    assert_eq!(second.stats().backlog_events, total, "counted at start");
    let seen = read(&broker, &topic, 1, total as usize).await;
    assert_eq!(seen, (0..total).collect::<Vec<_>>(), "all, once, in order");
    let left = second.shutdown(WAIT).await;
    assert_eq!(left.backlog_events, 0, "{left:?}");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM kafka_outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "delivered rows leave the table");
}

async fn two_instances_on_one_database_send_each_row_once(pool: AnyPool) {
    let broker = start_broker(1).await;
    let kafka = settings(&broker);
    let topic = unique_name("outbox-two");
    broker.create_topic(&topic, 1).unwrap();
    let a = Outbox::start(pool.clone(), &kafka, OutboxSettings::default())
        .await
        .unwrap();
    let b = Outbox::start(pool.clone(), &kafka, OutboxSettings::default())
        .await
        .unwrap();
    let total = 200u64;
    for n in 0..total {
        let outbox = if n % 2 == 0 { &a } else { &b };
        append_durably(outbox, vec![record(&topic, &format!("k{n}"), n)]).await;
    }
    let seen = read(&broker, &topic, 1, total as usize + 10).await;
    let distinct: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(distinct.len() as u64, total, "every event arrives");
    assert_eq!(seen.len() as u64, total, "none twice: one relay sends");
    let relaying = [a.stats().relaying, b.stats().relaying];
    assert_eq!(relaying.iter().filter(|r| **r).count(), 1, "{relaying:?}");
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}

#[tokio::test]
async fn per_key_order_holds_through_an_outage() {
    let db = TestDatabase::sqlite();
    let pool = civitas_store::connect(&db.url).await.unwrap();
    let broker = start_broker(1).await;
    let topic = unique_name("outbox-order");
    broker.create_topic(&topic, 3).unwrap();
    let outbox = Outbox::start(pool, &settings(&broker), OutboxSettings::default())
        .await
        .unwrap();
    let keys = ["a", "b", "c", "d"];
    let total = 400u64;
    for n in 0..total {
        if n == 100 {
            broker.broker_down(1).unwrap();
        }
        if n == 300 {
            broker.broker_up(1).unwrap();
        }
        append_durably(&outbox, vec![record(&topic, keys[n as usize % 4], n)]).await;
    }
    let bootstrap = broker.bootstrap_servers().to_owned();
    let topic_name = topic.clone();
    let records = tokio::task::spawn_blocking(move || {
        read_topic(&bootstrap, &topic_name, 3, total as usize, WAIT)
    })
    .await
    .unwrap();
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut distinct = HashSet::new();
    for record in &records {
        let n = record.value["n"].as_u64().unwrap();
        let key = record.key.clone().unwrap();
        if distinct.insert(n) {
            // Every key's first copies arrive in the order they were made.
            if let Some(before) = last.insert(key.clone(), n) {
                assert!(n > before, "key {key}: {n} after {before}");
            }
        }
    }
    assert_eq!(distinct.len() as u64, total, "every event arrives");
    outbox.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_full_backlog_refuses_commands_or_drops_and_counts_by_policy() {
    let db = TestDatabase::sqlite();
    let pool = civitas_store::connect(&db.url).await.unwrap();
    let broker = start_broker(1).await;
    let topic = unique_name("outbox-full");
    broker.create_topic(&topic, 1).unwrap();
    broker.broker_down(1).unwrap();
    let limited = |when_full| OutboxSettings {
        max_events: 5,
        when_full,
        ..OutboxSettings::default()
    };
    let refusing = Outbox::start(
        pool.clone(),
        &settings(&broker),
        limited(FullPolicy::Refuse),
    )
    .await
    .unwrap();
    assert!(refusing.admit().is_ok());
    append_durably(&refusing, (0..5).map(|n| record(&topic, "k", n)).collect()).await;
    match refusing.admit() {
        Err(Refusal::Full {
            events, max_events, ..
        }) => {
            assert_eq!((events, max_events), (5, 5));
        }
        other => panic!("expected a full backlog, got {other:?}"),
    }
    assert_eq!(refusing.stats().refused, 1);
    refusing.shutdown(Duration::ZERO).await;

    let accepting = Outbox::start(pool, &settings(&broker), limited(FullPolicy::Accept))
        .await
        .unwrap();
    assert!(accepting.admit().is_ok(), "accept lets commands through");
    append_durably(&accepting, vec![record(&topic, "k", 6)]).await;
    let stats = accepting.stats();
    assert_eq!(stats.dropped, 1, "{stats:?}");
    assert_eq!(stats.backlog_events, 5);
    accepting.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn the_journal_writes_the_history_back_into_a_new_broker() {
    use civitas_kafka::journal::{self, Journal};
    let db = TestDatabase::sqlite();
    let pool = civitas_store::connect(&db.url).await.unwrap();
    let topic = unique_name("journal");
    let window = Duration::from_secs(3600);
    let first_broker = start_broker(1).await;
    first_broker.create_topic(&topic, 2).unwrap();
    let first = settings(&first_broker);
    assert_eq!(journal::replay(&pool, &first, window).await.unwrap(), 0);
    let journal = Journal::start(pool.clone(), &first, window).unwrap();
    // Anyone's records: here the outbox's, sent by its relay.
    let outbox = Outbox::start(pool.clone(), &first, OutboxSettings::default())
        .await
        .unwrap();
    append_durably(&outbox, (0..10).map(|n| record(&topic, "k", n)).collect()).await;
    assert_eq!(read(&first_broker, &topic, 2, 10).await.len(), 10);
    outbox.shutdown(WAIT).await;
    journal.stop(WAIT).await;
    drop(first_broker);

    // A restart of `civitas up`: a new, empty embedded broker gets the history back, in
    // order, with each record's own time.
    let second_broker = start_broker(1).await;
    second_broker.create_topic(&topic, 2).unwrap();
    let second = settings(&second_broker);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let replayed_at = chrono::Utc::now();
    assert_eq!(journal::replay(&pool, &second, window).await.unwrap(), 10);
    let bootstrap = second_broker.bootstrap_servers().to_owned();
    let topic_name = topic.clone();
    let records =
        tokio::task::spawn_blocking(move || read_topic(&bootstrap, &topic_name, 2, 10, WAIT))
            .await
            .unwrap();
    let numbers: Vec<u64> = records
        .iter()
        .map(|r| r.value["n"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (0..10).collect::<Vec<_>>());
    assert!(records.iter().all(|r| r.key.as_deref() == Some("k")));
    assert!(
        records.iter().all(|r| r
            .timestamp
            .is_some_and(|t| t < replayed_at - chrono::Duration::seconds(1))),
        "each record keeps its own time, not the replay's: {:?}",
        records.iter().map(|r| r.timestamp).collect::<Vec<_>>()
    );
    assert!(
        records.iter().all(|r| r
            .headers
            .iter()
            .any(|(n, v)| n == "ce_type" && v == "test.outbox")),
        "headers survive"
    );
}
