//! Adapters: plain command handlers. Each consumes its command topics in a consumer group,
//! calls an outside system over HTTP with the shared client of `civitas-http`, and publishes
//! a [`StepResult`]. Retryable failures (timeouts, connection errors, 429, 5xx) are retried
//! with `initial·2^(n-1)` backoff (±20 % jitter, `Retry-After` honoured) capped at `max`, at
//! most `attempts` tries; a record that cannot be read goes to the adapter's dead-letter topic
//! with the reason, and its offset is stored (never retried).
//!
//! - [`frost`]: FROST-Server projects (find-or-create, delete only what it created).
//! - [`apisix`]: APISIX upstreams and routes (PUT under ids derived from the dataset).
//!
//! Without a base URL an adapter runs in dry-run mode: it logs the requests it would send
//! and answers SUCCESS with stable synthetic ids.

pub mod apisix;
pub mod frost;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use civitas_events::AdapterErrorCode;
use civitas_events::saga::{ResultStatus, StepError, StepOperation, StepResult};
use civitas_http::{Answer, AuthError, LookupContext, SendError, Verdict, with_lookup_context};
use civitas_kafka::KafkaSettings;
use reqwest::StatusCode;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::error::SagaError;
use crate::io::{self, Emit, Received};

/// How failed HTTP calls are retried: the shared policy of `civitas-http` (backoff with
/// jitter, `Retry-After`). Adapters retry by error class (2xxx), not by status list.
pub use civitas_http::RetryPolicy;

/// A failed call, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub code: AdapterErrorCode,
    pub message: String,
    /// How long the system asked us to wait (`Retry-After` of a 429 or 503).
    pub retry_after: Option<Duration>,
}

impl CallError {
    pub fn new(code: AdapterErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.code.is_retryable()
    }

    /// The error as it goes into a result.
    pub fn into_step_error(self) -> StepError {
        StepError::new(self.code, self.message)
    }
}

/// Classifies an HTTP answer that is not the expected one: 404 `RESOURCE_NOT_FOUND`, 429
/// `RATE_LIMITED`, 5xx `SERVICE_UNAVAILABLE`, any other 4xx `refused` (the target system's
/// code, e.g. `FROST_ENTITY_ERROR` — the platform's table has no code for 401/403 apart from
/// the system's own).
pub fn classify_status(
    status: StatusCode,
    refused: AdapterErrorCode,
    what: &str,
    body: &str,
) -> CallError {
    // Masked before it is cut, so that a cut cannot hide a secret's shape from the masker.
    static MASKER: std::sync::LazyLock<civitas_events::Masker> =
        std::sync::LazyLock::new(civitas_events::Masker::default);
    let masked = MASKER.mask_text(body);
    let body: String = masked
        .as_deref()
        .unwrap_or(body)
        .chars()
        .take(300)
        .collect();
    let message = format!("{what}: HTTP {status}: {body}");
    let code = match status.as_u16() {
        429 => AdapterErrorCode::RateLimited,
        500..=599 => AdapterErrorCode::ServiceUnavailable,
        404 => AdapterErrorCode::ResourceNotFound,
        400..=499 => refused,
        _ => AdapterErrorCode::UnknownError,
    };
    CallError::new(code, message)
}

/// Classifies an answer that is not the expected one, keeping its `Retry-After`.
pub fn classify_answer(answer: &Answer, refused: AdapterErrorCode, what: &str) -> CallError {
    CallError {
        retry_after: answer.retry_after(),
        ..classify_status(answer.status, refused, what, &answer.text())
    }
}

/// Classifies a request that got no answer (see [`SendError`]).
pub fn classify_send(err: &SendError, what: &str) -> CallError {
    match err {
        SendError::Auth(e) => classify_auth(e, what),
        SendError::Transport(e) => classify_transport(e, what),
        SendError::Build(_) => {
            CallError::new(AdapterErrorCode::InvalidPayload, format!("{what}: {err}"))
        }
        SendError::Body {
            error: civitas_http::ReadBodyError::Read(e),
            ..
        } => classify_transport(e, what),
        SendError::Body { .. } => CallError::new(
            AdapterErrorCode::DeserializationError,
            format!("{what}: {err}"),
        ),
    }
}

