//! [`Client`]: the one way civitas talks to an outside system over HTTP — the CRUD service's
//! http connector and the saga's FROST and APISIX adapters. It adds the system's credentials,
//! renews a cached token once when the system answers 401 to it, reads the answer up to
//! [`MAX_RESPONSE_BYTES`], and (with [`Client::send`]) tries again after transient failures
//! as the system's [`RetryPolicy`] says: backoff with jitter, `Retry-After` honoured.
//!
//! Timeouts are the `reqwest::Client`'s (connect and whole-request), set by whoever builds it.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use tracing::Instrument;

use crate::retry::{RetryPolicy, Verdict, parse_retry_after, retry};
use crate::{AuthError, Authenticator, MAX_RESPONSE_BYTES, ReadBodyError, read_body};

/// An outside system's HTTP client: the connection pool, the auth, the size cap.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    auth: Arc<Authenticator>,
    max_body: usize,
}

/// A system's answer, its body read.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Retry-After` in seconds, when the answer has one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after)
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The credentials could not be applied (a pointer that does not resolve, a token
    /// endpoint that refused or failed).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request could not be built (e.g. an invalid header value from params).
    #[error("the request could not be built: {}", crate::describe_reqwest(.0))]
    Build(reqwest::Error),
    /// No answer: connection refused or reset, DNS, timeout.
    #[error("{}", crate::describe_reqwest(.0))]
    Transport(reqwest::Error),
    /// An answer whose body could not be read, or was larger than the cap.
    #[error("HTTP {status}: {error}")]
    Body {
        status: StatusCode,
        error: ReadBodyError,
    },
}

impl SendError {
    /// Whether another try may succeed: no answer (but not a request that cannot be built).
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transport(_))
    }

    /// Whether no answer came in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendError::Transport(e) if e.is_timeout())
    }
}

/// What [`Client::send`] ended with.
#[derive(Debug)]
pub enum Failed {
    /// No answer (after the tries the policy allows).
    Send(SendError),
    /// An answer that is not a success (after the tries the policy allows for its status).
    Status(Answer),
}

impl Client {
    /// A client on `http` (whose timeouts apply) with `auth`.
    pub fn new(http: reqwest::Client, auth: Authenticator) -> Self {
        Self {
            http,
            auth: Arc::new(auth),
            max_body: MAX_RESPONSE_BYTES,
        }
    }

    /// The underlying client, to build requests with.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// One try: the request `build` makes, with credentials; a 401 to cached credentials (an
    /// OAuth2 token, a cached secret) drops them and sends once more with fresh ones (not
    /// counted as a try). Any status is an answer.
    pub async fn send_once(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Answer, SendError> {
        let (answer, from_cache) = self.send_with_auth(build(&self.http)).await?;
        if answer.status == StatusCode::UNAUTHORIZED && from_cache {
            // A cached token may have been revoked, a cached secret rotated.
            self.auth.invalidate().await;
            return Ok(self.send_with_auth(build(&self.http)).await?.0);
        }
        Ok(answer)
    }

    /// [`send_once`](Self::send_once) until a success, a failure the policy does not retry,
    /// or the last try: a status in `policy.retry_on` and a transport failure are tried
    /// again. Returns the outcome and the number of tries.
    pub async fn send(
        &self,
        policy: &RetryPolicy,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> (Result<Answer, Failed>, u32) {
        let call = || async {
            match self.send_once(&build).await {
                Ok(answer) if answer.status.is_success() => Ok(answer),
                Ok(answer) => Err(Failed::Status(answer)),
                Err(error) => Err(Failed::Send(error)),
            }
        };
        retry(policy, call, |failed| match failed {
            Failed::Status(answer) if policy.retries_status(answer.status.as_u16()) => {
                Verdict::Retry(answer.retry_after())
            }
            Failed::Send(error) if error.is_transient() => Verdict::Retry(None),
            _ => Verdict::Fatal,
        })
        .await
    }

    /// One request with credentials, in an `http.client` span (method, host, status; not the
    /// path or query, which may carry data); `true` with the answer when the credentials came
    /// from a cache.
    async fn send_with_auth(&self, request: RequestBuilder) -> Result<(Answer, bool), SendError> {
        let (request, from_cache) = self.auth.apply(request).await?;
        let (client, request) = request.build_split();
        let request = request.map_err(SendError::Build)?;
        let span = tracing::info_span!(
            "http.client",
            method = %request.method(),
            host = request.url().host_str().unwrap_or_default(),
            status = tracing::field::Empty,
        );
        let response = client
            .execute(request)
            .instrument(span.clone())
            .await
            .map_err(SendError::Transport)?;
        let status = response.status();
        span.record("status", status.as_u16());
        let headers = response.headers().clone();
        let body = read_body(response, self.max_body)
            .await
            .map_err(|error| SendError::Body { status, error })?;
        Ok((
            Answer {
                status,
                headers,
                body,
            },
            from_cache,
        ))
    }
}
