//! `tail` and `scan` (behind `civitas tail` and `civitas trace`) against an embedded broker.

use std::time::Duration;

use civitas_events::CloudEvent;
use civitas_kafka::{Filter, Publisher, Reader, Record};
use civitas_testkit::{settings, start_broker, unique_name};
use serde_json::json;

async fn publish_numbered(publisher: &Publisher, topic: &str, count: usize, fail_every: usize) {
    for i in 0..count {
        let event =
            CloudEvent::new("/civitas/test", "test").with_correlation_id(format!("c{}", i / 10));
        let value = json!({"n": i, "data": {"success": i % fail_every != 0}});
        // Keys spread records over all partitions; 1 ms apart so timestamps order them.
        publisher
            .send(Record::json(topic, Some(format!("k{i}")), &event.attributes(), &value).unwrap());
        if i % 50 == 0 || i + 20 >= count {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let p = publisher.clone();
    tokio::task::spawn_blocking(move || p.flush(Duration::from_secs(20)))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn tail_returns_the_last_n_records_across_all_partitions_in_time_order() {
    let broker = start_broker(1).await;
    let settings = settings(&broker);
    let topic = unique_name("tail");
    broker.create_topic(&topic, 4).unwrap();
    let publisher = Publisher::connect(&settings).unwrap();
    publish_numbered(&publisher, &topic, 400, 7).await;

    let records = tokio::task::spawn_blocking(move || {
        Reader::connect(&settings)
            .unwrap()
            .tail(&topic, 10, &Filter::default())
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(records.len(), 10);
    let partitions: std::collections::HashSet<i32> = records.iter().map(|r| r.partition).collect();
    assert!(partitions.len() > 1, "records come from several partitions");
    let stamps: Vec<_> = records.iter().map(|r| r.timestamp).collect();
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted, "ordered by timestamp");
    // The newest record overall is among them.
    assert!(records.iter().any(|r| r.value["n"] == 399));
    assert!(
        records
            .iter()
            .all(|r| r.value["n"].as_u64().unwrap() >= 300)
    );
}

#[tokio::test]
async fn tail_with_a_filter_reaches_back_until_it_has_n_matches() {
    let broker = start_broker(1).await;
    let settings = settings(&broker);
    let topic = unique_name("tailf");
    broker.create_topic(&topic, 2).unwrap();
    let publisher = Publisher::connect(&settings).unwrap();
    // Every 50th record fails: 10 failures among 500.
    publish_numbered(&publisher, &topic, 500, 50).await;

    let filter = Filter {
        failed: true,
        ..Filter::default()
    };
    let records = tokio::task::spawn_blocking(move || {
        Reader::connect(&settings)
            .unwrap()
            .tail(&topic, 8, &filter)
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(records.len(), 8);
    assert!(records.iter().all(|r| r.value["data"]["success"] == false));
    assert!(
        records
            .iter()
            .all(|r| r.value["n"].as_u64().unwrap() % 50 == 0)
    );
}

#[tokio::test]
async fn scan_finds_every_record_of_a_correlation_id_across_topics() {
    let broker = start_broker(1).await;
    let settings = settings(&broker);
    let (a, b) = (unique_name("scan-a"), unique_name("scan-b"));
    broker.create_topic(&a, 3).unwrap();
    broker.create_topic(&b, 3).unwrap();
    let publisher = Publisher::connect(&settings).unwrap();
    publish_numbered(&publisher, &a, 100, 3).await;
    publish_numbered(&publisher, &b, 100, 3).await;

    let filter = Filter {
        correlation_id: Some("c4".into()),
        ..Filter::default()
    };
    let topics = vec![a, b, unique_name("missing")];
    let records = tokio::task::spawn_blocking(move || {
        Reader::connect(&settings)
            .unwrap()
            .scan(&topics, &filter, None)
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(records.len(), 20, "ten records of c4 in each topic");
    assert!(records.iter().all(|r| r.correlation_id() == Some("c4")));
}

#[tokio::test]
async fn tail_on_an_unknown_topic_says_so() {
    let broker = start_broker(1).await;
    let settings = settings(&broker);
    let err = tokio::task::spawn_blocking(move || {
        Reader::connect(&settings)
            .unwrap()
            .tail("no.such.topic", 5, &Filter::default())
            .unwrap_err()
    })
    .await
    .unwrap();
    assert!(err.to_string().contains("no.such.topic"), "{err}");
}

#[tokio::test]
async fn scan_since_finds_the_newer_records_even_where_the_broker_cannot_seek_by_time() {
    // The embedded broker answers no offset for a timestamp; the reader then checks the
    // partition's last record and reads from the start, skipping what is older.
    let broker = start_broker(1).await;
    let settings = settings(&broker);
    let topic = unique_name("since");
    broker.create_topic(&topic, 3).unwrap();
    let publisher = Publisher::connect(&settings).unwrap();
    publish_numbered(&publisher, &topic, 60, 5).await;

    let scan = |since: chrono::DateTime<chrono::Utc>| {
        let (settings, topic) = (settings.clone(), topic.clone());
        tokio::task::spawn_blocking(move || {
            Reader::connect(&settings)
                .unwrap()
                .scan(&[topic], &Filter::default(), Some(since))
                .unwrap()
        })
    };
    let hour = chrono::Duration::hours(1);
    let recent = scan(chrono::Utc::now() - hour).await.unwrap();
    assert_eq!(recent.len(), 60, "every record is from the last hour");
    let future = scan(chrono::Utc::now() + hour).await.unwrap();
    assert!(future.is_empty(), "nothing is newer than an hour from now");
}

#[tokio::test]
async fn a_reader_past_its_deadline_stops_and_says_its_answer_is_incomplete() {
    let broker = start_broker(1).await;
    let settings = settings(&broker);
    let (a, b) = (unique_name("deadline-a"), unique_name("deadline-b"));
    broker.create_topic(&a, 2).unwrap();
    broker.create_topic(&b, 2).unwrap();
    let publisher = Publisher::connect(&settings).unwrap();
    publish_numbered(&publisher, &a, 50, 3).await;
    publish_numbered(&publisher, &b, 50, 3).await;

    let (found, cut_short, whole) = tokio::task::spawn_blocking(move || {
        let mut reader = Reader::connect(&settings).unwrap();
        let whole = reader
            .scan(&[a.clone(), b.clone()], &Filter::default(), None)
            .unwrap()
            .len();
        assert!(!reader.cut_short());
        reader.stop_at(std::time::Instant::now());
        let found = reader
            .scan(&[a, b], &Filter::default(), None)
            .unwrap()
            .len();
        (found, reader.cut_short(), whole)
    })
    .await
    .unwrap();
    assert_eq!(whole, 100);
    assert!(cut_short, "the reader says it stopped early");
    assert!(found < whole, "it read less than everything: {found}");
}