/// Classifies a failure to authenticate a request: a credential that cannot be resolved, or
/// an OAuth2 token request that failed. Retryable when the token endpoint was unreachable,
/// rate-limited or failing (5xx); not when it refused the client (4xx) or the secret is
/// missing.
pub fn classify_auth(err: &AuthError, what: &str) -> CallError {
    let code = match err {
        AuthError::Credential(_) => AdapterErrorCode::MissingConfig,
        AuthError::Token { status: None, .. } => AdapterErrorCode::NetworkError,
        AuthError::Token {
            status: Some(status),
            ..
        } => match status {
            429 => AdapterErrorCode::RateLimited,
            500..=599 => AdapterErrorCode::ServiceUnavailable,
            _ => AdapterErrorCode::KeycloakClientError,
        },
    };
    let detail = match err {
        AuthError::Token { detail, .. } if !detail.is_null() => {
            let detail: String = detail.to_string().chars().take(300).collect();
            format!(": {detail}")
        }
        _ => String::new(),
    };
    CallError::new(code, format!("{what}: {err}{detail}"))
}

/// Classifies a transport error (no HTTP answer).
pub fn classify_transport(err: &reqwest::Error, what: &str) -> CallError {
    let message = format!("{what}: {}", io::error_chain(err));
    let code = if err.is_timeout() {
        AdapterErrorCode::ConnectionTimeout
    } else if err.is_connect() || err.is_request() {
        AdapterErrorCode::NetworkError
    } else if err.is_decode() {
        AdapterErrorCode::UnknownError
    } else {
        AdapterErrorCode::NetworkError
    };
    CallError::new(code, message)
}

/// Calls `call` until it succeeds, fails with a non-retryable error, or `policy` is
/// exhausted (the shared loop of `civitas-http`). Returns the outcome and the number of tries;
/// an exhausted retryable error says how many.
pub async fn with_retries<T, F, Fut>(policy: &RetryPolicy, call: F) -> (Result<T, CallError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let (outcome, attempts) = civitas_http::retry(policy, call, |err: &CallError| {
        if err.is_retryable() {
            Verdict::Retry(err.retry_after)
        } else {
            Verdict::Fatal
        }
    })
    .await;
    let outcome = outcome.map_err(|mut err| {
        if err.is_retryable() {
            err.message = format!("{} (gave up after {attempts} tries)", err.message);
        }
        err
    });
    (outcome, attempts)
}

/// Identifies the command a result answers.
#[derive(Debug, Clone)]
pub struct CommandRef {
    pub message_id: String,
    pub saga_id: String,
    pub step_id: String,
    pub operation: StepOperation,
}

impl CommandRef {
    /// A result for this command.
    pub fn result(
        &self,
        outcome: Result<
            Vec<civitas_events::saga::Resource>,
            (CallError, Vec<civitas_events::saga::Resource>),
        >,
        attempts: u32,
        dry_run: bool,
    ) -> StepResult {
        let (status, resources, error) = match outcome {
            Ok(resources) => (ResultStatus::Success, resources, None),
            Err((err, left)) => (ResultStatus::Failure, left, Some(err.into_step_error())),
        };
        StepResult {
            message_id: uuid::Uuid::new_v4().to_string(),
            saga_id: self.saga_id.clone(),
            step_id: self.step_id.clone(),
            command_id: self.message_id.clone(),
            operation: self.operation,
            status,
            resource_id: resources.first().map(|r| r.id.clone()),
            resources,
            error,
            attempts,
            dry_run,
        }
    }
}

/// What an adapter does with its commands.
pub trait Handler: Send + Sync + 'static {
    /// `frost-adapter`, `apisix-adapter`: the `ce_source` and log name.
    fn component(&self) -> &'static str;
    /// The command topics it consumes.
    fn command_topics(&self) -> Vec<String>;
    fn result_topic(&self) -> &str;
    fn dead_letter_topic(&self) -> &str;
    /// Whether it only pretends (no base URL configured).
    fn dry_run(&self) -> bool;
    /// Handles one command; `Err` is why the record cannot be read (→ dead letter).
    fn handle(
        &self,
        topic: &str,
        payload: &[u8],
    ) -> impl Future<Output = Result<StepResult, String>> + Send;
}

/// Runs a [`Handler`]: consume, handle, publish the result (or a dead letter).
#[derive(Debug)]
pub struct Adapter<H> {
    handler: Arc<H>,
    emit: Arc<dyn Emit>,
    clock: Clock,
}

