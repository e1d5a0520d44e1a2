//! `GET /console/api/live`: the live view's Server-Sent Events. Each event is one record
//! (`data:` a JSON object: the line `civitas tail` prints, the masked record, whether it is a
//! failure), from the last few of each partition on, then every new one.
//!
//! One Kafka consumer on its own thread per stream, at most
//! [`MAX_LIVE_STREAMS`](super::MAX_LIVE_STREAMS) at once; the thread stops when the browser
//! goes away. A browser that reads slower than records come holds the consumer back
//! (a bounded channel) instead of filling memory: Kafka keeps the records.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use civitas_kafka::{ConsumedRecord, Reader};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::Console;
use super::api::{MaybeCaller, RecordQuery, record_json};
use super::error::ConsoleError;
use super::visibility::Visibility;

/// Records of each partition shown when the stream opens, before the new ones.
const BACKLOG_PER_PARTITION: i64 = 20;

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    /// A topic, `config` (the configuration-event topics), `saga` (the saga topics), or
    /// nothing: the crud topics.
    pub topic: Option<String>,
    #[serde(flatten)]
    pub filter: RecordQuery,
}

/// The stream's events, ended (and its consumer stopped) when dropped.
struct LiveStream {
    events: mpsc::Receiver<Event>,
    stop: Arc<AtomicBool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Stream for LiveStream {
    type Item = Result<Event, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx).map(|e| e.map(Ok))
    }
}

impl Drop for LiveStream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub async fn stream(
    State(console): State<Arc<Console>>,
    caller: MaybeCaller,
    query: Result<Query<LiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ConsoleError> {
    let Query(query) = query.map_err(|r| ConsoleError::BadRequest(r.body_text()))?;
    let visibility = Visibility::of(&console, caller.as_deref());
    let filter = query.filter.compile()?;
    let permit = console
        .live_streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ConsoleError::Unavailable(
                format!(
                    "{} live streams are open already: close a console tab and reload",
                    super::MAX_LIVE_STREAMS
                ),
                Some(5),
            )
        })?;
    let settings = console.settings.clone();
    let topics = super::api::topics_for(&settings, query.topic.as_deref()).await?;
    let (sender, events) = mpsc::channel::<Event>(1024);
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    tokio::task::spawn_blocking(move || {
        let reader = match Reader::connect(&settings.kafka) {
            Ok(reader) => reader,
            Err(error) => {
                let _ = sender.blocking_send(failure_event(&error.to_string()));
                return;
            }
        };
        let _ = sender.blocking_send(Event::default().event("connected").data(topics.join(",")));
        let result = reader.follow_from(
            &topics,
            &filter.kafka,
            BACKLOG_PER_PARTITION,
            &stopped,
            |record: ConsumedRecord| {
                if !filter.keeps(&record) || !visibility.sees(&record) {
                    return;
                }
                let data = record_json(&record).to_string();
                if sender.blocking_send(Event::default().data(data)).is_err() {
                    stopped.store(true, Ordering::Relaxed);
                }
            },
        );
        if let Err(error) = result {
            let _ = sender.blocking_send(failure_event(&error.to_string()));
        }
    });
    let stream = LiveStream {
        events,
        stop,
        _permit: permit,
    };
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

fn failure_event(message: &str) -> Event {
    Event::default()
        .event("failure")
        .data(message.replace(['\r', '\n'], " "))
}