impl<H> Clone for Adapter<H> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            emit: self.emit.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<H: Handler> Adapter<H> {
    pub fn new(handler: H, emit: Arc<dyn Emit>) -> Self {
        Self {
            handler: Arc::new(handler),
            emit,
            clock: Clock::new(),
        }
    }

    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Handles one record and publishes its answer. Its credential lookups name the saga
    /// (the command's `sagaId`, else the record's correlation id) in their secret events.
    pub async fn on_record(&self, record: &Received) {
        let span = record.span(self.handler.component());
        let cause = LookupContext {
            correlation_id: saga_id_of(&record.payload).or_else(|| {
                record
                    .event()
                    .and_then(|e| e.correlation_id().map(str::to_owned))
            }),
            traceparent: civitas_kafka::consume::outgoing_traceparent(
                record.event().as_ref().and_then(|e| e.traceparent()),
            ),
        };
        with_lookup_context(cause, self.handle_record(record).instrument(span)).await
    }

    async fn handle_record(&self, record: &Received) {
        let component = self.handler.component();
        let envelope = record.reply_envelope(&format!("/civitas/{component}"));
        match self.handler.handle(&record.topic, &record.payload).await {
            Ok(result) => {
                let span = tracing::Span::current();
                span.record("saga_id", result.saga_id.as_str());
                span.record("step", result.step_id.as_str());
                tracing::info!(component, saga_id = %result.saga_id, step = %result.step_id,
                    operation = ?result.operation, status = ?result.status,
                    error = ?result.error.as_ref().map(ToString::to_string), attempts = result.attempts,
                    "result");
                match envelope.record(self.handler.result_topic(), &result.message_id, &result) {
                    Ok(out) => self.emit.emit(out),
                    Err(err) => {
                        tracing::error!(component, error = %io::error_chain(&err), "could not encode a result")
                    }
                }
            }
            Err(reason) => self.dead_letter(record, reason),
        }
    }

    /// Sends a record that cannot be handled to the adapter's dead-letter topic.
    fn dead_letter(&self, record: &Received, reason: String) {
        io::send_dead_letter(
            self.emit.as_ref(),
            record,
            self.handler.component(),
            self.handler.dead_letter_topic(),
            reason,
            self.clock.now(),
        );
    }

    /// Consumes the command topics in `group` until `stop`; commands of a batch are handled
    /// concurrently (they belong to different sagas or are idempotent).
    pub async fn run(
        self,
        settings: &KafkaSettings,
        group: &str,
        max_batch: usize,
        stop: watch::Receiver<bool>,
    ) -> Result<(), SagaError> {
        let consumer = io::consumer(settings, group, &self.handler.command_topics())?;
        let component = self.handler.component();
        let letters = self.clone();
        let dead_letter =
            move |record: &Received, reason: String| letters.dead_letter(record, reason);
        let poison = io::Poison {
            max_failures: io::MAX_FAILURES,
            dead_letter: &dead_letter,
        };
        io::consume(consumer, stop, max_batch, component, poison, move |batch| {
            let this = self.clone();
            async move {
                futures::future::join_all(batch.iter().map(|r| this.on_record(r))).await;
                Ok::<(), SagaError>(())
            }
        })
        .await;
        Ok(())
    }
}

/// A stable, APISIX-safe id (`[A-Za-z0-9._-]`, at most 64 characters) for `parts`.
pub fn resource_id(parts: &[&str]) -> String {
    let joined = parts.join("-");
    let clean: String = joined
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean.len() <= 64 {
        return clean;
    }
    format!("{}-{:016x}", &clean[..47], fnv1a(joined.as_bytes()))
}

/// FNV-1a, 64 bit: stable across Rust versions (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Checks ids that a command puts into an outside system's URL path (APISIX route and
/// upstream ids, FROST project ids): an empty id or a dot segment (`..`, `%2e%2e`, …) would
/// move the request to another resource. `Err` is the dead letter's reason, with code
/// [`AdapterErrorCode::InvalidPayload`].
pub fn check_path_ids<'a>(
    field: &str,
    ids: impl IntoIterator<Item = &'a String>,
) -> Result<(), String> {
    for (index, id) in ids.into_iter().enumerate() {
        if let Err(reason) = civitas_http::url_path::check_segment(id) {
            let shown: String = id.chars().take(80).flat_map(char::escape_debug).collect();
            return Err(format!(
                "{}: {field}[{index}] \"{shown}\" cannot go into a URL path: {reason}",
                AdapterErrorCode::InvalidPayload
            ));
        }
    }
    Ok(())
}

/// An HTTP client with a per-request timeout.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, SagaError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .build()
        .map_err(SagaError::HttpClient)
}

/// Joins a base URL and a path with exactly one `/` between them.
pub fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// The `sagaId` of a command, read without decoding the rest.
fn saga_id_of(payload: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SagaRef {
        saga_id: String,
    }
    serde_json::from_slice::<SagaRef>(payload)
        .ok()
        .map(|r| r.saga_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_one_second_and_is_capped_at_thirty() {
        let policy = RetryPolicy::default();
        let delays: Vec<u64> = (1..=7)
            .map(|n| policy.backoff_with(n, 0.0, None).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(policy.backoff_with(60, 0.0, None), Duration::from_secs(30));
    }

    #[test]
    fn status_codes_are_classified_by_the_error_code_classes() {
        let code = |s: u16| {
            let refused = AdapterErrorCode::FrostEntityError;
            classify_status(StatusCode::from_u16(s).unwrap(), refused, "x", "").code
        };
        assert_eq!(code(500), AdapterErrorCode::ServiceUnavailable);
        assert_eq!(code(503), AdapterErrorCode::ServiceUnavailable);
        assert_eq!(code(429), AdapterErrorCode::RateLimited);
        assert_eq!(code(401), AdapterErrorCode::FrostEntityError);
        assert_eq!(code(400), AdapterErrorCode::FrostEntityError);
        assert_eq!(code(404), AdapterErrorCode::ResourceNotFound);
        assert_eq!(code(302), AdapterErrorCode::UnknownError);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retryable_failure_is_tried_three_times_with_one_and_two_seconds_between() {
        let start = tokio::time::Instant::now();
        let mut calls = Vec::new();
        let (outcome, attempts) = with_retries(&RetryPolicy::default(), || {
            calls.push(start.elapsed().as_millis());
            async {
                Err::<(), _>(CallError::new(
                    AdapterErrorCode::ServiceUnavailable,
                    "HTTP 500",
                ))
            }
        })
        .await;
        assert_eq!(attempts, 3);
        // 1 s, then 2 s, each spread by the policy's ±20 % jitter.
        assert_eq!(calls[0], 0);
        assert!((800..=1200).contains(&calls[1]), "{calls:?}");
        assert!((1600..=2400).contains(&(calls[2] - calls[1])), "{calls:?}");
        let err = outcome.unwrap_err();
        assert_eq!(err.code, AdapterErrorCode::ServiceUnavailable);
        assert!(
            err.message.contains("gave up after 3 tries"),
            "{}",
            err.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_fatal_failure_is_not_retried() {
        let mut calls = 0;
        let (outcome, attempts) = with_retries(&RetryPolicy::default(), || {
            calls += 1;
            async {
                Err::<(), _>(CallError::new(
                    AdapterErrorCode::FrostEntityError,
                    "HTTP 400",
                ))
            }
        })
        .await;
        assert_eq!((calls, attempts), (1, 1));
        assert_eq!(
            outcome.unwrap_err().code,
            AdapterErrorCode::FrostEntityError
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_after_a_retry_reports_two_tries() {
        let mut calls = 0;
        let (outcome, attempts) = with_retries(&RetryPolicy::default(), || {
            calls += 1;
            let fail = calls == 1;
            async move {
                if fail {
                    Err(CallError::new(
                        AdapterErrorCode::ConnectionTimeout,
                        "timed out",
                    ))
                } else {
                    Ok(7)
                }
            }
        })
        .await;
        assert_eq!((outcome, attempts), (Ok(7), 2));
    }

    #[test]
    fn resource_ids_are_stable_safe_and_at_most_64_characters() {
        assert_eq!(resource_id(&["ds-1", "sensorthings"]), "ds-1-sensorthings");
        assert_eq!(resource_id(&["ds 1", "a/b"]), "ds-1-a-b");
        let long = "x".repeat(80);
        let id = resource_id(&[&long, "api"]);
        assert_eq!(id.len(), 64);
        assert_eq!(id, resource_id(&[&long, "api"]));
        assert_ne!(id, resource_id(&[&long, "apj"]));
    }
}
